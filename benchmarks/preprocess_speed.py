"""How long preprocessing takes for a 280×280 canvas drawing, beside a plain recipe.

    python benchmarks/preprocess_speed.py [--n 300] [--repeats 5] [--seed 0]

Draws MNIST *test* digits as the Draw page's canvas sends them (benchmarks/
nn_core/synthetic/drawn_digits.py: round brush 10–26 px, 30–90% of the canvas, anywhere), in the
canvas encodings (white ink on transparent, on opaque black, and dark ink on
white), and times per image, in the same run:
- the plain recipe: ink from the alpha or the distance from the corner's colour,
  crop to it, scale the longer side to 20 px, centre of mass into 28×28 — MNIST's
  steps and nothing else;
- ``preprocess(image, "canvas")`` (speck-proof crop, stroke-width normalisation);
- ``preprocess(image)`` ("auto": it first checks the background is uniform);
- ``preprocess(image, "photo")``, the photo cleanup the canvas path skips.
Each figure is the median over images of the fastest of ``--repeats`` runs.
Target: the canvas path within 1.5× of the plain recipe.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from PIL import Image

from checkout import MNIST_DIR
from nn_core.storage.mnist import load_mnist
from nn_core.preprocess import preprocess
from nn_core.synthetic.drawn_digits import drawn_cases

MNIST_SIDE, DIGIT_BOX = 28, 20
TARGET_RATIO = 1.5


def plain_recipe(image: np.ndarray) -> np.ndarray:
    """Crop to the ink, longer side to 20 px (area-averaged), centre of mass on (14, 14): (28, 28) float32."""
    if image.shape[2] == 4 and image[0, 0, 3] == 0:
        ink = image[:, :, 3]
    else:
        ink = np.abs(image[:, :, 0].astype(np.int16) - int(image[0, 0, 0])).astype(np.uint8)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if not rows.size:
        return np.zeros((MNIST_SIDE, MNIST_SIDE), np.float32)
    cropped = np.multiply(ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1], np.float32(1 / 255), dtype=np.float32)
    scale = DIGIT_BOX / max(cropped.shape)
    size = (max(1, round(cropped.shape[1] * scale)), max(1, round(cropped.shape[0] * scale)))
    small = np.asarray(Image.fromarray(cropped).resize(size, Image.Resampling.BOX))
    mass = float(small.sum())
    centre_row = float(small.sum(axis=1) @ np.arange(small.shape[0])) / mass
    centre_col = float(small.sum(axis=0) @ np.arange(small.shape[1])) / mass
    top = min(max(round(MNIST_SIDE // 2 - centre_row), 0), MNIST_SIDE - small.shape[0])
    left = min(max(round(MNIST_SIDE // 2 - centre_col), 0), MNIST_SIDE - small.shape[1])
    field = np.zeros((MNIST_SIDE, MNIST_SIDE), np.float32)
    field[top:top + small.shape[0], left:left + small.shape[1]] = small
    return field


def canvas_images(n: int, rng: np.random.Generator, data_dir: str | None) -> list[np.ndarray]:
    """n drawings, cycling through the three canvas encodings."""
    data = load_mnist(data_dir, default_dir=MNIST_DIR)
    images = []
    for index, case in enumerate(drawn_cases(data.test_images, data.test_labels, n, rng,
                                             encodings=("canvas_rgba", "canvas_black"))):
        if index % 3 == 2:  # dark ink on white, from the black canvas's colours
            images.append(255 - case.image[:, :, :3])
        else:
            images.append(case.image)
    return images


def median_best_ms(run: Callable[[np.ndarray], object], images: list[np.ndarray], repeats: int) -> float:
    """Median over images of the fastest of ``repeats`` calls, in milliseconds."""
    best = []
    for image in images:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run(image)
            times.append(time.perf_counter() - start)
        best.append(min(times))
    return 1000 * float(np.median(best))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="canvas drawings")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", help="MNIST folder (default: $MNIST_DIR, data/mnist)")
    args = parser.parse_args()
    images = canvas_images(args.n, np.random.default_rng(args.seed), args.data_dir)
    routes = {preprocess(image).source for image in images}
    timings = {
        "plain recipe (crop, 20 px, centre of mass)": median_best_ms(plain_recipe, images, args.repeats),
        'preprocess(image, "canvas")': median_best_ms(lambda image: preprocess(image, "canvas"), images,
                                                      args.repeats),
        'preprocess(image) ("auto")': median_best_ms(preprocess, images, args.repeats),
        'preprocess(image, "photo")': median_best_ms(lambda image: preprocess(image, "photo"), images,
                                                     args.repeats),
    }
    print(f"{len(images)} canvas drawings of 280×280 (three encodings); auto chose: {', '.join(sorted(routes))}")
    reference = timings["plain recipe (crop, 20 px, centre of mass)"]
    for name, milliseconds in timings.items():
        print(f"{name:>44}: {milliseconds:6.3f} ms per image   ({milliseconds / reference:4.2f}× the plain recipe)")
    ratio = timings['preprocess(image, "canvas")'] / reference
    print(f"canvas path / plain recipe: {ratio:.2f}× (target ≤ {TARGET_RATIO}×)")


if __name__ == "__main__":
    main()
