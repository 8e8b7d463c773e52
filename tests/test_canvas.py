"""The drawing canvas's Python side: what it hands the Draw page from what the browser sent."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from dashboard.canvas import CanvasDrawing
from nn_core.errors import ImageError


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


def test_a_damaged_picture_from_the_browser_is_an_image_error_not_a_crash():
    damaged = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n not really").decode()
    with pytest.raises(ImageError, match="cannot be decoded|not an image"):
        CanvasDrawing({"objects": [{"width": 20, "points": [[1, 1]]}]}, damaged).image_data
