"""Digits drawn and photographed for the preprocessing tests: shared by test modules."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

# Strokes in unit coordinates (x, y), drawn as a person would on the canvas.
TWO = [(0.1, 0.25), (0.3, 0.05), (0.7, 0.05), (0.9, 0.25), (0.85, 0.45), (0.1, 0.95), (0.95, 0.95)]


def draw(points=TWO, size=200, brush=16, top=40, left=40, canvas=280) -> np.ndarray:
    """A round-brush digit, `size` px tall at (top, left), anti-aliased: (canvas, canvas) uint8, ink 255."""
    supersample = 4
    image = Image.new("L", (canvas * supersample, canvas * supersample), 0)
    pen = ImageDraw.Draw(image)
    path = [((left + x * size * 0.7) * supersample, (top + y * size) * supersample) for x, y in points]
    pen.line(path, fill=255, width=brush * supersample, joint="curve")
    radius = brush * supersample / 2
    for x, y in (path[0], path[-1]):  # round caps
        pen.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    pixels = np.asarray(image, np.float32).reshape(canvas, supersample, canvas, supersample)
    return np.round(pixels.mean(axis=(1, 3))).astype(np.uint8)


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b).mean())


def photo_on_desk(ink: np.ndarray, margins: tuple[int, int, int, int], seed: int = 3) -> np.ndarray:
    """The (280, 280) uint8 ``ink`` as pen on a page, photographed with (top, left, bottom,
    right) pixels of darker desk around it."""
    rng = np.random.default_rng(seed)
    top, left, bottom, right = margins
    page = 0.9 - 0.7 * ink.astype(np.float32) / 255 + rng.normal(0, 0.01, ink.shape)
    photo = 0.28 + rng.normal(0, 0.03, (280 + top + bottom, 280 + left + right))
    photo[top:top + 280, left:left + 280] = page
    return (np.clip(photo, 0, 1) * 255).astype(np.uint8)
