"""Realistic "drawn digit" and "printed digit" test cases on a 280x280 canvas.

MNIST digits are centred, size-normalised and anti-aliased; what users give the
dashboard is not. They draw with a round brush of fixed width on a 280x280 canvas,
at any size and place, or upload a photo or scan of ink on paper. This module turns
MNIST *test* digits (never training digits, so the benchmark measures
generalisation) into such drawings:

1. upsample the 28x28 digit, threshold it, open the loops a thick pen filled
   (stroke_mask.py) and thin it to a one-pixel skeleton (Zhang-Suen, thinning.py),
   which is the path a pen would have followed;
2. retrace that skeleton with a round brush of uniform width, scaled and placed at
   random on the canvas, anti-aliased by drawing at twice the resolution;
3. encode the ink the way the Streamlit canvas or a camera delivers it.

Encodings:
    canvas_rgba   RGBA uint8 (280, 280, 4): white strokes on a transparent background,
                  the ink in the alpha channel (RGB is 0 where nothing was drawn).
    canvas_black  RGBA uint8 (280, 280, 4): white strokes on opaque black.
    paper         RGB uint8 (280, 280, 3): dark ink on light, slightly noisy and
                  unevenly lit paper.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import ConfigError, ShapeError
from .stroke_mask import pen_path

CANVAS = 280
ENCODINGS = ("canvas_rgba", "canvas_black", "paper")
BRUSH_RANGE = (10, 26)  # brush diameter in canvas pixels, inclusive
HEIGHT_FRACTION_RANGE = (0.30, 0.90)  # ink bounding-box height / canvas height
UPSAMPLE = 4  # skeleton resolution relative to 28x28: smooth enough for strokes, still fast
# A skeleton thinned at 28x28 (upsample 1) is a jagged staircase; at 4x it follows the pen.
SUPERSAMPLE = 2  # strokes are drawn at this multiple of the canvas resolution, then averaged
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
GLYPH_SIZE = 200  # font size at which printed glyphs are rendered once, then resized


@dataclass(frozen=True)
class PenStyle:
    """How a hand varies its strokes beyond a uniform round brush (training data only).

    pressure: the largest relative change of the brush width along the strokes, a smooth
        swell and thinning as the pressure changes (0: uniform width).
    end_reach: the longest, in MNIST pixels, that a stroke end runs past the traced path,
        straight (overshoot) or curling (hook); each end reaches a random length up to it.
    lifts: how many times the pen leaves the paper mid-digit: each lift cuts a gap of up
        to LIFT_GAP MNIST pixels into the path, half of them beside a crossing (where a
        stroke drawn separately stops short of the one it should meet, leaving a loop open).
    taper: the share of the width a free stroke end loses, as a pen lands lightly and
        lifts off; the width builds up to full over one brush width.
    tremor: canvas pixels the hand wanders off the traced path, smoothly along a stroke.
    """

    pressure: float = 0.0
    end_reach: float = 0.0
    lifts: int = 0
    taper: float = 0.0
    tremor: float = 0.0


UNIFORM_PEN = PenStyle()
WAVES = 3  # plane waves summed into the pressure field: smooth along a stroke, varied across digits
WAVELENGTH_RANGE = (0.5, 1.5)  # pressure wavelengths, in digit heights (28 MNIST pixels)
HOOK_TURN = np.pi / 2  # the most a stroke end curls, in radians, over its reach
LIFT_GAP = 1.2  # the widest gap a pen lift leaves, in MNIST pixels of blank between the stroke ends
# A lift cuts at most this share of the path: with a broad brush on a small digit a visible gap
# would take a whole loop, and a person who lifts the pen still draws the loop.
MAX_LIFT_SHARE = 0.1
TREMOR_WAVELENGTHS = (0.1, 0.3)  # the hand's wandering wavelengths, in digit heights: faster than pressure


@dataclass(frozen=True, eq=False)
class DrawnCase:
    """One test image as a user would submit it.

    image: (280, 280, 4) RGBA or (280, 280, 3) RGB uint8, see the module docstring.
    label: the true digit 0-9.
    encoding: one of ENCODINGS.
    brush: brush diameter in canvas pixels; 0 for printed digits.
    height_fraction: height of the ink's bounding box divided by the canvas height.
    """

    image: np.ndarray
    label: int
    encoding: str
    brush: int
    height_fraction: float


def drawn_cases(
    test_images: np.ndarray,
    test_labels: np.ndarray,
    n: int,
    rng: np.random.Generator,
    encodings: Iterable[str] = ENCODINGS,
    upsample: int = UPSAMPLE,
) -> Iterator[DrawnCase]:
    """Yield n drawings of randomly chosen MNIST test digits, cycling through encodings.

    test_images: (N, 784) or (N, 28, 28) uint8 MNIST *test* images; test_labels: (N,).
    Digits are picked without replacement while n <= N. Each case gets a random brush
    in BRUSH_RANGE, height fraction in HEIGHT_FRACTION_RANGE (lowered only when the
    digit would otherwise be wider than the canvas) and position fully inside the canvas.
    ``upsample`` is the resolution, relative to 28x28, at which the skeleton is traced.
    """
    images = _as_digit_images(test_images, test_labels)
    encodings = _checked_encodings(encodings)
    picks = rng.choice(len(images), size=n, replace=n > len(images))
    for i, index in enumerate(picks):
        brush = int(rng.integers(BRUSH_RANGE[0], BRUSH_RANGE[1] + 1))
        coverage, height_fraction = draw_digit(images[index], brush, rng, upsample)
        encoding = encodings[i % len(encodings)]
        image = encode(coverage, encoding, rng)
        yield DrawnCase(image, int(test_labels[index]), encoding, brush, height_fraction)


def printed_cases(
    n: int, rng: np.random.Generator, encodings: Iterable[str] = ENCODINGS, cropped_to_ink: bool = False
) -> Iterator[DrawnCase]:
    """Yield n typeset digits (random digit, installed font, size and position), cycling
    through encodings; brush is 0 and height_fraction lies in HEIGHT_FRACTION_RANGE
    unless the glyph is too wide for the canvas at that height. ``cropped_to_ink``
    cuts each picture down to the glyph's ink, as a tight screenshot would."""
    encodings = _checked_encodings(encodings)
    fonts = installed_fonts()
    for i in range(n):
        digit = int(rng.integers(10))
        font = fonts[rng.integers(len(fonts))] if fonts else None
        glyph = _glyph_mask(font, digit)
        coverage, height_fraction = _place(glyph, rng.uniform(*HEIGHT_FRACTION_RANGE), rng)
        encoding = encodings[i % len(encodings)]
        image = encode(coverage, encoding, rng)
        if cropped_to_ink:
            image = crop_to(image, coverage > 0)
        yield DrawnCase(image, digit, encoding, 0, height_fraction)


def crop_to(image: np.ndarray, mask: np.ndarray, margin: int = 0) -> np.ndarray:
    """``image`` cut down to the bounding box of ``mask`` (of the same height and width),
    with ``margin`` more pixels on every side where the image has them."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return image[max(rows[0] - margin, 0):rows[-1] + 1 + margin, max(cols[0] - margin, 0):cols[-1] + 1 + margin]


def save_case_png(case: DrawnCase, path: Path) -> None:
    """Write the case's image as the RGBA or RGB PNG a user would upload."""
    Image.fromarray(case.image).save(Path(path), format="PNG")


def draw_digit(
    image28: np.ndarray, brush: int, rng: np.random.Generator, upsample: int = UPSAMPLE,
    pen: PenStyle = UNIFORM_PEN,
) -> tuple[np.ndarray, float]:
    """Retrace one 28x28 uint8 digit with a round brush at a random size and place.

    The skeleton is found at ``upsample`` times MNIST's resolution; ``pen`` varies the
    brush width along the strokes, the stroke ends, lifts and tremor (a uniform pen draws
    nothing more from ``rng``, so its drawings are those of the plain brush). Returns the (280, 280)
    float32 ink coverage in [0, 1] and the height fraction of its bounding box.
    """
    if isinstance(upsample, bool) or not isinstance(upsample, (int, np.integer)) or upsample < 1:
        raise ConfigError(f"upsample must be a positive integer; got {upsample!r}.")
    points, edges = _skeleton_graph(pen_path(image28, upsample))
    if pen.end_reach > 0:
        points, edges = _extend_stroke_ends(points, edges, pen.end_reach * upsample, rng)
    widths = np.full(len(points), float(brush))
    if pen.pressure > 0:
        widths = np.maximum(brush * (1 + pen.pressure * _smooth_field(points, 28 * upsample, WAVELENGTH_RANGE,
                                                                      rng)), 2.0)
    widest = float(np.ceil(widths.max()))
    top, left = points.min(axis=0)
    extent_y, extent_x = points.max(axis=0) - (top, left)
    zoom = _random_zoom(extent_y, extent_x, widest, rng)
    # The ink spans the skeleton's extent times the zoom plus one brush diameter.
    ink_h, ink_w = extent_y * zoom + widest, extent_x * zoom + widest
    # Draw in a tile just big enough for the ink, then drop the tile at a random place.
    tile_h, tile_w = int(np.ceil(ink_h)) + 1, int(np.ceil(ink_w)) + 1
    canvas_points = (points - (top, left)) * zoom + widest / 2 + 0.5
    if pen.taper > 0:
        widths = widths * _taper(canvas_points, edges, widths, pen.taper)
    if pen.tremor > 0:
        # Kept inside the tile: the tile already has half the widest brush round the ink.
        wander = np.stack([_smooth_field(points, 28 * upsample, TREMOR_WAVELENGTHS, rng) for _ in (0, 1)], axis=1)
        canvas_points = canvas_points + pen.tremor * wander
        canvas_points = np.clip(canvas_points, widest / 2 + 0.5, (tile_h - widest / 2 - 1, tile_w - widest / 2 - 1))
    if pen.lifts > 0:
        gap = LIFT_GAP * upsample * zoom  # canvas pixels
        canvas_points, edges, widths = _lift_pen(canvas_points, edges, widths, pen.lifts, gap, rng)
    tile = _render_strokes(canvas_points, edges, widths, (tile_h, tile_w))
    coverage = np.zeros((CANVAS, CANVAS), dtype=np.float32)
    y = int(rng.integers(0, CANVAS - tile_h + 1))
    x = int(rng.integers(0, CANVAS - tile_w + 1))
    coverage[y : y + tile_h, x : x + tile_w] = tile
    return coverage, float(ink_h / CANVAS)


def encode(coverage: np.ndarray, encoding: str, rng: np.random.Generator) -> np.ndarray:
    """Turn (280, 280) ink coverage in [0, 1] into the uint8 image of the given encoding."""
    ink = np.round(coverage * 255).astype(np.uint8)
    if encoding == "canvas_rgba":
        white_where_drawn = np.where(ink > 0, np.uint8(255), np.uint8(0))
        return np.dstack([white_where_drawn, white_where_drawn, white_where_drawn, ink])
    if encoding == "canvas_black":
        return np.dstack([ink, ink, ink, np.full_like(ink, 255)])
    if encoding == "paper":
        return _paper(coverage, rng)
    raise ConfigError(f"Unknown encoding {encoding!r}; expected one of {ENCODINGS}.")


def installed_fonts() -> list[Path]:
    """TrueType/OpenType font files found under the usual font directories, sorted."""
    return sorted(
        path
        for directory in FONT_DIRS
        if directory.is_dir()
        for path in directory.rglob("*")
        if path.suffix.lower() in (".ttf", ".otf")
    )


def _as_digit_images(test_images: np.ndarray, test_labels: np.ndarray) -> np.ndarray:
    images = np.asarray(test_images)
    if images.ndim == 2 and images.shape[1] == 784:
        images = images.reshape(-1, 28, 28)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise ShapeError(
            f"test_images must be uint8 of shape (N, 784) or (N, 28, 28); got {images.dtype} "
            f"{images.shape}. Pass the MNIST test images as read from the IDX file."
        )
    if np.shape(test_labels) != (len(images),):
        raise ShapeError(
            f"test_labels must have shape ({len(images)},), one label per image; "
            f"got {np.shape(test_labels)}."
        )
    return images


def _checked_encodings(encodings: Iterable[str]) -> tuple[str, ...]:
    encodings = tuple(encodings)
    unknown = [e for e in encodings if e not in ENCODINGS]
    if not encodings or unknown:
        raise ConfigError(
            f"encodings must be a non-empty selection of {ENCODINGS}; got {encodings}."
        )
    return encodings


def _random_zoom(extent_y: float, extent_x: float, brush: int, rng: np.random.Generator) -> float:
    """Canvas pixels per skeleton pixel giving a random ink height in HEIGHT_FRACTION_RANGE,
    capped so that the ink stays narrower than the canvas."""
    room = CANVAS - 2  # a pixel of margin for the anti-aliased rim
    widest_zoom = (room - brush) / extent_x if extent_x else np.inf
    tallest_fraction = min(HEIGHT_FRACTION_RANGE[1], (extent_y * widest_zoom + brush) / CANVAS)
    fraction = rng.uniform(min(HEIGHT_FRACTION_RANGE[0], tallest_fraction), tallest_fraction)
    zoom = min((fraction * CANVAS - brush) / extent_y, widest_zoom) if extent_y else widest_zoom
    return zoom if np.isfinite(zoom) else 1.0  # a lone dot has no extent to scale


def _skeleton_graph(skeleton: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Skeleton pixels as (K, 2) float (row, col) points and the (E, 2) index pairs of
    8-connected neighbours, i.e. the pen path as a graph."""
    if not skeleton.any():  # tiny blobs can thin away completely; keep them as a dot
        skeleton = np.zeros((1, 1), dtype=bool)
        skeleton[0, 0] = True
    index = np.full(skeleton.shape, -1, dtype=np.int64)
    rows, cols = np.nonzero(skeleton)
    index[rows, cols] = np.arange(len(rows))
    padded = np.pad(index, 1, constant_values=-1)
    edges = []
    for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):  # each neighbour pair counted once
        neighbour = padded[rows + 1 + dy, cols + 1 + dx]
        linked = neighbour >= 0
        edges.append(np.stack([index[rows[linked], cols[linked]], neighbour[linked]], axis=1))
    edges = np.concatenate(edges)
    return _smooth_path(np.stack([rows, cols], axis=1).astype(np.float64), edges), edges


def _smooth_field(points: np.ndarray, digit_size: float, wavelength_range: tuple[float, float],
                  rng: np.random.Generator) -> np.ndarray:
    """A smooth random value in [-1, 1] at each point: a few plane waves with wavelengths in
    ``wavelength_range`` digit sizes, so the pressure (or the hand's wandering) changes along
    a stroke rather than flickering point to point."""
    wavelengths = rng.uniform(*wavelength_range, size=WAVES) * digit_size
    angles = rng.uniform(0, 2 * np.pi, size=WAVES)
    directions = np.stack([np.cos(angles), np.sin(angles)], axis=1) / wavelengths[:, None]
    phases = rng.uniform(0, 2 * np.pi, size=WAVES)
    amplitudes = rng.uniform(0.2, 1.0, size=WAVES)
    waves = np.cos(2 * np.pi * points @ directions.T + phases) @ amplitudes
    return waves / amplitudes.sum()


def _extend_stroke_ends(points: np.ndarray, edges: np.ndarray, reach: float,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Continue each stroke end (a point with one neighbour) past the traced path by a
    random length up to ``reach`` skeleton pixels, turning by a random angle up to
    HOOK_TURN on the way: a straight overshoot, a hook, or (near 0) the end as traced."""
    degree = _degrees(edges, len(points))
    new_points, new_edges = [points], [edges]
    count = len(points)
    for end in np.flatnonzero(degree == 1):
        # The stroke's heading: from the mean of the path just behind the end, out through the end.
        near = np.linalg.norm(points - points[end], axis=1) <= max(reach, 3.0)
        heading = points[end] - points[near].mean(axis=0)
        if not heading.any():
            continue
        heading /= np.linalg.norm(heading)
        length = rng.uniform(0, reach)
        steps = max(1, int(np.ceil(length)))
        turn = rng.uniform(-HOOK_TURN, HOOK_TURN) / steps
        position, previous = points[end].copy(), end
        for _ in range(steps):
            cos, sin = np.cos(turn), np.sin(turn)
            heading = np.array([cos * heading[0] - sin * heading[1], sin * heading[0] + cos * heading[1]])
            position = position + heading * length / steps
            new_points.append(position[None])
            new_edges.append(np.array([[previous, count]]))
            previous, count = count, count + 1
    return np.concatenate(new_points), np.concatenate(new_edges)


def _taper(points: np.ndarray, edges: np.ndarray, widths: np.ndarray, taper: float) -> np.ndarray:
    """Each point's share of its width: ``1 - taper`` at a free stroke end (a point with one
    neighbour), growing to 1 over one brush width from it."""
    degree = _degrees(edges, len(points))
    ends = points[degree == 1]
    if not len(ends):
        return np.ones(len(points))
    distance = np.min(np.linalg.norm(points[:, None, :] - ends[None, :, :], axis=2), axis=1)
    return 1 - taper * np.clip(1 - distance / widths, 0, 1)


def _lift_pen(points: np.ndarray, edges: np.ndarray, widths: np.ndarray, lifts: int, gap: float,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The path with ``lifts`` gaps cut into it, each leaving up to ``gap`` canvas pixels of
    blank between the brush's edges: half of them on one branch just beside a crossing,
    where a stroke drawn on its own stops short, the rest anywhere along the path."""
    degree = _degrees(edges, len(points))
    crossings = np.flatnonzero(degree >= 3)
    keep = np.ones(len(points), bool)
    for _ in range(lifts):
        blank = rng.uniform(0, gap)
        centre = int(rng.integers(len(points)))
        radius = (widths[centre] + blank) / 2
        if crossings.size and rng.random() < 0.5:
            crossing = points[rng.choice(crossings)]
            distance = np.linalg.norm(points - crossing, axis=1)
            beside = np.flatnonzero((distance > radius) & (distance <= 2 * radius))
            if not beside.size:
                continue
            centre = int(rng.choice(beside))
            radius = (widths[centre] + blank) / 2
        outside = np.linalg.norm(points - points[centre], axis=1) > radius
        if np.count_nonzero(~outside) <= MAX_LIFT_SHARE * len(points):
            keep &= outside
    if keep.all() or not keep.any():  # a cut that would leave nothing is no lift
        return points, edges, widths
    index = np.cumsum(keep) - 1
    kept_edges = edges[keep[edges[:, 0]] & keep[edges[:, 1]]]
    return points[keep], index[kept_edges], widths[keep]


def _degrees(edges: np.ndarray, count: int) -> np.ndarray:
    """How many edges meet at each of ``count`` points: 1 at a stroke end, 3 or more at a crossing."""
    return np.bincount(edges.ravel(), minlength=count)


def _smooth_path(points: np.ndarray, edges: np.ndarray, rounds: int = 4) -> np.ndarray:
    """Move each skeleton point halfway to the mean of its neighbours, a few times.

    Thinning leaves pixel staircases that the zoom onto the canvas would turn into
    visible wobbles; a hand-drawn stroke is smooth. Stroke ends stay put so the digit
    keeps its length.
    """
    ends = np.concatenate([edges[:, 0], edges[:, 1]])
    degree = _degrees(edges, len(points))
    movable = degree >= 2
    neighbours = np.concatenate([edges[:, 1], edges[:, 0]])
    for _ in range(rounds):
        neighbour_sum = np.stack(
            [np.bincount(ends, points[neighbours, axis], len(points)) for axis in (0, 1)], axis=1
        )
        mean = neighbour_sum / np.maximum(degree, 1)[:, None]
        points = np.where(movable[:, None], 0.5 * (points + mean), points)
    return points


def _render_strokes(
    points: np.ndarray, edges: np.ndarray, widths: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    """Draw a round brush along the graph into a float32 coverage tile of the given shape,
    ``widths[i]`` canvas pixels wide at point i.

    points are (row, col) canvas coordinates where (0, 0) is the corner of the tile.
    """
    scale = SUPERSAMPLE
    tile = Image.new("L", (shape[1] * scale, shape[0] * scale), 0)
    draw = ImageDraw.Draw(tile)
    xy = points[:, ::-1] * scale  # PIL wants (x, y)
    for (x, y), width in zip(xy, widths):  # round caps and joints
        radius = width * scale / 2
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    for a, b in edges:
        draw.line((*xy[a], *xy[b]), fill=255, width=round((widths[a] + widths[b]) * scale / 2))
    small = tile.reduce(scale)
    return np.asarray(small, dtype=np.float32) / 255


def _paper(coverage: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dark ink on light paper with a slight colour cast, uneven lighting and sensor noise."""
    paper = rng.uniform(235, 250) + rng.uniform(-3, 3, size=3)
    ink = rng.uniform(20, 60) + rng.uniform(-6, 6, size=3)
    ramp = np.linspace(-1, 1, CANVAS, dtype=np.float32)
    tilt_y, tilt_x = rng.uniform(-5, 5, size=2).astype(np.float32)
    # Lighting and noise are shared by the three channels, as brightness changes are in photos;
    # uniform noise looks the same as Gaussian noise here and costs a fraction of it.
    shading = tilt_y * ramp[:, None] + tilt_x * ramp[None, :]
    shading += (rng.random((CANVAS, CANVAS), dtype=np.float32) - np.float32(0.5)) * np.float32(
        rng.uniform(3, 8)
    )
    shading += np.float32(0.5)  # so that the uint8 cast rounds
    image = np.empty((CANVAS, CANVAS, 3), dtype=np.uint8)
    for channel in range(3):  # per channel, to keep temporaries small
        level = coverage * np.float32(ink[channel] - paper[channel])
        level += shading
        level += np.float32(paper[channel])
        image[:, :, channel] = np.clip(level, 0, 255, out=level)
    return image


@lru_cache(maxsize=None)
def _glyph_mask(font_path: Path | None, digit: int) -> np.ndarray:
    """Ink coverage (float32 in [0, 1]) of one digit in one font, cropped to its ink."""
    font = (
        ImageFont.truetype(str(font_path), GLYPH_SIZE)
        if font_path is not None
        else ImageFont.load_default(GLYPH_SIZE)
    )
    image = Image.new("L", (GLYPH_SIZE * 2, GLYPH_SIZE * 2), 0)
    ImageDraw.Draw(image).text((GLYPH_SIZE // 2, GLYPH_SIZE // 2), str(digit), fill=255, font=font)
    return np.asarray(image.crop(image.getbbox()), dtype=np.float32) / 255


def _place(
    glyph: np.ndarray, height_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    """Resize a glyph's coverage to the height fraction (less if too wide) and put it at a
    random place on the canvas. Returns (280, 280) float32 coverage and the height fraction."""
    room = CANVAS - 2
    zoom = min(height_fraction * CANVAS / glyph.shape[0], room / glyph.shape[1])
    height = max(1, min(room, round(glyph.shape[0] * zoom)))
    width = max(1, min(room, round(glyph.shape[1] * zoom)))
    resized = Image.fromarray(glyph).resize((width, height), Image.Resampling.BOX)
    coverage = np.zeros((CANVAS, CANVAS), dtype=np.float32)
    y = int(rng.integers(0, CANVAS - height + 1))
    x = int(rng.integers(0, CANVAS - width + 1))
    coverage[y : y + height, x : x + width] = np.clip(np.asarray(resized), 0, 1)
    return coverage, height / CANVAS
