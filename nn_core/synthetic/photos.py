"""Phone photos of digits written with a thin pen on paper, for measuring the photo path.

A student's upload is rarely a clean scan: a thin, faint pen line, paper lit
unevenly, the desk round the page, ruled or squared paper whose lines run askew.
``photo_of_digit`` makes such a photo of one MNIST digit (traced as drawn_digits
traces it); the photo benchmark and the preprocessing tests share it.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .drawn_digits import crop_to, draw_digit

FAINT_LINES = (0.2, 0.5)  # how dark printed lines are, as a share of a pen's darkness
PENCIL_LINES = (0.5, 0.9)  # and of a pencil's, far lighter than a pen


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
