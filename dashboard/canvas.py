"""The drawing canvas: a small Streamlit component of our own (its script is canvas.js).

It sends the strokes and a PNG of the canvas the moment the pen lifts.
streamlit-drawable-canvas 0.13, used before, waited 200 ms after every mouse-up
before sending (a debounce fixed in its bundled script, with no option to
change it) — most of what a student waited for a prediction — and shipped a
400 KB script for a freehand brush. Its script with the wait taken out could
only be sent inline, and Streamlit then resends those 400 KB with every new
canvas (each Clear). This one is a few KB, sent inline.

Importing this module registers the component; being inline, it needs no
package manifest, so it registers outside a running server too.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from nn_core.preprocess import load_image

_SCRIPT = Path(__file__).with_name("canvas.js").read_text()
_STYLE = """
canvas { display: block; cursor: crosshair; touch-action: none; user-select: none; -webkit-user-select: none; }
"""
_digit_canvas = st.components.v2.component("digit_canvas", html="<canvas></canvas>", css=_STYLE, js=_SCRIPT,
                                           isolate_styles=True)


@dataclass(frozen=True)
class CanvasDrawing:
    """What the canvas holds: ``json_data`` as ``{"objects": [stroke, …]}``, each stroke
    ``{"width": px, "points": [[x, y], …]}`` in canvas pixels (what ``initial_drawing`` takes
    back); ``image_url`` the PNG it last sent, None until a stroke or an Undo sends one."""

    json_data: dict[str, Any]
    image_url: str | None

    @property
    def image_data(self) -> np.ndarray | None:
        """(size, size, 4) uint8 RGBA pixels, opaque; None before the canvas has sent any.
        ImageError if what it sent is no readable PNG."""
        if self.image_url is None:
            return None
        return load_image(base64.b64decode(self.image_url.split(";base64,", 1)[1]))


def drawing_canvas(key: str, initial_drawing: dict[str, Any], stroke_width: int, size: int) -> CanvasDrawing:
    """A square freehand canvas, white ink on black, that sends its strokes and pixels on pen-up.

    ``initial_drawing`` (``{"objects": [...]}``, any other keys only tell starts apart) is
    what a new canvas shows; giving a mounted canvas a different one redraws it from that and
    sends it back (Undo).
    """
    data = {"size": size, "strokeWidth": stroke_width, "strokeColor": "#FFFFFF", "backgroundColor": "#000000",
            "initialDrawing": initial_drawing}
    result = _digit_canvas(data=data, key=key, default={"drawing": None}, on_drawing_change=lambda: None,
                           width="content", height="content")
    sent = result.get("drawing")
    if sent is None:
        return CanvasDrawing({"objects": list(initial_drawing.get("objects", []))}, None)
    return CanvasDrawing({"objects": sent["objects"]}, sent["image"])
