"""Where the pen went: the stroke region of an MNIST digit, with its loops kept.

Thresholding a digit and thinning it traces most digits well, but a writer with a
thick pen often filled a loop: the hole of an 8, 9 or 6 is a faint dip or no gap
at all. Thinned as it is, a filled loop becomes a line, and the drawing shows an
8 as a 6 or a 9 as a 7, a digit nobody drew. Someone retracing the digit would
draw those loops, so before thinning we open them:

1. a dip in the ink that a stricter threshold shows as a closed hole becomes a hole;
2. ink much thicker than the digit's usual stroke is a filled loop; its core
   becomes a hole, so the path runs around it.
"""

import numpy as np
from PIL import Image

from .thinning import skeletonize

INK_THRESHOLD = 0.35  # MNIST grey level (0-1) above which a pixel is part of the stroke
HOLE_THRESHOLDS = (0.5, 0.65)  # stricter levels at which a filled loop's dip shows as a hole
FILLED_FACTOR = 2.0  # ink thicker than this many typical stroke widths is a filled loop
MIN_OPENING = 0.25  # area, in MNIST pixels, below which a dip or thick spot is noise


def stroke_mask(image28: np.ndarray, upsample: int) -> np.ndarray:
    """Boolean mask of the pen strokes of a 28x28 uint8 digit, ``upsample`` times larger,
    with filled loops opened (see the module docstring)."""
    return _traced(image28, upsample)[0]


def pen_path(image28: np.ndarray, upsample: int) -> np.ndarray:
    """The one-pixel path a pen followed: the skeleton of ``stroke_mask``."""
    return _traced(image28, upsample)[1]


def _traced(image28: np.ndarray, upsample: int) -> tuple[np.ndarray, np.ndarray]:
    """``stroke_mask`` and its skeleton. Finding filled cores needs the skeleton of the
    mask with its holes opened; most digits have no core, and that skeleton is the path."""
    level = _upsampled_levels(image28, upsample)
    mask = level > INK_THRESHOLD
    min_area = MIN_OPENING * upsample**2
    known = _enclosed(mask)
    for threshold in HOLE_THRESHOLDS:
        holes = _enclosed(level > threshold)
        # A hole that showed at the lower threshold only grew; keep the new ones.
        new_holes = holes & ~_flood(known, holes)
        for hole in _components(new_holes):
            if hole.sum() >= min_area:
                mask &= ~hole
                known |= hole
    skeleton = skeletonize(mask)
    cores = [core for core in _components(_filled_cores(mask, skeleton)) if core.sum() >= min_area]
    if not cores:
        return mask, skeleton
    for core in cores:
        mask &= ~core
    return mask, skeletonize(mask)


def ink_mask(image28: np.ndarray, upsample: int) -> np.ndarray:
    """The digit's ink as thresholding alone gives it, filled loops and all."""
    return _upsampled_levels(image28, upsample) > INK_THRESHOLD


def _upsampled_levels(image28: np.ndarray, upsample: int) -> np.ndarray:
    """The 28x28 uint8 digit enlarged ``upsample`` times, as float32 grey levels in [0, 1]."""
    size = 28 * upsample
    smooth = Image.fromarray(image28).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(smooth, dtype=np.float32) / 255


def _filled_cores(mask: np.ndarray, skeleton: np.ndarray) -> np.ndarray:
    """Ink further from the background than FILLED_FACTOR times the median distance along
    the mask's skeleton, i.e. than the digit's typical stroke width."""
    if not skeleton.any():
        return np.zeros_like(mask)
    limit = FILLED_FACTOR * float(np.median(_depth(mask, skeleton)))
    # A pixel's city-block depth is never below its Euclidean depth, so only pixels left
    # after floor(limit) 4-neighbour erosions can lie deeper than the limit.
    candidates = mask
    for _ in range(int(limit)):
        candidates = ~_grown(np.pad(~candidates, 1, constant_values=True))[1:-1, 1:-1]
    cores = np.zeros_like(mask)
    cores[candidates] = _depth(mask, candidates) > limit
    return cores


def _depth(mask: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Euclidean distance from each ``where`` pixel of the ink to the nearest non-ink pixel,
    in the order of ``np.nonzero(where)``."""
    padded = np.pad(mask, 1)
    rim_y, rim_x = np.nonzero(~padded & _grown(padded))  # the nearest background pixel touches ink
    ink_y, ink_x = np.nonzero(where)
    depth = np.empty(len(ink_y), dtype=np.float32)
    for start in range(0, len(ink_y), 1024):  # chunks keep the distance table small
        part = slice(start, start + 1024)
        squared = (ink_y[part, None] + 1 - rim_y) ** 2 + (ink_x[part, None] + 1 - rim_x) ** 2
        depth[part] = np.sqrt(squared.min(axis=1))
    return depth


def _enclosed(mask: np.ndarray) -> np.ndarray:
    """Background pixels that no 4-connected path of background links to the image edge."""
    background = np.pad(~mask, 1, constant_values=True)
    edge = np.zeros_like(background)
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = True
    return (background & ~_flood(edge, background))[1:-1, 1:-1]


def _components(region: np.ndarray) -> list[np.ndarray]:
    """The 4-connected parts of a boolean region, each as a mask of the region's shape."""
    parts, left = [], region.copy()
    while left.any():
        seed = np.zeros_like(left)
        seed[np.unravel_index(np.argmax(left), left.shape)] = True
        part = _flood(seed, left)
        parts.append(part)
        left &= ~part
    return parts


def _flood(seed: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Every pixel of ``allowed`` that a 4-connected path inside it links to ``seed``."""
    reach = seed & allowed
    while True:
        # Whole runs at a time, along rows then columns: a few sweeps instead of a pixel a step.
        grown = _along_rows(_along_rows(reach, allowed).T, allowed.T).T
        if np.array_equal(grown, reach):
            return reach
        reach = grown


def _along_rows(reach: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """``reach`` spread over every run of ``allowed`` pixels in a row that it touches."""
    height, width = allowed.shape
    # A blank column after each row keeps runs from wrapping onto the next row.
    cells = np.zeros((height, width + 1), dtype=bool)
    cells[:, :width] = allowed
    cells = cells.ravel()
    starts = cells.copy()
    starts[1:] &= ~cells[:-1]
    run = np.cumsum(starts, dtype=np.int32) * cells  # 0 off the allowed pixels, else the run's number
    touched = np.zeros(int(np.count_nonzero(starts)) + 1, dtype=bool)
    touched[run.reshape(height, width + 1)[:, :width][reach]] = True
    touched[0] = False
    return touched[run].reshape(height, width + 1)[:, :width]


def _grown(mask: np.ndarray) -> np.ndarray:
    """The mask with its 4-neighbours added."""
    grown = mask.copy()
    grown[1:] |= mask[:-1]
    grown[:-1] |= mask[1:]
    grown[:, 1:] |= mask[:, :-1]
    grown[:, :-1] |= mask[:, 1:]
    return grown
