"""How strong ink is: the levels every stage shares, and the ink scaled so its core is 1."""

from __future__ import annotations

import numpy as np


MIN_CONTRAST = 0.08  # ink this close to the background is noise, not a stroke
INK_LEVEL = 0.2  # a pixel counts as ink above this (ink is normalised to ~1)
BBOX_LEVEL = 0.05  # anti-aliasing fringe below this does not widen a bounding box


def normalise_peak(ink: np.ndarray) -> np.ndarray:
    """Scale so the strong core of the ink is 1: faint pencil counts like a felt pen."""
    marked = ink[ink > 0]
    # ``marked`` is a fresh copy and percentiles ignore order: numpy may partition it in place.
    peak = float(np.percentile(marked, 99, overwrite_input=True)) if marked.size else 0.0
    if peak < MIN_CONTRAST:
        return np.zeros(ink.shape, np.float32)
    core = float(np.percentile(marked[marked >= 0.25 * peak], 90, overwrite_input=True))
    scaled = ink * np.float32(1 / core)
    return np.minimum(scaled, 1, out=scaled).astype(np.float32, copy=False)


def core_level(ink: np.ndarray) -> float:
    """How dark the strong core of the ink is (0 for no ink)."""
    marked = ink[ink > 0]
    return float(np.percentile(marked, 90)) if marked.size else 0.0
