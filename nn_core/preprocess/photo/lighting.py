"""The paper's level under every pixel of a photo, and the noise around it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..levels import MIN_CONTRAST
from .masks import spans
from .params import (
    BACKGROUND_FIT_SPREADS, BACKGROUND_INTERIOR_GRID, BACKGROUND_MAX_RING_SAMPLES, BACKGROUND_RING_WIDTH,
    DESK_AND_PAPER_MIN_GAP, DESK_AND_PAPER_MIN_SHARE, DESK_AND_PAPER_SPLIT_ROUNDS)


@dataclass(frozen=True)
class _Samples:
    """Pixels the lighting is fitted to: their values and their (y, x) positions, each
    scaled to [-1, 1] across the picture (see _unit_positions)."""

    values: np.ndarray
    y: np.ndarray
    x: np.ndarray

    def thinned(self) -> _Samples:
        """Every n-th sample, so that at most BACKGROUND_MAX_RING_SAMPLES remain."""
        step = -(-self.values.size // BACKGROUND_MAX_RING_SAMPLES)
        return _Samples(self.values[::step], self.y[::step], self.x[::step])

    def __add__(self, other: _Samples) -> _Samples:
        return _Samples(*(np.concatenate(pair) for pair in ((self.values, other.values), (self.y, other.y),
                                                            (self.x, other.x))))


def _unit_positions(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column positions scaled to [-1, 1] across an image of ``shape``."""
    return np.linspace(-1, 1, shape[0]), np.linspace(-1, 1, shape[1])


def _ring(grey: np.ndarray) -> _Samples:
    """The border ring's pixels, where only background should be."""
    height, width = grey.shape
    ys, xs = _unit_positions(grey.shape)
    ring = _ring_width(grey.shape)
    if 2 * ring >= min(grey.shape):
        strips = [(slice(None), slice(None))]
    else:
        inner = slice(ring, height - ring)
        strips = [(slice(0, ring), slice(None)), (slice(height - ring, height), slice(None)),
                  (inner, slice(0, ring)), (inner, slice(width - ring, width))]
    values, y, x = [], [], []
    for rows, cols in strips:
        block = grey[rows, cols]
        values.append(block.ravel())
        y.append(np.broadcast_to(ys[rows, None], block.shape).ravel())
        x.append(np.broadcast_to(xs[None, cols], block.shape).ravel())
    return _Samples(np.concatenate(values), np.concatenate(y), np.concatenate(x)).thinned()


def _region_ring(grey: np.ndarray, region: np.ndarray) -> _Samples:
    """As _ring, for the band just inside the edge of ``region`` (a convex mask, such as
    a turned page) instead of the picture's border."""
    band = region & ~np.logical_and(*spans(region, _ring_width(grey.shape)))
    rows, cols = np.nonzero(band)
    ys, xs = _unit_positions(grey.shape)
    return _Samples(grey[rows, cols], ys[rows], xs[cols]).thinned()


def _interior_grid(grey: np.ndarray) -> _Samples:
    """Pixels on an even grid of at most BACKGROUND_INTERIOR_GRID² inside the border ring."""
    ring = _ring_width(grey.shape)
    ys, xs = _unit_positions(grey.shape)
    rows, cols = (np.unique(np.linspace(ring, size - 1 - ring, BACKGROUND_INTERIOR_GRID).round().astype(int))
                  if size > 2 * ring else np.zeros(0, int) for size in grey.shape)
    return _Samples(grey[np.ix_(rows, cols)].ravel(), np.repeat(ys[rows], len(cols)), np.tile(xs[cols], len(rows)))


def _ring_width(shape: tuple[int, int]) -> int:
    return max(1, round(BACKGROUND_RING_WIDTH * min(shape)))


def _robust_spread(residuals: np.ndarray) -> float:
    """Standard deviation of the noise in residuals, from their median absolute value."""
    return 1.4826 * float(np.median(np.abs(residuals)))


def fit_background(grey: np.ndarray, region: np.ndarray | None = None) -> tuple[np.ndarray | float, float]:
    """The background level under every pixel, and the noise around it.

    Photos of paper are unevenly lit: the level drifts across the picture by more
    than a faint pencil stroke stands out from it. So the level is a smooth
    surface, a quadratic in y and x (a tilt, a vignette) fitted to the border ring
    (of ``region`` when given) and, without a region, to a grid of pixels inside it;
    ink is left out of the fit as an outlier from the ring's level. A ring of one
    value (a drawing canvas) is that value everywhere.
    """
    samples = _ring(grey) if region is None else _region_ring(grey, region)
    level = float(np.median(samples.values))
    noise = _robust_spread(samples.values - level)
    if noise == 0 and float(samples.values.min()) == float(samples.values.max()):
        return level, 0.0
    if noise > MIN_CONTRAST:
        level, noise = _paper_of_two(samples.values, grey) or (level, noise)
    if region is None:
        # Paper inside the ring holds the surface where the ring cannot: a picture cropped
        # to its digit has strokes along whole sides of the ring. Pixels far from the
        # ring's level (the digit, or a page lying on the desk the ring shows) stay out.
        samples = samples + _interior_grid(grey)
    coefficients, noise = _fit_quadratic(samples, level, noise)
    return _surface(coefficients, grey.shape), noise


def _fit_quadratic(samples: _Samples, level: float, noise: float) -> tuple[np.ndarray, float]:
    """Coefficients of the quadratic (1, y, x, y², x², yx) fitted to the samples near the
    paper's ``level``, and the noise around it."""
    y, x, values = samples.y, samples.x, samples.values
    terms = np.stack([np.ones_like(y), y, x, y * y, x * x, y * x], axis=1)
    residuals = values - level
    for spread in BACKGROUND_FIT_SPREADS:
        paper = np.abs(residuals) <= spread * noise + 1e-6
        coefficients = np.linalg.lstsq(terms[paper], values[paper], rcond=None)[0]
        residuals = values - terms @ coefficients
        noise = _robust_spread(residuals[paper])
    return coefficients, noise


def _surface(coefficients: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The fitted quadratic's value at every pixel of a picture of ``shape``, float32."""
    c0, c_y, c_x, c_yy, c_xx, c_yx = coefficients
    ys, xs = _unit_positions(shape)
    by_row = (c0 + c_y * ys + c_yy * ys * ys).astype(np.float32)
    by_column = (c_x * xs + c_xx * xs * xs).astype(np.float32)
    surface = by_row[:, None] + by_column[None, :]
    if c_yx:
        surface += np.float32(c_yx) * np.outer(ys, xs).astype(np.float32)
    return surface


def _paper_of_two(values: np.ndarray, grey: np.ndarray) -> tuple[float, float] | None:
    """The level and noise of the background in a ring of two levels (None for one).

    A photo of a turned page can show as much desk as paper along its border: then
    the ring's median lies between the two and its spread is no noise. The ring's
    values fall into two groups (split where each group's mean is as far from the
    split on its side); the background is the group nearer the middle of the
    picture, where the digit is written. Unevenly lit paper also spreads widely, but
    its brighter and darker halves lie close together for their spread.
    """
    split = float(np.median(values))
    for _ in range(DESK_AND_PAPER_SPLIT_ROUNDS):
        low, high = values[values < split], values[values >= split]
        if min(low.size, high.size) < DESK_AND_PAPER_MIN_SHARE * values.size:
            return None
        split = (float(low.mean()) + float(high.mean())) / 2
    levels = [float(np.median(group)) for group in (low, high)]
    spreads = [_robust_spread(group - group_level) for group, group_level in zip((low, high), levels)]
    if levels[1] - levels[0] < DESK_AND_PAPER_MIN_GAP * max(spreads):  # one level drifting across the picture
        return None
    height, width = grey.shape
    middle = float(np.median(grey[height // 4:height - height // 4, width // 4:width - width // 4]))
    paper = int(abs(levels[1] - middle) < abs(levels[0] - middle))
    return levels[paper], spreads[paper]
