"""Classifying one image: preprocessing, then the network's probabilities."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nn_core.model.network import Network
from nn_core.preprocess import PreprocessResult, Source, preprocess


@dataclass(frozen=True)
class Classification:
    """A preprocessed image and, unless it was empty, the network's (10,) probabilities."""

    preprocessed: PreprocessResult
    probabilities: np.ndarray | None

    @property
    def predicted(self) -> int | None:
        return None if self.probabilities is None else int(self.probabilities.argmax())

    @property
    def confidence(self) -> float | None:
        return None if self.probabilities is None else float(self.probabilities.max())


def classify(network: Network, image: np.ndarray, source: Source = "auto") -> Classification:
    """Any image array (canvas RGBA, file pixels) → preprocessing stages and probabilities.

    ``source`` as for ``preprocess``: "canvas" for the drawing canvas, "auto" for uploads.
    """
    result = preprocess(image, source)
    if result.empty:
        return Classification(result, None)
    return Classification(result, network.predict_proba(result.image)[0])
