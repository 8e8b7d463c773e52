"""Stage 4: the digit scaled to MNIST's 20-px box with an MNIST-like stroke width."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

from .levels import BBOX_LEVEL, normalise_peak, normalise_peak_quickly
from .masks import bbox
from .pixels import zero_padded


DIGIT_BOX = 20  # MNIST's digits fill a 20×20 box inside the 28×28 field
# Stroke width (2·area / perimeter, see stroke_width) of MNIST training digits at
# the 20-px scale: quartiles 2.02 and 2.82, median 2.39 (first 20,000 digits).
# Widths outside this range are moved to its nearest end, which leaves MNIST-like
# input nearly untouched while fixing thin and fat brushes.
MNIST_STROKE_RANGE = (2.0, 2.8)
# Thinning or thickening runs at this multiple of the final size, where one pixel
# of dilation changes the final stroke width by 1/4 px.
STROKE_WORK_SCALE = 4
WORK_SIDE = DIGIT_BOX * STROKE_WORK_SCALE
# A drawing shrunk to the work scale is restroked as it is, even when its digit (found on
# it) is somewhat smaller; below this fraction of the work scale it is enlarged first, as a
# small crop is, so that one pixel of thickening moves the final width by at most 1/3 px.
MIN_WORK_FRACTION = 0.75


def stroke_width(ink: np.ndarray) -> float:
    """Mean stroke width in pixels: 2·area / perimeter, perimeter = total variation.

    A stroke of length L and width w has area L·w and an outline about 2·L
    long; both sums are unchanged by anti-aliasing blur, so the estimate is
    the same at any scale.
    """
    padded = zero_padded(ink, 1)
    # Each pixel's differences to the next one down and across (those past the last are to the padding).
    corner = padded[:-1, :-1]
    down = padded[1:, :-1] - corner
    across = padded[:-1, 1:] - corner
    # In place: the differences are fresh arrays, and this runs on every digit twice.
    squares = np.multiply(down, down, out=down) + np.multiply(across, across, out=across)
    perimeter = float(np.sqrt(squares, out=squares).sum())
    return 2 * float(ink.sum()) / perimeter if perimeter > 0 else 0.0


def scale_to_box(cropped: np.ndarray) -> np.ndarray:
    """Stage 4: longer side → 20 px with an MNIST-like stroke width."""
    long_side = max(cropped.shape)
    width = stroke_width(cropped) * DIGIT_BOX / long_side
    low, high = MNIST_STROKE_RANGE
    if low <= width <= high:
        return _resize(cropped, DIGIT_BOX / long_side)
    work = _resize(cropped, WORK_SIDE / long_side)
    if width < low:
        # Strokes thinner than a pixel alias: a line falls in one row, or splits over
        # two at half the peak. Blurring gives every thin line the same peak, so
        # after normalising none of them stays faint.
        work = _blur_3x3(work)
    work = normalise_peak(work)
    restroked = _restroked(work, stroke_width(work), WORK_SIDE, _target(width))
    return _resize(restroked, DIGIT_BOX / max(restroked.shape))


def shrink_to_work_scale(ink: np.ndarray) -> np.ndarray:
    """The ink with its longer side shrunk to the work scale when longer (area-averaging as
    ``scale_to_box`` does), so that a drawing is read at full size once and every later step
    works on a small array."""
    long_side = max(ink.shape)
    if long_side <= WORK_SIDE:
        return ink
    height, width = ink.shape
    # Pillow reads the (C-contiguous, float32) ink in place; its means of values in [0, 1] stay in [0, 1].
    image = Image.frombuffer("F", (width, height), np.ascontiguousarray(ink, np.float32), "raw", "F", 0, 1)
    return np.asarray(image.resize(_size(width, height, WORK_SIDE / long_side), Image.Resampling.BOX))


def scale_drawing_to_box(digit: np.ndarray) -> np.ndarray:
    """``scale_to_box`` for a drawing's digit found on its ``shrink_to_work_scale`` copy.

    Its strokes are measured and restroked at that scale (a stroke's width is the same at
    any scale), so the whole digit is never read at full size again; a digit much smaller
    than the work scale is enlarged to it first, as ``scale_to_box`` enlarges a small crop.
    """
    long_side = max(digit.shape)
    width = stroke_width(digit)
    at_box = width * DIGIT_BOX / long_side
    low, high = MNIST_STROKE_RANGE
    if low <= at_box <= high:
        return _to_digit_box(digit)
    work = digit
    if long_side < MIN_WORK_FRACTION * WORK_SIDE:
        work = _resize(digit, WORK_SIDE / long_side)
        width = stroke_width(work)
    if at_box < low:
        # Blurred as ``scale_to_box`` blurs thin strokes; a thick stroke keeps its full strength
        # when it is shrunk, so only a blurred one needs its peak brought back to 1.
        work = normalise_peak_quickly(_blur_3x3(work))
        width = stroke_width(work)
    return _to_digit_box(_restroked(work, width, max(work.shape), _target(at_box)))


def _target(width: float) -> float:
    """The stroke width (at 20 px) to restroke a digit of ``width`` to: the nearer end of MNIST's range."""
    low, high = MNIST_STROKE_RANGE
    return min(max(width, low), high)


def _size(width: int, height: int, scale: float) -> tuple[int, int]:
    """Pillow's (width, height) of an image resized by ``scale``."""
    return max(1, round(width * scale)), max(1, round(height * scale))


def _to_digit_box(ink: np.ndarray) -> np.ndarray:
    """The ink resized so its longer side is 20 px, a shrink taken as two small matrix products."""
    height, width = ink.shape
    scale = DIGIT_BOX / max(height, width)
    if scale > 1:
        return _resize(ink, scale)
    new_width, new_height = _size(width, height, scale)
    shrunk = _box_weights(height, new_height) @ ink @ _box_weights(width, new_width).T
    return np.minimum(np.maximum(shrunk, 0, out=shrunk), 1, out=shrunk)


@lru_cache(maxsize=1024)
def _box_weights(size: int, new_size: int) -> np.ndarray:
    """(new_size, size) float32 matrix of Pillow's BOX shrink along one axis: each new pixel
    the mean of the old ones whose centres fall in its span (computed as Pillow does, so
    that pixels on a boundary go the same way)."""
    scale = size / new_size
    centres = (np.arange(new_size) + 0.5) * scale
    first = (centres - 0.5 * scale + 0.5).astype(int)
    stop = np.minimum((centres + 0.5 * scale + 0.5).astype(int), size)
    old = np.arange(size)
    offset = ((old[None, :] - centres[:, None]) + 0.5) * (1 / scale)
    inside = (offset > -0.5) & (offset <= 0.5) & (old >= first[:, None]) & (old < stop[:, None])
    weights = (inside / inside.sum(axis=1, keepdims=True)).astype(np.float32)
    weights.flags.writeable = False  # shared by every call with these sizes
    return weights


def _resize(ink: np.ndarray, scale: float) -> np.ndarray:
    """Resize by `scale` (area-averaging when shrinking, as MNIST's anti-aliasing)."""
    height, width = ink.shape
    size = _size(width, height, scale)
    if size == (width, height):
        return ink.copy()
    method = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    resized = np.array(Image.fromarray(ink).resize(size, method), dtype=np.float32)
    # np.clip's checks cost more than the two passes on arrays this small.
    return np.minimum(np.maximum(resized, 0, out=resized), 1, out=resized)


def _blur_3x3(ink: np.ndarray) -> np.ndarray:
    """3×3 mean filter; the result is 1 px larger on every side so no ink is lost."""
    padded = zero_padded(ink, 2)
    rows = padded[:-2] + padded[1:-1] + padded[2:]
    return (rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]) / 9


def _restroked(work: np.ndarray, width: float, work_side: int, target: float) -> np.ndarray:
    """Thicken or thin the strokes of ``work`` (longer side ≈ work_side), ``width`` px wide,
    so that shrunk to 20 px they are ``target`` px wide; cropped to the result's ink."""
    radius = _morph_radius(width, work_side, target)
    if radius > 0:
        work = _dilate(zero_padded(work, radius), radius)
    elif radius < 0:
        work = _erode(work, -radius)
    box = bbox(work > BBOX_LEVEL) or bbox(work > 0)
    if box is not None:  # erosion never removes all ink (see _morph_radius), but stay safe
        work = work[box]
    return work


def _morph_radius(width: float, work_side: int, target: float) -> int:
    """Signed disc radius (+ thicken, − thin) bringing the stroke to MNIST's width.

    Growing strokes by r on each side also grows the box by 2r, which is then
    shrunk back to 20 px, so solve (w + 2r)·20 / (S + 2r) = target for r.
    """
    radius = (target * work_side / DIGIT_BOX - width) / (2 - 2 * target / DIGIT_BOX)
    # Thinning past a quarter of the width per side would cut thin parts of uneven strokes.
    return max(round(radius), -int(width / 4))


def _dilate(ink: np.ndarray, radius: int) -> np.ndarray:
    """Grey dilation by a disc: each pixel takes the brightest value within `radius`."""
    return _disc_filter(ink, radius, np.maximum)


def _erode(ink: np.ndarray, radius: int) -> np.ndarray:
    """Grey erosion by a disc: each pixel takes the darkest value within `radius`."""
    return _disc_filter(ink, radius, np.minimum)


def _disc_filter(ink: np.ndarray, radius: int, pick: np.ufunc) -> np.ndarray:
    """Each pixel → ``pick`` over the disc of ``radius`` round it (outside the image is
    background, for erosion as well as dilation).

    The disc is rows of pixels: row dy spans |dx| ≤ half_width(dy). Picking along every
    row span once, widening it a pixel at a time, then down the rows, costs about 3·radius
    array operations instead of the disc's radius² pixels.
    """
    height, width = ink.shape
    half_widths = [int(np.sqrt(radius * (radius + 1) - dy * dy)) for dy in range(radius + 1)]
    padded = zero_padded(ink, radius)
    across = {0: padded}  # half width → pick over that span along each row
    for half in range(1, radius + 1):
        previous = across[half - 1]
        widened = previous.copy()
        pick(widened[:, 1:], previous[:, :-1], out=widened[:, 1:])
        pick(widened[:, :-1], previous[:, 1:], out=widened[:, :-1])
        across[half] = widened
    result = ink.copy()
    for dy in range(-radius, radius + 1):
        rows = across[half_widths[abs(dy)]][radius + dy:radius + dy + height, radius:radius + width]
        pick(result, rows, out=result)
    return result
