"""Zhang-Suen thinning: a stroke mask down to the one-pixel path a pen would follow."""

from functools import lru_cache

import numpy as np


def skeletonize(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a 2-D boolean mask to one-pixel-wide lines (new bool array).

    Each sub-iteration is applied to all pixels at once: the 8 neighbours are packed
    into a byte and a 256-entry table says whether the centre pixel may be removed.
    """
    mask = np.asarray(mask, dtype=bool)
    skeleton = np.zeros_like(mask)
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if len(rows) == 0:
        return skeleton
    # Thinning only the ink's bounding box (plus a blank frame) saves most of the work.
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    thinned = np.pad(mask[box], 1)
    tables = _zhang_suen_tables()
    changed = True
    while changed:
        changed = False
        for table in tables:
            deletable = thinned[1:-1, 1:-1] & table[_neighbour_codes(thinned)]
            if deletable.any():
                thinned[1:-1, 1:-1] &= ~deletable
                changed = True
    skeleton[box] = thinned[1:-1, 1:-1]
    return skeleton


@lru_cache(maxsize=None)
def _zhang_suen_tables() -> tuple[np.ndarray, np.ndarray]:
    """Removal tables of Zhang-Suen's two sub-iterations, indexed by neighbour code.

    Bit k of a code is neighbour P(k+2) in Zhang-Suen's clockwise numbering starting
    north: P2=N, P3=NE, P4=E, P5=SE, P6=S, P7=SW, P8=W, P9=NW.
    """
    first, second = np.zeros(256, dtype=bool), np.zeros(256, dtype=bool)
    for code in range(256):
        p = [(code >> k) & 1 for k in range(8)]  # p[0] is P2 ... p[7] is P9
        filled = sum(p)
        transitions = sum(p[k] == 0 and p[(k + 1) % 8] == 1 for k in range(8))
        removable = 2 <= filled <= 6 and transitions == 1
        n, e, s, w = p[0], p[2], p[4], p[6]
        first[code] = removable and n * e * s == 0 and e * s * w == 0
        second[code] = removable and n * e * w == 0 and n * s * w == 0
    return first, second


def _neighbour_codes(padded: np.ndarray) -> np.ndarray:
    """Neighbour byte (see _zhang_suen_tables) of every interior pixel of a padded mask."""
    h, w = padded.shape[0] - 2, padded.shape[1] - 2
    bits = padded.view(np.uint8)  # a bool array is already one 0/1 byte per pixel
    offsets = ((0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0), (0, 0))  # N, NE, ... NW
    codes = np.zeros((h, w), dtype=np.uint8)
    for bit, (dy, dx) in enumerate(offsets):
        codes |= bits[dy : dy + h, dx : dx + w] << np.uint8(bit)
    return codes
