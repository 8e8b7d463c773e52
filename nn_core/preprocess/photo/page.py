"""A photographed page lying on a darker desk, found as one block of "ink"."""

from __future__ import annotations

import numpy as np

from ..levels import INK_LEVEL
from ..masks import bbox
from .masks import spans
from .params import (
    OUTLINE_STRAIGHT_TURN, PAGE_CORNER_MERGE, PAGE_MAX_CORNER_SKEW, PAGE_MAX_POLYGON_MISMATCH,
    PAGE_MIN_FILL, PAGE_MIN_MARKED_OUTLINE, PAGE_MIN_PIXELS, PAGE_MIN_THICKNESS, PAGE_RIM)


def find_page(ink: np.ndarray) -> tuple[tuple[slice, slice], np.ndarray | None] | None:
    """The page that ``ink`` took for ink, or None when it holds pen strokes: the page's
    bounding box, and which pixels of the box lie on the page (None: all of them).

    A page is a large quadrilateral, maybe turned on the desk, seen at a slant or
    cut off by the picture's edges, solid but for the pen strokes on it: marked all
    along its outline, which the polygon through its outermost points follows
    exactly, and thick both ways. A stroke's outline crosses the blank it curves
    round, round digits bulge beyond that polygon, a bold printed 4 or 7 comes to a
    sharp point, a square-drawn 0 encloses a blank middle and a slanted bar of a 1 is
    thin. The page's own rim (shadow, curl) is left out.
    """
    marked = ink > INK_LEVEL
    if marked.mean() < PAGE_MIN_THICKNESS ** 2 * PAGE_MIN_FILL:
        return None
    box = bbox(marked)
    block = marked[box]
    height, width = block.shape
    if min(height, width) < PAGE_MIN_PIXELS:
        return None
    rim = max(1, round(PAGE_RIM * min(height, width)))
    in_row_span, in_column_span = spans(block, rim)
    outlined = in_row_span | in_column_span  # a convex shape with its holes filled
    if not outlined.any() or block[outlined].mean() < PAGE_MIN_FILL:
        return None
    outline = outlined & ~np.logical_and(*spans(outlined, rim))
    if block[outline].mean() < PAGE_MIN_MARKED_OUTLINE:
        return None
    corners = _corners(_outermost_points(outlined), tolerance=PAGE_CORNER_MERGE * max(height, width))
    if len(corners) < 4 or _turns(corners).max() > 90 + PAGE_MAX_CORNER_SKEW:
        return None
    area = _polygon_area(corners)
    sides = np.hypot(*(np.roll(corners, -1, axis=0) - corners).T)
    if abs(outlined.sum() / area - 1) > PAGE_MAX_POLYGON_MISMATCH \
            or area / sides.max() < max(PAGE_MIN_PIXELS, PAGE_MIN_THICKNESS * min(ink.shape)):
        return None
    on_page = in_row_span & in_column_span
    inner = bbox(on_page)
    on_page = on_page[inner]
    rows, cols = box
    box = (slice(rows.start + inner[0].start, rows.start + inner[0].stop),
           slice(cols.start + inner[1].start, cols.start + inner[1].stop))
    return box, None if on_page.all() else on_page


def _outermost_points(mask: np.ndarray) -> np.ndarray:
    """(8, 2) (y, x) points going round ``mask``: both ends of its top row, of its right
    column, of its bottom row and of its left column. For a quadrilateral they are its
    corners (some twice); for a round shape, a polygon well inside it."""
    def ends(line: np.ndarray) -> tuple[int, int]:
        marked = np.flatnonzero(line)
        return int(marked[0]), int(marked[-1])

    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1], cols[0], cols[-1]
    top_left, top_right = ends(mask[top])
    right_top, right_bottom = ends(mask[:, right])
    bottom_left, bottom_right = ends(mask[bottom])
    left_top, left_bottom = ends(mask[:, left])
    return np.array([(top, top_left), (top, top_right), (right_top, right), (right_bottom, right),
                     (bottom, bottom_right), (bottom, bottom_left), (left_bottom, left), (left_top, left)],
                    dtype=np.float64)


def _corners(points: np.ndarray, tolerance: float) -> np.ndarray:
    """The points of a polygon where it turns: points within ``tolerance`` of the next
    merged (a corner cut off, or drawn twice), points on a straight side dropped."""
    corners = [points[0]]
    for point in points[1:]:
        if np.hypot(*(point - corners[-1])) <= tolerance:
            corners[-1] = (corners[-1] + point) / 2
        else:
            corners.append(point)
    if len(corners) > 1 and np.hypot(*(corners[0] - corners[-1])) <= tolerance:
        corners[0] = (corners[0] + corners.pop()) / 2
    while len(corners) > 2:
        turns = _turns(np.array(corners))
        gone = int(np.argmin(turns))
        if turns[gone] >= OUTLINE_STRAIGHT_TURN:
            break
        del corners[gone]
    return np.array(corners)


def _turns(points: np.ndarray) -> np.ndarray:
    """How many degrees a polygon turns at each of its points (0 where it runs straight
    on or a point repeats)."""
    incoming = points - np.roll(points, 1, axis=0)
    outgoing = np.roll(points, -1, axis=0) - points
    cross = incoming[:, 0] * outgoing[:, 1] - incoming[:, 1] * outgoing[:, 0]
    dot = np.einsum("ij,ij->i", incoming, outgoing)
    return np.degrees(np.abs(np.arctan2(cross, dot)))


def _polygon_area(points: np.ndarray) -> float:
    """Area inside a polygon of (y, x) points (the shoelace formula)."""
    y, x = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
