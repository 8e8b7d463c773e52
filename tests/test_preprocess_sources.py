"""preprocess(image, source=...): clean drawings take the canvas path, photos the photo cleanup.

A drawing is never "nothing drawn" however thick its loops; only empty canvases,
specks and dots are. "auto" tells a drawing (a background of one exact value, in
any canvas encoding or a paint program's 28×28 picture) from a photo (noise,
gradients, JPEG).
"""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from nn_core.errors import ConfigError
from nn_core.storage.network_file import load_network
from nn_core.preprocess import pipeline, preprocess, preprocess_file

from tests.drawings import draw, mean_abs_diff, photo_on_desk

CANVAS = 280
REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_NETWORK = REPO_ROOT / "saved_networks" / "default.npz"


def loop_strokes(digit: int) -> list[list[tuple[float, float]]]:
    """Strokes of a loop-bearing digit in unit coordinates (x, y), in drawing order."""
    def ellipse(cx: float, cy: float, rx: float, ry: float, start: float = 0, turn: float = 1,
                steps: int = 48) -> list[tuple[float, float]]:
        angles = 2 * np.pi * (start + turn * np.linspace(0, 1, steps))
        return [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in angles]

    if digit == 0:
        return [ellipse(0.5, 0.5, 0.4, 0.5)]
    if digit == 6:
        return [[(0.75, 0.0), (0.45, 0.15), (0.25, 0.45)] + ellipse(0.5, 0.72, 0.28, 0.28, 0.5)]
    if digit == 8:
        return [ellipse(0.5, 0.25, 0.25, 0.25, 0.25) + ellipse(0.5, 0.72, 0.32, 0.28, -0.25, -1)]
    if digit == 9:
        return [ellipse(0.45, 0.28, 0.3, 0.28, 0) + [(0.75, 0.3), (0.72, 0.65), (0.6, 1.0)]]
    raise ValueError(digit)


def draw_loops(digit: int, brush: int, height_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """(280, 280) uint8 coverage of the digit drawn with a round brush, ``height_fraction`` of the
    canvas tall (its ink, brush included), at a random place on the canvas."""
    height = height_fraction * CANVAS - brush
    width = 0.7 * height
    top = rng.uniform(brush / 2, CANVAS - brush / 2 - height)
    left = rng.uniform(brush / 2, CANVAS - brush / 2 - width)
    supersample = 2
    image = Image.new("L", (CANVAS * supersample, CANVAS * supersample), 0)
    pen = ImageDraw.Draw(image)
    radius = brush * supersample / 2
    for stroke in loop_strokes(digit):
        path = [((left + x * width) * supersample, (top + y * height) * supersample) for x, y in stroke]
        pen.line(path, fill=255, width=brush * supersample, joint="curve")
        for x, y in (path[0], path[-1]):
            pen.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    return np.asarray(image.reduce(supersample))


def canvas_encodings(ink: np.ndarray) -> dict[str, np.ndarray]:
    """The ways our canvas and common drawing tools hand over a 280×280 drawing."""
    transparent = np.zeros(ink.shape + (4,), np.uint8)
    transparent[..., :3] = np.where(ink[..., None] > 0, 255, 0)
    transparent[..., 3] = ink
    black = np.full(ink.shape + (4,), 255, np.uint8)
    black[..., :3] = ink[..., None]
    return {"white ink on transparent": transparent, "white ink on opaque black": black,
            "dark ink on white": np.repeat(255 - ink[..., None], 3, axis=2)}


@pytest.fixture(scope="module")
def default_network():
    return load_network(BUNDLED_NETWORK)[0]


def thick_loop_cases() -> list[tuple[int, int, float, int]]:
    """(digit, brush, height fraction, seed): every loop digit, brushes 30–40 px, 30–90 % tall."""
    return [(digit, brush, fraction, seed) for seed, (digit, brush, fraction) in enumerate(
        (digit, brush, fraction) for digit in (0, 6, 8, 9) for brush in (30, 35, 40)
        for fraction in (0.3, 0.5, 0.7, 0.9))]


def test_thick_loop_digits_always_come_back_as_a_prediction(default_network):
    correct = total = 0
    for digit, brush, fraction, seed in thick_loop_cases():
        ink = draw_loops(digit, brush, fraction, np.random.default_rng(seed))
        for name, image in canvas_encodings(ink).items():
            for source in ("canvas", "auto"):
                result = preprocess(image, source)
                assert not result.empty, f"{digit} brush {brush} at {fraction:.0%}, {name}, {source}"
                assert result.source == "canvas"
                correct += int(default_network.predict(result.vector)[0]) == digit
                total += 1
    # Not a benchmark (the drawings are crude), but loops must still read as the digit mostly.
    assert correct >= 0.8 * total


def paint_program_drawing(digit: int) -> np.ndarray:
    """A 28×28 black-on-white drawing made with a paint program's aliased 2-px pencil."""
    image = Image.new("L", (28, 28), 255)
    pen = ImageDraw.Draw(image)
    for stroke in loop_strokes(digit):
        pen.line([(4 + x * 14, 4 + y * 20) for x, y in stroke], fill=0, width=2)
    return np.asarray(image)


@pytest.mark.parametrize("digit", [0, 6, 8, 9])
def test_a_28x28_paint_program_drawing_takes_the_canvas_path(digit, default_network):
    picture = paint_program_drawing(digit)
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    result = preprocess_file(buffer.getvalue())
    assert result.source == "canvas" and not result.empty
    assert result.image.shape == (28, 28)
    assert default_network.predict(result.vector)[0] == digit


@pytest.mark.parametrize("name, ink", [
    ("nothing", np.zeros((CANVAS, CANVAS), np.uint8)),
    ("a speck", np.pad(np.full((3, 3), 255, np.uint8), ((50, 227), (200, 77)))),
    ("scattered specks", (np.random.default_rng(3).random((CANVAS, CANVAS)) > 0.9995).astype(np.uint8) * 255),
    ("a dot", draw(points=[(0.5, 0.5), (0.5, 0.5)], size=1, brush=8, top=120, left=130)),
])
def test_only_empty_or_near_empty_drawings_are_nothing_drawn(name, ink):
    for encoding, image in canvas_encodings(ink).items():
        for source in ("canvas", "auto"):
            result = preprocess(image, source)
            assert result.empty and result.source == "canvas", (encoding, source)


def noisy_photo() -> np.ndarray:
    rng = np.random.default_rng(0)
    paper = 200 + rng.normal(0, 4, (CANVAS, CANVAS))
    return np.clip(paper - 0.6 * draw(brush=6), 0, 255).astype(np.uint8)


def gradient_photo() -> np.ndarray:
    """Noiseless, but lit unevenly: no two columns of paper alike."""
    light = 170 + 70 * np.linspace(0, 1, CANVAS)[None, :] * np.linspace(0.6, 1, CANVAS)[:, None]
    return np.round(light - 0.5 * draw(brush=6)).astype(np.uint8)


def jpeg_photo() -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(noisy_photo()).save(buffer, format="JPEG", quality=85)
    return np.asarray(Image.open(buffer))


@pytest.mark.parametrize("name, image, path", [
    *[(name, image, "canvas") for name, image in canvas_encodings(draw()).items()],
    ("grey, white ink on black", draw(), "canvas"),
    ("a 28×28 paint-program drawing", paint_program_drawing(8), "canvas"),
    ("a noisy photo of paper", noisy_photo(), "photo"),
    ("unevenly lit paper without noise", gradient_photo(), "photo"),
    ("a JPEG photo", jpeg_photo(), "photo"),
])
def test_auto_takes_the_canvas_path_only_for_an_exactly_uniform_background(name, image, path):
    assert preprocess(image).source == path
    assert preprocess(image, "auto").source == path
    assert preprocess(image, "photo").source == "photo"
    assert preprocess(image, "canvas").source == "canvas"


def test_the_photo_path_is_the_photo_cleanup_on_a_photo():
    photo = noisy_photo()
    auto, forced = preprocess(photo), preprocess(photo, "photo")
    assert auto.source == forced.source == "photo"
    np.testing.assert_array_equal(auto.image, forced.image)


@pytest.mark.parametrize("brush", [10, 16, 22])
def test_the_canvas_path_gives_what_the_photo_path_gives_on_a_clean_canvas(brush):
    # Where the photo cleanup finds nothing to clean (a thin pen on a clean canvas), both paths agree,
    # up to the canvas path measuring and restroking the digit once shrunk to the work scale.
    for name, image in canvas_encodings(draw(brush=brush)).items():
        canvas, photo = preprocess(image, "canvas"), preprocess(image, "photo")
        assert mean_abs_diff(canvas.image, photo.image) < 0.005, name  # a tenth of "the same digit"


def plain_recipe(ink: np.ndarray) -> np.ndarray:
    """Crop to the ink, scale the longer side to 20 px, centre of mass to (14, 14): MNIST's steps alone."""
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].astype(np.float32) / 255
    scale = 20 / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    small = np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.BOX))
    mass = small.sum()
    centre = (small.sum(axis=1) @ np.arange(small.shape[0]) / mass, small.sum(axis=0) @ np.arange(small.shape[1]) / mass)
    top, left = (min(max(round(14 - c), 0), 28 - side) for c, side in zip(centre, small.shape))
    field = np.zeros((28, 28), np.float32)
    field[top:top + small.shape[0], left:left + small.shape[1]] = small
    return field


def test_the_canvas_path_matches_mnists_plain_steps_for_a_pen_of_mnists_width():
    # A 22 px brush on a 200 px digit is MNIST's stroke width at 20 px: no restroking happens.
    ink = draw(brush=22)
    assert mean_abs_diff(preprocess(ink, "canvas").image, plain_recipe(ink)) < 0.02


def test_the_canvas_path_never_loads_the_photo_cleanup(tmp_path):
    path = tmp_path / "canvas.npy"
    np.save(path, canvas_encodings(draw())["white ink on transparent"])
    probe = ("import sys, numpy as np\n"
             "from nn_core.preprocess import preprocess\n"
             "image = np.load(sys.argv[1])\n"
             "for source in ('canvas', 'auto'):\n"
             "    assert preprocess(image, source).source == 'canvas'\n"
             "print(sorted(m for m in sys.modules if m.startswith('nn_core.preprocess')))\n")
    loaded = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True,
                            check=True, cwd=REPO_ROOT).stdout
    assert "nn_core.preprocess.canvas" in loaded
    for photo_module in ("lighting", "page", "edge_bands", "ruled_lines", "ink", "photo"):
        assert f"nn_core.preprocess.{photo_module}'" not in loaded


def test_the_canvas_path_never_runs_the_photo_cleanup(monkeypatch):
    def no_photos(image):
        raise AssertionError("the photo cleanup ran on a drawing")

    monkeypatch.setattr(pipeline, "_clean_photo", no_photos)
    for image in canvas_encodings(draw(brush=35)).values():
        assert not preprocess(image).empty
        assert not preprocess(image, "canvas").empty


def test_the_canvas_path_finds_numpys_percentiles_by_counting():
    from nn_core.preprocess.canvas import _percentile, _Top

    rng = np.random.default_rng(6)
    for _ in range(200):
        levels = rng.choice(rng.integers(0, 256, rng.integers(1, 40)), size=rng.integers(1, 3000)).astype(np.uint8)
        levels[0] = max(levels[0], 1)  # at least one level to count from
        for percent, lowest in ((99, 1), (90, int(rng.integers(1, int(levels.max()) + 1)))):
            counted = levels[levels >= lowest]
            expected = np.percentile(counted.astype(np.float64), percent)
            assert _percentile(levels, percent, lowest, _Top(levels)) == pytest.approx(expected, abs=1e-9)


def test_the_canvas_paths_final_shrink_is_pillows_box():
    from nn_core.preprocess.scaling import _to_digit_box

    rng = np.random.default_rng(7)
    for _ in range(100):
        height, width = (int(side) for side in rng.integers(20, 120, 2))
        ink = rng.random((height, width), dtype=np.float32)
        scale = 20 / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        pillows = np.asarray(Image.fromarray(ink).resize(size, Image.Resampling.BOX))
        np.testing.assert_allclose(_to_digit_box(ink), pillows, atol=1e-6)


def test_a_far_speck_leaves_the_canvas_paths_digit_as_it_was():
    # The speck widens the ink's box, so the drawing is shrunk further before its digit is found.
    clean = canvas_encodings(draw(brush=14, top=20, left=20))["white ink on transparent"]
    specked = clean.copy()
    specked[262:268, 262:268] = 255
    np.testing.assert_array_equal(preprocess(specked, "canvas").image, preprocess(clean, "canvas").image)


def test_an_unknown_source_is_a_config_error():
    with pytest.raises(ConfigError, match="canvas, photo, auto"):
        preprocess(draw(), "scan")


def cropped_bold_glyph(digit: int) -> np.ndarray:
    """(h, w) uint8 coverage of a bold typeset digit cropped to its ink: more ink than background."""
    from PIL import ImageFont

    try:
        font = ImageFont.truetype("DejaVuSans-Bold.ttf", 160)
    except OSError:
        font = ImageFont.load_default(160)
    picture = Image.new("L", (320, 320), 0)
    ImageDraw.Draw(picture).text((80, 40), str(digit), fill=255, font=font)
    return np.asarray(picture.crop(picture.getbbox()))


@pytest.mark.parametrize("digit", [0, 6, 8, 9])
def test_a_bold_digit_cropped_to_its_ink_keeps_its_polarity(digit):
    # Its border's commonest value is the background even where ink fills most of the picture.
    glyph = cropped_bold_glyph(digit)
    for name, image in canvas_encodings(glyph).items():
        auto, photo = preprocess(image), preprocess(image, "photo")
        assert mean_abs_diff(auto.image, photo.image) < 0.05, name


# --------------------------------------------------------------------------- what the photo cleanup removed

def test_a_photo_records_the_desk_round_its_page():
    from nn_core.preprocess.photo import OUTSIDE_PAGE

    photo = photo_on_desk(draw(), (40, 10, 60, 30))
    result = preprocess(photo)
    assert result.source == "photo" and result.photo.picture.shape == photo.shape
    outside = result.photo.removed == OUTSIDE_PAGE
    assert outside[:30].all() and outside[-50:].all() and outside[:, :5].all()  # the desk
    assert not outside[60:300, 30:270].any()  # the page (rows 40-320, columns 10-290)


def test_a_photo_records_a_strip_of_desk_it_cleared():
    from nn_core.preprocess.photo import EDGE_BAND

    rng = np.random.default_rng(4)
    photo = 0.9 - 0.7 * draw().astype(np.float32) / 255 + rng.normal(0, 0.01, (280, 280))
    photo[:, :30] = 0.28 + rng.normal(0, 0.03, (280, 30))  # desk along the left side
    removed = preprocess((np.clip(photo, 0, 1) * 255).astype(np.uint8)).photo.removed
    assert (removed[:, :28] == EDGE_BAND).mean() > 0.9
    assert not removed[:, 40:].any()


def test_a_photo_records_the_printed_lines_it_cleared_but_not_the_pen_crossing_them():
    from nn_core.synthetic.photos import line_marks
    from nn_core.preprocess.photo import RULED_LINE

    rng = np.random.default_rng(5)
    pen = draw(brush=4).astype(np.float32) / 255
    lines = line_marks(pen.shape, gap=70, tilt=3, offset=7, margin=40)
    photo = 0.88 - 0.6 * np.maximum(pen, 0.35 * lines) + rng.normal(0, 0.01, pen.shape)
    removed = preprocess((np.clip(photo, 0, 1) * 255).astype(np.uint8)).photo.removed
    assert (removed[(lines > 0.9) & (pen == 0)] == RULED_LINE).mean() > 0.9
    assert (removed[pen > 0.9] == RULED_LINE).mean() < 0.05  # the pen's core, crossing them, stays


def test_a_drawing_has_no_photo_record():
    assert preprocess(draw()).photo is None
