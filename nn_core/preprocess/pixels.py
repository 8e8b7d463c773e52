"""Any image array → float32 pixels in [0, 1], with errors that say what was expected."""

from __future__ import annotations

import numpy as np

from ..errors import ImageError


def as_unit_float(image: np.ndarray) -> np.ndarray:
    """Any image array ``to_ink`` accepts → float32 of the same shape in [0, 1]; ImageError otherwise."""
    factor = integer_unit_factor(image)
    if factor is None:
        return _floats_to_unit(image)
    # One fused multiply: a separate astype then divide costs 8× more on a canvas.
    return np.multiply(image, factor, dtype=np.float32)


def integer_unit_factor(image: np.ndarray) -> np.float32 | None:
    """For bool or integer pixels, the float32 factor ``as_unit_float`` multiplies them by,
    so any part of the image can be converted alone with the same result; None for float
    pixels. ImageError for arrays that are no image."""
    if not isinstance(image, np.ndarray):
        raise ImageError(f"Expected a numpy image array, got a {type(image).__name__}; "
                         "use load_image() to read files.")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 2, 3, 4)):
        raise ImageError(f"Expected an image array of shape (H, W) or (H, W, C) with C in 1–4, "
                         f"got shape {image.shape}.")
    if image.size == 0:
        raise ImageError(f"The image array is empty (shape {image.shape}); it needs at least one pixel.")
    if image.dtype == np.bool_:
        return np.float32(1)
    if image.dtype == np.uint8:
        return np.float32(1 / 255)
    if np.issubdtype(image.dtype, np.integer):
        return np.float32(1 / _integer_full_scale(image))
    if np.issubdtype(image.dtype, np.floating):
        return None
    raise ImageError(f"Expected an image array of bool, integer or float pixels, got dtype {image.dtype}.")


def _integer_full_scale(image: np.ndarray) -> int:
    # 16-bit containers often hold 8-, 10-, 12- or 14-bit data; full scale is the
    # smallest of those depths that holds the brightest pixel.
    low, high = int(image.min()), int(image.max())
    if low < 0 or high > 65535:
        raise ImageError(f"Integer pixels must lie in 0–65535 (8 to 16 bits), "
                         f"got values from {low} to {high}.")
    return next(2**bits - 1 for bits in (8, 10, 12, 14, 16) if high <= 2**bits - 1)


def _floats_to_unit(image: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(image)):
        raise ImageError("The image array holds NaN or infinite values; pixels must be finite numbers.")
    low, high = float(image.min()), float(image.max())
    if low < 0 or high > 255:
        raise ImageError(f"Float pixels must lie in 0–1 (or 0–255), got values from {low:g} to {high:g}.")
    return image.astype(np.float32) / (255 if high > 1 else 1)


def zero_padded(array: np.ndarray, width: int) -> np.ndarray:
    """A 2-D array with ``width`` zeros added on every side: what ``np.pad(array, width)``
    gives, built directly (np.pad's generality costs more than the copy on the small
    arrays of every preprocessing stage)."""
    height, breadth = array.shape
    padded = np.zeros((height + 2 * width, breadth + 2 * width), array.dtype)
    padded[width:width + height, width:width + breadth] = array
    return padded
