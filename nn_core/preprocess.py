"""Turn any picture of a digit into a 28×28 input that looks like MNIST.

MNIST digits were made by scaling each digit so its longer side is 20 px
(anti-aliased, aspect ratio kept), then translating it inside a 28×28 field so
its intensity centre of mass falls on pixel 14. A network trained on MNIST only
works on inputs made the same way; squashing a whole canvas to 28×28 does not
(see ``naive_resize``, the old approach kept as a baseline).

The pipeline, each stage a pure function whose output is kept for display:

1. ``to_ink``: any array → grey float32 "ink" in [0, 1] (ink high, background 0),
   whatever the polarity, bit depth, alpha channel, paper colour or lighting,
   looking inside a photographed page (lying straight or turned) when the
   desk around it shows, clearing strips of desk along the sides of a photo
   of paper and the printed lines of ruled or squared paper.
2. empty detection: no ink, only a speck, or only dust that vanishes at 20 px
   means "nothing drawn".
3. crop to the ink's bounding box, ignoring far-away specks.
4. scale the longer side to 20 px, bringing the stroke width into MNIST's range.
5. place in 28×28 with the centre of mass on (14, 14), as MNIST did.
6. quantise to multiples of 1/255, because training feeds ``uint8 / 255``.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError

# Bump whenever the output for the same input changes; networks record it.
PREPROCESS_VERSION: int = 3  # 2: photos: lighting fitted as a surface, pages found on a desk; 3: ruled paper

MAX_PIXELS = 40_000_000  # a 40-megapixel photo is already more than any digit needs
MNIST_SIDE = 28
DIGIT_BOX = 20  # MNIST's digits fill a 20×20 box inside the 28×28 field
# Stroke width (2·area / perimeter, see _stroke_width) of MNIST training digits at
# the 20-px scale: quartiles 2.02 and 2.82, median 2.39 (first 20,000 digits).
# Widths outside this range are moved to its nearest end, which leaves MNIST-like
# input nearly untouched while fixing thin and fat brushes.
MNIST_STROKE_RANGE = (2.0, 2.8)
# Thinning or thickening runs at this multiple of the final size, where one pixel
# of dilation changes the final stroke width by 1/4 px.
STROKE_WORK_SCALE = 4

BORDER_FRACTION = 0.02  # the background is fitted to a border ring 2 % of the short side wide
MAX_RING_SAMPLES = 50_000  # a 40-megapixel photo's ring, evenly thinned, still fits its lighting
INTERIOR_SAMPLES = 64  # and a grid of this many rows and columns of pixels inside it
TWO_LEVEL_MIN_SHARE = 0.1  # a ring of desk and paper has at least this share of each
TWO_LEVEL_ROUNDS = 5  # rounds of refining where the ring's two levels split
TWO_LEVEL_MIN_GAP = 4.5  # two levels lie this many times their noise apart; uneven light's halves do not
# A photographed page on a darker desk stands out from the desk as one block of "ink":
PAGE_MIN_SIDE = 0.3  # it is at least this fraction of the picture's short side wide each way
PAGE_MIN_PIXELS = 100  # and this many pixels (a bold digit at MNIST's size looks like a block),
PAGE_MIN_FILL = 0.7  # it fills most of its outline (a pen leaves thin holes, a drawn 0 a blank middle)
PAGE_MIN_OUTLINE = 0.9  # and runs along all of that outline, which a stroke curving round blank does not;
PAGE_MAX_MISMATCH = 0.1  # the outline is a polygon through its outermost points (a turned page, cut
PAGE_MAX_SKEW = 35  # by the picture's edges or not) with 4 or more corners, none this much sharper than square;
STRAIGHT_TURN = 12  # degrees: an outline turning less than this at a point runs straight on
PAGE_CORNER = 0.03  # points on the outline this close (a fraction of the page's size) are one corner
PAGE_RIM = 0.01  # its edge, cut off (desk or shadow left beyond it is cleared as an edge band)
EDGE_BAND_MIN_COVER = 0.9  # dark ink along this much of a photo's side is a band of desk, not a stroke;
EDGE_BAND_MIN_RUN = 0.1  # so is a run along this much of a side
EDGE_BAND_MIN_THICKNESS = 2.0  # this many times thicker than the strokes elsewhere (a turned page's wedges)
EDGE_BAND_MIN_DARKNESS = 1.5  # or this many times darker
EDGE_BAND_MARGIN = 0.01  # cleared beyond a band's inner edge, as a fraction of the picture's size
EDGE_BAND_MAX_DEPTH = 0.5  # a band reaches in at most this share of the length it runs along its side
EDGE_BAND_MAX_STRAY = 3.0  # its inner edge lies at most this many times its median depth in
EDGE_STROKE_LEVEL = 0.5  # ink this share of the core level's darkness is a stroke, not its soft rim
JOIN_GRID = 128  # strokes are followed across a picture on a grid this many tiles long
# The printed lines of ruled or squared paper run straight across the whole page, fainter than the pen:
RULED_GRID = 256  # they are looked for in the picture shrunk (each block's maximum) to this many pixels long,
RULED_MAX_TILT = 20.0  # degrees: at every tilt up to this (a notebook photographed askew, a page turned)
RULED_TILT_STEP = 0.25  # in steps this fine, so a line lies within a row of the nearest tilt tried,
RULED_COARSE = 4  # found first on a grid, and in steps, this many times coarser;
RULED_FAMILY = 3  # beyond a tilt of RULED_LONE_TILT degrees they come as a family of this many or more
RULED_LONE_TILT = 5.0  # (a lone line, say a margin, lies nearly square to the picture or to its family)
RULED_MIN_COVER = 0.75  # a line marks this share of its length in the picture (a faint one has gaps)
RULED_MIN_LENGTH = 0.3  # which is at least this share of the picture's width (tilted, it may leave by a side)
RULED_MARK = 0.05  # with ink above this share of the pen's: faint lines still grey the 28×28 average
RULED_MAX_LEVEL = 0.5  # it is at most this share as dark, and no darker ink runs along most of it (a stroke's rim)
RULED_KEEP = 1.5  # pixels on a line darker than this many times its level are the pen crossing it
MIN_CONTRAST = 0.08  # ink this close to the background is noise, not a stroke
INK_LEVEL = 0.2  # a pixel counts as ink above this (ink is normalised to ~1)
SPECK_FRACTION = 0.1  # separate blobs lighter than 10 % of the main one are specks
SPECK_GAP_FRACTION = 0.03  # blobs are separate when this much blank lies between them
MIN_INK_MASS = 8.0  # fewer ink pixels than this is a speck, not a digit
MIN_EXTENT_FRACTION = 0.04  # a digit spans at least 4 % of the picture's longer side
BBOX_LEVEL = 0.05  # anti-aliasing fringe below this does not widen a bounding box
# Grey from 1–4 channels as one matrix product; ITU-R 601 luma for colour, alpha weighted 0.
LUMINANCE = {
    1: np.array([1], np.float32),
    2: np.array([1, 0], np.float32),
    3: np.array([0.299, 0.587, 0.114], np.float32),
    4: np.array([0.299, 0.587, 0.114, 0], np.float32),
}


@dataclass(frozen=True)
class PreprocessResult:
    """Every stage of preprocessing one image.

    ``stages`` maps, in order, "grey" (H, W), "cropped" (h, w), "scaled"
    (longer side 20) and "centred" (28, 28) to float32 2-D arrays in [0, 1];
    an empty result holds "grey" only. ``image`` is the final (28, 28) float32
    input (the same array as ``stages["centred"]``) or None when ``empty``.
    """

    stages: dict[str, np.ndarray]
    image: np.ndarray | None
    empty: bool

    @property
    def vector(self) -> np.ndarray:
        """The image as a (1, 784) float32 batch for ``Network.predict_proba``."""
        if self.image is None:
            raise ImageError("Nothing is drawn in this image, so there is nothing to classify; "
                             "draw or upload a digit first (check `empty` before asking for `vector`).")
        return self.image.reshape(1, MNIST_SIDE * MNIST_SIDE).copy()


# --------------------------------------------------------------------------- loading

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


# --------------------------------------------------------------------------- stage 1: ink

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
    grey = _composite_alpha(_as_unit_float(image))
    ink = _remove_background(grey)
    page = _find_page(ink)
    if page is not None:
        # A photo of a page on a darker desk: what stood out from the desk was the
        # page, not the pen. Looking inside the page, its paper is the background.
        box, on_page = page
        return _remove_background(grey[box], on_page)
    return ink


def _as_unit_float(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise ImageError(f"Expected a numpy image array, got a {type(image).__name__}; "
                         "use load_image() to read files.")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 2, 3, 4)):
        raise ImageError(f"Expected an image array of shape (H, W) or (H, W, C) with C in 1–4, "
                         f"got shape {image.shape}.")
    if image.size == 0:
        raise ImageError(f"The image array is empty (shape {image.shape}); it needs at least one pixel.")
    if image.dtype == np.bool_:
        return image.astype(np.float32)
    # One fused multiply: a separate astype then divide costs 8× more on a canvas.
    if image.dtype == np.uint8:
        return np.multiply(image, np.float32(1 / 255), dtype=np.float32)
    if np.issubdtype(image.dtype, np.integer):
        return _integers_to_unit(image)
    if np.issubdtype(image.dtype, np.floating):
        return _floats_to_unit(image)
    raise ImageError(f"Expected an image array of bool, integer or float pixels, got dtype {image.dtype}.")


def _integers_to_unit(image: np.ndarray) -> np.ndarray:
    # 16-bit containers often hold 8-, 10-, 12- or 14-bit data; full scale is the
    # smallest of those depths that holds the brightest pixel.
    low, high = int(image.min()), int(image.max())
    if low < 0 or high > 65535:
        raise ImageError(f"Integer pixels must lie in 0–65535 (8 to 16 bits), "
                         f"got values from {low} to {high}.")
    full_scale = next(2**bits - 1 for bits in (8, 10, 12, 14, 16) if high <= 2**bits - 1)
    return np.multiply(image, np.float32(1 / full_scale), dtype=np.float32)


def _floats_to_unit(image: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(image)):
        raise ImageError("The image array holds NaN or infinite values; pixels must be finite numbers.")
    low, high = float(image.min()), float(image.max())
    if low < 0 or high > 255:
        raise ImageError(f"Float pixels must lie in 0–1 (or 0–255), got values from {low:g} to {high:g}.")
    return image.astype(np.float32) / (255 if high > 1 else 1)


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


def _unit_positions(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column positions scaled to [-1, 1] across an image of ``shape``."""
    return np.linspace(-1, 1, shape[0]), np.linspace(-1, 1, shape[1])


def _ring(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The border ring's pixels (where only background should be) and their (y, x)
    positions (see _unit_positions), at most MAX_RING_SAMPLES of them."""
    height, width = grey.shape
    ys, xs = _unit_positions(grey.shape)
    ring = _ring_width(grey.shape)
    if 2 * ring >= min(grey.shape):
        strips = [(slice(None), slice(None))]
    else:
        inner = slice(ring, height - ring)
        strips = [(slice(0, ring), slice(None)), (slice(height - ring, height), slice(None)),
                  (inner, slice(0, ring)), (inner, slice(width - ring, width))]
    values, y, x = [], [], []
    for rows, cols in strips:
        block = grey[rows, cols]
        values.append(block.ravel())
        y.append(np.broadcast_to(ys[rows, None], block.shape).ravel())
        x.append(np.broadcast_to(xs[None, cols], block.shape).ravel())
    return _thinned(np.concatenate(values), np.concatenate(y), np.concatenate(x))


def _region_ring(grey: np.ndarray, region: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """As _ring, for the band just inside the edge of ``region`` (a convex mask, such as
    a turned page) instead of the picture's border."""
    band = region & ~np.logical_and(*_spans(region, _ring_width(grey.shape)))
    rows, cols = np.nonzero(band)
    ys, xs = _unit_positions(grey.shape)
    return _thinned(grey[rows, cols], ys[rows], xs[cols])


def _interior_grid(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels on an even grid of at most INTERIOR_SAMPLES² inside the border ring, and
    their (y, x) positions (see _unit_positions)."""
    ring = _ring_width(grey.shape)
    ys, xs = _unit_positions(grey.shape)
    rows, cols = (np.unique(np.linspace(ring, size - 1 - ring, INTERIOR_SAMPLES).round().astype(int))
                  if size > 2 * ring else np.zeros(0, int) for size in grey.shape)
    return (grey[np.ix_(rows, cols)].ravel(), np.repeat(ys[rows], len(cols)), np.tile(xs[cols], len(rows)))


def _ring_width(shape: tuple[int, int]) -> int:
    return max(1, round(BORDER_FRACTION * min(shape)))


def _thinned(*samples: np.ndarray) -> tuple[np.ndarray, ...]:
    """Every n-th of equally long sample arrays, so that at most MAX_RING_SAMPLES remain."""
    step = -(-samples[0].size // MAX_RING_SAMPLES)
    return tuple(sample[::step] for sample in samples)


def _spans(mask: np.ndarray, trim: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Which pixels lie within their row's span of ``mask`` (from its first marked pixel
    to its last), and which within their column's span; every span trimmed by ``trim``
    at both ends.

    For a convex shape, such as a page however turned, both are the shape with its
    holes filled, shrunk by ``trim``; a pen stroke's row and column spans also
    take in the blank it curves round.
    """
    def within_row_spans(marked: np.ndarray) -> np.ndarray:
        width = marked.shape[1]
        used = marked.any(axis=1)
        first = np.where(used, marked.argmax(axis=1), width)
        last = np.where(used, width - 1 - marked[:, ::-1].argmax(axis=1), -1)
        columns = np.arange(width)
        return (columns >= (first + trim)[:, None]) & (columns <= (last - trim)[:, None])

    return within_row_spans(mask), within_row_spans(mask.T).T


def _robust_spread(residuals: np.ndarray) -> float:
    """Standard deviation of the noise in residuals, from their median absolute value."""
    return 1.4826 * float(np.median(np.abs(residuals)))


def _background(grey: np.ndarray, region: np.ndarray | None = None) -> tuple[np.ndarray | float, float]:
    """The background level under every pixel, and the noise around it.

    Photos of paper are unevenly lit: the level drifts across the picture by more
    than a faint pencil stroke stands out from it. So the level is a smooth
    surface, a quadratic in y and x (a tilt, a vignette) fitted to the border ring
    (of ``region`` when given) and, without a region, to a grid of pixels inside it;
    ink is left out of the fit as an outlier from the ring's level. A ring of one
    value (a drawing canvas) is that value everywhere.
    """
    values, y, x = _ring(grey) if region is None else _region_ring(grey, region)
    level = float(np.median(values))
    noise = _robust_spread(values - level)
    if noise == 0 and float(values.min()) == float(values.max()):
        return level, 0.0
    if noise > MIN_CONTRAST:
        level, noise = _paper_of_two(values, grey) or (level, noise)
    if region is None:
        # Paper inside the ring holds the surface where the ring cannot: a picture cropped
        # to its digit has strokes along whole sides of the ring. Pixels far from the
        # ring's level (the digit, or a page lying on the desk the ring shows) stay out.
        values, y, x = (np.concatenate(pair) for pair in zip((values, y, x), _interior_grid(grey)))
    terms = np.stack([np.ones_like(y), y, x, y * y, x * x, y * x], axis=1)
    residuals = values - level
    # The first fit takes only what lies close to the median: a strip of desk filling
    # a third of the ring must not pull it. Later fits take everything the lighting explains.
    for spread in (2, 3, 3):
        paper = np.abs(residuals) <= spread * noise + 1e-6
        coefficients = np.linalg.lstsq(terms[paper], values[paper], rcond=None)[0]
        residuals = values - terms @ coefficients
        noise = _robust_spread(residuals[paper])
    c0, c_y, c_x, c_yy, c_xx, c_yx = coefficients
    ys, xs = _unit_positions(grey.shape)
    by_row = (c0 + c_y * ys + c_yy * ys * ys).astype(np.float32)
    by_column = (c_x * xs + c_xx * xs * xs).astype(np.float32)
    surface = by_row[:, None] + by_column[None, :]
    if c_yx:
        surface += np.float32(c_yx) * np.outer(ys, xs).astype(np.float32)
    return surface, noise


def _paper_of_two(values: np.ndarray, grey: np.ndarray) -> tuple[float, float] | None:
    """The level and noise of the background in a ring of two levels (None for one).

    A photo of a turned page can show as much desk as paper along its border: then
    the ring's median lies between the two and its spread is no noise. The ring's
    values fall into two groups (split where each group's mean is as far from the
    split on its side); the background is the group nearer the middle of the
    picture, where the digit is written. Unevenly lit paper also spreads widely, but
    its brighter and darker halves lie close together for their spread.
    """
    split = float(np.median(values))
    for _ in range(TWO_LEVEL_ROUNDS):
        low, high = values[values < split], values[values >= split]
        if min(low.size, high.size) < TWO_LEVEL_MIN_SHARE * values.size:
            return None
        split = (float(low.mean()) + float(high.mean())) / 2
    levels = [float(np.median(group)) for group in (low, high)]
    spreads = [_robust_spread(group - group_level) for group, group_level in zip((low, high), levels)]
    if levels[1] - levels[0] < TWO_LEVEL_MIN_GAP * max(spreads):  # one level drifting across the picture
        return None
    height, width = grey.shape
    middle = float(np.median(grey[height // 4:height - height // 4, width // 4:width - width // 4]))
    paper = int(abs(levels[1] - middle) < abs(levels[0] - middle))
    return levels[paper], spreads[paper]


def _remove_background(grey: np.ndarray, region: np.ndarray | None = None) -> np.ndarray:
    """Ink: how far each pixel stands out from the background, on the ink's side of it.
    With a ``region`` (a mask of grey's shape), only pixels in it can be ink."""
    level, noise = _background(grey, region)
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
        _clear_edge_bands(ink)
        _clear_ruled_lines(ink)
    return _normalise_peak(ink)


@dataclass
class _EdgeBand:
    """A run of ink along one side of a picture (``side`` indexes _side_views): in each
    column of that side's view, how far the ink reaches in from the side (0 off the run)."""

    side: int
    depth: np.ndarray
    rows: int  # in the side's view
    cover: float  # share of the side it marks
    thickness: float  # median depth along the run
    darkness: float  # median ink level along the side

    def mask(self, margin: int, depth: np.ndarray | None = None) -> np.ndarray:
        """The band in its side's view, ``margin`` pixels deeper where it has ink."""
        depth = self.depth if depth is None else depth
        return _rows_above(self.rows, depth + np.where(depth > 0, margin, 0))

    def without_strokes(self) -> np.ndarray:
        """Its depth with the strokes that leave it inward cut off: where a stroke leaves,
        its column's run goes on down the stroke, far deeper than the band elsewhere."""
        depth = self.depth.copy()
        for start, end in _long_runs(depth > 0, 1):
            np.minimum(depth[start:end], round(EDGE_BAND_MAX_STRAY * np.median(depth[start:end])),
                       out=depth[start:end])
        return depth


def _clear_edge_bands(ink: np.ndarray) -> None:
    """Zero, in place, bands of desk along the sides of a photo of paper.

    A photo that cuts into the page can show the darker desk (or the page's
    shadowed edge) along a side, or in wedges at its corners when the page lies
    turned; against the paper it looks like very dark ink. A band marks nearly
    every pixel of a side, or runs along a good part of it much thicker or
    darker than the pen's strokes elsewhere. In each column (or row) a band is
    the run of ink from that side inward, however slanted or ragged its inner
    edge, and that run is cleared with a small margin for its soft rim.

    A picture cropped to its digit has strokes along its sides too: a 7's bar
    spans the top, a 1's stem runs from top to bottom. Neither is a band. A stem
    reaches deeper in than it runs along the side. A bar as thick and as dark as
    the pen's strokes is one of them when strokes leave it; desk lies beyond the
    page's margin round the digit. A thicker bar (a bold typeface's) must also
    join strokes that cross the picture to the opposite side, which no wedge of
    desk in a corner does.
    """
    margin = max(1, round(EDGE_BAND_MARGIN * max(ink.shape)))
    bands = [band for side, turned in enumerate(_side_views(ink)) if (band := _edge_band(side, turned))]
    if not bands:
        return
    # The ink off every band, to compare the bands with; strokes leaving a band stay.
    rest = ink.copy()
    for band in bands:
        _side_views(rest)[band.side][band.mask(margin, band.without_strokes())] = 0
    stroke_width, core_level = _stroke_width(rest), _core_level(rest)
    strokes = rest >= EDGE_STROKE_LEVEL * core_level
    by_side = {band.side: band for band in bands}  # the views come in opposite pairs: side ^ 1
    for band in bands:
        view = _side_views(strokes)[band.side]
        if band.darkness >= EDGE_BAND_MIN_DARKNESS * core_level:
            clear = True
        elif band.thickness >= EDGE_BAND_MIN_THICKNESS * stroke_width:
            clear = not _joins_across(view, band, by_side.get(band.side ^ 1), margin)
        else:  # as thick and as dark as the pen: a stroke if the digit's strokes leave it
            clear = band.cover >= EDGE_BAND_MIN_COVER and not _strokes_leaving(view, band, margin).any()
        if clear:
            _side_views(ink)[band.side][band.mask(margin)] = 0


def _edge_band(side: int, turned: np.ndarray) -> _EdgeBand | None:
    """The band of ink along the first row of ``turned`` (a side view of the ink), if any
    of its runs along that row is long enough and it is no stroke leaving the side."""
    marked = turned > 0
    runs = _long_runs(marked[0], EDGE_BAND_MIN_RUN * marked.shape[1])
    if not runs:
        return None
    along = np.zeros(marked.shape[1], bool)
    for start, end in runs:
        along[start:end] = True
    depth = np.where(marked.all(axis=0), len(turned), marked.argmin(axis=0)) * along
    thickness = float(np.median(depth[along]))
    if thickness > EDGE_BAND_MAX_DEPTH * along.sum():
        return None
    return _EdgeBand(side, depth, len(turned), float(marked[0].mean()), thickness,
                     float(np.median(turned[0][along])))


def _rows_above(rows: int, limits: np.ndarray) -> np.ndarray:
    """A (rows, len(limits)) mask: in each column, the rows above that column's limit."""
    return np.arange(rows)[:, None] < limits[None, :]


def _joins_across(strokes: np.ndarray, band: _EdgeBand, opposite: _EdgeBand | None, margin: int) -> bool:
    """Whether a stroke leaves ``band`` and runs on to the opposite side, or to the band
    along it (``opposite``), with ``strokes`` turned so that the band's side comes first:
    the band is then part of a digit cropped to its ink."""
    target = np.zeros_like(strokes)
    edge = 2 * margin + 2  # the stroke's soft tip may fill the outermost rows
    target[-edge:] = strokes[-edge:]
    if opposite is not None:  # the opposite side's view is this one upside down
        target |= _strokes_leaving(strokes[::-1], opposite, margin)[::-1]
    if not target.any():
        return False
    # Followed on a coarse grid: a stroke's path is then a few hundred steps at most.
    block = -(-max(strokes.shape) // JOIN_GRID)
    on_grid, target, reached = (_block_maxima(mask, block) for mask in
                                (strokes, target, _strokes_leaving(strokes, band, margin)))
    while not (reached & target).any():
        grown = reached.copy()
        grown[1:] |= reached[:-1]
        grown[:-1] |= reached[1:]
        grown[:, 1:] |= reached[:, :-1]
        grown[:, :-1] |= reached[:, 1:]
        grown &= on_grid
        if (grown == reached).all():
            return False
        reached = grown
    return True


def _strokes_leaving(strokes: np.ndarray, band: _EdgeBand, margin: int) -> np.ndarray:
    """The strokes within two margins of ``band``'s edge (in its side's view): as
    ``strokes`` holds none of the band, those that leave it inward."""
    depth = band.without_strokes()
    reach = np.where(depth > 0, depth + 3 * margin, 0)
    widened = sliding_window_view(np.pad(reach, 2 * margin), 4 * margin + 1).max(axis=1)
    return strokes & _rows_above(len(strokes), widened)


def _block_maxima(image: np.ndarray, block: int) -> np.ndarray:
    """The maximum of every block×block tile of ``image`` (edge tiles may be smaller);
    for a mask, which tiles hold a marked pixel."""
    rows, cols = image.shape
    whole_rows, whole_cols = rows - rows % block, cols - cols % block
    # Down the rows first: numpy reduces across whole rows fast and along short runs slowly.
    strips = image[:whole_rows].reshape(rows // block, block, cols).max(axis=1)
    if whole_rows < rows:
        strips = np.vstack([strips, image[whole_rows:].max(axis=0)])
    tiles = strips[:, :whole_cols].reshape(len(strips), cols // block, block).max(axis=2)
    if whole_cols < cols:
        tiles = np.hstack([tiles, strips[:, whole_cols:].max(axis=1, keepdims=True)])
    return tiles


def _clear_ruled_lines(ink: np.ndarray) -> None:
    """Zero, in place, the printed lines of ruled or squared paper and a notebook's margin.

    Against the paper they are faint ink spanning the picture, so the digit's box
    would take in the whole page and the lines would grey its 28×28 input. Each
    runs straight from side to side, maybe tilted, lighter than the pen. They are
    found in the picture shrunk by block maxima, where a line is a row (after
    shearing by the tilt) marked along most of its length, and cleared at full size
    except where the darker pen crosses them. Both directions are found before either is
    cleared, so a squared page's lines are whole where they cross.
    """
    factor = max(1, -(-max(ink.shape) // RULED_GRID))
    blocks = _block_maxima(ink, factor)
    marked = blocks[blocks > 0]
    if not marked.size:
        return
    pen = float(np.percentile(marked, 99))  # the darkest ink: lines are fainter than the pen
    shrunk = blocks > RULED_MARK * pen
    views = (ink, ink.T)
    across, down = (_ruled_lines(small, factor, view.shape[1]) for view, small in zip(views, (shrunk, shrunk.T)))
    found = [(view, _ruled_line_pixels(view, tops, depth, pen))
             for view, (tilt, lines), (other_tilt, others) in zip(views, (across, down), (down, across))
             if _page_lines(tilt, len(lines), other_tilt, len(others))
             for tops, depth in lines]
    for view, pixels in found:
        view[pixels] = 0


def _page_lines(tilt: float, count: int, other_tilt: float, other_count: int) -> bool:
    """Whether ``count`` lines found at ``tilt`` can be a page's printed lines: a family
    of them, or lines nearly square to the picture, or a lone line (a margin) square to
    a family found the other way (at -other_tilt in the transposed view). A single straight
    stroke of a big digit, steeper than a photo is askew, is not."""
    square_to_family = other_count >= RULED_FAMILY and abs(tilt + other_tilt) <= RULED_TILT_STEP * RULED_COARSE
    return count >= RULED_FAMILY or abs(tilt) <= RULED_LONE_TILT or square_to_family


def _ruled_lines(shrunk: np.ndarray, factor: int, width: int) -> tuple[float, list[tuple[np.ndarray, int]]]:
    """The tilt (degrees) of the lines running along the rows of ``shrunk`` (a view
    ``width`` pixels wide, marked in blocks of ``factor``), and for each line the row in
    every column of the view where its band starts, and the band's depth, in the view's pixels."""
    if shrunk.any(axis=0).mean() < RULED_MIN_COVER:
        return 0.0, []  # no ink reaches across: a photo without lines, most often
    tilt, shifts, rows = _ruled_rows(shrunk)
    tops = np.repeat(shifts, factor)[:width]
    # One shrunk row either side: the line may sit anywhere in its blocks' rows.
    return tilt, [((tops + start - 1) * factor, (end - start + 2) * factor) for start, end in _long_runs(rows, 1)]


def _ruled_rows(marked: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """The tilt (degrees) at which ``marked``'s rows, sheared by it, hold the most line;
    each column's shift at that tilt; and which sheared rows are marked along most of
    their length.

    Sheared row r is the pixels (r + shift[c], c); it may start above the picture. The
    tilt is first found roughly on a coarser grid (each tile's share of marked pixels),
    then to the step that keeps a line within a row of the nearest tilt tried.
    """
    coarse_step = RULED_TILT_STEP * RULED_COARSE
    height, width = (side // RULED_COARSE * RULED_COARSE for side in marked.shape)
    coarse = marked[:height, :width].reshape(height // RULED_COARSE, RULED_COARSE, -1, RULED_COARSE).mean(axis=(1, 3))
    rough = max(np.arange(-RULED_MAX_TILT, RULED_MAX_TILT + coarse_step / 2, coarse_step),
                key=lambda degrees: _line_score(*_sheared(coarse, degrees)[1:]))
    tilt = max(np.arange(rough - coarse_step, rough + coarse_step + RULED_TILT_STEP / 2, RULED_TILT_STEP),
               key=lambda degrees: _line_score(*_sheared(marked, degrees)[1:]))
    shifts, hits, length = _sheared(marked, tilt)
    # A line between two tried tilts wanders a row either way along its length.
    near = hits.copy()
    near[1:] |= hits[:-1]
    near[:-1] |= hits[1:]
    long_enough = length >= RULED_MIN_LENGTH * marked.shape[1]
    return float(tilt), shifts, long_enough & (near.sum(axis=1) >= RULED_MIN_COVER * length)


def _sheared(image: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each column's shift at this tilt; ``image``'s sheared rows (0 outside the picture);
    and how many of each sheared row's pixels lie inside it."""
    shifts = np.round(np.arange(image.shape[1]) * np.tan(np.radians(degrees))).astype(np.intp)
    shifts -= shifts.max()
    values, inside = _down_columns(image, np.arange(image.shape[0] - shifts.min())[:, None] + shifts)
    return shifts, values, inside.sum(axis=1)


def _down_columns(image: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """image[rows[i, x], x] for (n, width) row indices, 0 where a row lies outside the
    picture; and which lie inside it."""
    inside = (rows >= 0) & (rows < image.shape[0])
    values = image[np.clip(rows, 0, image.shape[0] - 1), np.arange(image.shape[1])]
    return np.where(inside, values, 0), inside


def _line_score(sheared: np.ndarray, length: np.ndarray) -> float:
    """How unevenly marked the sheared rows long enough for a line are (the variance of
    their marked shares): highest at the tilt where lines run along rows, some rows
    marked all along and the rest hardly. Across the lines, every row crosses some."""
    long_enough = length >= RULED_MIN_LENGTH * sheared.shape[1]
    return float(np.var(sheared[long_enough].sum(axis=1) / length[long_enough])) if long_enough.any() else 0.0


def _ruled_line_pixels(view: np.ndarray, tops: np.ndarray, depth: int,
                       pen: float) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of the pixels of a line lying, in each column x, within rows tops[x]
    to tops[x] + depth: all but the pen's, darker, where it crosses the line. None if the
    line is not fainter than the ``pen``, or is a stroke's soft rim."""
    rows = tops + np.arange(depth)[:, None]
    band, inside = _down_columns(view, rows)
    faint = (band > RULED_MARK * pen) & (band <= RULED_MAX_LEVEL * pen)
    in_picture = inside.any(axis=0)
    if not faint.any() or (band > RULED_MAX_LEVEL * pen).any(axis=0).sum() >= 0.5 * in_picture.sum():
        return np.empty(0, np.intp), np.empty(0, np.intp)  # nothing faint, or a stroke's rim
    level = float(np.percentile(band[faint], 90))  # its core: its rims and the paper's grain lie below
    clear = inside & (band <= RULED_KEEP * level)
    return rows[clear], np.broadcast_to(np.arange(view.shape[1]), rows.shape)[clear]


def _side_views(image: np.ndarray) -> tuple[np.ndarray, ...]:
    """Views of ``image`` turned so that its top, bottom, left and right side comes first."""
    return image, image[::-1], image.T, image.T[::-1]


def _core_level(ink: np.ndarray) -> float:
    """How dark the strong core of the ink is (0 for no ink)."""
    marked = ink[ink > 0]
    return float(np.percentile(marked, 90)) if marked.size else 0.0


def _long_runs(line: np.ndarray, min_length: float) -> list[tuple[int, int]]:
    """The (start, end) of every run of True in a boolean line at least ``min_length`` long."""
    steps = np.diff(np.concatenate([[0], line.astype(np.int8), [0]]))
    return [(int(start), int(end)) for start, end in zip(np.flatnonzero(steps == 1), np.flatnonzero(steps == -1))
            if end - start >= min_length]


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


def _find_page(ink: np.ndarray) -> tuple[tuple[slice, slice], np.ndarray | None] | None:
    """The page that ``ink`` took for ink, or None when it holds pen strokes: the page's
    bounding box, and which pixels of the box lie on the page (None: all of them).

    A page is a large quadrilateral, maybe turned on the desk, seen at a slant or
    cut off by the picture's edges, solid but for the pen strokes on it: marked all
    along its outline, which the polygon through its outermost points follows
    exactly, and thick both ways. A stroke's outline crosses the blank it curves
    round, round digits bulge beyond that polygon, a bold printed 4 or 7 comes to a
    sharp point, a square-drawn 0 encloses a blank middle and a slanted bar of a 1 is
    thin. The page's own rim (shadow, curl) is left out.
    """
    marked = ink > INK_LEVEL
    if marked.mean() < PAGE_MIN_SIDE ** 2 * PAGE_MIN_FILL:
        return None
    box = _bbox(marked)
    block = marked[box]
    height, width = block.shape
    if min(height, width) < PAGE_MIN_PIXELS:
        return None
    rim = max(1, round(PAGE_RIM * min(height, width)))
    in_row_span, in_column_span = _spans(block, rim)
    outlined = in_row_span | in_column_span  # a convex shape with its holes filled
    if not outlined.any() or block[outlined].mean() < PAGE_MIN_FILL:
        return None
    outline = outlined & ~np.logical_and(*_spans(outlined, rim))
    if block[outline].mean() < PAGE_MIN_OUTLINE:
        return None
    corners = _corners(_outermost_points(outlined), tolerance=PAGE_CORNER * max(height, width))
    if len(corners) < 4 or _turns(corners).max() > 90 + PAGE_MAX_SKEW:
        return None
    area = _polygon_area(corners)
    sides = np.hypot(*(np.roll(corners, -1, axis=0) - corners).T)
    if abs(outlined.sum() / area - 1) > PAGE_MAX_MISMATCH \
            or area / sides.max() < max(PAGE_MIN_PIXELS, PAGE_MIN_SIDE * min(ink.shape)):
        return None
    on_page = in_row_span & in_column_span
    inner = _bbox(on_page)
    on_page = on_page[inner]
    rows, cols = box
    box = (slice(rows.start + inner[0].start, rows.start + inner[0].stop),
           slice(cols.start + inner[1].start, cols.start + inner[1].stop))
    return box, None if on_page.all() else on_page


def _outermost_points(mask: np.ndarray) -> np.ndarray:
    """(8, 2) (y, x) points going round ``mask``: both ends of its top row, of its right
    column, of its bottom row and of its left column. For a quadrilateral they are its
    corners (some twice); for a round shape, a polygon well inside it."""
    def ends(line: np.ndarray) -> tuple[int, int]:
        marked = np.flatnonzero(line)
        return int(marked[0]), int(marked[-1])

    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1], cols[0], cols[-1]
    top_left, top_right = ends(mask[top])
    right_top, right_bottom = ends(mask[:, right])
    bottom_left, bottom_right = ends(mask[bottom])
    left_top, left_bottom = ends(mask[:, left])
    return np.array([(top, top_left), (top, top_right), (right_top, right), (right_bottom, right),
                     (bottom, bottom_right), (bottom, bottom_left), (left_bottom, left), (left_top, left)],
                    dtype=np.float64)


def _corners(points: np.ndarray, tolerance: float) -> np.ndarray:
    """The points of a polygon where it turns: points within ``tolerance`` of the next
    merged (a corner cut off, or drawn twice), points on a straight side dropped."""
    corners = [points[0]]
    for point in points[1:]:
        if np.hypot(*(point - corners[-1])) <= tolerance:
            corners[-1] = (corners[-1] + point) / 2
        else:
            corners.append(point)
    if len(corners) > 1 and np.hypot(*(corners[0] - corners[-1])) <= tolerance:
        corners[0] = (corners[0] + corners.pop()) / 2
    while len(corners) > 2:
        turns = _turns(np.array(corners))
        gone = int(np.argmin(turns))
        if turns[gone] >= STRAIGHT_TURN:
            break
        del corners[gone]
    return np.array(corners)


def _turns(points: np.ndarray) -> np.ndarray:
    """How many degrees a polygon turns at each of its points (0 where it runs straight
    on or a point repeats)."""
    incoming = points - np.roll(points, 1, axis=0)
    outgoing = np.roll(points, -1, axis=0) - points
    cross = incoming[:, 0] * outgoing[:, 1] - incoming[:, 1] * outgoing[:, 0]
    dot = np.einsum("ij,ij->i", incoming, outgoing)
    return np.degrees(np.abs(np.arctan2(cross, dot)))


def _polygon_area(points: np.ndarray) -> float:
    """Area inside a polygon of (y, x) points (the shoelace formula)."""
    y, x = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _normalise_peak(ink: np.ndarray) -> np.ndarray:
    """Scale so the strong core of the ink is 1: faint pencil counts like a felt pen."""
    marked = ink[ink > 0]
    peak = float(np.percentile(marked, 99)) if marked.size else 0.0
    if peak < MIN_CONTRAST:
        return np.zeros(ink.shape, np.float32)
    core = float(np.percentile(marked[marked >= 0.25 * peak], 90))
    return np.minimum(ink * np.float32(1 / core), 1).astype(np.float32, copy=False)


# --------------------------------------------------------------------------- stages 2–3: find and crop

def _digit_box(ink: np.ndarray) -> tuple[slice, slice] | None:
    """Bounding box of the digit ignoring specks, or None if nothing is drawn.

    Specks are found from projections: an ink blob separated from the main one
    by blank rows or columns, and much lighter, is dropped. Alternating rows and
    columns catches specks that line up with the digit in one direction.
    """
    marked = _without_lone_pixels(ink > INK_LEVEL)
    rows, cols = slice(0, ink.shape[0]), slice(0, ink.shape[1])
    gap = max(2, round(SPECK_GAP_FRACTION * max(ink.shape)))
    for _ in range(3):
        region = marked[rows, cols]
        new_rows = _main_span(region.sum(axis=1), gap, rows.start)
        new_cols = _main_span(region[new_rows.start - rows.start:new_rows.stop - rows.start].sum(axis=0),
                              gap, cols.start)
        if (new_rows, new_cols) == (rows, cols):
            break
        rows, cols = new_rows, new_cols
    digit = ink[rows, cols]
    if digit.sum() < MIN_INK_MASS or max(rows.stop - rows.start, cols.stop - cols.start) \
            < MIN_EXTENT_FRACTION * max(ink.shape):
        return None
    return _tight_box(ink, rows, cols)


def _main_span(profile: np.ndarray, gap: int, offset: int) -> slice:
    """The span of the heavy segments of a 1-D ink profile (empty if no ink)."""
    marked = np.flatnonzero(profile)
    if marked.size == 0:
        return slice(offset, offset)
    # Segments are runs of marked positions separated by at least `gap` blanks.
    breaks = np.flatnonzero(np.diff(marked) > gap)
    starts = marked[np.r_[0, breaks + 1]]
    stops = marked[np.r_[breaks, marked.size - 1]] + 1
    masses = np.array([profile[a:b].sum() for a, b in zip(starts, stops)])
    heavy = np.flatnonzero(masses >= SPECK_FRACTION * masses.max())
    return slice(offset + int(starts[heavy[0]]), offset + int(stops[heavy[-1]]))


def _tight_box(ink: np.ndarray, rows: slice, cols: slice) -> tuple[slice, slice] | None:
    # The speck search used the ink core; the box must also hold its anti-aliased fringe,
    # but only within a small margin, not out to a speck.
    margin = max(2, round(0.01 * max(ink.shape)))
    top, left = max(0, rows.start - margin), max(0, cols.start - margin)
    region = _without_lone_pixels(ink[top:rows.stop + margin, left:cols.stop + margin] > BBOX_LEVEL)
    return _bbox(region, top, left)


def _without_lone_pixels(mask: np.ndarray) -> np.ndarray:
    """Drop marked pixels with no marked 4-neighbour: sensor and JPEG noise, never a stroke."""
    padded = np.pad(mask, 1)
    neighbours = padded[:-2, 1:-1] | padded[2:, 1:-1] | padded[1:-1, :-2] | padded[1:-1, 2:]
    return mask & neighbours


def _bbox(mask: np.ndarray, top: int = 0, left: int = 0) -> tuple[slice, slice] | None:
    used_rows, used_cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if used_rows.size == 0:
        return None
    return (slice(top + int(used_rows[0]), top + int(used_rows[-1]) + 1),
            slice(left + int(used_cols[0]), left + int(used_cols[-1]) + 1))


# --------------------------------------------------------------------------- stage 4: scale

def _stroke_width(ink: np.ndarray) -> float:
    """Mean stroke width in pixels: 2·area / perimeter, perimeter = total variation.

    A stroke of length L and width w has area L·w and an outline about 2·L
    long; both sums are unchanged by anti-aliasing blur, so the estimate is
    the same at any scale.
    """
    padded = np.pad(ink, 1)
    down = np.diff(padded, axis=0)[:, :-1]
    across = np.diff(padded, axis=1)[:-1, :]
    perimeter = float(np.sqrt(down * down + across * across).sum())
    return 2 * float(ink.sum()) / perimeter if perimeter > 0 else 0.0


def _resize(ink: np.ndarray, scale: float) -> np.ndarray:
    """Resize by `scale` (area-averaging when shrinking, as MNIST's anti-aliasing)."""
    height, width = ink.shape
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == (width, height):
        return ink.copy()
    method = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    resized = np.asarray(Image.fromarray(ink).resize(size, method), dtype=np.float32)
    return np.clip(resized, 0, 1)


def _scale_to_box(cropped: np.ndarray) -> np.ndarray:
    """Stage 4: longer side → 20 px with an MNIST-like stroke width."""
    long_side = max(cropped.shape)
    width = _stroke_width(cropped) * DIGIT_BOX / long_side
    low, high = MNIST_STROKE_RANGE
    if low <= width <= high:
        return _resize(cropped, DIGIT_BOX / long_side)
    work_side = DIGIT_BOX * STROKE_WORK_SCALE
    work = _resize(cropped, work_side / long_side)
    if width < low:
        # Strokes thinner than a pixel alias: a line falls in one row, or splits over
        # two at half the peak. Blurring gives every thin line the same peak, so
        # after normalising none of them stays faint.
        work = _blur_3x3(work)
    return _restroke(_normalise_peak(work), work_side, target=min(max(width, low), high))


def _blur_3x3(ink: np.ndarray) -> np.ndarray:
    """3×3 mean filter; the result is 1 px larger on every side so no ink is lost."""
    padded = np.pad(ink, 2)
    rows = padded[:-2] + padded[1:-1] + padded[2:]
    return (rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]) / 9


def _restroke(work: np.ndarray, work_side: int, target: float) -> np.ndarray:
    """Thicken or thin the strokes of `work` (longer side ≈ work_side), then shrink to 20 px."""
    radius = _morph_radius(_stroke_width(work), work_side, target)
    if radius > 0:
        work = _dilate(np.pad(work, radius), radius)
    elif radius < 0:
        work = _erode(work, -radius)
    box = _bbox(work > BBOX_LEVEL) or _bbox(work > 0)
    if box is not None:  # erosion never removes all ink (see _morph_radius), but stay safe
        work = work[box]
    return _resize(work, DIGIT_BOX / max(work.shape))


def _morph_radius(width: float, work_side: int, target: float) -> int:
    """Signed disc radius (+ thicken, − thin) bringing the stroke to MNIST's width.

    Growing strokes by r on each side also grows the box by 2r, which is then
    shrunk back to 20 px, so solve (w + 2r)·20 / (S + 2r) = target for r.
    """
    radius = (target * work_side / DIGIT_BOX - width) / (2 - 2 * target / DIGIT_BOX)
    # Thinning past a quarter of the width per side would cut thin parts of uneven strokes.
    return max(round(radius), -int(width / 4))


def _disc_offsets(radius: int) -> list[tuple[int, int]]:
    span = range(-radius, radius + 1)
    return [(dy, dx) for dy in span for dx in span if dy * dy + dx * dx <= radius * (radius + 1)]


def _dilate(ink: np.ndarray, radius: int) -> np.ndarray:
    """Grey dilation by a disc: each pixel takes the brightest value within `radius`."""
    return _rank_filter(ink, radius, np.maximum)


def _erode(ink: np.ndarray, radius: int) -> np.ndarray:
    """Grey erosion by a disc: each pixel takes the darkest value within `radius`."""
    return _rank_filter(ink, radius, np.minimum)


def _rank_filter(ink: np.ndarray, radius: int, pick: np.ufunc) -> np.ndarray:
    # Outside the image is background, for erosion as well as dilation.
    height, width = ink.shape
    padded = np.pad(ink, radius)
    result = ink.copy()
    for dy, dx in _disc_offsets(radius):
        pick(result, padded[radius + dy:radius + dy + height, radius + dx:radius + dx + width], out=result)
    return result


# --------------------------------------------------------------------------- stages 5–6: centre

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
    # Training sees uint8 / 255, so only those 256 levels exist in its inputs.
    return (np.round(np.clip(field, 0, 1) * 255) / 255).astype(np.float32)


# --------------------------------------------------------------------------- public pipeline

def preprocess(image: np.ndarray) -> PreprocessResult:
    """Run every stage on an image array (anything ``to_ink`` accepts)."""
    grey = to_ink(image)
    box = _digit_box(grey)
    if box is not None:
        cropped = grey[box]
        scaled = _scale_to_box(cropped)
        # Scattered dust can pass for a digit, then average away at MNIST's size.
        if scaled.max() >= BBOX_LEVEL:
            centred = _centre(scaled)
            stages = {"grey": grey, "cropped": cropped, "scaled": scaled, "centred": centred}
            return PreprocessResult(stages=stages, image=centred, empty=False)
    return PreprocessResult(stages={"grey": grey}, image=None, empty=True)


def preprocess_file(source: str | Path | bytes | BinaryIO) -> PreprocessResult:
    """``load_image`` then ``preprocess``."""
    return preprocess(load_image(source))


def naive_resize(image: np.ndarray) -> np.ndarray:
    """The old approach, kept as a baseline: squash the whole image to (28, 28) float32."""
    resized = Image.fromarray(to_ink(image)).resize((MNIST_SIDE, MNIST_SIDE), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0, 1)
