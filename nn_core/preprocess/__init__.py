"""Turn any picture of a digit into a 28×28 input that looks like MNIST.

MNIST digits were made by scaling each digit so its longer side is 20 px
(anti-aliased, aspect ratio kept), then translating it inside a 28×28 field so
its intensity centre of mass falls on pixel 14. A network trained on MNIST only
works on inputs made the same way; squashing a whole canvas to 28×28 does not
(see ``naive_resize``, the old approach kept as a baseline).

The pipeline (``pipeline.preprocess``), each stage a pure function whose output
is kept for display:

1. ink: float32 in [0, 1], ink high, background 0, found one of two ways:
   - a clean drawing (canvas.py): the alpha of a transparent layer, or each
     pixel's distance from the exact background colour, in either polarity;
   - a photo or scan (the photo/ sub-package, imported only when a photo needs
     it): whatever the polarity, bit depth, alpha, paper colour or lighting
     (lighting.py); looking inside a photographed page when the desk around it
     shows (page.py); clearing strips of desk along the sides (edge_bands.py)
     and the printed lines of ruled or squared paper (ruled_lines.py). Its
     tuning constants are all in photo/params.py.
   ``source="auto"`` takes the first way when the background is one exact value.
   A drawing is read at full size only inside the box of its ink; stages 2–4 then
   run on it shrunk to the 80-px work scale (pipeline.py, scaling.py).
2. empty detection: no ink, only a speck, or only dust that vanishes at 20 px
   means "nothing drawn" (digit_box.py).
3. crop to the ink's bounding box, ignoring far-away specks (digit_box.py).
4. scale the longer side to 20 px, bringing the stroke width into MNIST's range
   (scaling.py).
5. place in 28×28 with the centre of mass on (14, 14), as MNIST did.
6. quantise to multiples of 1/255, because training feeds ``uint8 / 255``.

Files are read by ``load_image`` (loading.py); pixels.py, levels.py and masks.py
hold what several stages share.
"""

from .loading import load_image
from .pipeline import PREPROCESS_VERSION, SOURCES, PreprocessResult, Source, naive_resize, preprocess, preprocess_file

__all__ = ["PREPROCESS_VERSION", "SOURCES", "PreprocessResult", "Source", "load_image", "naive_resize",
           "preprocess", "preprocess_file"]
