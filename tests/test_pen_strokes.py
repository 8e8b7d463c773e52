"""The independent stroke renderer of nn_core/synthetic/pen_strokes.py (for evaluation only)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from nn_core.synthetic import pen_strokes
from nn_core.preprocess import preprocess


def ring(size: int = 28, outer: float = 9, inner: float = 5) -> np.ndarray:
    """A (size, size) uint8 "0": a ring centred in the picture."""
    y, x = np.mgrid[0:size, 0:size] - (size - 1) / 2
    distance = np.hypot(y, x)
    return ((distance <= outer) & (distance >= inner)).astype(np.uint8) * 255


def seven() -> np.ndarray:
    picture = Image.new("L", (28, 28), 0)
    ImageDraw.Draw(picture).line([(6, 6), (21, 6), (12, 23)], fill=255, width=3)
    return np.asarray(picture)


def test_guo_hall_thins_a_thick_bar_to_a_one_pixel_line():
    mask = np.zeros((30, 60), bool)
    mask[10:19, 5:55] = True
    skeleton = pen_strokes.guo_hall_thinning(mask)
    assert skeleton.any() and not (skeleton & ~mask).any()
    assert skeleton.sum(axis=0).max() == 1  # one pixel thick
    assert np.flatnonzero(skeleton.any(axis=0)).size >= 40  # and still most of the bar's length


def test_a_ring_thins_to_one_closed_stroke():
    strokes = pen_strokes.pen_strokes(ring())
    assert len(strokes) == 1
    loop = strokes[0]
    assert not loop.free_start and not loop.free_end
    assert np.hypot(*(loop.points[0] - loop.points[-1])) <= 1.5  # it closes on itself


def test_strokes_run_from_their_upper_left_end_in_writing_order():
    strokes = pen_strokes.pen_strokes(seven())
    assert len(strokes) >= 1
    first = strokes[0]
    assert first.free_start  # the 7 starts at the free end of its bar
    assert first.points[0][1] < first.points[-1][1] or first.points[0][0] < first.points[-1][0]
    starts = [stroke.points[0][0] + 0.5 * stroke.points[0][1] for stroke in strokes]
    assert starts == sorted(starts)


@pytest.mark.parametrize("encoding", pen_strokes.ENCODINGS)
def test_a_rendered_digit_is_a_drawing_the_canvas_path_reads(encoding):
    rng = np.random.default_rng(0)
    coverage = pen_strokes.render(pen_strokes.pen_strokes(seven()), rng)
    assert coverage.shape == (280, 280) and 0 <= coverage.min() and coverage.max() <= 1
    rows = np.flatnonzero(coverage.any(axis=1))
    assert 0.25 * 280 <= rows[-1] - rows[0] + 1 <= 0.95 * 280  # 30-90 % of the canvas, pen included
    image = pen_strokes.encode(coverage, encoding)
    result = preprocess(image)
    assert result.source == "canvas" and not result.empty


def test_the_pen_varies_in_width_along_a_stroke():
    # The same strokes drawn twice: pressure, tremor and the pen's ends differ, so the ink does too.
    strokes = pen_strokes.pen_strokes(seven())
    first = pen_strokes.render(strokes, np.random.default_rng(1))
    second = pen_strokes.render(strokes, np.random.default_rng(2))
    assert not np.array_equal(first, second)
    factor = pen_strokes._pressure(200, strokes[0], np.random.default_rng(3))
    assert factor.max() - factor.min() > 0.1 and factor.max() <= 1


def test_a_digit_as_wide_as_the_canvas_allows_still_finds_a_place():
    bar = np.zeros((28, 28), np.uint8)
    bar[12:16, 0:28] = 255  # wider than tall: its width, not its height, sets the size
    strokes = pen_strokes.pen_strokes(bar)
    for seed in range(20):
        coverage = pen_strokes.render(strokes, np.random.default_rng(seed))
        columns = np.flatnonzero(coverage.any(axis=0))
        assert columns[0] >= 0 and columns[-1] <= 279
