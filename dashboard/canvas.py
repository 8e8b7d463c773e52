"""The drawing canvas: streamlit-drawable-canvas with one set of controls (the page's own).

Importing this module needs a running Streamlit server (the component's files
are found through its package manifest at startup), so only pages import it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st
import streamlit_drawable_canvas
from streamlit_drawable_canvas import CanvasResult, st_canvas

COMPONENT_NAME = "streamlit-drawable-canvas.streamlit_drawable_canvas"


def _register_without_toolbar() -> None:
    """Register the canvas component again with its hover toolbar hidden.

    streamlit-drawable-canvas 0.13 shows a hover toolbar (undo, redo, reset, and an
    edit toggle in which dragging moves strokes instead of drawing) and has no switch
    to hide it short of disabling the canvas. The page has its own Undo and Clear.
    The component's styles live in a shadow root the page's CSS cannot reach, so the
    rule is added to the component's own CSS; its script stays the package's file.
    Streamlit logs once, at startup, that the definition was replaced.
    """
    build = Path(streamlit_drawable_canvas.__file__).parent / "frontend" / "build"
    css = "\n".join(path.read_text() for path in sorted(build.glob("index-*.css")))
    st.components.v2.component(COMPONENT_NAME, js="index-*.js",
                               css=css + "\n.dc-toolbar { display: none !important; }\n",
                               html='<div class="canvas-root"></div>', isolate_styles=True)


_register_without_toolbar()


def drawing_canvas(key: str, initial_drawing: dict[str, Any], stroke_width: int, size: int) -> CanvasResult:
    """A square freehand canvas, white ink on black, that sends its strokes and pixels on mouse-up."""
    return st_canvas(stroke_width=stroke_width, stroke_color="#FFFFFF", background_color="#000000", width=size,
                     height=size, drawing_mode="freedraw", update_streamlit=True, initial_drawing=initial_drawing,
                     return_image_data=True, key=key)
