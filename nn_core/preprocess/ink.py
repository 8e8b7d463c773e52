"""Stage 1: any image array → ink, high where the pen was, background 0."""

from __future__ import annotations

import numpy as np

from .edge_bands import clear_edge_bands
from .grey import to_grey
from .levels import normalise_peak
from .lighting import fit_background
from .page import find_page
from .ruled_lines import clear_ruled_lines


def to_ink(image: np.ndarray) -> np.ndarray:
    """Stage 1: any image array → (H, W) float32 ink in [0, 1], background 0.

    Accepts (H, W), (H, W, 1), (H, W, 2) grey+alpha, (H, W, 3) RGB or
    (H, W, 4) RGBA arrays of bool, integers (uint8 is 0–255; wider integers,
    such as uint16, are 8- to 16-bit data, their depth read from the brightest
    pixel) or floats (0–1, or 0–255). A varying alpha
    channel is composited so transparent pixels are background; the background's
    level (a smooth surface, for unevenly lit photos) is subtracted; marks mostly
    darker than it are dark ink on light paper, which is inverted; and the ink is
    rescaled so its strong core is 1. An image without ink comes back all zero.
    Raises ImageError for other shapes or dtypes.
    """
    grey = to_grey(image)
    ink = _remove_background(grey)
    page = find_page(ink)
    if page is not None:
        # A photo of a page on a darker desk: what stood out from the desk was the
        # page, not the pen. Looking inside the page, its paper is the background.
        box, on_page = page
        return _remove_background(grey[box], on_page)
    return ink


def _remove_background(grey: np.ndarray, region: np.ndarray | None = None) -> np.ndarray:
    """Ink: how far each pixel stands out from the background, on the ink's side of it.
    With a ``region`` (a mask of grey's shape), only pixels in it can be ink."""
    level, noise = fit_background(grey, region)
    ink = grey - level
    if region is not None:
        ink[~region] = 0
    # Paper grain and JPEG noise stay within three robust standard deviations of the level.
    beyond_noise = np.float32(3 * noise)
    dark = _ink_is_dark(ink, beyond_noise)
    if dark:
        np.negative(ink, out=ink)
    if beyond_noise:
        ink -= beyond_noise
    np.maximum(ink, 0, out=ink)
    if dark:
        # Before normalising: a band of desk is darker than any pen and would set the peak.
        clear_edge_bands(ink)
        clear_ruled_lines(ink)
    return normalise_peak(ink)


def _ink_is_dark(difference: np.ndarray, beyond_noise: np.float32) -> bool:
    """Whether what stands out from the background (``difference``, image minus level) is
    mostly darker than it: pen on paper rather than chalk or a light brush on black.

    Judged from the marks themselves, not from the image's darkest and brightest
    pixels: in a dimly lit corner the paper can be darker than a faint pencil line.
    What lies beyond the noise is ``difference`` minus its clipped copy: positive
    for brighter marks, negative for darker ones.
    """
    total = float(difference.sum(dtype=np.float64))
    if not beyond_noise:  # a noiseless background (a canvas): everything off it is a mark
        return total < 0
    within_noise = np.clip(difference, -beyond_noise, beyond_noise)
    return total < float(within_noise.sum(dtype=np.float64))
