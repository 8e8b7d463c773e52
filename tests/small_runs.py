"""Small training runs the trainer, pass-thread and resume tests share: separable toy digits,
a small CNN, and how two runs are compared."""

from __future__ import annotations

import numpy as np
import pytest

from nn_core.config import NetworkConfig, TrainConfig
from nn_core.model.network import Network
from nn_core.training.trainer import Trainer

SMALL_CNN = ({"conv": 4, "kernel": 3}, {"pool": 2}, {"dense": 10})
SMALL_CNN_BATCHNORM = ({"conv": 4, "kernel": 3, "batchnorm": True}, {"pool": 2}, {"dense": 10})


def toy_digits(rng: np.random.Generator, n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """Ten separable uint8 'digits': each class lights its own band of pixels, plus noise."""
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 60, (n, 784)).astype(np.uint8)
    for digit in range(10):
        rows = labels == digit
        images[rows, digit * 78:(digit + 1) * 78] = 230
    return images, labels


def small_trainer(rng, layers=(784, 32, 10), **train) -> Trainer:
    images, labels = toy_digits(rng)
    network = Network(NetworkConfig(layers=layers, seed=1))
    return Trainer(network, images, labels, TrainConfig(batch_size=50, epochs=2, **train),
                   images[:200], labels[:200])


def assert_trained_alike(trainer: Trainer, expected: Trainer) -> None:
    """The same losses, accuracies and parameters (within float32 rounding), and no layer left accumulating."""
    assert trainer.history.loss == pytest.approx(expected.history.loss, rel=1e-5)
    assert trainer.history.train_accuracy == expected.history.train_accuracy
    for (name, trained, _), (_, wanted, _) in zip(trainer.network.parameters(),
                                                  expected.network.parameters()):
        # Adam divides by each gradient's root mean square, which magnifies float32 rounding.
        np.testing.assert_allclose(trained, wanted, rtol=1e-4, atol=1e-4, err_msg=name)
    assert not any(layer.accumulate_grads for layer in trainer.network.layers)
