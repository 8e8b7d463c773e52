"""Bands of desk along the sides of a photo of paper, told apart from strokes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..levels import core_level
from ..scaling import stroke_width
from .masks import block_maxima, long_runs, running_max, side_views
from .params import (
    BAND_CLEAR_MARGIN, BAND_JOIN_GRID, BAND_MAX_DEPTH, BAND_MAX_STRAY, BAND_MIN_DARKNESS,
    BAND_MIN_RUN, BAND_MIN_SIDE_COVER, BAND_MIN_THICKNESS, BAND_STROKE_LEVEL)


@dataclass
class _EdgeBand:
    """A run of ink along one side of a picture (``side`` indexes side_views): in each
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
        for start, end in long_runs(depth > 0, 1):
            np.minimum(depth[start:end], round(BAND_MAX_STRAY * np.median(depth[start:end])),
                       out=depth[start:end])
        return depth


def clear_edge_bands(ink: np.ndarray) -> None:
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
    margin = max(1, round(BAND_CLEAR_MARGIN * max(ink.shape)))
    bands = [band for side, turned in enumerate(side_views(ink)) if (band := _edge_band(side, turned))]
    if not bands:
        return
    # The ink off every band, to compare the bands with; strokes leaving a band stay.
    rest = ink.copy()
    for band in bands:
        side_views(rest)[band.side][band.mask(margin, band.without_strokes())] = 0
    pen_width, pen_level = stroke_width(rest), core_level(rest)
    strokes = rest >= BAND_STROKE_LEVEL * pen_level
    by_side = {band.side: band for band in bands}  # the views come in opposite pairs: side ^ 1
    for band in bands:
        if _is_desk(band, side_views(strokes)[band.side], by_side.get(band.side ^ 1), pen_width, pen_level, margin):
            side_views(ink)[band.side][band.mask(margin)] = 0


def _is_desk(band: _EdgeBand, strokes: np.ndarray, opposite: _EdgeBand | None, pen_width: float,
             pen_level: float, margin: int) -> bool:
    """Whether ``band`` is desk, not a stroke of the digit (``strokes`` turned so its side comes
    first): far darker than the pen; far thicker, and joined by no stroke crossing the picture;
    or as thick and as dark as the pen, along nearly the whole side, with no stroke leaving it."""
    if band.darkness >= BAND_MIN_DARKNESS * pen_level:
        return True
    if band.thickness >= BAND_MIN_THICKNESS * pen_width:
        return not _joins_across(strokes, band, opposite, margin)
    return band.cover >= BAND_MIN_SIDE_COVER and not _strokes_leaving(strokes, band, margin).any()


def _edge_band(side: int, turned: np.ndarray) -> _EdgeBand | None:
    """The band of ink along the first row of ``turned`` (a side view of the ink), if any
    of its runs along that row is long enough and it is no stroke leaving the side."""
    marked = turned > 0
    runs = long_runs(marked[0], BAND_MIN_RUN * marked.shape[1])
    if not runs:
        return None
    along = np.zeros(marked.shape[1], bool)
    for start, end in runs:
        along[start:end] = True
    depth = np.where(marked.all(axis=0), len(turned), marked.argmin(axis=0)) * along
    thickness = float(np.median(depth[along]))
    if thickness > BAND_MAX_DEPTH * along.sum():
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
    block = -(-max(strokes.shape) // BAND_JOIN_GRID)
    on_grid, target, reached = (block_maxima(mask, block) for mask in
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
    return strokes & _rows_above(len(strokes), running_max(reach, 2 * margin))
