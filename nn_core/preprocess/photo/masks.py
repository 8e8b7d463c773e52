"""Small helpers on masks and images for the photo cleanup: spans, runs, block maxima, side views."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def spans(mask: np.ndarray, trim: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Which pixels lie within their row's span of ``mask`` (from its first marked pixel
    to its last), and which within their column's span; every span trimmed by ``trim``
    at both ends.

    For a convex shape, such as a page however turned, both are the shape with its
    holes filled, shrunk by ``trim``; a pen stroke's row and column spans also
    take in the blank it curves round.
    """
    def within_row_spans(marked: np.ndarray) -> np.ndarray:
        width = marked.shape[1]
        used = marked.any(axis=1)
        first = np.where(used, marked.argmax(axis=1), width)
        last = np.where(used, width - 1 - marked[:, ::-1].argmax(axis=1), -1)
        columns = np.arange(width)
        return (columns >= (first + trim)[:, None]) & (columns <= (last - trim)[:, None])

    return within_row_spans(mask), within_row_spans(mask.T).T


def long_runs(line: np.ndarray, min_length: float) -> list[tuple[int, int]]:
    """The (start, end) of every run of True in a boolean line at least ``min_length`` long."""
    steps = np.diff(np.concatenate([[0], line.astype(np.int8), [0]]))
    return [(int(start), int(end)) for start, end in zip(np.flatnonzero(steps == 1), np.flatnonzero(steps == -1))
            if end - start >= min_length]


def block_maxima(image: np.ndarray, block: int) -> np.ndarray:
    """The maximum of every block×block tile of ``image`` (edge tiles may be smaller);
    for a mask, which tiles hold a marked pixel."""
    rows, cols = image.shape
    whole_rows, whole_cols = rows - rows % block, cols - cols % block
    # Down the rows first: numpy reduces across whole rows fast and along short runs slowly.
    strips = image[:whole_rows].reshape(rows // block, block, cols).max(axis=1)
    if whole_rows < rows:
        strips = np.vstack([strips, image[whole_rows:].max(axis=0)])
    tiles = strips[:, :whole_cols].reshape(len(strips), cols // block, block).max(axis=2)
    if whole_cols < cols:
        tiles = np.hstack([tiles, strips[:, whole_cols:].max(axis=1, keepdims=True)])
    return tiles


def side_views(image: np.ndarray) -> tuple[np.ndarray, ...]:
    """Views of ``image`` turned so that its top, bottom, left and right side comes first."""
    return image, image[::-1], image.T, image.T[::-1]


def running_max(line: np.ndarray, radius: int) -> np.ndarray:
    """Each value of a non-negative 1-D ``line`` replaced by the largest within ``radius``
    positions of it (beyond the ends counts as 0)."""
    return sliding_window_view(np.pad(line, radius), 2 * radius + 1).max(axis=1)
