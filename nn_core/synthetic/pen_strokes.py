"""A second, independent way to draw MNIST test digits as a person would: for evaluation only.

The bundled network was trained on digits re-drawn by drawn_digits.py's tracer
(Zhang-Suen skeleton, one uniform round brush), so the drawn-digit figure from that
tracer flatters it. This renderer shares none of its drawing steps and must never
feed training (benchmarks/drawn_accuracy.py is its one user):

1. the digit's ink, enlarged 4× and thresholded, with the loops a thick pen filled
   opened where a stricter threshold shows a hole (holes found by flood fill);
2. thinned by Guo and Hall's parallel algorithm (not Zhang-Suen), and traced into
   separate strokes between pen ends and crossings, short spurs dropped;
3. strokes put in the order a person writes them (the one starting highest and
   furthest left first), each running from its top-left end;
4. each stroke drawn with a pen whose width follows the pressure (it builds up
   after the pen lands, wanders along the stroke and eases as it lifts), a small
   hand tremor, and at free ends now and then a hook or an overshoot.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

CANVAS = 280
UPSAMPLE = 4  # the digit is thinned at 4× MNIST's resolution (112 px)
INK_LEVEL = 0.45  # MNIST grey level above which a pixel is ink
LOOP_LEVELS = (0.6, 0.75)  # stricter levels at which a loop a thick pen filled shows its hole
MIN_HOLE = 0.3  # MNIST pixels: holes smaller than this are dips in a stroke, not loops
SPUR = 1.5  # MNIST pixels: a branch this short ending in a free end is thinning noise
PEN_WIDTH = (10.0, 30.0)  # the pen's full-pressure width in canvas pixels
HEIGHT_FRACTION = (0.30, 0.90)  # the ink's height, pen included, as a share of the canvas
PRESSURE_WANDER = 0.15  # the width wanders this share above and below along a stroke
LANDING = 0.6  # a stroke starts at this share of the full width and builds up over one pen width
LIFT = 0.75  # and ends at this share as the pen lifts
TREMOR = (0.3, 1.2)  # canvas pixels the hand wanders off the path
END_STYLES = {"plain": 0.4, "hook": 0.3, "overshoot": 0.3}  # how a stroke's free end is finished
POINTS_PER_WIDTH = 8  # the pen is stamped this many times per pen width along a stroke: a smooth edge
SUPERSAMPLE = 2  # drawn at twice the canvas resolution, then averaged (anti-aliasing)
ENCODINGS = ("canvas_rgba", "canvas_black", "canvas_white")


@dataclass(frozen=True)
class Stroke:
    """One pen stroke: (n, 2) (row, col) points in order, and whether each end is free
    (a pen end, not a crossing with another stroke, where hooks and tapers happen)."""

    points: np.ndarray
    free_start: bool
    free_end: bool


def pen_strokes(image28: np.ndarray) -> list[Stroke]:
    """The strokes a person would draw for a (28, 28) uint8 digit, in writing order,
    in coordinates UPSAMPLE times MNIST's pixels."""
    skeleton = guo_hall_thinning(_stroke_region(image28))
    strokes = _trace(skeleton)
    strokes = _without_spurs(strokes)
    return _in_writing_order(strokes)


def render(strokes: list[Stroke], rng: np.random.Generator) -> np.ndarray:
    """(280, 280) float32 coverage in [0, 1]: the strokes drawn with a pressure-sensitive pen at
    a random size and place, with tremor, hooks and overshoots."""
    width = rng.uniform(*PEN_WIDTH)
    points = np.concatenate([stroke.points for stroke in strokes])
    top_left = points.min(axis=0)
    extent = points.max(axis=0) - top_left
    zoom = _zoom(extent, width, rng.uniform(*HEIGHT_FRACTION))
    ink_size = extent * zoom + width
    # A digit as wide as the canvas allows leaves no room, give or take rounding.
    offset = np.array([rng.uniform(0, max(0.0, CANVAS - 2 - ink_size[i])) for i in (0, 1)]) + width / 2 + 1
    tremor = rng.uniform(*TREMOR)
    scale = SUPERSAMPLE
    tile = Image.new("L", (CANVAS * scale, CANVAS * scale), 0)
    pen = ImageDraw.Draw(tile)
    for stroke in strokes:
        path = (stroke.points - top_left) * zoom + offset
        path = _finish_ends(path, stroke, width, rng)
        path = _resampled(path, spacing=width / POINTS_PER_WIDTH)
        path = path + _tremor(len(path), tremor, rng)
        radii = width / 2 * _pressure(len(path), stroke, rng)
        for (y, x), radius in zip(path * scale, radii * scale):
            pen.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    return np.asarray(tile.reduce(scale), dtype=np.float32) / 255


def encode(coverage: np.ndarray, encoding: str) -> np.ndarray:
    """(280, 280) coverage → the uint8 image a canvas hands over in one of ENCODINGS."""
    ink = np.round(coverage * 255).astype(np.uint8)
    if encoding == "canvas_rgba":  # white strokes, the ink in the alpha channel
        white = np.where(ink > 0, np.uint8(255), np.uint8(0))
        return np.dstack([white, white, white, ink])
    if encoding == "canvas_black":  # white strokes on opaque black
        return np.dstack([ink, ink, ink, np.full_like(ink, 255)])
    if encoding == "canvas_white":  # dark strokes on opaque white, as most paint programs save
        return np.repeat((255 - ink)[:, :, None], 3, axis=2)
    raise ValueError(f"Unknown encoding {encoding!r}; expected one of {ENCODINGS}.")


def drawings(test_images: np.ndarray, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, str]]:
    """Every (28, 28) uint8 test digit once, as (image, encoding), cycling through ENCODINGS."""
    for index, image28 in enumerate(test_images.reshape(-1, 28, 28)):
        encoding = ENCODINGS[index % len(ENCODINGS)]
        yield encode(render(pen_strokes(image28), rng), encoding), encoding


# -- the strokes ---------------------------------------------------------------------------------

def _stroke_region(image28: np.ndarray) -> np.ndarray:
    """The digit's ink at UPSAMPLE× with filled loops opened, as a bool mask."""
    size = 28 * UPSAMPLE
    level = np.asarray(Image.fromarray(image28).resize((size, size), Image.Resampling.BICUBIC),
                       dtype=np.float32) / 255
    region = level > INK_LEVEL
    for strict in LOOP_LEVELS:
        holes = _holes(level > strict) & region
        if holes.sum() >= MIN_HOLE * UPSAMPLE ** 2:
            region &= ~holes
    return region


def _holes(mask: np.ndarray) -> np.ndarray:
    """Background that the picture's edge cannot reach without crossing ``mask``."""
    padded = Image.fromarray(np.pad(mask, 1).astype(np.uint8) * 255)
    ImageDraw.floodfill(padded, (0, 0), 128)  # the outside, 8-connected through background
    return (np.asarray(padded) == 0)[1:-1, 1:-1]


def guo_hall_thinning(mask: np.ndarray) -> np.ndarray:
    """Guo and Hall's two-subiteration parallel thinning of a bool mask to 8-connected
    one-pixel lines, repeated until a pass removes nothing."""
    thinned = np.pad(mask, 1)
    while sum(_thin_once(thinned, table) for table in _guo_hall_tables()):
        pass
    return thinned[1:-1, 1:-1]


def _thin_once(thinned: np.ndarray, table: np.ndarray) -> int:
    """One subiteration on a padded mask, in place: every pixel the table allows goes at once.
    Returns how many went."""
    removable = thinned[1:-1, 1:-1] & table[_neighbourhood(thinned)]
    thinned[1:-1, 1:-1] &= ~removable
    return int(removable.sum())


@lru_cache(maxsize=None)
def _guo_hall_tables() -> tuple[np.ndarray, np.ndarray]:
    """Removal tables of Guo-Hall's two subiterations, indexed by the neighbourhood byte
    (bit 0 north, then clockwise: NE, E, SE, S, SW, W, NW)."""
    tables = (np.zeros(256, bool), np.zeros(256, bool))
    for code in range(256):
        n, ne, e, se, s, sw, w, nw = ((code >> bit) & 1 for bit in range(8))
        connectivity = ((not n) and (ne or e)) + ((not e) and (se or s)) + ((not s) and (sw or w)) \
            + ((not w) and (nw or n))
        pairs_a = (nw or n) + (ne or e) + (se or s) + (sw or w)
        pairs_b = (n or ne) + (e or se) + (s or sw) + (w or nw)
        neighbours = min(pairs_a, pairs_b)
        removable = connectivity == 1 and 2 <= neighbours <= 3
        tables[0][code] = removable and not ((s or sw or not nw) and w)
        tables[1][code] = removable and not ((n or ne or not se) and e)
    return tables


def _neighbourhood(padded: np.ndarray) -> np.ndarray:
    """The neighbourhood byte (see _guo_hall_tables) of every interior pixel of a padded mask."""
    height, width = padded.shape[0] - 2, padded.shape[1] - 2
    code = np.zeros((height, width), np.uint8)
    for bit, (dy, dx) in enumerate(((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))):
        code |= padded[1 + dy:1 + dy + height, 1 + dx:1 + dx + width].astype(np.uint8) << bit
    return code


def _trace(skeleton: np.ndarray) -> list[Stroke]:
    """Split a skeleton into strokes: paths between pixels that are not plain path pixels
    (free ends, crossings), and closed loops with no such pixel."""
    pixels = set(zip(*np.nonzero(skeleton)))
    if not pixels:
        return [Stroke(np.array([[14.0 * UPSAMPLE, 14.0 * UPSAMPLE]]), True, True)]
    neighbours = {p: [(p[0] + dy, p[1] + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                      if (dy or dx) and (p[0] + dy, p[1] + dx) in pixels] for p in pixels}
    nodes = {p for p, around in neighbours.items() if len(around) != 2}
    walked: set[frozenset] = set()
    strokes = []

    def walk(start: tuple[int, int], step: tuple[int, int]) -> list[tuple[int, int]]:
        path, previous, current = [start], start, step
        walked.add(frozenset((start, step)))
        while current not in nodes and current != start:
            path.append(current)
            following = [p for p in neighbours[current] if p != previous and frozenset((current, p)) not in walked]
            if not following:
                break
            previous, current = current, following[0]
            walked.add(frozenset((previous, current)))
        path.append(current)
        return path

    for node in sorted(nodes):
        if not neighbours[node]:
            strokes.append(Stroke(np.array([node], float), True, True))
        for step in neighbours[node]:
            if frozenset((node, step)) not in walked:
                path = walk(node, step)
                strokes.append(Stroke(np.array(path, float), len(neighbours[path[0]]) == 1,
                                      len(neighbours[path[-1]]) == 1))
    for pixel in sorted(pixels):  # loops without a free end or crossing, from their top
        for step in neighbours[pixel]:
            if frozenset((pixel, step)) not in walked:
                strokes.append(Stroke(np.array(walk(pixel, step), float), False, False))
    return strokes


def _without_spurs(strokes: list[Stroke]) -> list[Stroke]:
    """Drop short branches from a crossing to a free end: thinning leaves them at corners."""
    def length(stroke: Stroke) -> float:
        return float(np.hypot(*np.diff(stroke.points, axis=0).T).sum())

    kept = [stroke for stroke in strokes if not ((stroke.free_start != stroke.free_end)
                                                 and length(stroke) < SPUR * UPSAMPLE)]
    return kept or strokes


def _in_writing_order(strokes: list[Stroke]) -> list[Stroke]:
    """Each stroke running from its upper-left end, the one starting highest and furthest left first."""
    def reach(point: np.ndarray) -> float:
        return float(point[0] + 0.5 * point[1])  # down counts more than across, as in writing

    oriented = [stroke if reach(stroke.points[0]) <= reach(stroke.points[-1])
                else Stroke(stroke.points[::-1], stroke.free_end, stroke.free_start) for stroke in strokes]
    return sorted(oriented, key=lambda stroke: reach(stroke.points[0]))


# -- the pen -------------------------------------------------------------------------------------

def _zoom(extent: np.ndarray, width: float, height_fraction: float) -> float:
    """Canvas pixels per skeleton pixel for an ink height of ``height_fraction`` of the canvas,
    narrower than the canvas whatever the digit's shape."""
    room = CANVAS - 2 - width
    zooms = [(height_fraction * CANVAS - width) / extent[0] if extent[0] else np.inf,
             room / extent[1] if extent[1] else np.inf, room / extent[0] if extent[0] else np.inf]
    zoom = min(zooms)
    return zoom if np.isfinite(zoom) else 1.0


def _finish_ends(path: np.ndarray, stroke: Stroke, width: float, rng: np.random.Generator) -> np.ndarray:
    """The path with each free end left plain, bent into a hook or run on past its end."""
    if stroke.free_end:
        path = _finish(path, width, rng)
    if stroke.free_start:
        path = _finish(path[::-1], width, rng)[::-1]
    return path


def _finish(path: np.ndarray, width: float, rng: np.random.Generator) -> np.ndarray:
    style = rng.choice(list(END_STYLES), p=list(END_STYLES.values()))
    if style == "plain" or len(path) < 3:
        return path
    direction = path[-1] - path[max(0, len(path) - 4)]
    norm = np.hypot(*direction)
    if not norm:
        return path
    direction /= norm
    if style == "overshoot":
        return np.vstack([path, path[-1] + direction * rng.uniform(0.3, 1.0) * width])
    turn = np.radians(rng.uniform(60, 150)) * rng.choice([-1, 1])
    length = rng.uniform(0.5, 1.2) * width
    angles = np.linspace(0, turn, 6)[1:]
    steps = np.stack([direction[0] * np.cos(angles) - direction[1] * np.sin(angles),
                      direction[0] * np.sin(angles) + direction[1] * np.cos(angles)], axis=1)
    return np.vstack([path, path[-1] + np.cumsum(steps * length / len(angles), axis=0)])


def _resampled(path: np.ndarray, spacing: float) -> np.ndarray:
    """Points every ``spacing`` pixels along a polyline, smoothed so its pixel steps vanish."""
    if len(path) < 2:
        return path
    if len(path) >= 5:
        kernel = np.ones(5) / 5
        smooth = np.stack([np.convolve(np.pad(path[:, axis], 2, mode="edge"), kernel, "valid") for axis in (0, 1)],
                          axis=1)
        smooth[0], smooth[-1] = path[0], path[-1]
        path = smooth
    along = np.concatenate([[0], np.cumsum(np.hypot(*np.diff(path, axis=0).T))])
    positions = np.arange(0, along[-1] + spacing / 2, spacing) if along[-1] else np.zeros(1)
    return np.stack([np.interp(positions, along, path[:, axis]) for axis in (0, 1)], axis=1)


def _tremor(count: int, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """(count, 2) slowly wandering offsets of about ``amplitude`` pixels."""
    noise = rng.normal(0, 1, (count + 24, 2))
    kernel = np.hanning(25)
    wander = np.stack([np.convolve(noise[:, axis], kernel, "valid") for axis in (0, 1)], axis=1)
    spread = wander.std() or 1.0
    return wander[:count] / spread * amplitude


def _pressure(count: int, stroke: Stroke, rng: np.random.Generator) -> np.ndarray:
    """(count,) width factor along a stroke of ``count`` stamps: wandering, building up over
    one pen width after a free start and easing over one before a free end."""
    phase, cycles = rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 2)
    along = np.linspace(0, 1, count)
    factor = 1 - PRESSURE_WANDER + PRESSURE_WANDER * np.sin(phase + 2 * np.pi * cycles * along)
    ramp = min(count, POINTS_PER_WIDTH)
    if stroke.free_start:
        factor[:ramp] *= np.linspace(LANDING, 1, ramp)
    if stroke.free_end:
        factor[-ramp:] *= np.linspace(1, LIFT, ramp)
    return factor
