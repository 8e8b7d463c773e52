"""Accuracy on phone photos of digits written with a pen on paper.

    python benchmarks/photo_accuracy.py [--network P] [--n 500] [--seed 0]

A student's upload is rarely a clean scan: a thin, faint pen line, paper lit
unevenly (darker to one side, darker corners), and often the desk around the
page or a strip of it along one side. Each case here is an MNIST *test* digit
traced with a 2–3 px pen (benchmarks/drawn_digits.py), enlarged 2–4× to a
560–1120 px photo, on paper 40–75 grey levels lighter than the pen, with noise;
then lit evenly, lit unevenly, photographed with the desk all round the page
(lying straight or turned), with a strip of desk along one side, turned so
that the desk shows in wedges at the photo's corners, cropped to the digit's
ink, or written on ruled or squared paper whose lines run askew (or fan out,
photographed at a slant), in pen or in pencil (the lines then nearly as dark
as the digit), or in pencil one or two squares tall, as in a school maths
book, the photo cropped round it.
Prints, per condition, the share classified correctly through the app's
preprocessing and how many came out "nothing drawn".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.drawn_digits import crop_to, draw_digit  # noqa: E402
from nn_core.mnist import load_mnist  # noqa: E402
from nn_core.network_file import DEFAULT_NETWORK, load_network  # noqa: E402
from nn_core.preprocess import preprocess  # noqa: E402

FAINT_LINES = (0.2, 0.5)  # how dark printed lines are, as a share of a pen's darkness
PENCIL_LINES = (0.5, 0.9)  # and of a pencil's, far lighter than a pen
CONDITIONS = {  # name: photo_of_digit's settings
    "even light": {},
    "uneven light": {"uneven_light": True},
    "uneven light, desk all round the page": {"uneven_light": True, "desk": "around"},
    "uneven light, strip of desk along a side": {"uneven_light": True, "desk": "strip"},
    "uneven light, page turned 3-15° on the desk": {"uneven_light": True, "desk": "turned"},
    "uneven light, turned page filling the photo, desk in its corners": {"uneven_light": True, "desk": "wedges"},
    "uneven light, cropped to the digit's ink": {"uneven_light": True, "desk": "tight"},
    "uneven light, ruled paper with a margin, lines askew up to 4°": {"uneven_light": True, "lines": "ruled"},
    "uneven light, squared paper, lines askew up to 4°": {"uneven_light": True, "lines": "squared"},
    "uneven light, ruled page turned 3-15° on the desk": {"uneven_light": True, "desk": "turned", "lines": "ruled"},
    "uneven light, ruled page photographed at a slant, lines fanning out by up to 6°": {
        "uneven_light": True, "lines": "ruled", "line_spread": (0, 6)},
    "uneven light, pencil on ruled paper, lines half to 9/10 as dark": {
        "uneven_light": True, "lines": "ruled", "line_darkness": PENCIL_LINES},
    "uneven light, pencil on squared paper, lines half to 9/10 as dark": {
        "uneven_light": True, "lines": "squared", "line_darkness": PENCIL_LINES},
    "uneven light, pencil digit one or two squares tall on squared paper, cropped loosely round it": {
        "uneven_light": True, "desk": "loose", "lines": "squared", "line_darkness": PENCIL_LINES,
        "line_gap": (0.5, 1.0)},
}


def photo_of_digit(image28: np.ndarray, rng: np.random.Generator, uneven_light: bool = False,
                   desk: str | None = None, lines: str | None = None,
                   line_darkness: tuple[float, float] = FAINT_LINES,
                   line_gap: tuple[float, float] | None = None,
                   line_spread: tuple[float, float] | None = None) -> np.ndarray:
    """A grey uint8 photo of one (28, 28) uint8 digit written with a thin pen on paper.

    ``desk`` is None (the page fills the photo), "around" (the desk shows on every
    side), "strip" (a strip of desk along one side), "turned" (the page lies turned
    on the desk, which shows round it) or "wedges" (the page lies turned and fills
    the photo but for wedges of desk at its corners); "tight" crops the photo to
    the pen's ink, with no paper left beyond the digit's outermost strokes, and
    "loose" leaves a quarter of the digit's height of paper round it.
    ``lines`` prints the lines of "ruled" paper (with a margin line) or "squared"
    paper on the page, tilted by up to 4°, and ``line_darkness`` bounds how dark they
    are as a share of the pen's darkness. ``line_gap`` bounds the gap between them as
    a share of the digit's height (None: 6-10% of the page). ``line_spread`` bounds, in
    degrees, how far the lines across fan out between the page's top and bottom, as in
    a photo taken at a slant (None: parallel).
    """
    coverage, _ = draw_digit(image28, int(rng.integers(2, 4)), rng)
    size = coverage.shape[0] * int(rng.integers(2, 5))
    pen = np.asarray(Image.fromarray(coverage).resize((size, size), Image.Resampling.BILINEAR))
    level, pen_darkness = rng.uniform(0.75, 0.95), rng.uniform(0.15, 0.3)
    ink_rows = np.flatnonzero(pen.max(axis=1) > 0.5)
    digit_height = ink_rows[-1] - ink_rows[0]
    gap = None if line_gap is None else digit_height * rng.uniform(*line_gap)
    paper = level - pen_darkness * np.maximum(pen, printed_lines(lines, size, rng, line_darkness, gap, line_spread))
    paper += rng.normal(0, rng.uniform(0.01, 0.02), pen.shape)
    if uneven_light:
        ramp = np.linspace(-1, 1, size)
        tilt_y, tilt_x = rng.uniform(-0.06, 0.06, 2)
        paper += tilt_y * ramp[:, None] + tilt_x * ramp[None, :]
        paper -= rng.uniform(0, 0.1) * (ramp[:, None] ** 2 + ramp[None, :] ** 2)  # darker corners
    on_page = np.ones_like(paper)
    if desk in ("turned", "wedges"):
        angle = rng.uniform(3, 15) * rng.choice([-1, 1])
        paper, on_page, pen = (np.asarray(Image.fromarray(layer.astype(np.float32)).rotate(
            angle, Image.Resampling.BILINEAR, expand=True)) for layer in (paper, on_page, pen))
    if desk in ("around", "turned"):
        height, width = paper.shape
        top, bottom, left, right = (rng.uniform(0.05, 0.2, 4) * size).astype(int)
        photo = _desk((height + top + bottom, width + left + right), rng)
        under_page = photo[top:top + height, left:left + width]
        under_page += on_page * (paper - under_page)
        paper = photo
    elif desk == "wedges":  # a frame about the page's size, round its middle: it cuts the page's corners off
        photo = paper * on_page + (1 - on_page) * _desk(paper.shape, rng)
        frame = int(size * rng.uniform(0.95, 1.1))
        corner = (np.array(photo.shape) - frame) // 2 + rng.integers(-size // 20, size // 20 + 1, 2)
        # Moved, if need be, so that the whole digit is in the photo: people do not cut it off.
        rows, cols = np.flatnonzero(pen.max(axis=1) > 0.1), np.flatnonzero(pen.max(axis=0) > 0.1)
        top, left = (int(np.clip(start, max(last + 1 - frame, 0), max(first, 0)))
                     for start, first, last in zip(corner, (rows[0], cols[0]), (rows[-1], cols[-1])))
        paper = photo[top:top + frame, left:left + frame]
    elif desk == "strip":
        width = int(rng.uniform(0.03, 0.12) * size)
        side = int(rng.integers(4))
        turned = np.rot90(paper, side)  # a view: the strip goes along its top
        turned[:width] = _desk((width, size), rng)
    elif desk == "tight":
        paper = crop_to(paper, pen > 0.5)
    elif desk == "loose":
        paper = crop_to(paper, pen > 0.5, margin=digit_height // 4)
    return np.round(np.clip(paper, 0, 1) * 255).astype(np.uint8)


def printed_lines(lines: str | None, size: int, rng: np.random.Generator,
                  darkness: tuple[float, float] = FAINT_LINES, gap: float | None = None,
                  spread: tuple[float, float] | None = None) -> np.ndarray | float:
    """How dark, as a share of the pen, a (size, size) page's printed lines make each pixel:
    evenly spaced lines 1-3 px wide, ``gap`` px apart (None: a random 6-10% of the page), as
    dark as a random share in ``darkness`` of the pen, tilted together by up to 4°; across
    ("ruled", plus a margin line down the left) or both ways ("squared"); the lines across
    fanning out by a random angle in ``spread`` (None: parallel)."""
    if lines is None:
        return 0.0
    tilt = rng.uniform(-4, 4)
    gap = size * rng.uniform(0.06, 0.1) if gap is None else gap
    width = rng.uniform(1, 3)
    offset = rng.uniform(0, gap)
    margin = None if lines == "squared" else size * rng.uniform(0.08, 0.2)
    fan = 0.0 if spread is None else rng.uniform(*spread)
    return line_marks((size, size), gap, tilt, width, offset, margin, fan) * rng.uniform(*darkness)


def line_marks(shape: tuple[int, int], gap: float, tilt: float, width: float = 2.0, offset: float = 0.0,
               margin: float | None = None, spread: float = 0.0) -> np.ndarray:
    """Coverage in [0, 1] of anti-aliased lines ``width`` px wide, turned by ``tilt`` degrees:
    ``gap`` apart across the page from ``offset``, and down it the same way or, given a
    ``margin``, one line that far from the left. A ``spread`` fans the lines across out
    from a point far to the left, the top one turned that many degrees from the bottom one,
    as a page photographed at a slant shows them."""
    y, x = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    turn = np.radians(tilt)
    across = y * np.cos(turn) - x * np.sin(turn)  # distance along the page's up-down axis
    down = x * np.cos(turn) + y * np.sin(turn)
    if spread:  # the gaps widen evenly from left to right, the middle line staying put
        middle = shape[0] / 2
        across = middle + (across - middle) / (1 + np.tan(np.radians(spread)) * (down / shape[1] - 0.5))

    def ink(distance: np.ndarray) -> np.ndarray:  # coverage of a line centred at distance 0
        return np.clip(width / 2 + 0.5 - np.abs(distance), 0, 1)

    def every_gap(distance: np.ndarray) -> np.ndarray:  # distance to the nearest of the evenly spaced lines
        return (distance - offset + gap / 2) % gap - gap / 2

    down_lines = ink(every_gap(down)) if margin is None else ink(down - margin)
    return np.maximum(ink(every_gap(across)), down_lines)


def _desk(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.2, 0.35) + rng.normal(0, 0.03, shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default=str(DEFAULT_NETWORK))
    parser.add_argument("--n", type=int, default=500, help="photos per condition")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", help="MNIST folder (default: $MNIST_DIR, data/mnist)")
    args = parser.parse_args()
    data = load_mnist(args.data_dir)
    network, metadata = load_network(args.network)
    images = data.test_images.reshape(-1, 28, 28)
    print(f"network {metadata.name} ({network.describe()}), {args.n} photos per condition")
    for name, condition in CONDITIONS.items():
        rng = np.random.default_rng(args.seed)  # the same digits under every condition
        correct = empty = 0
        for index in rng.choice(len(images), args.n, replace=False):
            result = preprocess(photo_of_digit(images[index], rng, **condition))
            if result.empty:
                empty += 1
            else:
                correct += int(network.predict(result.vector)[0] == data.test_labels[index])
        print(f"{name}: {correct / args.n:.1%} correct, {empty} nothing drawn")


if __name__ == "__main__":
    main()
