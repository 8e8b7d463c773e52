"""Stage 1 for clean digital drawings: ink as the distance from an exactly uniform background.

A drawing made on a canvas, in a paint program or exported from one has a
background of one exact value (a transparent layer, or an opaque colour of
either polarity); a photo or a scan never has, because sensor noise, uneven
light and JPEG's rounding make neighbouring paper pixels differ. Such a
drawing needs none of the photo cleanup: the ink is how far each pixel lies
from the background colour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .levels import MIN_CONTRAST, normalise_peak
from .masks import bbox
from .pixels import as_unit_float, integer_unit_factor


# A fraction of the picture (sampled on a grid) that must hold the border's commonest value exactly
# for the picture to count as a drawing. Thick digits on the canvas (a 40 px brush, 90% of 280 px)
# leave over 70% at it, a bold printed digit cropped to its ink over 36%; photos of paper in the
# photo and drawn-digit benchmarks at most 18%, since noise leaves few paper pixels alike. Between
# them, the side a photo must not cross: a cropped glyph sent to the photo cleanup still comes out right.
MIN_BACKGROUND_SHARE = 0.4
# The background's share is counted on a grid of at most this many pixels: counting over a whole
# canvas would cost more than the rest of the canvas path.
BACKGROUND_SAMPLES = 4096


@dataclass(frozen=True)
class Drawing:
    """An image split into the layer that carries the ink and that layer's background value.

    ``layer`` is (H, W, K): the alpha channel alone (K = 1) when it varies, as on a
    transparent canvas, else every channel; its pixels are still in the image's own
    type when that is bool or integer (``factor`` brings them to [0, 1], None when
    they are float32 in [0, 1] already), so only the ink's box is ever converted.
    ``background`` is (K,): the commonest value along the picture's border, in the
    layer's type. ``share`` is the fraction of a grid over the whole picture at
    exactly that value.
    """

    layer: np.ndarray
    background: np.ndarray
    share: float
    factor: np.float32 | None = None

    @property
    def uniform(self) -> bool:
        """Whether the background is one exact value: a digital drawing, not a photo."""
        return self.share >= MIN_BACKGROUND_SHARE

    def ink(self) -> np.ndarray:
        """(H, W) float32 ink in [0, 1]: each pixel's largest channel distance from the
        background, rescaled so the ink's strong core is 1 (a grey pen counts like a black one)."""
        ink = np.zeros(self.layer.shape[:2], np.float32)
        # Pixels at the background have no ink: only the box of the others needs the arithmetic.
        box = bbox(_off_value(self.layer, self.background))
        if box is not None:
            ink[box] = normalise_peak(self._distance(self.layer[box]))
        return ink

    def _distance(self, part: np.ndarray) -> np.ndarray:
        """(h, w) largest channel distance of a part of the layer from the background."""
        part, background = self._unit(part), self._unit(self.background)
        distance = np.abs(part[:, :, 0] - background[0])
        for channel in range(1, part.shape[2]):
            np.maximum(distance, np.abs(part[:, :, channel] - background[channel]), out=distance)
        return distance

    def _unit(self, values: np.ndarray) -> np.ndarray:
        return values if self.factor is None else np.multiply(values, self.factor, dtype=np.float32)


def drawing(image: np.ndarray) -> Drawing:
    """Split any image array ``to_ink`` accepts into its ink-carrying layer and background.

    Raises ImageError for arrays that are no image (see ``as_unit_float``).
    """
    factor = integer_unit_factor(image)
    pixels = image if factor is not None else as_unit_float(image)
    layer = pixels[:, :, None] if pixels.ndim == 2 else pixels
    if layer.shape[2] in (2, 4):
        alpha = layer[:, :, -1:]
        # A varying alpha is a transparent layer: where the pen went is where it is opaque.
        # The conversion to [0, 1] keeps order, so the extremes can be converted alone.
        extremes = np.array([alpha.max(), alpha.min()])
        if factor is not None:
            extremes = np.multiply(extremes, factor, dtype=np.float32)
        layer = alpha if float(extremes[0] - extremes[1]) >= MIN_CONTRAST else layer[:, :, :-1]
    # The border, not the whole picture, names the background: a bold digit cropped to its
    # ink can hold more ink than background, but its corners and most of its edges are blank.
    background = _commonest_value(_border(layer))
    share = float((~_off_value(_grid(layer), background)).mean())
    return Drawing(layer, background, share, factor)


def _border(layer: np.ndarray) -> np.ndarray:
    """(n, K) values of the picture's outermost rows and columns."""
    return np.concatenate([layer[0], layer[-1], layer[:, 0], layer[:, -1]])


def _grid(layer: np.ndarray) -> np.ndarray:
    """(h, w, K) values on an even grid of at most BACKGROUND_SAMPLES pixels."""
    height, width = layer.shape[:2]
    step = max(1, int(np.ceil(np.sqrt(height * width / BACKGROUND_SAMPLES))))
    return layer[::step, ::step]


def _off_value(layer: np.ndarray, value: np.ndarray) -> np.ndarray:
    """(H, W) bool: the pixels of an (H, W, K) layer not exactly at the (K,) value."""
    # Channel by channel: numpy reduces a short last axis far more slowly than it compares.
    off = layer[:, :, 0] != value[0]
    for channel in range(1, layer.shape[2]):
        off |= layer[:, :, channel] != value[channel]
    return off


def _commonest_value(samples: np.ndarray) -> np.ndarray:
    """The commonest (K,) value of (n, K) samples, found channel by channel: the commonest
    first channel, then the commonest second among the samples that have it, and so on
    (a background is the commonest value of every channel, and counting one channel at a
    time costs a fraction of counting whole colours)."""
    matching = samples
    value = np.empty(samples.shape[1], samples.dtype)
    for channel in range(samples.shape[1]):
        value[channel] = _commonest(matching[:, channel])
        matching = matching[matching[:, channel] == value[channel]]
    return value


def _commonest(values: np.ndarray) -> np.generic:
    """The commonest of 1-D values (the smallest of those tied)."""
    if values.dtype == np.uint8:  # counting by a table of 256 costs a fraction of sorting
        return np.bincount(values).argmax()
    levels, counts = np.unique(values, return_counts=True)
    return levels[counts.argmax()]
