"""Stage 1 for clean digital drawings: ink as the distance from an exactly uniform background.

A drawing made on a canvas, in a paint program or exported from one has a
background of one exact value (a transparent layer, or an opaque colour of
either polarity); a photo or a scan never has, because sensor noise, uneven
light and JPEG's rounding make neighbouring paper pixels differ. Such a
drawing needs none of the photo cleanup: the ink is how far each pixel lies
from the background colour.

Every drawing is preprocessed as it is made, so this stage looks at the whole
picture once, to find the box of the pixels off the background, and does all
its arithmetic inside that box.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from math import ceil

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
    type when that is integer (bool is read as 0 and 1; ``factor`` brings them to
    [0, 1], None when they are float32 in [0, 1] already). ``background`` is (K,):
    the commonest value along the picture's border, in the layer's type. ``box`` is
    the smallest box holding every pixel not exactly at the background (None when
    there is none): outside it there is no ink. ``inside`` is the layer inside ``box``.
    """

    layer: np.ndarray
    background: np.ndarray
    box: tuple[slice, slice] | None
    inside: np.ndarray | None
    factor: np.float32 | None = None

    @cached_property
    def share(self) -> float:
        """The fraction of a grid over the whole picture exactly at the background value
        (only "auto" asks: a picture named a drawing needs no check)."""
        return float((~_off_value(_grid(self.layer), self.background)).mean())

    @property
    def uniform(self) -> bool:
        """Whether the background is one exact value: a digital drawing, not a photo."""
        return self.share >= MIN_BACKGROUND_SHARE

    def ink_in_box(self) -> np.ndarray | None:
        """(h, w) float32 ink in [0, 1] inside ``box``: each pixel's largest channel distance
        from the background, rescaled so the ink's strong core is 1 (a grey pen counts like
        a black one). None when nothing is drawn: no pixel off the background, or ink too
        faint to be a stroke."""
        if self.inside is None:
            return None
        if self.factor is None:
            ink = normalise_peak(_float_distance(self.inside, self.background))
            return ink if ink.any() else None
        distance = _integer_distance(self.inside, self.background)
        top = _Top(distance)
        core = _core_level(distance, top, self.factor)
        if core is None:
            return None
        ink = np.multiply(distance, np.float32(1 / core), dtype=np.float32)
        return ink if top.level <= core else np.minimum(ink, 1, out=ink)


def drawing(image: np.ndarray) -> Drawing:
    """Split any image array ``to_ink`` accepts into its ink-carrying layer and background.

    Raises ImageError for arrays that are no image (see ``as_unit_float``).
    """
    factor = integer_unit_factor(image)
    pixels = image if factor is not None else as_unit_float(image)
    if pixels.dtype == np.bool_:
        pixels = pixels.view(np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.shape[2] in (2, 4):
        return _drawing_with_alpha(pixels, factor)
    background = _border_value(pixels)
    return _drawing_in(pixels, background, _pixels_off_box(pixels, background), factor)


def _drawing_with_alpha(pixels: np.ndarray, factor: np.float32 | None) -> Drawing:
    alpha, colour = pixels[:, :, -1:], pixels[:, :, :-1]
    alpha_background = _border_value(alpha)
    alpha_box = _alpha_off_box(pixels, alpha_background[0])
    if alpha_box is not None:
        # Copied once: its pixels lie a channel apart, and every later step reads them.
        inside = np.ascontiguousarray(alpha[alpha_box])
        # A varying alpha is a transparent layer: where the pen went is where it is opaque.
        if _varies(inside, alpha_background[0], factor):
            return Drawing(alpha, alpha_background, alpha_box, inside, factor)
    background = _border_value(colour)
    if alpha_box is None:  # one alpha everywhere: whole pixels differ exactly where their colours do
        box = _pixels_off_box(pixels, np.append(background, alpha_background))
    else:
        box = bbox(_off_value(colour, background))
    return _drawing_in(colour, background, box, factor)


def _drawing_in(layer: np.ndarray, background: np.ndarray, box: tuple[slice, slice] | None,
                factor: np.float32 | None) -> Drawing:
    return Drawing(layer, background, box, None if box is None else layer[box], factor)


def _varies(alpha: np.ndarray, background: np.generic, factor: np.float32 | None) -> bool:
    """Whether the alpha of the box off its background, with that background, spans MIN_CONTRAST."""
    # Outside the box every alpha is the background's, so these are the extremes of the whole layer;
    # the conversion to [0, 1] keeps order, so the extremes can be converted alone.
    extremes = np.array([max(alpha.max(), background), min(alpha.min(), background)])
    if factor is not None:
        extremes = np.multiply(extremes, factor, dtype=np.float32)
    return float(extremes[0] - extremes[1]) >= MIN_CONTRAST


def _border_value(layer: np.ndarray) -> np.ndarray:
    """(K,) the commonest value along the outermost rows and columns of an (H, W, K) layer.

    The border, not the whole picture, names the background: a bold digit cropped to its
    ink can hold more ink than background, but its corners and most of its edges are blank.
    """
    border = np.concatenate([layer[0], layer[-1], layer[:, 0], layer[:, -1]])
    if (border == border[0]).all():  # a canvas's border is all background: nothing to count
        return border[0].copy()
    return _commonest_value(border)


def _packed(pixels: np.ndarray) -> np.ndarray | None:
    """(H, W) one integer per pixel holding all its bytes, for C-contiguous uint8 pixels with
    2 or 4 channels (the last, alpha, in the top byte); None for any other pixels."""
    if pixels.dtype != np.uint8 or pixels.shape[2] not in (2, 4) or not pixels.flags.c_contiguous:
        return None
    return pixels.view(np.dtype(f"<u{pixels.shape[2]}"))[:, :, 0]


def _alpha_off_box(pixels: np.ndarray, value: np.generic) -> tuple[slice, slice] | None:
    """The box of the pixels of (H, W, C) whose last channel is not ``value``."""
    packed = _packed(pixels)
    if packed is None:
        return bbox(pixels[:, :, -1] != value)
    # Picking alpha out of interleaved pixels steps through memory a byte in C; comparing whole
    # packed pixels does not. Alpha differs exactly when the packed pixel, minus `value` in the
    # top byte (wrapping round), reaches the top byte.
    shift = 8 * (pixels.shape[2] - 1)
    if value == 0:  # a transparent canvas
        return bbox(packed >= 1 << shift)
    offset = np.subtract(packed, packed.dtype.type(int(value) << shift))
    if offset.max() < 1 << shift:  # an opaque canvas: one maximum spares marking every pixel
        return None
    return bbox(offset >= 1 << shift)


def _pixels_off_box(pixels: np.ndarray, value: np.ndarray) -> tuple[slice, slice] | None:
    """The box of the pixels of (H, W, C) not exactly at the (C,) value in every channel."""
    packed = _packed(pixels)
    if packed is not None:
        return bbox(packed != value.view(packed.dtype)[0])
    if not pixels.flags.c_contiguous:
        return bbox(_off_value(pixels, value))
    # One comparison along each row of interleaved channels, not one per channel stepping
    # through memory C values at a time; the box's columns are then in channel units.
    height, width, channels = pixels.shape
    box = bbox(pixels.reshape(height, width * channels) != np.tile(value, width))
    if box is None:
        return None
    rows, columns = box
    return rows, slice(columns.start // channels, (columns.stop - 1) // channels + 1)


def _float_distance(part: np.ndarray, background: np.ndarray) -> np.ndarray:
    """(h, w) float32 largest channel distance of float pixels (h, w, K) from the (K,) background."""
    distance = np.abs(part[:, :, 0] - background[0])
    for channel in range(1, part.shape[2]):
        np.maximum(distance, np.abs(part[:, :, channel] - background[channel]), out=distance)
    return distance


def _integer_distance(part: np.ndarray, background: np.ndarray) -> np.ndarray:
    """(h, w) largest channel distance of integer pixels (h, w, K) from the (K,) background,
    in their own unsigned type (a distance never exceeds the full scale), C-contiguous."""
    full_scale = np.iinfo(part.dtype).max
    if part.shape[2] > 1 and (background == full_scale).all():
        # On white the largest distance is the darkest channel's: one subtraction, not one a channel.
        darkest = part[:, :, 0]
        for channel in range(1, part.shape[2]):
            darkest = np.minimum(darkest, part[:, :, channel])
        return np.subtract(full_scale, darkest)
    distance = _level_distance(part[:, :, 0], background[0], full_scale)
    for channel in range(1, part.shape[2]):
        distance = np.maximum(distance, _level_distance(part[:, :, channel], background[channel], full_scale))
    return np.ascontiguousarray(distance)


def _level_distance(values: np.ndarray, level: np.generic, full_scale: int) -> np.ndarray:
    """|values − level| for unsigned integers up to ``full_scale``, without the wrap-round of
    a plain subtraction (may be ``values`` itself)."""
    # A black, transparent or white background spares a pass or two.
    if level == 0:
        return values
    if level == full_scale:
        return np.subtract(level, values)
    return np.subtract(np.maximum(values, level), np.minimum(values, level))


def _core_level(distance: np.ndarray, top: _Top, factor: np.float32) -> float | None:
    """The level of the ink's strong core in the distance's units (``top`` is its largest),
    as ``normalise_peak`` finds it on the distance × ``factor`` (the 90th percentile of the
    ink above a quarter of its 99th percentile); None when that peak is below MIN_CONTRAST,
    too faint for a stroke."""
    peak = _percentile(distance, 99, lowest=1, top=top)
    if peak * float(factor) < MIN_CONTRAST:
        return None
    return _percentile(distance, 90, lowest=max(1, ceil(0.25 * peak)), top=top)


class _Top:
    """The largest of some integer levels and how many are at it."""

    def __init__(self, levels: np.ndarray) -> None:
        self.level = int(levels.max())
        self.count = np.count_nonzero(levels == self.level)


def _percentile(levels: np.ndarray, percent: float, lowest: int, top: _Top) -> float:
    """numpy's (linear) ``percent``-th percentile of the integer levels from ``lowest`` up,
    found by counting instead of sorting."""
    count = np.count_nonzero(levels) if lowest == 1 else np.count_nonzero(levels >= lowest)
    position = (count - 1) * percent / 100
    below = int(position)
    low = _order_statistic(levels, count - below, lowest, top)
    if position == below:
        return float(low)
    high = _order_statistic(levels, count - below - 1, lowest, top)
    return low + (high - low) * (position - below)


def _order_statistic(levels: np.ndarray, at_least: int, lowest: int, top: _Top) -> int:
    """The largest level v in [lowest, top] with at least ``at_least`` of ``levels`` ≥ v:
    the value of rank count − at_least among the sorted levels from ``lowest`` up."""
    # A pen's core usually fills the top level, and then nothing needs counting.
    if top.count >= at_least:
        return top.level
    low, high = lowest, top.level  # enough levels reach `low`; too few reach `high`
    while high - low > 1:
        middle = (low + high) // 2
        if np.count_nonzero(levels >= middle) >= at_least:
            low = middle
        else:
            high = middle
    return low


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
