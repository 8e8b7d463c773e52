"""Stage 4: the digit scaled to MNIST's 20-px box with an MNIST-like stroke width."""

from __future__ import annotations

import numpy as np
from PIL import Image

from .levels import BBOX_LEVEL, normalise_peak
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


def stroke_width(ink: np.ndarray) -> float:
    """Mean stroke width in pixels: 2·area / perimeter, perimeter = total variation.

    A stroke of length L and width w has area L·w and an outline about 2·L
    long; both sums are unchanged by anti-aliasing blur, so the estimate is
    the same at any scale.
    """
    padded = zero_padded(ink, 1)
    down = np.diff(padded, axis=0)[:, :-1]
    across = np.diff(padded, axis=1)[:-1, :]
    # In place: the differences are fresh arrays, and this runs on every digit twice.
    squares = np.multiply(down, down, out=down) + np.multiply(across, across, out=across)
    perimeter = float(np.sqrt(squares, out=squares).sum())
    return 2 * float(ink.sum()) / perimeter if perimeter > 0 else 0.0


def _resize(ink: np.ndarray, scale: float) -> np.ndarray:
    """Resize by `scale` (area-averaging when shrinking, as MNIST's anti-aliasing)."""
    height, width = ink.shape
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == (width, height):
        return ink.copy()
    method = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    resized = np.asarray(Image.fromarray(ink).resize(size, method), dtype=np.float32)
    return np.clip(resized, 0, 1)


def scale_to_box(cropped: np.ndarray) -> np.ndarray:
    """Stage 4: longer side → 20 px with an MNIST-like stroke width."""
    long_side = max(cropped.shape)
    width = stroke_width(cropped) * DIGIT_BOX / long_side
    low, high = MNIST_STROKE_RANGE
    if low <= width <= high:
        return _resize(cropped, DIGIT_BOX / long_side)
    work_side = DIGIT_BOX * STROKE_WORK_SCALE
    work = _resize(cropped, work_side / long_side)
    if width < low:
        # Strokes thinner than a pixel alias: a line falls in one row, or splits over
        # two at half the peak. Blurring gives every thin line the same peak, so
        # after normalising none of them stays faint.
        work = _blur_3x3(work)
    return _restroke(normalise_peak(work), work_side, target=min(max(width, low), high))


def _blur_3x3(ink: np.ndarray) -> np.ndarray:
    """3×3 mean filter; the result is 1 px larger on every side so no ink is lost."""
    padded = zero_padded(ink, 2)
    rows = padded[:-2] + padded[1:-1] + padded[2:]
    return (rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]) / 9


def _restroke(work: np.ndarray, work_side: int, target: float) -> np.ndarray:
    """Thicken or thin the strokes of `work` (longer side ≈ work_side), then shrink to 20 px."""
    radius = _morph_radius(stroke_width(work), work_side, target)
    if radius > 0:
        work = _dilate(zero_padded(work, radius), radius)
    elif radius < 0:
        work = _erode(work, -radius)
    box = bbox(work > BBOX_LEVEL) or bbox(work > 0)
    if box is not None:  # erosion never removes all ink (see _morph_radius), but stay safe
        work = work[box]
    return _resize(work, DIGIT_BOX / max(work.shape))


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
