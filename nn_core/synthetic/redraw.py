"""MNIST training digits re-drawn the way people draw them, as extra training data.

Each digit's pen path is retraced with a random round brush at a random size
(drawn_digits.draw_digit) and sent through the app's own preprocessing, so a
network also learns from digits that look like drawings on the canvas.
scripts/redraw_mnist.py writes them to a file for ``train --extra-data``.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import numpy as np

from ..preprocess import preprocess
from .drawn_digits import BRUSH_RANGE, UNIFORM_PEN, UPSAMPLE, PenStyle, draw_digit


def redraw(images: np.ndarray, seed: int, upsamples: tuple[int, ...] = (UPSAMPLE,),
           pen: PenStyle = UNIFORM_PEN, brushes: tuple[int, int] = BRUSH_RANGE) -> np.ndarray:
    """(N, 784) uint8 training digits → (N, 784) uint8 re-drawn and preprocessed digits,
    each one's path thinned at one of ``upsamples`` (× 28), picked at random, with a brush
    width in ``brushes`` (inclusive) and a hand drawn by ``random_hand``."""
    rng = np.random.default_rng(seed)
    out = np.zeros_like(images)
    for index, image in enumerate(images):
        brush = int(rng.integers(brushes[0], brushes[1] + 1))
        # One choice draws nothing from rng, so a single tracer's drawings stay as they were.
        upsample = upsamples[0] if len(upsamples) == 1 else int(rng.choice(upsamples))
        coverage, _ = draw_digit(image.reshape(28, 28), brush, rng, upsample, random_hand(pen, rng))
        result = preprocess(coverage)
        if not result.empty:
            out[index] = np.round(result.image.reshape(784) * 255).astype(np.uint8)
    return out


def random_hand(pen: PenStyle, rng: np.random.Generator) -> PenStyle:
    """One drawing's pen, from a steady hand to a heavy one: a random share of each of
    ``pen``'s variations (up to its number of lifts; stroke ends reach up to ``end_reach``
    in every case). A uniform pen stays uniform and draws nothing from ``rng``."""
    if pen == UNIFORM_PEN:
        return pen
    return PenStyle(pressure=rng.uniform(0, pen.pressure), end_reach=pen.end_reach,
                    lifts=int(rng.integers(pen.lifts + 1)), taper=rng.uniform(0, pen.taper),
                    tremor=rng.uniform(0, pen.tremor))


def redraw_training_digits(images: np.ndarray, labels: np.ndarray, n: int, copies: int = 1,
                           seed: int = 0, workers: int = 2,
                           upsamples: tuple[int, ...] = (UPSAMPLE,), pen: PenStyle = UNIFORM_PEN,
                           brushes: tuple[int, int] = BRUSH_RANGE) -> tuple[np.ndarray, np.ndarray]:
    """Re-draw ``copies`` times each of n randomly picked digits, in ``workers`` processes,
    each drawing's path thinned at one of ``upsamples``, its pen as in ``redraw``.

    Returns (M, 28, 28) uint8 images and their (M,) labels; M ≤ n·copies because a
    digit whose re-drawing came out empty is dropped.
    """
    picks = np.tile(np.random.default_rng(seed).choice(len(images), n, replace=False), copies)
    chunks = np.array_split(picks, workers * 8)
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(redraw, [images[c] for c in chunks],
                              [seed + 1 + i for i in range(len(chunks))], [upsamples] * len(chunks),
                               [pen] * len(chunks), [brushes] * len(chunks)))
    redrawn = np.concatenate(parts)
    keep = redrawn.any(axis=1)
    return redrawn[keep].reshape(-1, 28, 28), labels[picks][keep]
