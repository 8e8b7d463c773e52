"""Tests of nn_core.synthetic.stroke_mask: filled loops are opened, plain strokes are left alone."""

import numpy as np

from nn_core.synthetic.stroke_mask import ink_mask, stroke_mask
from nn_core.synthetic.thinning import skeletonize

UPSAMPLE = 4


def loops_in(mask: np.ndarray) -> int:
    """Number of holes in the mask's skeleton, i.e. closed loops the pen would draw.

    Counted pixel by pixel, not with stroke_mask's own flood fill, so that fill is
    not checked against itself."""
    skeleton = np.pad(skeletonize(mask), 1)
    background = ~skeleton
    seen = np.zeros_like(background)
    regions = 0
    for start in zip(*np.nonzero(background)):
        if seen[start]:
            continue
        regions += 1
        stack = [start]
        seen[start] = True
        while stack:
            y, x = stack.pop()
            for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0)):
                ny, nx = y + dy, x + dx
                if 0 <= ny < background.shape[0] and 0 <= nx < background.shape[1] \
                        and background[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    stack.append((ny, nx))
    return regions - 1  # the outside is not a loop


def stroked(points: list[tuple[float, float]], width: float) -> np.ndarray:
    """A 28x28 uint8 digit: a polyline of the given width, solid ink."""
    yy, xx = np.mgrid[:28, :28].astype(np.float64)
    distance = np.full((28, 28), np.inf)
    for (y0, x0), (y1, x1) in zip(points, points[1:]):
        dy, dx = y1 - y0, x1 - x0
        t = np.clip(((yy - y0) * dy + (xx - x0) * dx) / (dy * dy + dx * dx), 0, 1)
        distance = np.minimum(distance, np.hypot(yy - (y0 + t * dy), xx - (x0 + t * dx)))
    return (np.clip(width / 2 + 0.5 - distance, 0, 1) * 255).astype(np.uint8)


def filled_nine() -> np.ndarray:
    """A 9 whose loop the pen filled: a solid disc with a tail down its right side."""
    yy, xx = np.mgrid[:28, :28]
    head = np.hypot(yy - 10, xx - 13) <= 5.5
    return np.maximum(head * 255, stroked([(10, 17.5), (23, 16)], 3)).astype(np.uint8)


def test_a_filled_loop_is_traced_as_a_loop():
    nine = filled_nine()
    assert loops_in(ink_mask(nine, UPSAMPLE)) == 0  # thinned as it is, the head is a line: a 7
    assert loops_in(stroke_mask(nine, UPSAMPLE)) == 1


def test_a_loop_that_shows_only_as_a_faint_dip_becomes_a_hole():
    yy, xx = np.mgrid[:28, :28]
    radius = np.hypot(yy - 14, xx - 14)
    zero = np.where(radius <= 7, 255, 0).astype(np.uint8)
    zero[radius <= 2.5] = 110  # the pen nearly closed the hole: lighter, but above the ink level
    assert loops_in(ink_mask(zero, UPSAMPLE)) == 0
    opened = stroke_mask(zero, UPSAMPLE)
    assert loops_in(opened) == 1
    assert not opened[14 * UPSAMPLE, 14 * UPSAMPLE]  # the hole is where the dip was


def test_plain_strokes_and_open_loops_are_left_as_they_are():
    one = stroked([(4, 14), (24, 14)], 3)
    seven = stroked([(5, 7), (5, 20), (23, 11)], 3)
    thick_one = stroked([(4, 14), (24, 14)], 6)  # a broad pen, but the same width throughout
    yy, xx = np.mgrid[:28, :28]
    ring = np.where(np.abs(np.hypot(yy - 14, xx - 14) - 7) <= 1.6, 255, 0).astype(np.uint8)
    for digit in (one, seven, thick_one, ring):
        assert np.array_equal(stroke_mask(digit, UPSAMPLE), ink_mask(digit, UPSAMPLE))


def test_an_empty_digit_gives_an_empty_mask():
    assert not stroke_mask(np.zeros((28, 28), np.uint8), UPSAMPLE).any()
    assert stroke_mask(np.zeros((28, 28), np.uint8), 1).shape == (28, 28)
