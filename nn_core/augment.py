"""On-the-fly data augmentation for batches of 28x28 digit images.

Every function works on a whole batch at once with array operations, never a
Python loop over images, because augmentation runs on every training batch and
must cost far less than the forward/backward pass it feeds.

Coordinates are in pixels, x to the right and y downwards, with pixel centres
at integer positions 0..27; the image centre is therefore (13.5, 13.5).
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import lru_cache

import numpy as np

from nn_core.errors import ConfigError, ImageError, ShapeError

SIDE = 28
CENTRE = (SIDE - 1) / 2
ELASTIC_SIGMA = 4.0  # pixels; the value of Simard et al. (2003), who popularised elastic distortion
CHUNK = 16  # images warped at once; see _warp
THICKNESS_BLEND = (0.4, 1.0)  # how far towards the fully dilated/eroded image a chosen image moves


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random distortions; every field set to 0 disables augmentation.

    shift: largest shift, in pixels, along each axis.
    rotation: largest rotation, in degrees, either way.
    scale: zoom factor drawn from [1 - scale, 1 + scale].
    thickness: probability that an image gets its strokes thickened or thinned
        (each with half that probability).
    elastic: strength (alpha, in pixels) of elastic distortion, 0 = off; about 30-40
        gives the gentle wobble of Simard et al.
    """

    shift: float = 2.0
    rotation: float = 12.0
    scale: float = 0.12
    thickness: float = 0.3
    elastic: float = 0.0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(
                    f"AugmentConfig.{field.name} is {value!r}; expected a finite number >= 0 "
                    "(use 0 to disable that distortion)."
                )
        if self.scale >= 1:
            raise ConfigError(
                f"AugmentConfig.scale is {self.scale}; expected a value below 1, because the zoom "
                "factor is drawn from [1 - scale, 1 + scale] and must stay positive."
            )
        if self.thickness > 1:
            raise ConfigError(
                f"AugmentConfig.thickness is {self.thickness}; expected a probability in [0, 1]."
            )


def augment_batch(
    images: np.ndarray, rng: np.random.Generator, config: AugmentConfig = AugmentConfig()
) -> np.ndarray:
    """Return a randomly distorted copy of a batch of digit images.

    images: (N, 784) uint8 in [0, 255] or float in [0, 1].
    Returns (N, 784) float32 in [0, 1]. Each image gets its own random rotation,
    zoom and shift about the image centre, then possibly elastic distortion and
    a thickening or thinning of its strokes.
    """
    batch = _as_float_batch(images)
    n = batch.shape[0]
    angles = rng.uniform(-config.rotation, config.rotation, size=n)
    scales = rng.uniform(1 - config.scale, 1 + config.scale, size=n)
    shifts = rng.uniform(-config.shift, config.shift, size=(n, 2))
    matrices = inverse_affine_matrices(angles, scales, shifts)
    displacement = _elastic_displacement(n, rng, config.elastic) if config.elastic > 0 else None
    out = _warp(batch.reshape(n, SIDE, SIDE), matrices, displacement)
    out = _random_thickness(out, rng, config.thickness)
    np.clip(out, 0.0, 1.0, out=out)  # bilinear weights can overshoot 1 by a rounding error
    return out.reshape(n, SIDE * SIDE)


def inverse_affine_matrices(
    angles_deg: np.ndarray, scales: np.ndarray, shifts: np.ndarray
) -> np.ndarray:
    """Build, per image, the matrix that maps output pixels back to source pixels.

    The forward transform rotates by angles_deg (N,) degrees, counter-clockwise as
    seen on screen, zooms by scales (N,), both about the image centre, then moves
    by shifts (N, 2) pixels as (dx, dy). Returns (N, 2, 3) float32 matrices M with
    [x_src, y_src] = M @ [x_out, y_out, 1], as affine_batch expects.
    """
    theta = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    scales = np.asarray(scales, dtype=np.float64)
    shifts = np.asarray(shifts, dtype=np.float64).reshape(-1, 2)
    cos, sin = np.cos(theta) / scales, np.sin(theta) / scales
    # Inverse of "rotate then zoom" is the transposed rotation divided by the zoom.
    linear = np.stack([np.stack([cos, -sin], axis=-1), np.stack([sin, cos], axis=-1)], axis=1)
    offset = CENTRE - np.einsum("nij,nj->ni", linear, CENTRE + shifts)
    return np.concatenate([linear, offset[:, :, None]], axis=2).astype(np.float32)


def affine_batch(images28: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Warp each image with its own affine map, bilinear sampling, zeros outside.

    images28: (N, 28, 28) float32. matrices: (N, 2, 3) mapping output pixel
    coordinates to source coordinates (see inverse_affine_matrices).
    Returns (N, 28, 28) float32.
    """
    images28 = np.asarray(images28, dtype=np.float32)
    matrices = np.asarray(matrices, dtype=np.float32)
    if images28.ndim != 3 or images28.shape[1:] != (SIDE, SIDE):
        raise ShapeError(f"affine_batch needs images of shape (N, 28, 28); got {images28.shape}.")
    if matrices.shape != (images28.shape[0], 2, 3):
        raise ShapeError(
            f"affine_batch needs one (2, 3) matrix per image, shape ({images28.shape[0]}, 2, 3); "
            f"got {matrices.shape}."
        )
    return _warp(images28, matrices)


def dilate(images28: np.ndarray) -> np.ndarray:
    """Grey dilation with a 3x3 cross: each pixel becomes the max of itself and its 4 neighbours.

    images28: (N, 28, 28) float32. Returns a new (N, 28, 28) float32 array; strokes get thicker.
    """
    return _cross_filter(images28, np.maximum)


def erode(images28: np.ndarray) -> np.ndarray:
    """Grey erosion with a 3x3 cross: each pixel becomes the min of itself and its 4 neighbours.

    images28: (N, 28, 28) float32. Returns a new (N, 28, 28) float32 array; strokes get thinner.
    Neighbours beyond the border are ignored.
    """
    return _cross_filter(images28, np.minimum)


def _as_float_batch(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 2 or images.shape[1] != SIDE * SIDE:
        raise ShapeError(
            f"augment_batch needs a batch of flattened images of shape (N, 784); got {images.shape}. "
            "Reshape (N, 28, 28) images with images.reshape(len(images), 784)."
        )
    if images.dtype == np.uint8:
        return images.astype(np.float32) / np.float32(255)
    if not np.issubdtype(images.dtype, np.floating):
        raise ShapeError(
            f"augment_batch needs uint8 pixels in [0, 255] or floats in [0, 1]; got dtype {images.dtype}."
        )
    batch = images.astype(np.float32)
    if batch.size and not (batch.min() >= 0.0 and batch.max() <= 1.0):  # also catches NaN
        raise ImageError(
            f"augment_batch got float pixels in [{batch.min()}, {batch.max()}]; expected values in "
            "[0, 1]. Divide 0-255 pixel values by 255 first."
        )
    return batch


def _warp(
    images28: np.ndarray, matrices: np.ndarray, displacement: np.ndarray | None = None
) -> np.ndarray:
    """Resample (N, 28, 28) images through (N, 2, 3) inverse affine maps plus an optional
    (2, N, 28, 28) displacement of the source coordinates, in chunks of images.

    Chunks of CHUNK images keep every temporary array below glibc's 128 KiB mmap threshold,
    so temporaries are recycled from the heap instead of being page-faulted in afresh on
    every call, which more than halves the run time of a 128-image batch.
    """
    out = np.empty(images28.shape, dtype=np.float32)
    for start in range(0, len(images28), CHUNK):
        part = slice(start, start + CHUNK)
        source_x, source_y = _sampling_grid(matrices[part])
        if displacement is not None:
            source_x += displacement[0, part]
            source_y += displacement[1, part]
        out[part] = _bilinear_sample(images28[part], source_x, source_y)
    return out


def _sampling_grid(matrices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Source coordinates (N, 28, 28) x and y of every output pixel under each matrix."""
    x = np.arange(SIDE, dtype=np.float32)[None, None, :]
    y = np.arange(SIDE, dtype=np.float32)[None, :, None]
    m = matrices[:, :, :, None, None]  # broadcast each coefficient over the 28x28 grid
    source_x = m[:, 0, 0] * x + m[:, 0, 2] + m[:, 0, 1] * y
    source_y = m[:, 1, 0] * x + m[:, 1, 2] + m[:, 1, 1] * y
    return source_x, source_y


def _bilinear_sample(images28: np.ndarray, source_x: np.ndarray, source_y: np.ndarray) -> np.ndarray:
    """Sample (N, 28, 28) images at fractional (N, 28, 28) coordinates, zero outside the image.

    Overwrites source_x and source_y, which are temporaries of the caller.
    """
    n = images28.shape[0]
    # A zero frame (1 pixel before, 2 after) lets every clipped neighbour index stay in bounds
    # and read 0, so no masks are needed for points outside the image.
    side = SIDE + 3
    padded = np.zeros((n, side, side), dtype=np.float32)
    padded[:, 1 : SIDE + 1, 1 : SIDE + 1] = images28
    x0 = np.clip(np.floor(source_x), -1, SIDE)
    y0 = np.clip(np.floor(source_y), -1, SIDE)
    fx = np.clip(np.subtract(source_x, x0, out=source_x), 0.0, 1.0, out=source_x)
    fy = np.clip(np.subtract(source_y, y0, out=source_y), 0.0, 1.0, out=source_y)
    top_left = (np.arange(n) * side * side + side + 1)[:, None, None] + (
        y0.astype(np.intp) * side + x0.astype(np.intp)
    )
    flat = padded.ravel()
    top = _lerp(flat.take(top_left), flat.take(top_left + 1), fx)
    bottom = _lerp(flat.take(top_left + side), flat.take(top_left + side + 1), fx)
    return _lerp(top, bottom, fy)


def _lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """a + t * (b - a), computed in place in the temporaries to save allocations."""
    b -= a
    b *= t
    b += a
    return b


def _cross_filter(images28: np.ndarray, reduce: Callable[..., np.ndarray]) -> np.ndarray:
    """Combine every pixel with its 4 neighbours using reduce (np.maximum or np.minimum)."""
    images28 = np.asarray(images28, dtype=np.float32)
    out = images28.copy()
    reduce(out[:, 1:], images28[:, :-1], out=out[:, 1:])  # neighbour above
    reduce(out[:, :-1], images28[:, 1:], out=out[:, :-1])  # neighbour below
    reduce(out[:, :, 1:], images28[:, :, :-1], out=out[:, :, 1:])  # neighbour left
    reduce(out[:, :, :-1], images28[:, :, 1:], out=out[:, :, :-1])  # neighbour right
    return out


def _random_thickness(images28: np.ndarray, rng: np.random.Generator, probability: float) -> np.ndarray:
    """Thicken (probability/2) or thin (probability/2) randomly chosen images, partially blended."""
    n = images28.shape[0]
    choice = rng.random(n)
    blend = rng.uniform(*THICKNESS_BLEND, size=n).astype(np.float32)[:, None, None]
    for selected, morph in (
        (choice < probability / 2, dilate),
        ((choice >= probability / 2) & (choice < probability), erode),
    ):
        if selected.any():
            chosen = images28[selected]
            images28[selected] = chosen + blend[selected] * (morph(chosen) - chosen)
    return images28


def _elastic_displacement(n: int, rng: np.random.Generator, alpha: float) -> np.ndarray:
    """Smooth random displacement fields, (2, N, 28, 28) float32 pixels, for x and y."""
    noise = rng.uniform(-1.0, 1.0, size=(2, n, SIDE, SIDE)).astype(np.float32)
    blur = _gaussian_blur_matrix(SIDE, ELASTIC_SIGMA)
    # Blurring rows then columns with one matrix product each is the separable Gaussian filter.
    return np.float32(alpha) * (blur @ noise @ blur.T)


@lru_cache(maxsize=None)
def _gaussian_blur_matrix(size: int, sigma: float) -> np.ndarray:
    """(size, size) matrix B such that B @ v convolves v with a unit-sum Gaussian, zero-padded."""
    offsets = np.arange(size)[:, None] - np.arange(size)[None, :]
    radius = int(3 * sigma)
    kernel_norm = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2).sum()
    weights = np.exp(-0.5 * (offsets / sigma) ** 2) / kernel_norm
    weights[np.abs(offsets) > radius] = 0.0
    return weights.astype(np.float32)
