"""Losses on logits: each returns the mean loss and its gradient w.r.t. the logits."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, K) logits, shifted by the row max for stability."""
    # numpy reduces along a short last axis several times slower than down the
    # long first axis of a transposed copy, or than a product with ones.
    row_max = np.ascontiguousarray(logits.T).max(axis=0)
    shifted = logits - row_max[:, None]
    np.exp(shifted, out=shifted)
    shifted /= (shifted @ np.ones(shifted.shape[1], shifted.dtype))[:, None]
    return shifted


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of softmax(logits) against integer labels (N,).

    Softmax and cross-entropy together have the simple gradient (p - onehot) / N.
    """
    n = logits.shape[0]
    probs = softmax(logits)
    rows = np.arange(n)
    loss = -np.log(np.maximum(probs[rows, labels], 1e-12)).sum() / n
    probs[rows, labels] -= 1
    probs /= n
    return float(loss), probs


def softmax_mse(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean over the batch of the squared error between softmax(logits) and one-hot labels."""
    n = logits.shape[0]
    probs = softmax(logits)
    error = probs.copy()
    error[np.arange(n), labels] -= 1
    loss = float((error * error).sum() / n)
    grad_probs = 2 * error / n
    # Back through softmax: dz_j = p_j (dp_j - sum_k p_k dp_k).
    grad = probs * (grad_probs - (probs * grad_probs).sum(axis=1, keepdims=True))
    return loss, grad


LOSSES = {"cross_entropy": softmax_cross_entropy, "mse": softmax_mse}
