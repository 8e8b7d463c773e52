"""Behaviour of nn_core.preprocess: any picture of a digit → the same MNIST-like 28×28 input.

Tolerances: two *different* digits differ by a mean absolute pixel difference of
about 0.14–0.16 (MNIST test pairs 0.156; the synthetic 2 and 5 below 0.14), so
"the same input" is asked as a mean absolute difference below 0.05 (a third of
that), plus the same centre of mass. MNIST itself shifts by whole pixels, so a
centre of mass may move by up to one pixel when a redraw moves it across a
rounding boundary.
"""
from __future__ import annotations

import io
import os
import struct
import timeit
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from nn_core.errors import ImageError, NNCoreError
from nn_core.preprocess import (
    PREPROCESS_VERSION,
    PreprocessResult,
    load_image,
    naive_resize,
    preprocess,
    preprocess_file,
)
from nn_core.preprocess.photo import to_ink

from tests.drawings import TWO, draw, mean_abs_diff, photo_on_desk

SAME = 0.05  # mean absolute difference below which two inputs count as the same digit

# Strokes in unit coordinates (x, y), drawn as a person would on the canvas (the 2 is in tests/drawings.py).
FIVE = [(0.85, 0.05), (0.2, 0.05), (0.15, 0.45), (0.6, 0.4), (0.85, 0.6), (0.8, 0.85), (0.5, 0.97),
        (0.15, 0.85)]


def canvas_rgba_transparent(ink: np.ndarray) -> np.ndarray:
    """The canvas widget with a transparent background: white strokes, ink in alpha."""
    rgba = np.zeros(ink.shape + (4,), np.uint8)
    rgba[..., :3] = np.where(ink[..., None] > 0, 255, 0)
    rgba[..., 3] = ink
    return rgba


def canvas_rgba_black(ink: np.ndarray) -> np.ndarray:
    """The canvas widget with an opaque black background: alpha 255 everywhere."""
    rgba = np.full(ink.shape + (4,), 255, np.uint8)
    rgba[..., :3] = ink[..., None]
    return rgba


def centre_of_mass(image: np.ndarray) -> np.ndarray:
    """(row, column) intensity centre of mass in pixel indices, as MNIST used."""
    index = np.arange(image.shape[0])
    mass = image.sum()
    return np.array([image.sum(axis=1) @ index / mass, image.sum(axis=0) @ index / mass])


def ink_box(image: np.ndarray) -> tuple[int, int]:
    """Height and width of the box holding every non-zero pixel."""
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def stroke_width(image: np.ndarray) -> float:
    """Mean stroke width: 2·ink mass / outline length (outline = total variation)."""
    padded = np.pad(image, 1)
    down, across = np.diff(padded, axis=0)[:, :-1], np.diff(padded, axis=1)[:-1, :]
    return float(2 * image.sum() / np.sqrt(down**2 + across**2).sum())


def png_bytes(array: np.ndarray, **save_args) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=save_args.pop("format", "PNG"), **save_args)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    """The 2 drawn in the middle of the canvas, preprocessed."""
    return preprocess(draw()).image


@pytest.fixture(scope="module")
def mnist_digits() -> np.ndarray:
    """The first 300 MNIST test digits, (300, 28, 28) uint8; skipped without MNIST_DIR."""
    directory = os.environ.get("MNIST_DIR")
    if not directory or not (Path(directory) / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("set MNIST_DIR to the folder holding the MNIST IDX .gz files")
    from nn_core.storage.mnist import read_idx

    return np.asarray(read_idx(Path(directory) / "t10k-images-idx3-ubyte.gz")[:300])


# --------------------------------------------------------------------------- the final image

def test_final_image_is_an_mnist_style_input(reference):
    assert reference.shape == (28, 28) and reference.dtype == np.float32
    assert reference.min() == 0.0 and reference.max() == 1.0
    # Training feeds uint8 / 255, so only those levels may appear.
    np.testing.assert_allclose(reference * 255, np.round(reference * 255), atol=1e-3)
    # MNIST: centre of mass in [13.5, 14.5] (integer shift), longer side of the ink box 20 px.
    assert np.all(np.abs(centre_of_mass(reference) - 14) <= 0.5)
    assert max(ink_box(reference)) == 20
    # MNIST-like strokes: a solid core at 1 with anti-aliased edges, width 2–3 px.
    assert (reference > 0.9).sum() >= 0.5 * (reference > 0.5).sum()
    assert 0 < ((reference > 0) & (reference < 0.5)).sum()
    assert 1.9 <= stroke_width(reference) <= 3.0


def test_result_keeps_every_stage_in_order():
    result = preprocess(canvas_rgba_transparent(draw()))
    assert isinstance(result, PreprocessResult) and not result.empty
    assert list(result.stages) == ["grey", "cropped", "scaled", "centred"]
    for stage in result.stages.values():
        assert stage.ndim == 2 and stage.dtype == np.float32
        assert stage.min() >= 0 and stage.max() <= 1
    assert result.stages["grey"].shape == (280, 280)
    assert max(result.stages["scaled"].shape) == 20
    assert result.stages["centred"] is result.image
    vector = result.vector
    assert vector.shape == (1, 784) and vector.dtype == np.float32
    np.testing.assert_array_equal(vector[0], result.image.ravel())
    assert isinstance(PREPROCESS_VERSION, int)


def test_result_is_frozen():
    result = preprocess(draw())
    with pytest.raises(AttributeError):
        result.empty = True


# --------------------------------------------------------------------------- position, size, strokes

@pytest.mark.parametrize("placement", [
    dict(top=75, left=135),                      # bottom-right corner
    dict(top=2, left=2),                         # touching the top-left edge
    dict(size=60, brush=5, top=200, left=10),    # drawn tiny in a corner
    dict(size=120, brush=10, top=150, left=150),
])
def test_position_and_size_do_not_change_the_input(reference, placement):
    image = preprocess(draw(**placement)).image
    assert mean_abs_diff(image, reference) < SAME
    assert np.all(np.abs(centre_of_mass(image) - centre_of_mass(reference)) <= 0.5)
    assert max(ink_box(image)) == 20


def test_a_different_digit_is_not_within_the_tolerance(reference):
    # Guards the tolerance itself: SAME must separate "same digit" from "other digit".
    assert mean_abs_diff(preprocess(draw(FIVE)).image, reference) > 2 * SAME


def test_thin_and_thick_brushes_give_mnist_stroke_widths():
    thin = preprocess(draw(FIVE, brush=10)).image
    thick = preprocess(draw(FIVE, brush=30)).image
    very_thick = preprocess(draw(FIVE, brush=45)).image
    for image in (thin, thick, very_thick):
        assert 1.75 <= stroke_width(image) <= 3.3  # MNIST's 10th and 90th percentiles
    # Squashing alone would keep the brushes' 3:1 ratio of ink; normalised they stay close.
    assert thick.sum() / thin.sum() < 1.6
    assert mean_abs_diff(thin, thick) < SAME


def test_a_one_pixel_pen_still_gives_solid_strokes(reference):
    hairline = preprocess(draw(size=200, brush=1)).image
    assert hairline.max() == 1.0
    assert (hairline > 0.9).sum() >= 0.5 * (hairline > 0.5).sum()
    assert stroke_width(hairline) >= 1.75
    assert mean_abs_diff(hairline, reference) < SAME


def thin_pen() -> np.ndarray:
    """The 2 written with a 3 px pen on a 900 px page: (900, 900) float32 ink coverage in [0, 1]."""
    return draw(size=600, brush=3, top=120, left=250, canvas=900).astype(np.float32) / 255


def assert_scans_as_the_reference(paper: np.ndarray, reference: np.ndarray, jpeg_quality: int) -> None:
    """A page of grey levels in [0, 1], as a lossless picture and as a JPEG, gives the reference input."""
    scan = np.clip(paper * 255, 0, 255).astype(np.uint8)
    for image in (scan, load_image(png_bytes(scan, format="JPEG", quality=jpeg_quality))):
        result = preprocess(image)
        assert not result.empty
        assert result.image.max() == 1.0 and stroke_width(result.image) >= 1.75
        assert mean_abs_diff(result.image, reference) < SAME


def test_a_faint_thin_pen_scan_on_noisy_paper(reference):
    rng = np.random.default_rng(0)
    pen = thin_pen()
    paper = 0.8 - 0.12 * pen + rng.normal(0, 0.02, pen.shape)  # grey paper, faint pen, noise σ = 1/6 of it
    assert_scans_as_the_reference(paper, reference, jpeg_quality=60)


@pytest.mark.parametrize("lighting", ["tilted", "vignetted", "both"])
def test_a_faint_pen_photographed_in_uneven_light(reference, lighting):
    """Phone photos are lit unevenly: the paper's level drifts across the picture by more
    than a faint pen line stands out from it, and a dim corner is darker than the line."""
    rng = np.random.default_rng(1)
    pen = thin_pen()
    ramp = np.linspace(-1, 1, 900, dtype=np.float32)
    tilt = 0.06 * ramp[:, None] - 0.05 * ramp[None, :]  # ±15 grey levels from corner to corner
    vignette = -0.1 * (ramp[:, None] ** 2 + ramp[None, :] ** 2)  # corners 50 levels darker
    light = {"tilted": tilt, "vignetted": vignette, "both": tilt + vignette}[lighting]
    paper = 0.85 + light - 0.16 * pen + rng.normal(0, 0.015, pen.shape)
    assert np.ptp(light) > 0.16  # the paper's level drifts by more than the line stands out
    if lighting != "tilted":
        assert paper[:50, :50].mean() < np.median(paper[pen > 0.5])  # a corner darker than the line
    assert_scans_as_the_reference(paper, reference, jpeg_quality=75)


@pytest.mark.parametrize("margins", [(20, 20, 20, 20), (40, 10, 60, 30), (5, 80, 5, 0), (150, 150, 150, 150)])
def test_a_page_photographed_on_a_darker_desk(reference, margins):
    """Phone photos of a page often show the desk around it: the page, not the pen, stands
    out from the desk at the picture's border."""
    result = preprocess(photo_on_desk(draw(), margins))
    assert not result.empty
    assert mean_abs_diff(result.image, reference) < 0.01


@pytest.mark.parametrize("angle, half_side, pen_contrast", [
    (4, 160, 0.7), (-9, 160, 0.7), (15, 160, 0.7),  # the desk all round
    (10, 230, 0.4), (-12, 230, 0.4),  # the desk in wedges at the corners, darker than the pen
])
def test_a_page_turned_on_the_desk(angle, half_side, pen_contrast):
    """A page seldom lies square to the camera: the desk shows round a turned page, or
    only in wedges at the photo's corners when the page fills it (``half_side`` 230 in
    a 420 px photo). What is on the page reads as if drawn on a canvas turned the same way."""
    rng = np.random.default_rng(5)
    digit = Image.fromarray(draw()).rotate(angle, Image.Resampling.BILINEAR)  # turned about its centre
    pen = np.zeros((420, 420), np.float32)
    pen[70:350, 70:350] = np.asarray(digit, np.float32) / 255
    page_outline = Image.new("L", (420, 420))
    corners = half_side * np.array([(-1, -1), (1, -1), (1, 1), (-1, 1)])
    turn = np.radians(-angle)  # PIL turns anticlockwise on screen, where y points down
    turned = corners @ np.array([[np.cos(turn), np.sin(turn)], [-np.sin(turn), np.cos(turn)]]) + 210
    ImageDraw.Draw(page_outline).polygon([tuple(corner) for corner in turned], fill=255)
    on_page = np.asarray(page_outline) > 0
    photo = np.where(on_page, 0.9 - pen_contrast * pen, 0.28) + rng.normal(0, 0.02, pen.shape)
    result = preprocess((np.clip(photo, 0, 1) * 255).astype(np.uint8))
    assert not result.empty
    assert mean_abs_diff(result.image, preprocess(np.asarray(digit)).image) < 0.01


@pytest.mark.parametrize("angle, centre", [(5, 250), (10, 260)])
def test_a_photo_whose_border_is_half_desk_half_unevenly_lit_paper(angle, centre):
    """When the desk fills about half the photo's border, the border's median lies between
    desk and paper; the paper is the level of the two that the photo's middle shares."""
    rng = np.random.default_rng(5)
    digit = Image.fromarray(draw()).rotate(angle, Image.Resampling.BILINEAR)
    pen = np.zeros((420, 420), np.float32)
    pen[100:380, 100:380] = np.asarray(digit, np.float32) / 255
    page_outline = Image.new("L", (420, 420))
    turn = np.radians(-angle)
    corners = 230 * np.array([(-1, -1), (1, -1), (1, 1), (-1, 1)]) @ np.array(
        [[np.cos(turn), np.sin(turn)], [-np.sin(turn), np.cos(turn)]]) + centre
    ImageDraw.Draw(page_outline).polygon([tuple(corner) for corner in corners], fill=255)
    ramp = np.linspace(-1, 1, 420)
    paper = 0.85 - 0.1 * (ramp[:, None] ** 2 + ramp[None, :] ** 2) + 0.05 * ramp[None, :]  # vignette, tilt
    photo = np.where(np.asarray(page_outline) > 0, paper - 0.3 * pen, 0.28) + rng.normal(0, 0.015, pen.shape)
    border = np.concatenate([photo[:8].ravel(), photo[-8:].ravel(), photo[:, :8].ravel(), photo[:, -8:].ravel()])
    assert 0.4 < (border < 0.5).mean() < 0.6  # about half of the border is desk
    result = preprocess((np.clip(photo, 0, 1) * 255).astype(np.uint8))
    assert not result.empty
    assert mean_abs_diff(result.image, preprocess(np.asarray(digit)).image) < 0.01


def test_a_digit_close_to_the_photographed_page_edge_keeps_its_strokes():
    near_top = draw(top=4)  # the 2's top stroke 6 px (2%) from the page's edge
    result = preprocess(photo_on_desk(near_top, (30, 30, 30, 30)))
    assert mean_abs_diff(result.image, preprocess(near_top).image) < 0.01


@pytest.mark.parametrize("side", ["top", "bottom", "left", "right", "slanted", "two sides"])
def test_a_strip_of_desk_along_a_side_of_a_page_photo(reference, side):
    """A photo that cuts into the page may show a strip of the darker desk along one side:
    against the paper it is darker than any pen, but it is not part of the digit."""
    rng = np.random.default_rng(4)
    photo = 0.9 - 0.7 * draw().astype(np.float32) / 255 + rng.normal(0, 0.01, (280, 280))
    rows, cols = np.mgrid[0:280, 0:280]
    strip = {"top": rows < 12, "bottom": rows >= 265, "left": cols < 30, "right": cols >= 262,
             "slanted": cols < 10 + rows / 14,  # its inner edge from 10 to 30 px in
             "two sides": (rows >= 272) | (cols >= 272)}[side]
    photo[strip] = 0.28 + rng.normal(0, 0.03, strip.sum())
    result = preprocess((np.clip(photo, 0, 1) * 255).astype(np.uint8))
    assert not result.empty
    assert mean_abs_diff(result.image, reference) < 0.01


@pytest.mark.parametrize("paper, tilt, darkness", [
    ("ruled", 0, 0.35), ("ruled", 3, 0.35), ("squared", 0, 0.35), ("squared", -4, 0.35), ("ruled", 15, 0.35),
    ("ruled", 0, 0.75), ("ruled", 12, 0.75), ("squared", 0, 0.75), ("squared", -4, 0.75)])
def test_the_printed_lines_of_ruled_and_squared_paper_are_not_ink(reference, paper, tilt, darkness):
    """A digit written in a notebook: lines run straight across the whole page (and a
    margin line down it), tilted when it is photographed askew or turned, and the pen
    crosses them. They belong to the paper; taken for ink they would stretch the digit's
    box over the whole page. Against a pencil they are nearly as dark as the digit."""
    from nn_core.synthetic.photos import line_marks

    rng = np.random.default_rng(5)
    pen = thin_pen()
    margin = 40 if paper == "ruled" else None
    lines = line_marks(pen.shape, gap=70, tilt=tilt, offset=7, margin=margin)
    photo = 0.88 - 0.6 * np.maximum(pen, darkness * lines) + rng.normal(0, 0.01, pen.shape)
    assert_scans_as_the_reference(photo, reference, jpeg_quality=75)


@pytest.mark.parametrize("paper, tilt, darkness, spread", [
    ("ruled", 0, 0.35, 4), ("squared", 3, 0.35, 6), ("squared", -2, 0.75, 4), ("ruled", 3, 0.75, 4)])
def test_the_lines_of_a_page_photographed_at_a_slant_fan_out_and_are_not_ink(reference, paper, tilt, darkness,
                                                                             spread):
    """Photographed at a slant, a notebook's lines across are no longer parallel: the top
    one is turned by a few degrees from the bottom one. Each is still a printed line, in
    pen or against a pencil."""
    from nn_core.synthetic.photos import line_marks

    rng = np.random.default_rng(8)
    pen = thin_pen()
    margin = 40 if paper == "ruled" else None
    lines = line_marks(pen.shape, gap=70, tilt=tilt, offset=7, margin=margin, spread=spread)
    photo = 0.88 - 0.6 * np.maximum(pen, darkness * lines) + rng.normal(0, 0.01, pen.shape)
    assert_scans_as_the_reference(photo, reference, jpeg_quality=75)


@pytest.mark.parametrize("columns", [slice(None), slice(270, 670)])
def test_a_stroke_along_a_dark_printed_line_stays(reference, columns):
    """A 2 whose base is written on one of a ruled page's lines, in pencil nearly as light
    as the lines: where the base is darker than the line, its columns are the pen's; and
    in a photo so narrow that the base itself runs along most of the line, the base is
    darker than the lines around it."""
    from nn_core.synthetic.photos import line_marks

    rng = np.random.default_rng(6)
    pen = thin_pen()
    base = 120 + 0.95 * 600  # the row thin_pen's 2 draws its base along
    lines = line_marks(pen.shape, gap=70, tilt=0, offset=base % 70, margin=40)
    assert lines[round(base), 300:640].min() == 1  # the base lies on a line
    photo = 0.88 - 0.6 * np.maximum(pen, 0.7 * lines) + rng.normal(0, 0.01, pen.shape)
    assert_scans_as_the_reference(photo[:, columns], reference, jpeg_quality=75)


@pytest.mark.parametrize("paper, tilt", [("squared", 0), ("squared", 3), ("ruled", -2)])
def test_a_pencil_digit_a_square_or_two_tall_cropped_loosely(reference, paper, tilt):
    """A digit in a maths book, photographed and cropped round it: only two lines or so show
    each way, too few to be a family by their number, but each runs on over bare paper
    beyond both ends of the digit, as no stroke of it does."""
    from nn_core.synthetic.photos import line_marks

    rng = np.random.default_rng(7)
    pen = thin_pen()
    margin = None if paper == "squared" else -10**4  # ruled: no margin line in the picture
    lines = line_marks(pen.shape, gap=400, tilt=tilt, offset=60, margin=margin)
    photo = 0.88 - 0.6 * np.maximum(pen, 0.75 * lines) + rng.normal(0, 0.01, pen.shape)
    rows, cols = np.flatnonzero(pen.max(axis=1) > 0.5), np.flatnonzero(pen.max(axis=0) > 0.5)
    loose = (rows[-1] - rows[0]) // 4
    crop = np.s_[rows[0] - loose:rows[-1] + loose, cols[0] - loose:cols[-1] + loose]
    starts = [int((np.diff((side[:, 10] > 0.5).astype(int)) == 1).sum()) for side in (lines[crop], lines[crop].T)]
    assert starts == [2, 1 if paper == "squared" else 0]  # lines across the picture, and down it
    assert_scans_as_the_reference(photo[crop], reference, jpeg_quality=75)


def test_straight_light_bars_spanning_a_cropped_picture_stay_when_the_digit_reaches_as_far():
    """A Z-shaped 2 in pencil, its bars written lighter than its diagonal and cropped at both
    ends: two straight, light, thin lines from edge to edge, far apart. But the diagonal
    reaches both edges too, so nothing of them runs on over bare paper: they are strokes."""
    bars = draw([(0.05, 0.05), (0.95, 0.05)], size=600, brush=3, top=120, left=250, canvas=900)
    bars = np.maximum(bars, draw([(0.05, 0.95), (0.95, 0.95)], size=600, brush=3, top=120, left=250, canvas=900))
    diagonal = draw([(0.95, 0.05), (0.05, 0.95)], size=600, brush=3, top=120, left=250, canvas=900)
    ink = np.maximum(0.7 * bars, diagonal).astype(np.uint8)
    cols = np.flatnonzero(ink.max(axis=0) > 0)
    picture = ink[20:-20, cols[0]:cols[-1] + 1]  # paper above and below, cropped at both sides
    assert (picture[:, [0, -1]] > 100).sum() >= 4  # bars and diagonal meet the sides
    assert mean_abs_diff(preprocess(255 - picture).image, preprocess(picture).image) < 0.01


def test_a_family_of_printed_lines_fans_out_but_nothing_else_does():
    """Lines each a little more turned than the one above are all found, each within the
    band found for it; lines at other tilts count only beside a family found at the commonest."""
    from nn_core.preprocess.photo.ruled_lines import _lines_near_tilt, _mark, _ruled_tilt

    def marked_lines(tilts: list[float], rows: list[int]) -> np.ndarray:
        marked = np.zeros((200, 200), bool)
        columns = np.arange(200)
        for tilt, row in zip(tilts, rows):
            marked[np.round(row + (columns - 100) * np.tan(np.radians(tilt))).astype(int), columns] = True
        return marked

    fanned = marked_lines([-2.25, -1.5, -0.75, 0, 0.75, 1.5, 2.25], list(range(25, 200, 25)))
    lines = _lines_near_tilt(fanned, _ruled_tilt(fanned))
    assert len(lines) == 7
    bands = np.zeros_like(fanned)
    for line in lines:
        _mark(bands, *line)
    assert bands[fanned].all()
    few = marked_lines([0, 0, 2.25], [50, 100, 150])  # two alone: no family to fan out from
    assert len(_lines_near_tilt(few, 0.0)) == 2


def test_a_straight_stroke_crossing_a_family_of_lines_at_a_slant_is_no_line_of_it():
    """Lines fanning out meet far beyond the picture, so a straight stroke within the fan's
    tilts that crosses one of the family's lines inside the picture (a pencil 1 or a 7's
    bar along the lines) is not taken as a line, however long."""
    from nn_core.preprocess.photo.ruled_lines import _lines_near_tilt, _ruled_tilt

    marked = np.zeros((200, 200), bool)
    columns = np.arange(200)
    marked[20:200:30] = True  # a family of six lines, straight across
    marked[np.round(110 + (columns - 100) * np.tan(np.radians(2.0))).astype(int), columns] = True
    lines = _lines_near_tilt(marked, _ruled_tilt(marked))
    assert len(lines) == 6
    assert all(not np.any(shifts) for shifts, _, _ in lines)


def test_a_family_of_printed_lines_lies_far_apart_for_their_depth():
    """Dark lines count as printed ones only as four or more, each much thinner than the
    gaps between them; the wobbles of a stroke filling a narrow picture lie closer."""
    from nn_core.preprocess.photo.ruled_lines import _family_level, _LineBand

    view = np.zeros((400, 50), np.float32)
    view[::40] = 0.6  # lines 40 rows apart
    spaced = [_LineBand.of(view, np.full(50, top - 4), 9) for top in range(40, 400, 40)]
    assert _family_level(spaced) == pytest.approx(0.6)
    assert _family_level(spaced[:3]) is None
    close = [_LineBand.of(view, np.full(50, top - 4), 9) for top in (40, 50, 60, 70)]
    assert _family_level(close) is None


def test_a_long_light_stroke_of_a_digit_is_not_a_printed_line():
    """A 1 whose long stem, slanting like a turned page's lines, is written far lighter than
    its flag: straight and faint, it is still the pen's, for it is no family of lines."""
    stem = draw([(0.75, 0.0), (0.537, 1.0)], size=240, brush=8, top=20, left=20)
    flag = draw([(0.75, 0.0), (0.55, 0.15)], size=240, brush=12, top=20, left=20)
    canvas = np.maximum((stem * 0.4).astype(np.uint8), flag)
    assert mean_abs_diff(preprocess(255 - canvas).image, preprocess(canvas).image) < 0.01


def cropped_to_ink(canvas: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(canvas.any(axis=1)), np.flatnonzero(canvas.any(axis=0))
    return canvas[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


@pytest.mark.parametrize("brush", [10, 30])
def test_a_scan_cropped_tight_to_the_digit_keeps_its_strokes_along_the_sides(brush):
    """Strokes meeting the picture's sides are no band of desk: they are as thick and as
    dark as the rest of the digit."""
    canvas = draw(FIVE, brush=brush)
    tight = cropped_to_ink(canvas)
    assert 0.5 < (tight[0] > 0).mean() < 0.9  # the top bar runs along most of the top side
    assert mean_abs_diff(preprocess(255 - tight).image, preprocess(canvas).image) < 0.01


SEVEN = [(0.05, 0.05), (0.95, 0.05), (0.4, 0.95)]
ONE_WITH_A_FOOT = [(0.3, 0.2), (0.55, 0.05), (0.55, 0.95), (0.25, 0.95), (0.85, 0.95)]


@pytest.mark.parametrize("brush", [10, 30])
@pytest.mark.parametrize("points", [SEVEN, TWO, ONE_WITH_A_FOOT], ids=["7", "2", "1 with a foot"])
def test_a_digit_cropped_to_its_ink_keeps_a_bar_along_a_whole_side(points, brush):
    """A 7's bar spans the whole top of a picture cropped to its ink, and a 1's stem runs
    from top to bottom. A band of desk does neither: it is no wider than the page's
    margin round the digit, and it runs along its side rather than into the picture."""
    canvas = draw(points, brush=brush)
    tight = cropped_to_ink(canvas)
    sides = (tight[0], tight[-1], tight[:, 0], tight[:, -1])
    assert max((side > 0).mean() for side in sides) > 0.7  # a stroke along (nearly) a whole side
    assert mean_abs_diff(preprocess(255 - tight).image, preprocess(canvas).image) < 0.01


@pytest.mark.parametrize("points, margin", [(SEVEN, ((0, 40), (0, 0))), (TWO, ((40, 0), (0, 0))),
                                            (ONE_WITH_A_FOOT, ((40, 0), (0, 0)))],
                         ids=["7, paper below", "2, paper above", "1 with a foot, paper above"])
def test_a_digit_cropped_to_its_ink_on_three_sides_keeps_its_bar(points, margin):
    """Cropped loosely on the side opposite its bar, the digit no longer crosses the picture;
    the bar still joins its strokes and is as thick and as dark as they are."""
    canvas = draw(points, brush=10)
    picture = np.pad(cropped_to_ink(canvas), margin)
    assert mean_abs_diff(preprocess(255 - picture).image, preprocess(canvas).image) < 0.01


@pytest.mark.parametrize("points, brush", [(SEVEN, 16), (TWO, 16), (ONE_WITH_A_FOOT, 10)],
                         ids=["7", "2", "1 with a foot"])
def test_an_unevenly_lit_photo_cropped_to_its_digit(points, brush):
    """With strokes along its sides, the border alone no longer shows the paper's lighting:
    the paper between the strokes does."""
    rng = np.random.default_rng(2)
    canvas = draw(points, brush=brush)
    tight = cropped_to_ink(canvas).astype(np.float32) / 255
    rows, cols = (np.linspace(-1, 1, size) for size in tight.shape)
    paper = 0.85 + 0.04 * cols[None, :] - 0.08 * (rows[:, None] ** 2 + cols[None, :] ** 2)  # tilt, vignette
    photo = paper - 0.3 * tight + rng.normal(0, 0.015, tight.shape)
    result = preprocess((np.clip(photo, 0, 1) * 255).astype(np.uint8))
    assert mean_abs_diff(result.image, preprocess(canvas).image) < 0.01


def test_a_light_stroke_along_a_whole_side_of_a_canvas_is_kept():
    """Only dark ink on paper loses bands along its sides: on a canvas it is a stroke."""
    canvas = draw()
    canvas[:14] = 255  # a bar along the whole top edge
    assert preprocess(canvas).stages["cropped"].shape[0] > 230


@pytest.mark.parametrize("brush", [16, 40])
def test_a_large_square_zero_is_a_digit_not_a_page(brush):
    """A 0 drawn as a square round the whole canvas also runs along its box's outline."""
    corners = [(0.05, 0.05), (0.95, 0.05), (0.95, 0.95), (0.05, 0.95), (0.05, 0.05)]
    canvas = draw(corners, size=240, brush=brush, top=20, left=20 + 0.15 * 240)
    result = preprocess(canvas)
    assert not result.empty
    assert result.stages["cropped"].shape[0] > 200  # the whole square, not its inside
    assert result.image[14, 14] == 0  # the middle of the 0 is blank


def test_a_thick_bar_of_a_one_is_a_digit_not_a_page():
    """A 1 drawn with the widest brush fills its box, along the whole outline too."""
    canvas = np.zeros((280, 280), np.uint8)
    canvas[20:260, 120:170] = 255
    result = preprocess(canvas)
    assert not result.empty
    assert result.stages["cropped"].shape == (240, 50)


@pytest.mark.parametrize("speck", [
    (slice(265, 269), slice(265, 269)),  # far corner
    (slice(45, 51), slice(270, 276)),    # level with the top of the digit
    (slice(268, 275), slice(60, 67)),    # below the digit
])
def test_a_far_speck_does_not_move_the_box(speck):
    clean = draw(top=20, left=20)
    specked = clean.copy()
    specked[speck] = 255
    assert mean_abs_diff(preprocess(specked).image, preprocess(clean).image) < 0.005


# --------------------------------------------------------------------------- encodings

def encodings(ink: np.ndarray) -> dict[str, np.ndarray]:
    rgb = np.repeat(ink[..., None], 3, axis=2)
    blue_on_cream = np.stack([250 - 0.9 * ink, 240 - 0.8 * ink, 210 - 0.3 * ink], axis=2)
    dark_on_transparent = np.zeros(ink.shape + (4,), np.uint8)
    dark_on_transparent[..., 3] = ink
    return {
        "grey": ink,
        "inverted (dark on light)": 255 - ink,
        "rgba transparent background": canvas_rgba_transparent(ink),
        "rgba opaque black background": canvas_rgba_black(ink),
        "rgba dark strokes on transparent": dark_on_transparent,
        "rgb": rgb,
        "grey with a channel axis": ink[..., None],
        "grey + alpha": np.stack([np.full_like(ink, 255), ink], axis=2),
        "uint16": ink.astype(np.uint16) * 257,
        "12-bit data in uint16": (ink.astype(np.uint16) * 4095 // 255),
        "int32": ink.astype(np.int32),
        "float 0-1": ink.astype(np.float64) / 255,
        "float 0-255": ink.astype(np.float32),
        "blue pen on cream paper": np.round(blue_on_cream).astype(np.uint8),
        "bool": ink > 127,
    }


@pytest.mark.parametrize("name", list(encodings(np.zeros((2, 2), np.uint8))))
def test_encodings_give_the_same_input(reference, name):
    image = preprocess(encodings(draw())[name]).image
    # Lossless re-encodings agree to rounding; bool and coloured paper change the anti-aliasing.
    assert mean_abs_diff(image, reference) < (SAME if name in ("bool", "blue pen on cream paper") else 0.01)
    assert np.all(np.abs(centre_of_mass(image) - centre_of_mass(reference)) <= 1)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "LA", "P", "I;16", "1"])
def test_files_in_any_mode_give_the_same_input(reference, mode, tmp_path):
    ink = draw()
    if mode == "RGBA":
        picture = Image.fromarray(canvas_rgba_transparent(ink))
    elif mode == "I;16":
        picture = Image.fromarray(ink.astype(np.uint16) * 257)
    else:
        picture = Image.fromarray(255 - ink).convert(mode)  # dark on light, like paper
    path = tmp_path / "digit.png"
    picture.save(path)
    assert picture.mode == Image.open(path).mode == mode
    for source in (path, str(path), path.read_bytes(), io.BytesIO(path.read_bytes())):
        image = preprocess_file(source).image
        assert mean_abs_diff(image, reference) < (SAME if mode == "1" else 0.01)


def test_load_image_returns_plain_arrays(tmp_path):
    ink = draw()
    assert load_image(png_bytes(ink)).dtype == np.uint8
    sixteen = load_image(png_bytes(ink.astype(np.uint16) * 257))
    assert sixteen.dtype == np.uint16 and sixteen.max() == 65535
    rgba = load_image(png_bytes(canvas_rgba_transparent(ink)))
    assert rgba.shape == (280, 280, 4) and rgba.dtype == np.uint8
    palette = Image.fromarray(ink).convert("P")
    palette.info["transparency"] = 0
    assert load_image(png_bytes(np.asarray(palette.convert("RGBA")))).shape[2] == 4
    jpeg = load_image(png_bytes(np.repeat(ink[..., None], 3, axis=2), format="JPEG"))
    assert jpeg.shape == (280, 280, 3)


def test_phone_photo_orientation_is_applied():
    ink = draw()
    picture = Image.fromarray(ink).rotate(90, expand=True)  # stored turned a quarter left ...
    exif = Image.Exif()
    exif[0x0112] = 6  # ... with EXIF orientation 6: "turn a quarter right to view"
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", exif=exif, quality=95)
    upright = load_image(buffer.getvalue())
    assert upright.shape == ink.shape
    assert mean_abs_diff(upright, ink) < 2  # JPEG noise only, in 0-255 units


# --------------------------------------------------------------------------- empty

@pytest.mark.parametrize("name, image", [
    ("all-zero RGBA canvas", np.zeros((280, 280, 4), np.uint8)),
    ("opaque black canvas", canvas_rgba_black(np.zeros((280, 280), np.uint8))),
    ("white paper", np.full((300, 200), 255, np.uint8)),
    ("grey paper with sensor noise",
     np.clip(200 + np.random.default_rng(1).normal(0, 6, (300, 300)), 0, 255).astype(np.uint8)),
    ("blank paper photographed in uneven light",  # 60 grey levels darker in one corner
     np.clip(220 - 30 * np.add.outer(np.linspace(0, 1, 400), np.linspace(0, 1, 300)) ** 2
             + np.random.default_rng(2).normal(0, 3, (400, 300)), 0, 255).astype(np.uint8)),
    ("one pixel", np.pad(np.full((1, 1), 255, np.uint8), 140)),
    ("3×3 speck", np.pad(np.full((3, 3), 255, np.uint8), ((100, 177), (50, 227)))),
    ("8×8 speck", canvas_rgba_transparent(np.pad(np.full((8, 8), 255, np.uint8), 136))),
    ("2×2 speck in a 28×28 image", np.pad(np.full((2, 2), 255, np.uint8), 13)),
    ("a single pixel image", np.zeros((1, 1), np.uint8)),
])
def test_nothing_drawn_is_empty(name, image):
    result = preprocess(image)
    assert result.empty and result.image is None
    assert list(result.stages) == ["grey"]
    with pytest.raises(ImageError, match="[Nn]othing is drawn"):
        result.vector


@pytest.mark.parametrize("shape", [(1, 500), (500, 2), (3, 3), (28, 28, 2), (60, 400, 4), (500, 17, 1),
                                   (280, 280)])
def test_odd_inputs_give_a_valid_result_or_empty(shape):
    # Noise and dust are no digits; whatever comes back must still be a valid input.
    rng = np.random.default_rng(sum(shape))
    for image in (rng.integers(0, 256, shape).astype(np.uint8), (rng.random(shape) > 0.9) * 255,
                  (rng.random(shape) > 0.995) * 255, rng.random(shape) ** 8):
        result = preprocess(image)
        if not result.empty:
            assert result.image.shape == (28, 28) and result.image.dtype == np.float32
            assert 0 < result.image.max() <= 1 and result.image.min() == 0
            assert max(result.stages["scaled"].shape) == 20


def test_a_faint_but_real_digit_is_not_empty():
    faint = (draw() * 0.2).astype(np.uint8)  # 20 % contrast
    assert not preprocess(faint).empty


# --------------------------------------------------------------------------- bad input

def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims the given size (no pixel data needed to be rejected)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize("name, data, message", [
    ("random bytes", np.random.default_rng(0).bytes(500), "not an image"),
    ("text", b"a digit, honest\n", "not an image"),
    ("zero-length", b"", "empty"),
    ("truncated PNG", png_bytes(draw())[:300], "truncated"),
    ("49-megapixel PNG", png_header(7000, 7000), "40,000,000"),
    ("10-gigapixel PNG", png_header(100_000, 100_000), "too large"),
])
def test_bad_files_raise_a_clear_image_error(name, data, message, tmp_path):
    path = tmp_path / "upload.png"
    path.write_bytes(data)
    for source in (data, path, io.BytesIO(data)):
        with pytest.raises(ImageError, match=message):
            preprocess_file(source)


def test_missing_file_and_wrong_source_type():
    with pytest.raises(ImageError, match="no image file"):
        load_image("/nonexistent/digit.png")
    with pytest.raises(ImageError, match="binary mode"):
        load_image(io.StringIO("not bytes"))
    with pytest.raises(ImageError, match="file path, bytes"):
        load_image(12345)


@pytest.mark.parametrize("array, message", [
    (np.zeros(5, np.uint8), "shape"),
    (np.zeros((4, 4, 5), np.uint8), "shape"),
    (np.zeros((2, 2, 2, 2), np.uint8), "shape"),
    (np.zeros((0, 10), np.uint8), "empty"),
    (np.zeros((4, 4), np.complex64), "dtype"),
    (np.array([["a", "b"], ["c", "d"]]), "dtype"),
    (np.full((4, 4), np.nan), "NaN"),
    (np.full((4, 4), -1.0), "0–1"),
    (np.full((4, 4), 300.0), "0–1"),
    (np.full((4, 4), -3, np.int16), "0–65535"),
    (np.full((4, 4), 70000, np.int32), "0–65535"),
    ([[0, 255], [255, 0]], "numpy"),
])
def test_bad_arrays_raise_image_error(array, message):
    with pytest.raises(ImageError, match=message):
        to_ink(array)
    with pytest.raises(NNCoreError):  # also catchable as the family's base, a ValueError
        preprocess(array)


# --------------------------------------------------------------------------- stage 1 alone

def test_to_ink_makes_ink_high_and_background_zero():
    ink = draw()
    for image in (ink, 255 - ink, canvas_rgba_transparent(ink), (0.3 + 0.4 * (255 - ink) / 255)):
        grey = to_ink(image)
        assert grey.shape == (280, 280) and grey.dtype == np.float32
        assert grey[ink == 0].max() == 0
        assert np.all(grey[ink == 255] > 0.95)


# --------------------------------------------------------------------------- the old way

def test_naive_resize_is_the_broken_baseline():
    centred, cornered = draw(size=120, top=20, left=20), draw(size=120, top=150, left=150)
    naive = naive_resize(canvas_rgba_transparent(centred))
    assert naive.shape == (28, 28) and naive.dtype == np.float32
    assert 0 <= naive.min() and naive.max() <= 1
    # It neither centres nor sizes the digit: moving it moves the input.
    assert mean_abs_diff(naive_resize(cornered), naive) > 2 * SAME
    assert mean_abs_diff(preprocess(cornered).image, preprocess(centred).image) < SAME


# --------------------------------------------------------------------------- MNIST itself

def test_mnist_digits_pass_almost_unchanged(mnist_digits):
    outputs = np.array([preprocess(digit).image for digit in mnist_digits])
    differences = np.abs(outputs - mnist_digits / 255).mean(axis=(1, 2))
    # Most MNIST strokes are already in range and pass untouched (quantisation
    # aside); the thinnest and fattest quarter are nudged to MNIST's quartiles.
    assert differences.mean() < 0.03
    assert np.median(differences) < 0.005
    assert differences.max() < 0.2
    for image in outputs:
        assert np.all(np.abs(centre_of_mass(image) - 14) <= 0.5)
        assert max(ink_box(image)) == 20


def test_an_mnist_digit_drawn_large_in_a_corner_comes_back(mnist_digits):
    differences = []
    for digit in mnist_digits[:40]:
        canvas = np.zeros((280, 280), np.uint8)
        enlarged = Image.fromarray(digit).resize((196, 196), Image.Resampling.BILINEAR)
        canvas[80:276, 4:200] = np.asarray(enlarged)
        drawn, original = preprocess(canvas_rgba_transparent(canvas)).image, preprocess(digit).image
        differences.append(mean_abs_diff(drawn, original))
        # Whole-pixel shifts: a centre of mass near x.5 may round the other way.
        assert np.all(np.abs(centre_of_mass(drawn) - centre_of_mass(original)) <= 1)
    assert np.mean(differences) < SAME
    assert max(differences) < 2 * SAME


# --------------------------------------------------------------------------- speed

def test_a_canvas_is_preprocessed_quickly():
    canvas = canvas_rgba_transparent(draw(brush=10))
    seconds = min(timeit.repeat(lambda: preprocess(canvas), number=5, repeat=3)) / 5
    # Measured ~2 ms on a loaded 2-core machine; 50 ms only catches real regressions.
    assert seconds < 0.05
