"""The drawing canvas's Python side: what it hands the Draw page from what the browser sent."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from dashboard.canvas import CanvasDrawing


def png_data_url(pixels: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_the_png_the_canvas_sent_arrives_as_opaque_rgba_pixels():
    pixels = np.zeros((280, 280, 4), np.uint8)
    pixels[..., 3] = 255
    pixels[100:180, 130:150, :3] = 255  # a white "1" on black
    drawing = CanvasDrawing({"objects": [{"width": 20, "points": [[140, 100], [140, 180]]}]}, png_data_url(pixels))
    assert np.array_equal(drawing.image_data, pixels)


def test_a_canvas_that_has_sent_nothing_has_no_pixels():
    assert CanvasDrawing({"objects": []}, None).image_data is None
