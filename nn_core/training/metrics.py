"""Evaluation summaries shared by the CLI and the dashboard."""

from __future__ import annotations

import numpy as np

from ..config import N_CLASSES


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """(10, 10) int64 counts: row = true digit, column = predicted digit."""
    return np.bincount(np.asarray(labels, np.int64) * N_CLASSES + np.asarray(predictions, np.int64),
                       minlength=N_CLASSES * N_CLASSES).reshape(N_CLASSES, N_CLASSES)


def per_class_accuracy(confusion: np.ndarray) -> np.ndarray:
    """(10,) fraction of each true digit predicted correctly (NaN where a digit never occurs)."""
    totals = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.diag(confusion) / totals


def most_confused_pairs(confusion: np.ndarray, top: int = 5) -> list[tuple[int, int, int]]:
    """The ``top`` (true, predicted, count) off-diagonal cells, largest first."""
    off_diagonal = confusion.copy()
    np.fill_diagonal(off_diagonal, 0)
    order = np.argsort(off_diagonal, axis=None)[::-1][:top]
    pairs = [(int(i // N_CLASSES), int(i % N_CLASSES), int(off_diagonal.flat[i])) for i in order]
    return [pair for pair in pairs if pair[2] > 0]
