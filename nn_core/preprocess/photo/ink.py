"""Stage 1 for photos: any image array → ink, high where the pen was, background 0, and what was removed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..levels import normalise_peak
from .edge_bands import clear_edge_bands
from .grey import to_grey
from .lighting import fit_background
from .page import find_page
from .params import INK_BEYOND_NOISE
from .ruled_lines import clear_ruled_lines


# What the photo cleanup removed, as labels of PhotoCleanup.removed.
OUTSIDE_PAGE, EDGE_BAND, RULED_LINE = 1, 2, 3
REMOVED_NAMES = {OUTSIDE_PAGE: "outside the page", EDGE_BAND: "band of desk along a side",
                 RULED_LINE: "printed line"}


@dataclass(frozen=True)
class PhotoCleanup:
    """What the photo cleanup took away, to show a person why.

    ``picture`` is the photo as (H, W) uint8 grey; ``removed`` (H, W) uint8 labels
    each of its pixels 0 (kept), OUTSIDE_PAGE (the desk round a page found on it),
    EDGE_BAND (a strip of desk along a side, cleared) or RULED_LINE (a printed
    line of ruled or squared paper, cleared).
    """

    picture: np.ndarray
    removed: np.ndarray

    @property
    def names(self) -> dict[int, str]:
        """What each label of ``removed`` means."""
        return REMOVED_NAMES


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
    return clean_photo(image)[0]


def clean_photo(image: np.ndarray) -> tuple[np.ndarray, PhotoCleanup]:
    """``to_ink``'s ink, and a record of what it removed (see PhotoCleanup)."""
    grey = to_grey(image)
    removed = np.zeros(grey.shape, np.uint8)
    ink = _remove_background(grey, removed)
    page = find_page(ink)
    if page is not None:
        # A photo of a page on a darker desk: what stood out from the desk was the
        # page, not the pen. Looking inside the page, its paper is the background.
        box, on_page = page
        removed[:] = OUTSIDE_PAGE
        removed[box] = 0 if on_page is None else np.where(on_page, 0, OUTSIDE_PAGE)
        ink = _remove_background(grey[box], removed[box], on_page)
    picture = np.round(grey * 255).astype(np.uint8)
    return ink, PhotoCleanup(picture, removed)


def _remove_background(grey: np.ndarray, removed: np.ndarray, region: np.ndarray | None = None) -> np.ndarray:
    """Ink: how far each pixel stands out from the background, on the ink's side of it.
    With a ``region`` (a mask of grey's shape), only pixels in it can be ink. Labels, in
    ``removed`` (of grey's shape), the ink cleared as edge bands and ruled lines."""
    level, noise = fit_background(grey, region)
    ink = grey - level
    if region is not None:
        ink[~region] = 0
    beyond_noise = np.float32(INK_BEYOND_NOISE * noise)
    dark = _ink_is_dark(ink, beyond_noise)
    if dark:
        np.negative(ink, out=ink)
    if beyond_noise:
        ink -= beyond_noise
    np.maximum(ink, 0, out=ink)
    if dark:
        # Before normalising: a band of desk is darker than any pen and would set the peak.
        _clear(ink, clear_edge_bands, removed, EDGE_BAND)
        _clear(ink, clear_ruled_lines, removed, RULED_LINE)
    return normalise_peak(ink)


def _clear(ink: np.ndarray, clearing: Callable[[np.ndarray], None], removed: np.ndarray, label: int) -> None:
    """Run an in-place ``clearing`` on ``ink`` and label, in ``removed``, the ink it zeroed."""
    was_ink = ink > 0
    clearing(ink)
    removed[was_ink & (ink == 0)] = label


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
