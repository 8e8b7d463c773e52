"""Bounding boxes of masks, which every stage shares."""

from __future__ import annotations

import numpy as np


def bbox(mask: np.ndarray, top: int = 0, left: int = 0) -> tuple[slice, slice] | None:
    """The (rows, columns) slices of the smallest box holding every marked pixel of
    ``mask``, moved down by ``top`` and right by ``left``; None if nothing is marked."""
    used_rows, used_cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if used_rows.size == 0:
        return None
    return (slice(top + int(used_rows[0]), top + int(used_rows[-1]) + 1),
            slice(left + int(used_cols[0]), left + int(used_cols[-1]) + 1))
