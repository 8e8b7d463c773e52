"""Tests of nn_core.synthetic.drawn_digits: formats, geometry, reproducibility, likeness to the digit."""

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from nn_core.synthetic.drawn_digits import (
    BRUSH_RANGE,
    CANVAS,
    ENCODINGS,
    HEIGHT_FRACTION_RANGE,
    draw_digit,
    drawn_cases,
    printed_cases,
    save_case_png,
)
from nn_core.synthetic import drawn_digits
from nn_core.synthetic.stroke_mask import ink_mask as thresholded_digit
from nn_core.synthetic.stroke_mask import stroke_mask
from nn_core.synthetic.thinning import skeletonize
from nn_core.errors import ConfigError, ShapeError


def read_idx_gz(path: Path, header_bytes: int) -> np.ndarray:
    with gzip.open(path) as file:
        return np.frombuffer(file.read(), dtype=np.uint8, offset=header_bytes)


@pytest.fixture(scope="module")
def mnist_test() -> tuple[np.ndarray, np.ndarray]:
    """The first 2000 MNIST test images (N, 28, 28) uint8 and labels (N,)."""
    directory = Path(os.environ.get("MNIST_DIR", ""))
    images_file = directory / "t10k-images-idx3-ubyte.gz"
    if not os.environ.get("MNIST_DIR") or not images_file.is_file():
        pytest.skip("set MNIST_DIR to a folder holding the MNIST IDX .gz files")
    images = read_idx_gz(images_file, 16).reshape(-1, 28, 28)[:2000]
    labels = read_idx_gz(directory / "t10k-labels-idx1-ubyte.gz", 8)[:2000]
    return images, labels


@pytest.fixture(scope="module")
def cases(mnist_test):
    images, labels = mnist_test
    return list(drawn_cases(images, labels, 90, np.random.default_rng(7)))


def ink_mask(case) -> np.ndarray:
    """Where a viewer would see ink, (280, 280) bool."""
    if case.encoding == "canvas_rgba":
        return case.image[:, :, 3] > 0
    if case.encoding == "canvas_black":
        return case.image[:, :, 0] > 0
    return case.image.mean(axis=2) < 200  # well below the paper, which stays above ~220


def bounding_box(mask: np.ndarray) -> tuple[int, int]:
    """(height, width) of the True region."""
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def shape_signature(image: np.ndarray) -> np.ndarray:
    """The ink's bounding box stretched to 20x20 and blurred, (400,) floats.

    Blurring makes the comparison about the digit's shape, not its stroke width, which
    differs on purpose between MNIST and a brush drawing.
    """
    rows, cols = np.nonzero(image.any(axis=1))[0], np.nonzero(image.any(axis=0))[0]
    box = Image.fromarray(image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
    box = box.resize((20, 20), Image.Resampling.BOX).filter(ImageFilter.GaussianBlur(2))
    return np.asarray(box, dtype=np.float64).ravel()


def test_each_encoding_has_its_documented_format(cases):
    assert {case.encoding for case in cases} == set(ENCODINGS)
    for case in cases:
        assert case.image.dtype == np.uint8
        if case.encoding == "canvas_rgba":
            assert case.image.shape == (CANVAS, CANVAS, 4)
            rgb, alpha = case.image[:, :, :3], case.image[:, :, 3]
            assert np.all(rgb[alpha > 0] == 255) and np.all(rgb[alpha == 0] == 0)
            assert alpha.max() == 255 and (alpha == 0).mean() > 0.5  # mostly transparent
        elif case.encoding == "canvas_black":
            assert case.image.shape == (CANVAS, CANVAS, 4)
            assert np.all(case.image[:, :, 3] == 255)
            assert np.array_equal(case.image[:, :, 0], case.image[:, :, 1])
            assert case.image[:, :, 0].max() == 255 and np.median(case.image[:, :, 0]) == 0
        else:
            assert case.image.shape == (CANVAS, CANVAS, 3)
            assert np.median(case.image) > 220  # light paper
            assert case.image.min() < 80  # dark ink


def test_encodings_take_turns_and_can_be_restricted(mnist_test):
    images, labels = mnist_test
    only_paper = list(drawn_cases(images, labels, 4, np.random.default_rng(0), encodings=["paper"]))
    assert [case.encoding for case in only_paper] == ["paper"] * 4
    mixed = list(drawn_cases(images, labels, 6, np.random.default_rng(0)))
    assert [case.encoding for case in mixed] == list(ENCODINGS) * 2


def test_brush_and_height_fraction_are_in_their_ranges(cases):
    brushes = [case.brush for case in cases]
    fractions = [case.height_fraction for case in cases]
    assert BRUSH_RANGE[0] <= min(brushes) and max(brushes) <= BRUSH_RANGE[1]
    assert max(brushes) - min(brushes) >= 10  # the whole range is used
    low, high = HEIGHT_FRACTION_RANGE
    assert low - 0.01 <= min(fractions) and max(fractions) <= high
    assert max(fractions) - min(fractions) > 0.4


def test_ink_height_matches_the_height_fraction_and_fits_the_canvas(cases):
    for case in cases:
        height, width = bounding_box(ink_mask(case))
        assert abs(height - case.height_fraction * CANVAS) <= 2.5, case
        assert case.brush <= width < CANVAS


def test_digits_are_placed_all_over_the_canvas(cases):
    centres = []
    for case in cases:
        rows, cols = np.nonzero(ink_mask(case))
        centres.append((rows.mean(), cols.mean()))
    centres = np.array(centres)
    assert centres.min() < 100 and centres.max() > 180


def test_same_seed_gives_the_same_cases(mnist_test):
    images, labels = mnist_test
    first = list(drawn_cases(images, labels, 6, np.random.default_rng(3)))
    again = list(drawn_cases(images, labels, 6, np.random.default_rng(3)))
    other = list(drawn_cases(images, labels, 6, np.random.default_rng(4)))
    for a, b in zip(first, again):
        assert np.array_equal(a.image, b.image)
        assert (a.label, a.encoding, a.brush) == (b.label, b.encoding, b.brush)
        assert a.height_fraction == b.height_fraction
    assert any(not np.array_equal(a.image, b.image) for a, b in zip(first, other))


def test_labels_come_with_their_images_and_digits_are_not_repeated(mnist_test):
    images, labels = mnist_test
    one_per_digit = np.array([np.nonzero(labels == digit)[0][0] for digit in range(10)])
    rng = np.random.default_rng(0)
    cases = list(drawn_cases(images[one_per_digit], labels[one_per_digit], 10, rng))
    assert sorted(case.label for case in cases) == list(range(10))


def test_drawing_looks_like_the_mnist_digit_it_traces(mnist_test):
    images, _ = mnist_test
    originals = np.array([shape_signature(image) for image in images[:30]])
    rng = np.random.default_rng(0)
    own, best_is_own = [], []
    for i, image in enumerate(images[:30]):
        coverage, _ = draw_digit(image, brush=int(rng.integers(10, 27)), rng=rng)
        drawing = shape_signature(np.round(coverage * 255).astype(np.uint8))
        likeness = [np.corrcoef(drawing, original)[0, 1] for original in originals]
        own.append(likeness[i])
        best_is_own.append(np.argmax(likeness) == i)
    assert np.median(own) > 0.85 and min(own) > 0.4
    assert np.mean(best_is_own) >= 0.7  # of 30 digits, many of the same class


def test_a_skeleton_thinned_at_mnist_resolution_still_traces_the_digit(mnist_test):
    images, _ = mnist_test
    rng = np.random.default_rng(1)
    likeness = []
    for image in images[:20]:
        smooth, _ = draw_digit(image, brush=16, rng=np.random.default_rng(7))
        jagged, _ = draw_digit(image, brush=16, rng=np.random.default_rng(7), upsample=1)
        assert not np.array_equal(smooth, jagged)  # another path, not the same drawing
        signature = shape_signature(np.round(jagged * 255).astype(np.uint8))
        likeness.append(np.corrcoef(signature, shape_signature(image))[0, 1])
    assert np.median(likeness) > 0.8
    with pytest.raises(ConfigError, match="upsample must be a positive integer"):
        draw_digit(images[0], brush=16, rng=rng, upsample=0)


def test_opening_filled_loops_makes_drawings_look_more_like_their_digit(mnist_test, monkeypatch):
    images, _ = mnist_test
    thresholded = [thresholded_digit(image, 4) for image in images[:600]]
    filled = [i for i, mask in enumerate(thresholded) if not np.array_equal(mask, stroke_mask(images[i], 4))]
    assert 5 <= len(filled) <= 0.1 * 600  # thick-pen loops are a minority of digits

    def drawn_likeness(index: int) -> float:
        coverage, _ = draw_digit(images[index], brush=16, rng=np.random.default_rng(3))
        drawing = shape_signature(np.round(coverage * 255).astype(np.uint8))
        return np.corrcoef(drawing, shape_signature(images[index]))[0, 1]

    opened = np.array([drawn_likeness(i) for i in filled])
    monkeypatch.setattr(drawn_digits, "pen_path",
                        lambda image, upsample: skeletonize(thresholded_digit(image, upsample)))
    as_thresholded = np.array([drawn_likeness(i) for i in filled])
    assert np.mean(opened > as_thresholded) >= 0.7
    assert opened.mean() > as_thresholded.mean() + 0.02


def test_strokes_have_the_uniform_width_of_the_brush(mnist_test):
    images, _ = mnist_test
    one = images[np.argmax([bounding_box(image > 0)[0] for image in images[:50]])]  # any tall digit
    coverage, _ = draw_digit(one, brush=20, rng=np.random.default_rng(0))
    # Ink area is the path length times the brush width; doubling the brush about doubles the area.
    coverage_thin, _ = draw_digit(one, brush=10, rng=np.random.default_rng(0))
    assert coverage.max() == 1.0 and coverage_thin.max() == 1.0
    thin_area, thick_area = coverage_thin.sum(), coverage.sum()
    assert 1.3 < thick_area / thin_area < 2.6


def test_skeleton_of_a_thick_bar_is_a_one_pixel_line_inside_it():
    bar = np.zeros((30, 60), dtype=bool)
    bar[10:19, 5:55] = True
    skeleton = skeletonize(bar)
    assert np.all(skeleton <= bar)
    assert np.all(skeleton[:, 12:48].sum(axis=0) == 1)  # one pixel thick along the bar
    assert np.all(np.nonzero(skeleton[:, 12:48])[0] == 14)  # on the bar's middle row


def test_skeleton_of_a_ring_is_a_closed_thin_loop():
    yy, xx = np.mgrid[:60, :60]
    radius = np.hypot(yy - 30, xx - 30)
    ring = (radius > 15) & (radius < 23)
    skeleton = skeletonize(ring)
    assert np.all(skeleton <= ring)
    padded = np.pad(skeleton, 1).astype(int)
    shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
    neighbours = sum(np.roll(padded, shift, axis=(0, 1)) for shift in shifts)
    assert np.all(neighbours[1:-1, 1:-1][skeleton] >= 2)  # no loose ends: still a loop
    assert skeleton.sum() < 0.25 * ring.sum()


def test_printed_cases_are_valid_and_fit_their_height_fraction():
    cases = list(printed_cases(60, np.random.default_rng(5)))
    assert {case.label for case in cases} == set(range(10))
    assert {case.encoding for case in cases} == set(ENCODINGS)
    for case in cases:
        assert case.brush == 0
        assert case.image.shape == (CANVAS, CANVAS, 3 if case.encoding == "paper" else 4)
        assert 0.05 < case.height_fraction <= HEIGHT_FRACTION_RANGE[1]
        height, width = bounding_box(ink_mask(case))
        assert abs(height - case.height_fraction * CANVAS) <= 2.5
        assert width < CANVAS


def test_printed_cases_cropped_to_their_ink_touch_every_side():
    for case in printed_cases(30, np.random.default_rng(5), cropped_to_ink=True):
        mask = ink_mask(case)
        assert mask.shape == case.image.shape[:2] and mask.shape[0] < CANVAS
        # The outermost rows may hold only the glyph's faint anti-aliased rim.
        assert all(side.any() for side in (mask[:4], mask[-4:], mask[:, :4], mask[:, -4:]))


def test_printed_cases_are_reproducible():
    first = list(printed_cases(5, np.random.default_rng(1)))
    again = list(printed_cases(5, np.random.default_rng(1)))
    for a, b in zip(first, again):
        assert np.array_equal(a.image, b.image) and a.label == b.label


def test_saved_png_holds_the_exact_image(cases, tmp_path):
    for case in cases[:3]:  # one per encoding
        path = tmp_path / f"{case.encoding}.png"
        save_case_png(case, path)
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert image.mode == ("RGB" if case.encoding == "paper" else "RGBA")
            assert np.array_equal(np.asarray(image), case.image)


def test_bad_inputs_are_rejected(mnist_test):
    images, labels = mnist_test
    with pytest.raises(ShapeError, match="28"):
        next(drawn_cases(images.astype(np.float32), labels, 1, np.random.default_rng(0)))
    with pytest.raises(ShapeError, match="label"):
        next(drawn_cases(images, labels[:-1], 1, np.random.default_rng(0)))
    with pytest.raises(ConfigError, match="encoding"):
        next(drawn_cases(images, labels, 1, np.random.default_rng(0), encodings=["jpeg"]))
    with pytest.raises(ConfigError, match="encoding"):
        next(printed_cases(1, np.random.default_rng(0), encodings=()))


def test_photos_of_digits_have_their_page_desk_and_light(mnist_test):
    from nn_core.synthetic.photos import photo_of_digit

    digit = mnist_test[0][0]
    plain = photo_of_digit(digit, np.random.default_rng(0))
    assert plain.dtype == np.uint8 and plain.ndim == 2 and plain.shape[0] in (560, 840, 1120)
    assert np.median(plain) > 170 and plain.min() < np.median(plain) - 30  # a pen line on paper
    around = photo_of_digit(digit, np.random.default_rng(0), uneven_light=True, desk="around")
    assert around.shape[0] > plain.shape[0] and around.shape[1] > plain.shape[1]
    assert np.median(np.concatenate([around[0], around[-1], around[:, 0], around[:, -1]])) < 100
    strip = photo_of_digit(digit, np.random.default_rng(1), desk="strip")
    sides = [np.median(side) for side in (strip[0], strip[-1], strip[:, 0], strip[:, -1])]
    assert sorted(sides)[0] < 100 < sorted(sides)[1]  # desk along exactly one side
    turned = photo_of_digit(digit, np.random.default_rng(2), desk="turned")
    height, width = turned.shape
    corners = [turned[:height // 8, :width // 8], turned[:height // 8, -width // 8:],
               turned[-height // 8:, :width // 8], turned[-height // 8:, -width // 8:]]
    assert all(np.median(corner) < 100 for corner in corners)  # desk in every corner
    assert np.median(turned[:, width // 2]) > 170  # the page across the middle

    def page_starts(row: int) -> int:
        return int(np.flatnonzero(turned[row] > 150)[0])

    assert abs(page_starts(height // 4) - page_starts(height // 2)) > 0.02 * width  # its edge slants
    wedges = photo_of_digit(digit, np.random.default_rng(3), desk="wedges")
    assert np.median(wedges) > 170 and min(np.median(corner) for corner in (
        wedges[:10, :10], wedges[:10, -10:], wedges[-10:, :10], wedges[-10:, -10:])) < 100
    tight = photo_of_digit(digit, np.random.default_rng(4), desk="tight")
    pen = tight < np.median(tight) - 30
    assert all(side.any() for side in (pen[0], pen[-1], pen[:, 0], pen[:, -1]))  # cropped to the ink
    loose = photo_of_digit(digit, np.random.default_rng(5), desk="loose")
    pen = loose < np.median(loose) - 30
    rows = np.flatnonzero(pen.any(axis=1))
    assert not any(side.any() for side in (pen[0], pen[-1], pen[:, 0], pen[:, -1]))  # paper round the ink
    assert 0.1 * len(pen) < rows[0] < 0.3 * len(pen)  # about a quarter of the digit's height of it


def test_photos_on_notebook_paper_have_lines_across_it():
    from nn_core.synthetic.photos import PENCIL_LINES, printed_lines

    def lines_crossed(profile: np.ndarray) -> int:  # runs of marked positions
        return int(np.count_nonzero(np.diff((profile > 0.3 * profile.max()).astype(np.int8)) == 1))

    assert printed_lines(None, 560, np.random.default_rng(0)) == 0
    for lines in ("ruled", "squared"):
        marks = printed_lines(lines, 560, np.random.default_rng(0))
        assert marks.shape == (560, 560) and 0.1 < marks.max() <= 0.5  # a share of the pen's darkness
        # Along a strip 20 px wide, a line tilted by 4° or less drifts by under 2 px.
        across, down = lines_crossed(marks[:, -20:].mean(axis=1)), lines_crossed(marks[-20:].mean(axis=0))
        assert across >= 8  # lines across the page, a tenth of it apart or closer
        assert down >= 8 if lines == "squared" else down == 1  # and down it, or one margin line
        pencil = printed_lines(lines, 560, np.random.default_rng(0), PENCIL_LINES)
        assert 0.5 < pencil.max() <= 0.9  # against a pencil, nearly as dark as the digit
        wide = printed_lines(lines, 560, np.random.default_rng(0), gap=140)
        assert lines_crossed(wide[:, -20:].mean(axis=1)) == 4  # lines 140 px apart


def test_a_page_photographed_at_a_slant_has_its_lines_fanning_out():
    """The lines across stay straight, but the top one is turned by the spread from the
    bottom one; halfway across they lie where parallel lines would."""
    from nn_core.synthetic.photos import line_marks

    def line_rows(marks: np.ndarray, column: int) -> np.ndarray:  # centres of the lines crossing a column
        starts = np.flatnonzero(np.diff((marks[:, column] > 0.5).astype(np.int8)) == 1)
        ends = np.flatnonzero(np.diff((marks[:, column] > 0.5).astype(np.int8)) == -1)
        return (starts + ends) / 2

    parallel = line_marks((600, 600), gap=60, tilt=0, offset=30)
    fanned = line_marks((600, 600), gap=60, tilt=0, offset=30, spread=6)
    left, right = line_rows(fanned, 0), line_rows(fanned, 599)
    assert len(left) == len(right) == 10
    slopes = np.degrees(np.arctan((right - left) / 599))
    assert slopes[-1] - slopes[0] == pytest.approx(6 * 9 / 10, abs=0.5)  # the outer lines lie a tenth in
    assert np.abs(np.diff(slopes, 2)).max() < 0.1  # evenly fanned
    assert np.array_equal(line_marks((600, 600), 60, 0, offset=30, spread=0), parallel)
    # Halfway across, the lines cross where parallel ones would.
    assert line_rows(fanned, 300) == pytest.approx(line_rows(parallel, 300), abs=1)


def test_pen_pressure_and_stroke_ends_vary_the_drawing_of_the_same_digit(mnist_test):
    images, _ = mnist_test
    one = images[np.argmax([bounding_box(image > 0)[0] for image in images[:50]])]
    uniform, _ = draw_digit(one, brush=16, rng=np.random.default_rng(0))
    as_before, _ = draw_digit(one, brush=16, rng=np.random.default_rng(0), pen=drawn_digits.PenStyle())
    np.testing.assert_array_equal(as_before, uniform)  # a uniform pen draws the plain brush's strokes
    signature = shape_signature(one)
    for pen in (drawn_digits.PenStyle(pressure=0.6), drawn_digits.PenStyle(end_reach=2.0),
                drawn_digits.PenStyle(lifts=2), drawn_digits.PenStyle(taper=0.5), drawn_digits.PenStyle(tremor=2.0)):
        varied, height = draw_digit(one, brush=16, rng=np.random.default_rng(0), pen=pen)
        assert not np.array_equal(varied, uniform)
        assert 0 < height <= 1 and varied.max() == 1.0
        drawing = shape_signature(np.round(varied * 255).astype(np.uint8))
        assert np.corrcoef(drawing, signature)[0, 1] > 0.8  # still the same digit


def line_path(length: int, width: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A straight stroke as the tracer's graph: points a pixel apart, each joined to the next."""
    points = np.stack([np.arange(length, dtype=float), np.zeros(length)], axis=1)
    edges = np.stack([np.arange(length - 1), np.arange(1, length)], axis=1)
    return points, edges, np.full(length, width)


def test_a_pen_lift_cuts_a_gap_as_wide_as_asked_and_never_a_whole_loop():
    points, edges, widths = line_path(200, 4.0)
    pieces = set()
    for seed in range(20):
        kept, kept_edges, kept_widths = drawn_digits._lift_pen(points, edges, widths, 1, 3.0,
                                                                np.random.default_rng(seed))
        assert len(kept) == len(kept_widths) and kept_edges.max() < len(kept)
        rows = kept[:, 0]
        jumps = np.diff(rows)[np.diff(rows) > 1]
        # The blank between the brush's edges is the jump less one brush width: at most the gap asked.
        assert all(0 <= jump - 4.0 <= 3.0 + 1 for jump in jumps)
        # Every edge left joins neighbours on the line: none bridges the gap.
        assert (np.abs(kept[kept_edges[:, 0]] - kept[kept_edges[:, 1]]).sum(axis=1) <= 1).all()
        pieces.add(len(kept) - len(kept_edges))
    assert pieces <= {1, 2} and 2 in pieces  # a cut mid-stroke leaves two pieces; one at an end, one
    short = line_path(20, 10.0)  # a gap wider than a brush would take half this stroke: no lift
    kept, _, _ = drawn_digits._lift_pen(*short, 1, 3.0, np.random.default_rng(0))
    assert len(kept) == 20


def test_a_lift_beside_a_crossing_leaves_the_crossing_and_cuts_one_branch():
    arm = np.arange(-50, 51, dtype=float)
    points = np.concatenate([np.stack([arm, np.zeros_like(arm)], 1), np.stack([np.zeros(100), np.delete(arm, 50)], 1)])
    across = np.stack([np.arange(100), np.arange(1, 101)], axis=1)
    down = np.arange(101, 201)
    down_edges = np.stack([down[:-1], down[1:]], axis=1)
    joins = np.array([[50, 150], [50, 151]])  # the crossing's neighbours on the second stroke
    edges = np.concatenate([across, down_edges, joins])
    cut_near_crossing = 0
    for seed in range(30):
        kept, _, _ = drawn_digits._lift_pen(points, edges, np.full(len(points), 4.0), 1, 2.0,
                                             np.random.default_rng(seed))
        missing = points[~(points[:, None] == kept[None]).all(axis=2).any(axis=1)]
        crossing_kept = (kept == 0).all(axis=1).any()
        if crossing_kept and len(missing) and np.abs(missing).sum(axis=1).max() <= 12:
            cut_near_crossing += 1
            assert len(np.unique(np.sign(missing).sum(axis=1) + 2 * np.sign(missing[:, 1]))) == 1  # one arm
    assert cut_near_crossing >= 8  # about half the lifts are beside the crossing


def test_a_tapered_pen_thins_free_stroke_ends_and_leaves_the_middle():
    points, edges, widths = line_path(100, 10.0)
    share = drawn_digits._taper(points, edges, widths, 0.4)
    assert share[0] == pytest.approx(0.6) and share[-1] == pytest.approx(0.6)
    assert (share[10:90] == 1).all() and (np.diff(share[:11]) > 0).all()
