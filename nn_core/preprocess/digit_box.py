"""Stages 2–3: the digit's bounding box, ignoring specks, or None when nothing is drawn."""

from __future__ import annotations

import numpy as np

from .levels import BBOX_LEVEL, INK_LEVEL
from .masks import bbox
from .pixels import zero_padded


SPECK_FRACTION = 0.1  # separate blobs lighter than 10 % of the main one are specks
SPECK_GAP_FRACTION = 0.03  # blobs are separate when this much blank lies between them
MIN_INK_MASS = 8.0  # fewer ink pixels than this is a speck, not a digit
MIN_EXTENT_FRACTION = 0.04  # a digit spans at least 4 % of the picture's longer side


def digit_box(ink: np.ndarray) -> tuple[slice, slice] | None:
    """Bounding box of the digit ignoring specks, or None if nothing is drawn.

    Specks are found from projections: an ink blob separated from the main one
    by blank rows or columns, and much lighter, is dropped. Alternating rows and
    columns catches specks that line up with the digit in one direction.
    """
    # Blank margins change nothing but the cost: search the box of all the ink, measuring
    # gaps and sizes against the whole picture.
    marked_anywhere = bbox(ink > 0)
    if marked_anywhere is None:
        return None
    rows, cols = marked_anywhere
    box = digit_box_within(ink[marked_anywhere], max(ink.shape))
    return None if box is None else (slice(rows.start + box[0].start, rows.start + box[0].stop),
                                     slice(cols.start + box[1].start, cols.start + box[1].stop))


def digit_box_within(ink: np.ndarray, picture_side: int, scale: float = 1.0) -> tuple[slice, slice] | None:
    """``digit_box`` for ink cut from a picture whose longer side is ``picture_side``, with
    nothing but background (0) outside the cut, and shrunk by ``scale`` (≤ 1, its pixels
    averaging the picture's); the box is in the cut's coordinates.

    Gaps, sizes and masses are measured against the picture, so a shrunk cut finds the
    digit a full-size one would (its box only as exact as its pixels).
    """
    marked = _without_lone_pixels(ink > INK_LEVEL)
    rows, cols = slice(0, ink.shape[0]), slice(0, ink.shape[1])
    picture_side *= scale
    gap = max(2, round(SPECK_GAP_FRACTION * picture_side))
    for _ in range(3):
        region = marked[rows, cols]
        new_rows, all_rows = _main_span(region, 1, gap, rows.start)
        new_cols, all_cols = _main_span(region[new_rows.start - rows.start:new_rows.stop - rows.start], 0,
                                        gap, cols.start)
        if (new_rows, new_cols) == (rows, cols):
            break
        rows, cols = new_rows, new_cols
        if all_rows and all_cols:  # nothing was dropped, so another round would find these spans again
            break
    if max(rows.stop - rows.start, cols.stop - cols.start) < MIN_EXTENT_FRACTION * picture_side \
            or _lighter_than(ink[rows, cols], marked[rows, cols], MIN_INK_MASS * scale ** 2):
        return None
    return _tight_box(ink, rows, cols, picture_side)


def _lighter_than(ink: np.ndarray, marked: np.ndarray, mass: float) -> bool:
    """Whether the ink sums to less than ``mass``; ``marked`` are its pixels above INK_LEVEL."""
    # Counting the marked pixels costs a fraction of summing the ink, and nearly always settles it.
    if np.count_nonzero(marked) * INK_LEVEL >= 2 * mass:
        return False
    return bool(ink.sum() < mass)


def _main_span(region: np.ndarray, axis: int, gap: int, offset: int) -> tuple[slice, bool]:
    """The span of the heavy segments of the region's ink profile across ``axis`` (empty if
    no ink), and whether that span holds all its ink."""
    marked = np.flatnonzero(region.any(axis=axis))
    if marked.size == 0:
        return slice(offset, offset), True
    first, last = int(marked[0]), int(marked[-1])
    if last + 1 - first - marked.size < gap:  # too few blanks in all for a gap: one segment, nothing to weigh
        return slice(offset + first, offset + last + 1), True
    # Segments are runs of marked positions separated by at least `gap` blanks.
    breaks = np.flatnonzero(np.diff(marked) > gap)
    profile = region.sum(axis=axis)
    starts = marked[np.concatenate(([0], breaks + 1))]
    stops = marked[np.append(breaks, marked.size - 1)] + 1
    # Only blanks lie between one segment's stop and the next one's start.
    masses = np.add.reduceat(profile, starts)
    heavy = np.flatnonzero(masses >= SPECK_FRACTION * masses.max())
    return slice(offset + int(starts[heavy[0]]), offset + int(stops[heavy[-1]])), heavy.size == starts.size


def _tight_box(ink: np.ndarray, rows: slice, cols: slice, picture_side: float) -> tuple[slice, slice] | None:
    # The speck search used the ink core; the box must also hold its anti-aliased fringe,
    # but only within a small margin, not out to a speck.
    margin = max(2, round(0.01 * picture_side))
    top, left = max(0, rows.start - margin), max(0, cols.start - margin)
    region = _without_lone_pixels(ink[top:rows.stop + margin, left:cols.stop + margin] > BBOX_LEVEL)
    return bbox(region, top, left)


def _without_lone_pixels(mask: np.ndarray) -> np.ndarray:
    """Drop marked pixels with no marked 4-neighbour: sensor and JPEG noise, never a stroke."""
    padded = zero_padded(mask, 1)
    neighbours = padded[:-2, 1:-1] | padded[2:, 1:-1] | padded[1:-1, :-2] | padded[1:-1, 2:]
    return mask & neighbours
