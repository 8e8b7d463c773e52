"""How strong ink is: the levels every stage shares, and the ink scaled so its core is 1."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


MIN_CONTRAST = 0.08  # ink this close to the background is noise, not a stroke
INK_LEVEL = 0.2  # a pixel counts as ink above this (ink is normalised to ~1)
BBOX_LEVEL = 0.05  # anti-aliasing fringe below this does not widen a bounding box


def normalise_peak(ink: np.ndarray) -> np.ndarray:
    """Scale so the strong core of the ink is 1: faint pencil counts like a felt pen."""
    return _normalised_by(ink, _numpy_percentile)


def normalise_peak_quickly(ink: np.ndarray) -> np.ndarray:
    """``normalise_peak`` with the same linear percentiles picked by partitioning: equal up to
    float rounding, at a fraction of the cost on a small array. (The photo path keeps
    ``normalise_peak``, so that its outputs stay exactly what its networks were tested on.)"""
    return _normalised_by(ink, _partition_percentile)


def _normalised_by(ink: np.ndarray, percentile: Callable[[np.ndarray, float], float]) -> np.ndarray:
    marked = ink[ink > 0]
    peak = percentile(marked, 99) if marked.size else 0.0
    if peak < MIN_CONTRAST:
        return np.zeros(ink.shape, np.float32)
    core = percentile(marked[marked >= 0.25 * peak], 90)
    scaled = ink * np.float32(1 / core)
    return np.minimum(scaled, 1, out=scaled).astype(np.float32, copy=False)


def _numpy_percentile(values: np.ndarray, percent: float) -> float:
    # ``values`` is a fresh copy and percentiles ignore order: numpy may partition it in place.
    return float(np.percentile(values, percent, overwrite_input=True))


def _partition_percentile(values: np.ndarray, percent: float) -> float:
    """numpy's linear percentile of 1-D values (a fresh copy, partitioned in place)."""
    position = (values.size - 1) * percent / 100
    below = int(position)
    above = min(below + 1, values.size - 1)
    values.partition((below, above))
    low = float(values[below])
    return low + (float(values[above]) - low) * (position - below)


def core_level(ink: np.ndarray) -> float:
    """How dark the strong core of the ink is (0 for no ink)."""
    marked = ink[ink > 0]
    return float(np.percentile(marked, 90)) if marked.size else 0.0
