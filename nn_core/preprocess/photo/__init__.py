"""The photo cleanup: ink from photos and scans of paper, an optional stage clean drawings never pass.

A photo's paper is lit unevenly (lighting.py), may lie on a desk that shows round it
(page.py) or along its sides (edge_bands.py), and may be ruled or squared
(ruled_lines.py); ink.py runs them in order. Every tuning constant lives in params.py.
"""

from .ink import EDGE_BAND, OUTSIDE_PAGE, REMOVED_NAMES, RULED_LINE, PhotoCleanup, clean_photo, to_ink

__all__ = ["EDGE_BAND", "OUTSIDE_PAGE", "REMOVED_NAMES", "RULED_LINE", "PhotoCleanup", "clean_photo", "to_ink"]
