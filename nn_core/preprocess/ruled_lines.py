"""The printed lines of ruled or squared paper, told apart from the pen."""

from __future__ import annotations

import numpy as np

from .masks import block_maxima, long_runs


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


def clear_ruled_lines(ink: np.ndarray) -> None:
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
    blocks = block_maxima(ink, factor)
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
    return tilt, [((tops + start - 1) * factor, (end - start + 2) * factor) for start, end in long_runs(rows, 1)]


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
