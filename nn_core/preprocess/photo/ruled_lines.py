"""The printed lines of ruled or squared paper, told apart from the pen."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .masks import block_maxima, long_runs, running_max
from .params import (
    DARK_LINES_FAMILY, DARK_LINES_MAX_LEVEL, DARK_LINES_MIN_GAP, DARK_LINES_PEN_CROSSING,
    FEW_LINES_MIN_BEYOND, FEW_LINES_MIN_SPAN, LINES_COARSE_FACTOR, LINES_FAMILY,
    LINES_LONE_MAX_TILT, LINES_MAX_CROSSING, LINES_MAX_FAINT_LEVEL, LINES_MAX_FAN, LINES_MAX_TILT,
    LINES_MIN_COVER, LINES_MIN_LENGTH, LINES_MIN_LEVEL, LINES_PEN_CROSSING, LINES_SEARCH_SIDE,
    LINES_TILT_STEP)


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
    pen, shrunk, factor = _shrunk_marks(ink)
    if pen is None:
        return
    across, down = _directions(ink, shrunk, factor, pen)
    square = _square(across.tilt, down.tilt)
    levels = _family_levels(ink, across, down, square, pen)
    dark = _dark_lines(across, down, levels, square, pen)
    for direction in (across, down):
        direction.clear_faint_lines()
    _clear_dark_lines(dark, pen)


@dataclass
class _Direction:
    """The printed lines found running one way: across the picture, or down it (then in
    the transposed ``view``, so they run along its rows). ``faint_pixels`` holds, for each
    band, the pixels to clear of a line fainter than the pen, or None for a dark line."""

    view: np.ndarray
    tilt: float
    bands: list[_LineBand]
    faint_pixels: list[tuple[np.ndarray, np.ndarray] | None]

    def clear_faint_lines(self) -> None:
        for pixels in self.faint_pixels:
            if pixels is not None:
                self.view[pixels] = 0

    def dark_bands(self) -> list[_LineBand]:
        return [band for band, pixels in zip(self.bands, self.faint_pixels) if pixels is None]


def _shrunk_marks(ink: np.ndarray) -> tuple[float | None, np.ndarray, int]:
    """The pen's level (the darkest ink; None without ink), the picture shrunk by block
    maxima to LINES_SEARCH_SIDE with what may be line marked, and the shrinking factor."""
    factor = max(1, -(-max(ink.shape) // LINES_SEARCH_SIDE))
    blocks = block_maxima(ink, factor)
    marked = blocks[blocks > 0]
    if not marked.size:
        return None, blocks, factor
    pen = float(np.percentile(marked, 99))  # the darkest ink: lines are fainter than the pen
    return pen, blocks > LINES_MIN_LEVEL * pen, factor


def _directions(ink: np.ndarray, shrunk: np.ndarray, factor: int, pen: float) -> tuple[_Direction, _Direction]:
    """The lines across and down the picture. Both are found before either is cleared, so
    a squared page's lines are whole where they cross."""
    views = (ink, ink.T)
    found = [_ruled_lines(small, factor, view.shape[1]) for view, small in zip(views, (shrunk, shrunk.T))]
    directions = []
    for view, (tilt, lines), (other_tilt, others) in zip(views, found, found[::-1]):
        page = _page_lines(tilt, len(lines), other_tilt, len(others))
        bands = [_LineBand.of(view, tops, depth) for tops, depth in lines] if page else []
        directions.append(_Direction(view, tilt, bands, [_faint_line_pixels(band, pen) for band in bands]))
    return directions[0], directions[1]


def _family_levels(ink: np.ndarray, across: _Direction, down: _Direction, square: bool,
                   pen: float) -> list[float | None]:
    """How dark each direction's printed lines are (across, down), None where they do not
    pass for printed lines: a family of them, or else fewer that run on past the digit."""
    levels = [_family_level(direction.bands) for direction in (across, down)]
    if levels == [None, None]:
        levels = _few_lines_levels(ink, [across.bands, down.bands], square, pen)
    return levels


def _dark_lines(across: _Direction, down: _Direction, levels: list[float | None], square: bool,
                pen: float) -> list[tuple[_LineBand, float]]:
    """The lines nearly as dark as the pen to clear, each with the level it is measured
    against: its family's, or for a lone dark line (a margin) square to a family, that family's."""
    dark = []
    for direction, level, other_level in zip((across, down), levels, levels[::-1]):
        reference = level if level is not None else other_level if square else None
        if reference is not None and reference <= DARK_LINES_MAX_LEVEL * pen:
            dark += [(band, reference) for band in direction.dark_bands()]
    return dark


def _family_level(bands: list[_LineBand]) -> float | None:
    """How dark a family of printed lines is (the median of their levels); None unless
    there are DARK_LINES_FAMILY or more, each far thinner than the gaps between them,
    unlike the wobbles of a stroke filling a narrow picture."""
    if len(bands) < DARK_LINES_FAMILY or not _far_apart(bands):
        return None
    return _median_level(bands)


def _far_apart(bands: list[_LineBand]) -> bool:
    """Whether the lines lie DARK_LINES_MIN_GAP times their median depth apart or more."""
    middle = bands[0].view.shape[1] // 2
    return _spaced([band.rows[:, middle].mean() for band in bands], [len(band.rows) for band in bands])


def _spaced(centres: list[float], depths: list[int]) -> bool:
    """Whether bands with these centres and depths lie DARK_LINES_MIN_GAP times their median depth apart or more."""
    return len(centres) < 2 or np.diff(sorted(centres)).min() >= DARK_LINES_MIN_GAP * np.median(depths)


def _median_level(bands: list[_LineBand]) -> float:
    return float(np.median([band.level() for band in bands]))


def _few_lines_levels(ink: np.ndarray, found: list[list[_LineBand]], square: bool, pen: float) -> list[float | None]:
    """The level of each direction's lines (across, down) if, fewer than a family, they
    pass for printed ones; else None. Each crosses the picture and runs on, marked, over
    paper bare of other ink beyond both ends of the digit, as a pencil stroke cropped with
    the picture never does. A line alone needs lines square to it the other way (squared paper)."""
    off_lines = ink > LINES_MAX_FAINT_LEVEL * pen
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
    (the ink off every line, in the bands' view) ends on each side, for FEW_LINES_MIN_BEYOND
    of the width or more: the line's run over bare paper."""
    width = off_lines.shape[1]
    columns = np.flatnonzero(off_lines.any(axis=0))
    if not columns.size:
        return False
    beyond = max(2, int(FEW_LINES_MIN_BEYOND * width))
    ends = (slice(0, columns[0]), slice(columns[-1] + 1, width))
    for band in bands:
        marked = band.values.max(axis=0) > LINES_MIN_LEVEL * pen
        if band.inside.any(axis=0).sum() < FEW_LINES_MIN_SPAN * width:
            return False
        if any(marked[end].sum() < beyond for end in ends):
            return False
    return True


def _page_lines(tilt: float, count: int, other_tilt: float, other_count: int) -> bool:
    """Whether ``count`` lines found at ``tilt`` can be a page's printed lines: a family
    of them, or lines nearly square to the picture, or a lone line (a margin) square to
    a family found the other way (at -other_tilt in the transposed view). A single straight
    stroke of a big digit, steeper than a photo is askew, is not."""
    square_to_family = other_count >= LINES_FAMILY and _square(tilt, other_tilt)
    return count >= LINES_FAMILY or abs(tilt) <= LINES_LONE_MAX_TILT or square_to_family


def _square(tilt: float, other_tilt: float) -> bool:
    """Whether lines found at ``tilt`` run square to those found at ``other_tilt`` in the
    transposed view (where a square line lies at -tilt), to within a coarse tilt step."""
    return abs(tilt + other_tilt) <= LINES_TILT_STEP * LINES_COARSE_FACTOR


def _ruled_lines(shrunk: np.ndarray, factor: int, width: int) -> tuple[float, list[tuple[np.ndarray, int]]]:
    """The tilt (degrees) of the lines running along the rows of ``shrunk`` (a view
    ``width`` pixels wide, marked in blocks of ``factor``), and for each line the row in
    every column of the view where its band starts, and the band's depth, in the view's pixels."""
    if shrunk.any(axis=0).mean() < LINES_MIN_COVER:
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
    coarse_step = LINES_TILT_STEP * LINES_COARSE_FACTOR
    height, width = (side // LINES_COARSE_FACTOR * LINES_COARSE_FACTOR for side in marked.shape)
    coarse = _Marks.of(marked[:height, :width].reshape(
        height // LINES_COARSE_FACTOR, LINES_COARSE_FACTOR, -1, LINES_COARSE_FACTOR).mean(axis=(1, 3)))
    rough = max(np.arange(-LINES_MAX_TILT, LINES_MAX_TILT + coarse_step / 2, coarse_step),
                key=lambda degrees: _line_score(coarse, degrees))
    fine = _Marks.of(marked)
    return float(max(np.arange(rough - coarse_step, rough + coarse_step + LINES_TILT_STEP / 2, LINES_TILT_STEP),
                     key=lambda degrees: _line_score(fine, degrees)))


def _lines_near_tilt(marked: np.ndarray, tilt: float) -> list[tuple[np.ndarray, int, int]]:
    """The lines along ``marked``'s rows at ``tilt``; for each, its column shifts and the
    first and end sheared rows of its band. If they are a family of printed lines, each
    line is taken at the tilt within LINES_MAX_FAN degrees of it that fits it best: a page
    photographed at a slant fans its lines out."""
    marks = _Marks.of(marked)
    shifts, rows = _marked_rows(marks, tilt)
    lines = [(shifts, start, end) for start, end in long_runs(rows, 1)]
    if not _evenly_printed([(start, end) for _, start, end in lines]):
        return lines
    fanned = []
    fan = np.arange(LINES_TILT_STEP, LINES_MAX_FAN + LINES_TILT_STEP / 2, LINES_TILT_STEP)
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
        marked_along = marked_columns[index] >= LINES_MIN_COVER * insides[index].any(axis=0).sum()
        # Lines fanning out meet far beyond the picture; a line at a worse tilt, or one that
        # leaves its line for a stroke, crosses a line kept already.
        crossing = _on_line(taken, *candidates[index])[0][on_line].sum()
        if marked_along and crossing < LINES_MAX_CROSSING * on_line.sum():
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
    """Whether bands of sheared rows (start, end) are a family of printed lines: LINES_FAMILY
    or more, far apart for their depth (with the row either side a band takes in)."""
    return len(runs) >= LINES_FAMILY and _spaced([(start + end) / 2 for start, end in runs],
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
    long_enough = length >= LINES_MIN_LENGTH * width
    rows = np.flatnonzero(long_enough & (at_most >= LINES_MIN_COVER * length))
    # A line between two tried tilts wanders a row either way along its length.
    either_side = (rows[:, None, None] + np.arange(-1, 2)[:, None] + shifts).reshape(-1, width)
    near = _down_columns(marked, either_side)[0].reshape(len(rows), 3, width).any(axis=1)
    lines = np.zeros(len(hits), bool)
    lines[rows] = near.sum(axis=1) >= LINES_MIN_COVER * length[rows]
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
    long_enough = length >= LINES_MIN_LENGTH * marks.image.shape[1]
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
    if (values > LINES_MAX_FAINT_LEVEL * pen).any(axis=0).sum() >= 0.5 * inside.any(axis=0).sum():
        return None
    faint = (values > LINES_MIN_LEVEL * pen) & (values <= LINES_MAX_FAINT_LEVEL * pen)
    if not faint.any():
        return np.empty(0, np.intp), np.empty(0, np.intp)
    level = float(np.percentile(values[faint], 90))  # its core: its rims and the paper's grain lie below
    return band.pixels(inside & (values <= LINES_PEN_CROSSING * level))


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
    cleared = [(band, band.inside & ~(band.values > DARK_LINES_PEN_CROSSING * level).any(axis=0)) for band, level in bands]
    for band, clear in cleared:
        band.view[band.pixels(clear)] = 0
    for band, clear in cleared:
        reach = max(2, len(band.rows) // 4)  # a slanting stroke leaves the band this far along from where it entered
        above, below = (running_max(side, reach) for side in band.sides())
        crossed = clear & (np.minimum(above, below) > LINES_MAX_FAINT_LEVEL * pen)[None, :]
        band.view[band.pixels(crossed)] = band.values[crossed]
