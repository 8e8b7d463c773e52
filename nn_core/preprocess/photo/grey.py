"""A photo's pixels → grey float32 in [0, 1], alpha composited."""

from __future__ import annotations

import numpy as np

from ..levels import MIN_CONTRAST
from ..pixels import as_unit_float


# Grey from 1–4 channels as one matrix product; ITU-R 601 luma for colour, alpha weighted 0.
LUMINANCE = {
    1: np.array([1], np.float32),
    2: np.array([1, 0], np.float32),
    3: np.array([0.299, 0.587, 0.114], np.float32),
    4: np.array([0.299, 0.587, 0.114, 0], np.float32),
}


def to_grey(image: np.ndarray) -> np.ndarray:
    """Any image array ``to_ink`` accepts → (H, W) float32 grey in [0, 1]; where an alpha
    channel varies, transparent pixels take the colour opposite to the strokes'."""
    return _composite_alpha(as_unit_float(image))


def _composite_alpha(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 2:
        return pixels
    channels = pixels.shape[2]
    grey = pixels @ LUMINANCE[channels]
    if channels not in (2, 4):
        return grey
    alpha = np.ascontiguousarray(pixels[:, :, -1])
    if float(alpha.max() - alpha.min()) < MIN_CONTRAST:
        return grey  # opaque (or uniformly faded) everywhere: the colours carry the ink
    # Transparent pixels must become background, so lay the strokes on the colour
    # opposite to their own: white strokes on black, dark strokes on white.
    stroke_level = float(np.vdot(grey, alpha) / alpha.sum())
    if stroke_level >= 0.5:
        return grey * alpha  # onto black
    return grey * alpha + (1 - alpha)  # onto white
