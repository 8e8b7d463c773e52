"""Where a training run stands between two steps, as plain data a network file can hold.

With the network's weights and its TrainConfig, a TrainingState is all a Trainer
needs to go on exactly as if it had never stopped: the same batches in the same
order, the same augmentation and dropout draws, the optimizer's running arrays.
``from_json`` is the validating boundary for untrusted files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError

MAX_TRAINING_IMAGES = 2_000_000  # far above MNIST plus any extra data; bounds what a file may ask for
MAX_COUNT = 10**12


@dataclass(frozen=True, eq=False)
class TrainingState:
    """A run's position (batches, epochs, place in this epoch's shuffled order), its random
    generators' states, and its optimizer's state (see Optimizer.state_dict)."""

    step_count: int  # batches trained so far
    epochs_done: int  # whole epochs trained so far
    cursor: int  # images of this epoch's order already trained on
    elapsed: float  # training seconds so far
    order: np.ndarray  # (n_images,) int: this epoch's shuffled order of the training images
    rng_state: dict[str, Any]  # the trainer's generator: shuffling and augmentation
    network_rng_state: dict[str, Any]  # the network's generator: dropout masks
    optimizer_arrays: dict[str, np.ndarray]  # e.g. "velocity/layers.0.weight" → array
    optimizer_steps: dict[str, int]  # Adam's steps per parameter

    def __post_init__(self) -> None:
        for name in ("step_count", "epochs_done", "cursor"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_COUNT:
                raise ConfigError(f"training state: {name} must be a whole number ≥ 0; got {value!r}")
        if not isinstance(self.elapsed, (int, float)) or isinstance(self.elapsed, bool) \
                or not 0 <= self.elapsed < float(MAX_COUNT):
            raise ConfigError(f"training state: elapsed must be seconds ≥ 0; got {self.elapsed!r}")
        order = self.order
        if order.ndim != 1 or not 0 < len(order) <= MAX_TRAINING_IMAGES \
                or not np.array_equal(np.sort(order), np.arange(len(order))):
            raise ConfigError("training state: order must shuffle the training images, each once")
        if self.cursor > len(order):
            raise ConfigError(f"training state: cursor {self.cursor} is past the {len(order):,} images")
        for name in ("rng_state", "network_rng_state"):
            _check_generator_state(name, getattr(self, name))

    @property
    def n_images(self) -> int:
        """How many training images the run was on."""
        return len(self.order)

    def to_json(self) -> dict[str, Any]:
        """Everything but the arrays, which a network file stores as .npy entries."""
        return {"step_count": self.step_count, "epochs_done": self.epochs_done, "cursor": self.cursor,
                "elapsed": self.elapsed, "n_images": self.n_images, "rng_state": self.rng_state,
                "network_rng_state": self.network_rng_state,
                "optimizer_arrays": sorted(self.optimizer_arrays), "optimizer_steps": self.optimizer_steps}

    @classmethod
    def from_json(cls, document: Any, order: np.ndarray,
                  optimizer_arrays: dict[str, np.ndarray]) -> TrainingState:
        """Rebuild from ``to_json``'s document and the arrays it names; ConfigError if malformed."""
        expected = {"step_count", "epochs_done", "cursor", "elapsed", "n_images", "rng_state",
                    "network_rng_state", "optimizer_arrays", "optimizer_steps"}
        if not isinstance(document, dict) or set(document) != expected:
            raise ConfigError(f"training state must be an object with {', '.join(sorted(expected))}")
        steps = document["optimizer_steps"]
        if not isinstance(steps, dict) or not all(isinstance(n, int) and not isinstance(n, bool)
                                                  for n in steps.values()):
            raise ConfigError("training state: optimizer_steps must map parameters to whole numbers")
        if sorted(optimizer_arrays) != sorted(document["optimizer_arrays"]):
            raise ConfigError("training state: the optimizer arrays do not match their list")
        return cls(document["step_count"], document["epochs_done"], document["cursor"], document["elapsed"],
                   order, document["rng_state"], document["network_rng_state"], optimizer_arrays, steps)


def optimizer_array_names(document: Any) -> list[str]:
    """The optimizer arrays a training-state document says the file holds, e.g. "first/layers.0.weight"."""
    names = document.get("optimizer_arrays") if isinstance(document, dict) else None
    if not isinstance(names, list) or not all(isinstance(name, str) and 0 < len(name) <= 200 for name in names) \
            or len(set(names)) != len(names):
        raise ConfigError("training state: optimizer_arrays must list distinct array names")
    return names


def n_training_images(document: Any) -> int:
    """How many images a training-state document says the run was on (bounded before reading any)."""
    n = document.get("n_images") if isinstance(document, dict) else None
    if not isinstance(n, int) or isinstance(n, bool) or not 0 < n <= MAX_TRAINING_IMAGES:
        raise ConfigError(f"training state: n_images must be 1-{MAX_TRAINING_IMAGES:,}; got {n!r}")
    return n


def _check_generator_state(name: str, state: Any) -> None:
    """A numpy PCG64 generator's state, as ``Generator.bit_generator.state`` gives it."""
    if not isinstance(state, dict) or state.get("bit_generator") != "PCG64":
        raise ConfigError(f"training state: {name} must be a PCG64 generator's state")
    try:
        np.random.PCG64().state = state
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise ConfigError(f"training state: {name} is not a usable generator state ({exc})") from None
