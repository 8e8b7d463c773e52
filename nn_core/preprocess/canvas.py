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

from .grey import as_unit_float
from .levels import MIN_CONTRAST, normalise_peak


# A digit, however thick and large, leaves at least this share of a drawing at the background's exact
# value (a 40 px brush on a 280 px canvas covers under half of it); a photo has nearly no two paper
# pixels alike, so its commonest value is a sliver of the picture.
MIN_BACKGROUND_SHARE = 0.3
# The background's value is counted on a grid of at most this many pixels: exact counting over a whole
# canvas would cost more than the rest of the canvas path.
BACKGROUND_SAMPLES = 4096


@dataclass(frozen=True)
class Drawing:
    """An image split into the layer that carries the ink and that layer's background value.

    ``layer`` is (H, W, K) float32 in [0, 1]: the alpha channel alone (K = 1) when it
    varies, as on a transparent canvas, else every channel. ``background`` is (K,):
    the commonest value on a grid over the picture. ``share`` is the fraction of the
    grid at exactly that value.
    """

    layer: np.ndarray
    background: np.ndarray
    share: float

    @property
    def uniform(self) -> bool:
        """Whether the background is one exact value: a digital drawing, not a photo."""
        return self.share >= MIN_BACKGROUND_SHARE

    def ink(self) -> np.ndarray:
        """(H, W) float32 ink in [0, 1]: each pixel's largest channel distance from the
        background, rescaled so the ink's strong core is 1 (a grey pen counts like a black one)."""
        distance = np.abs(self.layer[:, :, 0] - self.background[0])
        for channel in range(1, self.layer.shape[2]):
            np.maximum(distance, np.abs(self.layer[:, :, channel] - self.background[channel]), out=distance)
        return normalise_peak(distance)


def drawing(image: np.ndarray) -> Drawing:
    """Split any image array ``to_ink`` accepts into its ink-carrying layer and background.

    Raises ImageError for arrays that are no image (see ``as_unit_float``).
    """
    pixels = as_unit_float(image)
    layer = pixels[:, :, None] if pixels.ndim == 2 else pixels
    if layer.shape[2] in (2, 4):
        alpha = layer[:, :, -1:]
        # A varying alpha is a transparent layer: where the pen went is where it is opaque.
        layer = alpha if float(alpha.max() - alpha.min()) >= MIN_CONTRAST else layer[:, :, :-1]
    background, share = _commonest_value(layer)
    return Drawing(layer, background, share)


def _commonest_value(layer: np.ndarray) -> tuple[np.ndarray, float]:
    """The commonest (K,) value on an even grid of at most BACKGROUND_SAMPLES pixels, and
    the share of the grid holding exactly it.

    Found channel by channel (the commonest first channel, then the commonest second
    among the pixels that have it, ...): a background is the commonest value of every
    channel, and one-dimensional counting costs a fraction of counting whole colours.
    """
    height, width = layer.shape[:2]
    step = max(1, int(np.ceil(np.sqrt(height * width / BACKGROUND_SAMPLES))))
    samples = layer[::step, ::step].reshape(-1, layer.shape[2])
    matching = samples
    background = np.empty(layer.shape[2], np.float32)
    for channel in range(layer.shape[2]):
        values, counts = np.unique(matching[:, channel], return_counts=True)
        background[channel] = values[counts.argmax()]
        matching = matching[matching[:, channel] == background[channel]]
    return background, len(matching) / len(samples)
