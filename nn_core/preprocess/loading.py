"""Image files (paths, bytes, uploads) → arrays, with clear errors for anything else."""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageError


MAX_PIXELS = 40_000_000  # a 40-megapixel photo is already more than any digit needs


def load_image(source: str | Path | bytes | BinaryIO) -> np.ndarray:
    """Read an image file (path, bytes or binary file object) into an array.

    Returns (H, W) for grey images — uint8, or uint16 for 16-bit files — and
    (H, W, 2|3|4) uint8 for grey+alpha, RGB and RGBA; palette images become RGB
    or RGBA, and phone photos are turned upright from their EXIF orientation.
    Raises ImageError for anything that is not a readable image of at most
    40 megapixels.
    """
    readable, name = _readable(source)
    try:
        with Image.open(readable) as opened:
            _check_size(opened.size, name)
            opened.load()
            image = ImageOps.exif_transpose(opened)  # a decoded copy, usable once the file is closed
    except ImageError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageError(f"{name} is far too large to be a digit image ({error}); "
                         f"use an image of at most {MAX_PIXELS:,} pixels.") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name} is not an image Pillow can read; "
                         "use a PNG, JPEG, BMP, GIF or TIFF picture of a digit.") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageError(f"{name} is damaged or truncated and cannot be decoded ({error}); "
                         "save or export the picture again.") from None
    return _to_array(image)


def _readable(source: str | Path | bytes | BinaryIO) -> tuple[Path | BinaryIO, str]:
    """What Image.open should read, and how to name it in error messages."""
    if hasattr(source, "read"):
        # Uploads are small; reading them lets an empty one be named as such.
        return _readable_bytes(source.read(), "The uploaded file")
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _readable_bytes(source, "The image data")
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"There is no image file at {path}; check the path.")
        if path.stat().st_size == 0:
            raise ImageError(f"The image file {path} is empty (0 bytes); use a picture of a digit.")
        return path, f"The file {path}"
    raise ImageError(f"Cannot read an image from a {type(source).__name__}; "
                     "pass a file path, bytes or a binary file object.")


def _readable_bytes(data: object, name: str) -> tuple[BinaryIO, str]:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageError(f"{name} gave {type(data).__name__}, not bytes; open it in binary mode ('rb').")
    if len(data) == 0:
        raise ImageError(f"{name} is empty (0 bytes); use a picture of a digit.")
    return io.BytesIO(bytes(data)), name


def _check_size(size: tuple[int, int], name: str) -> None:
    width, height = size
    if width * height > MAX_PIXELS:
        raise ImageError(f"{name} is {width}×{height} pixels, more than the {MAX_PIXELS:,} "
                         "allowed; shrink or crop it to the digit first.")


def _to_array(image: Image.Image) -> np.ndarray:
    if image.mode.startswith("I;16"):
        return np.asarray(image).astype(np.uint16)  # the big-endian variants become native
    if image.mode == "I":
        return _scale_wide_integers(np.asarray(image))
    if image.mode == "F":
        return _scale_to_unit(np.asarray(image, dtype=np.float32))
    if image.mode in ("L", "LA", "RGB", "RGBA"):
        return np.array(image)
    if image.mode == "1":
        return np.array(image.convert("L"))
    has_alpha = "A" in image.mode or "transparency" in image.info
    return np.array(image.convert("RGBA" if has_alpha else "RGB"))


def _scale_wide_integers(values: np.ndarray) -> np.ndarray:
    # 32-bit integer images are nearly always 16-bit data in a wider type.
    if values.min() >= 0 and values.max() <= 65535:
        return values.astype(np.uint16)
    return _scale_to_unit(values.astype(np.float32))


def _scale_to_unit(values: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(values)):
        raise ImageError("The image holds NaN or infinite values; use an ordinary picture.")
    low, high = float(values.min()), float(values.max())
    return ((values - low) / (high - low if high > low else 1.0)).astype(np.float32)
