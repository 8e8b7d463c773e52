"""Small pure-numpy helpers that turn nn_core outputs into things worth showing.

No Streamlit and no Plotly here: these are shared by the chart builders and the
pages, and tested with plain pytest.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np
from PIL import Image


# Within a block the weights smoothing**−k grow to this, far below float64's overflow; each
# point's rounding stays float64's, as every term comes back multiplied by smoothing**i.
EMA_BLOCK_GROWTH = 1e100


def ema(values: list[float] | np.ndarray, smoothing: float = 0.9) -> np.ndarray:
    """Exponential moving average with bias correction (as TensorBoard's smoothing).

    ``smoothing`` = 0 returns the values unchanged; near 1 is very smooth.
    The correction keeps the first points from being dragged towards zero.
    """
    values = np.asarray(values, dtype=np.float64)
    if smoothing == 0 or not values.size:
        return values.copy()
    # Vectorised a block at a time (the live charts smooth the whole history every refresh):
    # within a block, running[i] = smoothing**(i+1)·carry + (1 − smoothing)·Σ smoothing**(i−k)·values[k],
    # the sum taken as a cumulative sum of values[k]·smoothing**−k.
    block = max(1, int(np.log(EMA_BLOCK_GROWTH) / -np.log(smoothing)))
    running = np.empty_like(values)
    carry = 0.0
    for start in range(0, len(values), block):
        chunk = values[start:start + block]
        powers = smoothing ** np.arange(1, len(chunk) + 1)
        running[start:start + len(chunk)] = powers * carry + (1 - smoothing) * powers / smoothing * np.cumsum(
            chunk * (smoothing / powers))
        carry = running[start + len(chunk) - 1]
    return running / (1 - smoothing ** np.arange(1, len(values) + 1))


def downsample_indices(length: int, max_points: int) -> np.ndarray:
    """At most ``max_points`` evenly spread indices into a series, always keeping the last one.

    Charts redrawn every half second stay light however long training runs.
    """
    if length <= max_points:
        return np.arange(length)
    indices = np.linspace(0, length - 1, max_points).round().astype(np.int64)
    return np.unique(indices)


def upscale_nearest(image: np.ndarray, size: int = 168) -> np.ndarray:
    """A 2-D image in [0, 1] → (size, size·w/h) uint8, every pixel a crisp square.

    Browsers blur small images when they enlarge them; repeating each pixel
    shows the network's input exactly as it is.
    """
    image = np.asarray(image, dtype=np.float32)
    factor = max(1, size // max(image.shape))
    pixels = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
    return np.repeat(np.repeat(pixels, factor, axis=0), factor, axis=1)


def to_uint8_image(image: np.ndarray) -> np.ndarray:
    """A (28, 28) float image in [0, 1] → uint8 (28, 28), as MNIST stores digits."""
    return np.round(np.clip(np.asarray(image, np.float32), 0, 1) * 255).astype(np.uint8)


def grid_shape(n_units: int) -> tuple[int, int]:
    """(rows, columns) of the most square grid holding ``n_units`` cells, wider than tall."""
    rows = max(1, math.isqrt(n_units))
    while n_units % rows:
        rows -= 1
    columns = n_units // rows
    if columns > 4 * rows:
        # Awkward sizes (primes): a near-square grid padded with empty cells reads better.
        rows = math.isqrt(n_units)
        columns = math.ceil(n_units / rows)
    return rows, columns


def as_grid(values: np.ndarray) -> np.ndarray:
    """A 1-D vector (e.g. one layer's activations) → 2-D grid, padded with NaN."""
    values = np.asarray(values, dtype=np.float64).ravel()
    rows, columns = grid_shape(values.size)
    padded = np.full(rows * columns, np.nan)
    padded[:values.size] = values
    return padded.reshape(rows, columns)


def tile_mosaic(tiles: np.ndarray, columns: int = 8, scale_each: bool = False, gap: int = 1) -> np.ndarray:
    """(n, h, w) tiles → one 2-D mosaic, ``columns`` tiles per row, separated by NaN.

    With ``scale_each`` every tile is divided by its own largest magnitude (to [-1, 1]),
    so faint tiles are as readable as strong ones; otherwise values are kept, so
    tiles can be compared with each other.
    """
    tiles = np.asarray(tiles, dtype=np.float64)
    if tiles.ndim != 3 or not len(tiles):
        raise ValueError(f"tiles must be a non-empty (n, height, width) array; got shape {tiles.shape}")
    n_tiles, height, width = tiles.shape
    columns = max(1, min(columns, n_tiles))
    rows = math.ceil(n_tiles / columns)
    mosaic = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap), np.nan)
    for index, tile in enumerate(tiles):
        if scale_each:
            scale = np.abs(tile).max()
            tile = tile / scale if scale > 0 else tile
        row, column = divmod(index, columns)
        top, left = row * (height + gap), column * (width + gap)
        mosaic[top:top + height, left:left + width] = tile
    return mosaic


def weight_mosaic(weights: np.ndarray, n_units: int = 32, columns: int = 8) -> np.ndarray:
    """First-layer weights (784, n_out) → one 2-D mosaic of 28×28 tiles separated by NaN.

    Each tile is one hidden unit's incoming weights, scaled to [-1, 1] by its own
    largest magnitude so faint units are as readable as strong ones.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[0] != 784:
        raise ValueError(f"first-layer weights must be (784, n_units); got {weights.shape}")
    n_units = min(n_units, weights.shape[1])
    return tile_mosaic(weights[:, :n_units].T.reshape(n_units, 28, 28), columns, scale_each=True)


def filter_tiles(weight: np.ndarray) -> np.ndarray:
    """A conv layer's weight (k, k, C_in, C_out) → (C_out, k, k): each filter summed over its inputs.

    For the first layer C_in is 1 (grey pixels), so each tile is exactly the
    k×k pattern the filter responds to.
    """
    weight = np.asarray(weight)
    if weight.ndim != 4:
        raise ValueError(f"conv weights must be (k, k, C_in, C_out); got shape {weight.shape}")
    return weight.sum(axis=2).transpose(2, 0, 1)


def channel_tiles(maps: np.ndarray) -> np.ndarray:
    """Feature maps (H, W, C) channels-last, as nn_core computes them → (C, H, W) tiles."""
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise ValueError(f"feature maps must be (height, width, channels); got shape {maps.shape}")
    return maps.transpose(2, 0, 1)


def png_data_url(image: np.ndarray) -> str:
    """A grey image, uint8 or floats in [0, 1], (H, W) or 784 values, as a
    ``data:image/png;base64,…`` URL, for tables that show small images inline."""
    image = np.asarray(image)
    if image.ndim == 1 and image.size == 784:
        image = image.reshape(28, 28)
    pixels = image if image.dtype == np.uint8 else to_uint8_image(image)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
