"""The printed lines of ruled or squared paper, told apart from the pen."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .masks import block_maxima, long_runs, running_max


# The printed lines of ruled or squared paper run straight across the whole page, fainter than the pen:
RULED_GRID = 256  # they are looked for in the picture shrunk (each block's maximum) to this many pixels long,
RULED_MAX_TILT = 20.0  # degrees: at every tilt up to this (a notebook photographed askew, a page turned)
RULED_TILT_STEP = 0.25  # in steps this fine, so a line lies within a row of the nearest tilt tried,
RULED_COARSE = 4  # found first on a grid, and in steps, this many times coarser;
RULED_FAN = 4.0  # degrees: lines photographed at a slant fan out, each up to this far from the commonest tilt;
RULED_FAN_CROSSING = 0.1  # (each line found, at most this share of it on others: they never cross in the picture)
RULED_FAMILY = 3  # beyond a tilt of RULED_LONE_TILT degrees they come as a family of this many or more
RULED_LONE_TILT = 5.0  # (a lone line, say a margin, lies nearly square to the picture or to its family)
RULED_MIN_COVER = 0.75  # a line marks this share of its length in the picture (a faint one has gaps)
RULED_MIN_LENGTH = 0.3  # which is at least this share of the picture's width (tilted, it may leave by a side)
RULED_MARK = 0.05  # with ink above this share of the pen's: faint lines still grey the 28×28 average
RULED_MAX_LEVEL = 0.5  # it is at most this share as dark, and no darker ink runs along most of it (a stroke's rim)
RULED_KEEP = 1.5  # pixels on a line darker than this many times its level are the pen crossing it
# Lines darker than that (a pencil digit on a ruled page), or with a stroke along them, count only in a family:
RULED_DARK_FAMILY = 4  # of this many lines or more,
RULED_DARK_GAP = 2.0  # lying this many times their depth apart or more (a stroke filling a thin picture wobbles),
RULED_DARK_MAX = 0.9  # at most this share of the pen's darkness (darker, they cannot be told apart),
RULED_DARK_KEEP = 1.2  # cleared where nothing darker than this many times the family's level crosses them
# or, with fewer in the picture (a digit in a maths book, cropped round it), lines that run on past the digit:
RULED_FEW_SPAN = 0.9  # each crossing this share of the picture or more,
RULED_FEW_BEYOND = 0.05  # marked over bare paper for this share of its width or more beyond the digit at both ends


def clear_ruled_lines(ink: np.ndarray) -> None:
    """Zero, in place, the printed lines of ruled or squared paper and a notebook's margin.

    Against the paper they are faint ink spanning the picture, so the digit's box
    would take in the whole page and the lines would grey its 28×28 input. Each
    runs straight from side to side, maybe tilted, lighter than the pen. They are
    found in the picture shrunk by block maxima, where a line is a row (after
    shearing by the tilt) marked along most of its length, and cleared at full size
    except where the darker pen crosses them. Lines nearly as dark as the pen (a pencil
    digit) are cleared only as a family of evenly printed lines, or, fewer, running on past
    the digit, and kept where a stroke crosses them. Both directions are found before
    either is cleared, so a squared page's lines are whole where they cross.
    """
    factor = max(1, -(-max(ink.shape) // RULED_GRID))
    blocks = block_maxima(ink, factor)
    marked = blocks[blocks > 0]
    if not marked.size:
        return
    pen = float(np.percentile(marked, 99))  # the darkest ink: lines are fainter than the pen
    shrunk = blocks > RULED_MARK * pen
    views = (ink, ink.T)
    across, down = (_ruled_lines(small, factor, view.shape[1]) for view, small in zip(views, (shrunk, shrunk.T)))
    found = []  # each direction's lines, and the pixels to clear of those fainter than the pen
    for view, (tilt, lines), (other_tilt, others) in zip(views, (across, down), (down, across)):
        page = _page_lines(tilt, len(lines), other_tilt, len(others))
        bands = [_LineBand.of(view, tops, depth) for tops, depth in lines] if page else []
        found.append([(band, _faint_line_pixels(band, pen)) for band in bands])
    families = [_family_level([band for band, _ in lines]) for lines in found]
    square = _square(across[0], down[0])
    if families == [None, None]:
        families = _few_lines_levels(ink, [[band for band, _ in lines] for lines in found], square, pen)
    # A lone dark line (a margin) counts when square to a family, and is measured against it.
    dark = []
    for lines, family, other_family in zip(found, families, families[::-1]):
        reference = family if family is not None else other_family if square else None
        if reference is not None and reference <= RULED_DARK_MAX * pen:
            dark += [(band, reference) for band, pixels in lines if pixels is None]
    for band, pixels in (line for lines in found for line in lines):
        if pixels is not None:
            band.view[pixels] = 0
    _clear_dark_lines(dark, pen)


def _family_level(bands: list[_LineBand]) -> float | None:
    """How dark a family of printed lines is (the median of their levels); None unless
    there are RULED_DARK_FAMILY or more, each far thinner than the gaps between them,
    unlike the wobbles of a stroke filling a narrow picture."""
    if len(bands) < RULED_DARK_FAMILY or not _far_apart(bands):
        return None
    return _median_level(bands)


def _far_apart(bands: list[_LineBand]) -> bool:
    """Whether the lines lie RULED_DARK_GAP times their median depth apart or more."""
    middle = bands[0].view.shape[1] // 2
    return _spaced([band.rows[:, middle].mean() for band in bands], [len(band.rows) for band in bands])


def _spaced(centres: list[float], depths: list[int]) -> bool:
    """Whether bands with these centres and depths lie RULED_DARK_GAP times their median depth apart or more."""
    return len(centres) < 2 or np.diff(sorted(centres)).min() >= RULED_DARK_GAP * np.median(depths)


def _median_level(bands: list[_LineBand]) -> float:
    return float(np.median([band.level() for band in bands]))


def _few_lines_levels(ink: np.ndarray, found: list[list[_LineBand]], square: bool, pen: float) -> list[float | None]:
    """The level of each direction's lines (across, down) if, fewer than a family, they
    pass for printed ones; else None. Each crosses the picture and runs on, marked, over
    paper bare of other ink beyond both ends of the digit, as a pencil stroke cropped with
    the picture never does. A line alone needs lines square to it the other way (squared paper)."""
    off_lines = ink > RULED_MAX_LEVEL * pen
    for view, bands in zip((off_lines, off_lines.T), found):
        for band in bands:
            view[band.pixels(band.inside)] = False
    levels = []
    for view, bands, others in zip((off_lines, off_lines.T), found, found[::-1]):
        printed = (len(bands) > 1 or (len(bands) == 1 and square and len(others) > 0)) and _far_apart(bands)
        levels.append(_median_level(bands) if printed and _past_the_digit(bands, view, pen) else None)
    return levels


def _past_the_digit(bands: list[_LineBand], off_lines: np.ndarray, pen: float) -> bool:
    """Whether every band crosses the picture and is marked, beyond where ``off_lines``
    (the ink off every line, in the bands' view) ends on each side, for RULED_FEW_BEYOND
    of the width or more: the line's run over bare paper."""
    width = off_lines.shape[1]
    columns = np.flatnonzero(off_lines.any(axis=0))
    if not columns.size:
        return False
    beyond = max(2, int(RULED_FEW_BEYOND * width))
    ends = (slice(0, columns[0]), slice(columns[-1] + 1, width))
    for band in bands:
        marked = band.values.max(axis=0) > RULED_MARK * pen
        if band.inside.any(axis=0).sum() < RULED_FEW_SPAN * width:
            return False
        if any(marked[end].sum() < beyond for end in ends):
            return False
    return True


def _page_lines(tilt: float, count: int, other_tilt: float, other_count: int) -> bool:
    """Whether ``count`` lines found at ``tilt`` can be a page's printed lines: a family
    of them, or lines nearly square to the picture, or a lone line (a margin) square to
    a family found the other way (at -other_tilt in the transposed view). A single straight
    stroke of a big digit, steeper than a photo is askew, is not."""
    square_to_family = other_count >= RULED_FAMILY and _square(tilt, other_tilt)
    return count >= RULED_FAMILY or abs(tilt) <= RULED_LONE_TILT or square_to_family


def _square(tilt: float, other_tilt: float) -> bool:
    """Whether lines found at ``tilt`` run square to those found at ``other_tilt`` in the
    transposed view (where a square line lies at -tilt), to within a coarse tilt step."""
    return abs(tilt + other_tilt) <= RULED_TILT_STEP * RULED_COARSE


def _ruled_lines(shrunk: np.ndarray, factor: int, width: int) -> tuple[float, list[tuple[np.ndarray, int]]]:
    """The tilt (degrees) of the lines running along the rows of ``shrunk`` (a view
    ``width`` pixels wide, marked in blocks of ``factor``), and for each line the row in
    every column of the view where its band starts, and the band's depth, in the view's pixels."""
    if shrunk.any(axis=0).mean() < RULED_MIN_COVER:
        return 0.0, []  # no ink reaches across: a photo without lines, most often
    tilt = _ruled_tilt(shrunk)
    lines = []
    # One shrunk row either side: the line may sit anywhere in its blocks' rows.
    for shifts, start, end in _lines_near_tilt(shrunk, tilt):
        tops = np.repeat(shifts, factor)[:width]
        lines.append(((tops + start - 1) * factor, (end - start + 2) * factor))
    return tilt, lines


def _ruled_tilt(marked: np.ndarray) -> float:
    """The tilt (degrees) at which ``marked``'s rows, sheared by it, hold the most line:
    first found roughly on a coarser grid (each tile's share of marked pixels), then to
    the step that keeps a line within a row of the nearest tilt tried."""
    coarse_step = RULED_TILT_STEP * RULED_COARSE
    height, width = (side // RULED_COARSE * RULED_COARSE for side in marked.shape)
    coarse = _Marks.of(marked[:height, :width].reshape(
        height // RULED_COARSE, RULED_COARSE, -1, RULED_COARSE).mean(axis=(1, 3)))
    rough = max(np.arange(-RULED_MAX_TILT, RULED_MAX_TILT + coarse_step / 2, coarse_step),
                key=lambda degrees: _line_score(coarse, degrees))
    fine = _Marks.of(marked)
    return float(max(np.arange(rough - coarse_step, rough + coarse_step + RULED_TILT_STEP / 2, RULED_TILT_STEP),
                     key=lambda degrees: _line_score(fine, degrees)))


def _lines_near_tilt(marked: np.ndarray, tilt: float) -> list[tuple[np.ndarray, int, int]]:
    """The lines along ``marked``'s rows at ``tilt``; for each, its column shifts and the
    first and end sheared rows of its band. If they are a family of printed lines, each
    line is taken at the tilt within RULED_FAN degrees of it that fits it best: a page
    photographed at a slant fans its lines out."""
    marks = _Marks.of(marked)
    shifts, rows = _marked_rows(marks, tilt)
    lines = [(shifts, start, end) for start, end in long_runs(rows, 1)]
    if not _evenly_printed([(start, end) for _, start, end in lines]):
        return lines
    fanned = []
    fan = np.arange(RULED_TILT_STEP, RULED_FAN + RULED_TILT_STEP / 2, RULED_TILT_STEP)
    for degrees in np.concatenate([tilt + fan, tilt - fan]):
        shifts, rows = _marked_rows(marks, degrees)
        fanned += [(shifts, start, end) for start, end in long_runs(rows, 1)]
    return _best_fitting(marked, lines, fanned)


def _best_fitting(marked: np.ndarray, lines: list[tuple[np.ndarray, int, int]],
                  fanned: list[tuple[np.ndarray, int, int]]) -> list[tuple[np.ndarray, int, int]]:
    """Of the lines found at the commonest tilt and those found at others (most of them
    the same lines at worse tilts), the ones that fit best, each crossing none kept before it."""
    candidates = lines + fanned
    on_lines, insides = zip(*(_on_line(marked, *line) for line in candidates))
    marked_columns = [on_line.any(axis=0).sum() for on_line in on_lines]
    # Best first: at its own tilt a line marks the most columns; at one further off it strays
    # out of its rows. On a tie, the commonest tilt first (a page not at a slant), then the fewest rows.
    fits = [(-columns, index >= len(lines), len(on_line))
            for index, (columns, on_line) in enumerate(zip(marked_columns, on_lines))]
    taken = np.zeros(marked.shape, bool)  # the pixels of the lines kept, and a row either side
    kept = []
    for index in sorted(range(len(candidates)), key=fits.__getitem__):
        on_line = on_lines[index]
        marked_along = marked_columns[index] >= RULED_MIN_COVER * insides[index].any(axis=0).sum()
        # Lines fanning out meet far beyond the picture; a line at a worse tilt, or one that
        # leaves its line for a stroke, crosses a line kept already.
        crossing = _on_line(taken, *candidates[index])[0][on_line].sum()
        if marked_along and crossing < RULED_FAN_CROSSING * on_line.sum():
            kept.append(candidates[index])
            _mark(taken, *candidates[index])
    return kept


def _on_line(mask: np.ndarray, shifts: np.ndarray, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """``mask`` along sheared rows ``start`` to ``end`` at these column shifts (False
    outside it), and which of those pixels lie inside it."""
    values, inside = _down_columns(mask, np.arange(start, end)[:, None] + shifts)
    return values > 0, inside


def _mark(mask: np.ndarray, shifts: np.ndarray, start: int, end: int) -> None:
    """Set, in ``mask``, sheared rows ``start - 1`` to ``end`` (inclusive) at these column shifts."""
    rows = np.arange(start - 1, end + 1)[:, None] + shifts
    inside = (rows >= 0) & (rows < mask.shape[0])
    mask[rows[inside], np.broadcast_to(np.arange(mask.shape[1]), rows.shape)[inside]] = True


def _evenly_printed(runs: list[tuple[int, int]]) -> bool:
    """Whether bands of sheared rows (start, end) are a family of printed lines: RULED_FAMILY
    or more, far apart for their depth (with the row either side a band takes in)."""
    return len(runs) >= RULED_FAMILY and _spaced([(start + end) / 2 for start, end in runs],
                                                 [end - start + 2 for start, end in runs])


def _marked_rows(marks: _Marks, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """Each column's shift at this tilt, and which sheared rows of a marked picture are
    marked along most of their length. Sheared row r is the pixels (r + shift[c], c); it
    may start above the picture."""
    marked = marks.image
    width = marked.shape[1]
    # Counting marked pixels per row first leaves only a few rows to look at column by column.
    shifts, hits, length = _row_sums(marks, degrees)
    at_most = hits + np.concatenate([[0], hits[:-1]]) + np.concatenate([hits[1:], [0]])
    long_enough = length >= RULED_MIN_LENGTH * width
    rows = np.flatnonzero(long_enough & (at_most >= RULED_MIN_COVER * length))
    # A line between two tried tilts wanders a row either way along its length.
    either_side = (rows[:, None, None] + np.arange(-1, 2)[:, None] + shifts).reshape(-1, width)
    near = _down_columns(marked, either_side)[0].reshape(len(rows), 3, width).any(axis=1)
    lines = np.zeros(len(hits), bool)
    lines[rows] = near.sum(axis=1) >= RULED_MIN_COVER * length[rows]
    return shifts, lines


def _shifts(width: int, degrees: float) -> np.ndarray:
    """How far each of ``width`` columns is moved down to shear a picture by this tilt
    (none at most, and none of them up)."""
    shifts = np.round(np.arange(width) * np.tan(np.radians(degrees))).astype(np.intp)
    return shifts - shifts.max()


@dataclass
class _Marks:
    """A picture and its nonzero pixels (rows ``ys``, columns ``xs``, values ``weights``,
    None for a mask), found once for the many tilts it is sheared by."""

    image: np.ndarray
    ys: np.ndarray
    xs: np.ndarray
    weights: np.ndarray | None

    @classmethod
    def of(cls, image: np.ndarray) -> _Marks:
        ys, xs = np.nonzero(image)
        return cls(image, ys, xs, None if image.dtype == bool else image[ys, xs])


def _row_sums(marks: _Marks, degrees: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each column's shift at this tilt; the sum of each of the picture's sheared rows;
    and how many of each sheared row's pixels lie inside the picture."""
    height, width = marks.image.shape
    shifts = _shifts(width, degrees)
    count = height - shifts.min()
    # Column c holds sheared rows -shift[c] up to height - shift[c].
    edges = np.bincount(-shifts, minlength=count + 1) - np.bincount(height - shifts, minlength=count + 1)
    sums = np.bincount(marks.ys - shifts[marks.xs], marks.weights, minlength=count)
    return shifts, sums, np.cumsum(edges)[:count]


def _down_columns(image: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """image[rows[i, x], x] for (n, width) row indices, 0 where a row lies outside the
    picture; and which lie inside it."""
    inside = (rows >= 0) & (rows < image.shape[0])
    values = image[np.clip(rows, 0, image.shape[0] - 1), np.arange(image.shape[1])]
    return np.where(inside, values, 0), inside


def _line_score(marks: _Marks, degrees: float) -> float:
    """How unevenly marked a picture's rows, sheared by this tilt, are if long enough for
    a line (the variance of their marked shares): highest at the tilt where lines run
    along rows, some rows marked all along and the rest hardly. Across the lines, every
    row crosses some."""
    _, sums, length = _row_sums(marks, degrees)
    long_enough = length >= RULED_MIN_LENGTH * marks.image.shape[1]
    return float(np.var(sums[long_enough] / length[long_enough])) if long_enough.any() else 0.0


@dataclass
class _LineBand:
    """Where a line found in the shrunk picture lies at full size: in each column x of
    ``view``, rows tops[x] to tops[x] + depth (``rows``, (depth, width)); ``values`` holds
    the view's pixels there (0 outside the picture) and ``inside`` which lie in the picture."""

    view: np.ndarray
    rows: np.ndarray
    values: np.ndarray
    inside: np.ndarray

    @classmethod
    def of(cls, view: np.ndarray, tops: np.ndarray, depth: int) -> _LineBand:
        rows = tops + np.arange(depth)[:, None]
        return cls(view, rows, *_down_columns(view, rows))

    def level(self) -> float:
        """How dark the line is: the median, over the columns in the picture, of each one's darkest pixel."""
        return float(np.median(self.values.max(axis=0)[self.inside.any(axis=0)]))

    def pixels(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, columns) in the view of the band's pixels where ``mask`` holds."""
        return self.rows[mask], np.broadcast_to(np.arange(self.view.shape[1]), self.rows.shape)[mask]

    def sides(self) -> tuple[np.ndarray, np.ndarray]:
        """In each column, the view's pixel just above the band and the one just below it."""
        return tuple(_down_columns(self.view, rows)[0][0] for rows in (self.rows[:1] - 1, self.rows[-1:] + 1))


def _faint_line_pixels(band: _LineBand, pen: float) -> tuple[np.ndarray, np.ndarray] | None:
    """(rows, columns) of the pixels of a line fainter than the ``pen``: all but the pen's,
    darker, where it crosses the line. None if darker ink runs along most of it: a stroke's
    soft rim, or a line as dark as a light pen."""
    values, inside = band.values, band.inside
    if (values > RULED_MAX_LEVEL * pen).any(axis=0).sum() >= 0.5 * inside.any(axis=0).sum():
        return None
    faint = (values > RULED_MARK * pen) & (values <= RULED_MAX_LEVEL * pen)
    if not faint.any():
        return np.empty(0, np.intp), np.empty(0, np.intp)
    level = float(np.percentile(values[faint], 90))  # its core: its rims and the paper's grain lie below
    return band.pixels(inside & (values <= RULED_KEEP * level))


def _clear_dark_lines(bands: list[tuple[_LineBand, float]], pen: float) -> None:
    """Zero lines nearly as dark as the pen (each with the level of its family of lines),
    but for the strokes that cross them.

    Where ink darker than the family's lines crosses a line, or lies along it, that
    column of the line is left alone. A pencil as light as the lines cannot be told
    from them by darkness, but a stroke crossing a line goes on beyond it on both
    sides. So every line is cleared first (a squared page's lines in both directions),
    and then, where ink lies on both sides of a line, at most a quarter of its depth
    further along, the pixels between are put back.
    """
    cleared = [(band, band.inside & ~(band.values > RULED_DARK_KEEP * level).any(axis=0)) for band, level in bands]
    for band, clear in cleared:
        band.view[band.pixels(clear)] = 0
    for band, clear in cleared:
        reach = max(2, len(band.rows) // 4)  # a slanting stroke leaves the band this far along from where it entered
        above, below = (running_max(side, reach) for side in band.sides())
        crossed = clear & (np.minimum(above, below) > RULED_MAX_LEVEL * pen)[None, :]
        band.view[band.pixels(crossed)] = band.values[crossed]
