"""Every stage in order, from an image to the 28×28 input a network reads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

import numpy as np
from PIL import Image

from ..errors import ConfigError, ImageError
from .canvas import Drawing, drawing
from .digit_box import digit_box, digit_box_within
from .levels import BBOX_LEVEL
from .loading import load_image
from .masks import bbox
from .scaling import scale_drawing_to_box, scale_to_box, shrink_to_work_scale

if TYPE_CHECKING:  # the photo cleanup is imported only when a photo needs it
    from .photo import PhotoCleanup


# Bump whenever the output for the same input changes; networks record it.
# 2: photos: lighting fitted as a surface, pages found on a desk; 3: ruled paper; 4: its lines as dark as pencil;
# 5: clean drawings take the canvas path (ink from alpha or the distance from the background colour);
# 6: the canvas path finds specks, measures and restrokes a drawing once shrunk to the work scale (80 px).
PREPROCESS_VERSION: int = 6
MNIST_SIDE = 28
Source = Literal["canvas", "photo", "auto"]
SOURCES: tuple[str, ...] = ("canvas", "photo", "auto")


@dataclass(frozen=True)
class PreprocessResult:
    """Every stage of preprocessing one image.

    ``stages`` maps, in order, "grey" (H, W), "cropped" (h, w), "scaled"
    (longer side 20) and "centred" (28, 28) to float32 2-D arrays in [0, 1];
    an empty result holds "grey" only. ``image`` is the final (28, 28) float32
    input (the same array as ``stages["centred"]``) or None when ``empty``.
    ``source`` says which path made the ink: "canvas" (a clean drawing) or
    "photo" (the photo cleanup); for a photo, ``photo`` records what the cleanup
    removed (the desk round the page, bands along the sides, ruled lines).
    """

    stages: dict[str, np.ndarray]
    image: np.ndarray | None
    empty: bool
    source: str = "photo"
    photo: PhotoCleanup | None = None

    @property
    def vector(self) -> np.ndarray:
        """The image as a (1, 784) float32 batch for ``Network.predict_proba``."""
        if self.image is None:
            raise ImageError("Nothing is drawn in this image, so there is nothing to classify; "
                             "draw or upload a digit first (check `empty` before asking for `vector`).")
        return self.image.reshape(1, MNIST_SIDE * MNIST_SIDE).copy()


def _centre(scaled: np.ndarray) -> np.ndarray:
    """Stage 5–6: place in 28×28 with the centre of mass on pixel (14, 14).

    MNIST translated by whole pixels: the centres of mass of its training digits
    are spread evenly over [13.5, 14.5] in (row, column) pixel indices, which is
    what rounding the shift gives. The digit is kept whole even when that stops
    it landing exactly on 14.
    """
    height, width = scaled.shape
    mass = float(scaled.sum())
    centre_row = float(scaled.sum(axis=1) @ np.arange(height)) / mass
    centre_col = float(scaled.sum(axis=0) @ np.arange(width)) / mass
    top = min(max(round(MNIST_SIDE // 2 - centre_row), 0), MNIST_SIDE - height)
    left = min(max(round(MNIST_SIDE // 2 - centre_col), 0), MNIST_SIDE - width)
    field = np.zeros((MNIST_SIDE, MNIST_SIDE), np.float32)
    field[top:top + height, left:left + width] = scaled
    # Training sees uint8 / 255, so only those 256 levels exist in its inputs (``scaled`` is in [0, 1]).
    field *= 255
    return np.divide(np.round(field, out=field), 255, out=field)


def preprocess(image: np.ndarray, source: Source = "auto") -> PreprocessResult:
    """Run every stage on an image array (anything ``to_ink`` accepts).

    ``source`` picks how the ink is found: "canvas" for a clean drawing (ink is the
    distance from the background's exact colour, or the alpha of a transparent
    layer), "photo" for the photo cleanup (lighting, page, desk, ruled lines), and
    "auto" for "canvas" when the background is one exact value and "photo" otherwise.
    The MNIST steps that follow are the same for both.
    """
    if source not in SOURCES:
        raise ConfigError(f"source must be one of {', '.join(SOURCES)}; got {source!r}.")
    if source != "photo":
        found = drawing(image)
        if source == "canvas" or found.uniform:
            return _canvas_steps(found)
    ink, cleanup = _clean_photo(image)
    return _mnist_steps(ink, "photo", cleanup)


def _canvas_steps(found: Drawing) -> PreprocessResult:
    """Stages 2–6 on a drawing: its ink is made inside the box of its pixels off the
    background, then shrunk to the work scale, where specks are searched for and strokes
    measured and restroked."""
    grey = np.zeros(found.layer.shape[:2], np.float32)
    ink = found.ink_in_box()
    if ink is not None:
        grey[found.box] = ink
        digit = _drawn_digit(ink, max(grey.shape))
        if digit is not None:
            box, shrunk = digit
            return _steps_from_scaled(grey, ink[box], scale_drawing_to_box(shrunk), "canvas")
    return PreprocessResult(stages={"grey": grey}, image=None, empty=True, source="canvas")


def _drawn_digit(ink: np.ndarray, picture_side: int) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """The box of the digit in ``ink`` (specks left out) and the digit shrunk to the work
    scale, or None when there is none; ``picture_side`` is the whole picture's longer side."""
    shrunk = shrink_to_work_scale(ink)
    box = digit_box_within(shrunk, picture_side, max(shrunk.shape) / max(ink.shape))
    if box is None:
        return None
    full_box = _full_size_box(box, shrunk.shape, ink.shape)
    digit = shrunk[box]
    rows, cols = full_box
    if shrunk is not ink and (rows.stop - rows.start, cols.stop - cols.start) != ink.shape:
        # Specks left out widened the ink's box, so the digit came out smaller than the work
        # scale: find it again inside its own box, as if they had never been drawn.
        inner = bbox(ink[full_box] > 0, rows.start, cols.start)
        found = _drawn_digit(ink[inner], picture_side)
        if found is not None:
            (digit_rows, digit_cols), digit = found
            full_box = (slice(inner[0].start + digit_rows.start, inner[0].start + digit_rows.stop),
                        slice(inner[1].start + digit_cols.start, inner[1].start + digit_cols.stop))
    return full_box, digit


def _full_size_box(box: tuple[slice, slice], shrunk: tuple[int, int], full: tuple[int, int]) -> tuple[slice, slice]:
    """The box in a full-size array of a ``box`` in its shrunk copy (every full-size pixel
    that any of the box's pixels averages)."""
    rows, cols = (slice(span.start * whole // part, -(-span.stop * whole // part))
                  for span, part, whole in zip(box, shrunk, full))
    return rows, cols


def _mnist_steps(grey: np.ndarray, source: str, photo: PhotoCleanup | None = None) -> PreprocessResult:
    """Stages 2–6 on the ink ``grey``: what MNIST did to its digits."""
    box = digit_box(grey)
    if box is not None:
        cropped = grey[box]
        return _steps_from_scaled(grey, cropped, scale_to_box(cropped), source, photo)
    return PreprocessResult(stages={"grey": grey}, image=None, empty=True, source=source, photo=photo)


def _steps_from_scaled(grey: np.ndarray, cropped: np.ndarray, scaled: np.ndarray, source: str,
                       photo: PhotoCleanup | None = None) -> PreprocessResult:
    """Stages 5–6 on the digit ``cropped`` from the ink ``grey`` and ``scaled`` to 20 px."""
    # Scattered dust can pass for a digit, then average away at MNIST's size.
    if scaled.max() >= BBOX_LEVEL:
        centred = _centre(scaled)
        stages = {"grey": grey, "cropped": cropped, "scaled": scaled, "centred": centred}
        return PreprocessResult(stages=stages, image=centred, empty=False, source=source, photo=photo)
    return PreprocessResult(stages={"grey": grey}, image=None, empty=True, source=source, photo=photo)


def _clean_photo(image: np.ndarray) -> tuple[np.ndarray, PhotoCleanup]:
    # Imported here, not at the top: a drawing must never load (let alone run) the photo cleanup.
    from .photo import clean_photo
    return clean_photo(image)


def preprocess_file(file: str | Path | bytes | BinaryIO, source: Source = "auto") -> PreprocessResult:
    """``load_image`` then ``preprocess``."""
    return preprocess(load_image(file), source)


def naive_resize(image: np.ndarray) -> np.ndarray:
    """The old approach, kept as a baseline: squash the whole image to (28, 28) float32."""
    resized = Image.fromarray(_clean_photo(image)[0]).resize((MNIST_SIDE, MNIST_SIDE), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0, 1)
