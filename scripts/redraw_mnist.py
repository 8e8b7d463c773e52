"""Re-draw MNIST *training* digits the way people draw them, as extra training data.

    python scripts/redraw_mnist.py --n 60000 --copies 2 --out data/redrawn-train.npz
    python -m nn_core train ... --extra-data data/redrawn-train.npz

People draw with a round brush of one width, so their strokes are uniform,
while MNIST's pens vary in pressure. Each digit's skeleton is retraced with a
random round brush at a random size on a 280×280 canvas (the stroke renderer of
benchmarks/drawn_digits.py) and sent through the app's own preprocessing, so
the network also learns from digits that look like drawings. With several
``--skeleton-upsample`` values each drawing's path is thinned at one of them, at
random: a path traced at 28×28 is the jagged one a cruder tracer (or a shaky hand)
draws. Mixing them traded accuracy on the smooth traces for a little on the jagged
ones in the networks tried so far, so the bundled network is trained on 4× alone.
Only training digits are used; the benchmarks draw from the test set.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.drawn_digits import BRUSH_RANGE, UPSAMPLE, draw_digit  # noqa: E402
from nn_core.mnist import load_mnist  # noqa: E402
from nn_core.preprocess import preprocess  # noqa: E402


def redraw(images: np.ndarray, seed: int, upsamples: tuple[int, ...] = (UPSAMPLE,)) -> np.ndarray:
    """(N, 784) uint8 training digits → (N, 784) uint8 re-drawn and preprocessed digits,
    each one's path thinned at one of ``upsamples`` (× 28), picked at random."""
    rng = np.random.default_rng(seed)
    out = np.zeros_like(images)
    for index, image in enumerate(images):
        brush = int(rng.integers(BRUSH_RANGE[0], BRUSH_RANGE[1] + 1))
        # One choice draws nothing from rng, so a single tracer's drawings stay as they were.
        upsample = upsamples[0] if len(upsamples) == 1 else int(rng.choice(upsamples))
        coverage, _ = draw_digit(image.reshape(28, 28), brush, rng, upsample)
        result = preprocess(coverage)
        if not result.empty:
            out[index] = np.round(result.image.reshape(784) * 255).astype(np.uint8)
    return out


def redraw_training_digits(images: np.ndarray, labels: np.ndarray, n: int, copies: int = 1,
                           seed: int = 0, workers: int = 2,
                           upsamples: tuple[int, ...] = (UPSAMPLE,)) -> tuple[np.ndarray, np.ndarray]:
    """Re-draw ``copies`` times each of n randomly picked digits, in ``workers`` processes,
    each drawing's path thinned at one of ``upsamples``.

    Returns (M, 28, 28) uint8 images and their (M,) labels; M ≤ n·copies because a
    digit whose re-drawing came out empty is dropped.
    """
    picks = np.tile(np.random.default_rng(seed).choice(len(images), n, replace=False), copies)
    chunks = np.array_split(picks, workers * 8)
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(redraw, [images[c] for c in chunks],
                              [seed + 1 + i for i in range(len(chunks))], [upsamples] * len(chunks)))
    redrawn = np.concatenate(parts)
    keep = redrawn.any(axis=1)
    return redrawn[keep].reshape(-1, 28, 28), labels[picks][keep]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60000, help="training digits to re-draw")
    parser.add_argument("--copies", type=int, default=2,
                        help="re-drawings of each digit, each with its own brush and size")
    parser.add_argument("--out", default=str(REPO_ROOT / "data" / "redrawn-train.npz"))
    parser.add_argument("--skeleton-upsample", type=int, nargs="+", default=[UPSAMPLE],
                        help="resolutions (× 28) at which paths are thinned, one picked per drawing")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data-dir", help="MNIST folder (default: $MNIST_DIR, data/mnist)")
    args = parser.parse_args()
    if min(args.skeleton_upsample) < 1:
        parser.error(f"--skeleton-upsample values must be at least 1; got {args.skeleton_upsample}")
    data = load_mnist(args.data_dir)
    images, labels = redraw_training_digits(data.train_images, data.train_labels, args.n,
                                            args.copies, args.seed, args.workers,
                                            tuple(args.skeleton_upsample))
    np.savez_compressed(args.out, images=images, labels=labels)
    print(f"wrote {len(images):,} re-drawn training digits to {args.out}")


if __name__ == "__main__":
    main()
