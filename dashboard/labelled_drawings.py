"""Drawings a user labelled: kept as the network saw them, and saved as a small dataset file."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from dashboard.arrays import to_uint8_image


@dataclass(frozen=True)
class LabelledDrawing:
    """A drawing as the network saw it, (28, 28) uint8, with the digit the user says it is."""

    image: np.ndarray
    label: int

    @classmethod
    def from_preprocessed(cls, image: np.ndarray, label: int) -> LabelledDrawing:
        if not 0 <= label <= 9:
            raise ValueError(f"a label must be a digit 0-9; got {label}")
        return cls(to_uint8_image(image), int(label))


def drawings_as_arrays(drawings: list[LabelledDrawing]) -> tuple[np.ndarray, np.ndarray]:
    """(N, 28, 28) uint8 images and (N,) int64 labels."""
    images = np.stack([d.image for d in drawings]) if drawings else np.zeros((0, 28, 28), np.uint8)
    return images, np.array([d.label for d in drawings], dtype=np.int64)


def drawings_to_npz(drawings: list[LabelledDrawing]) -> bytes:
    """A small dataset file: ``images`` (N, 28, 28) uint8 and ``labels`` (N,) int64."""
    images, labels = drawings_as_arrays(drawings)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=images, labels=labels)
    return buffer.getvalue()
