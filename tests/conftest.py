"""Shared fixtures: real MNIST when MNIST_DIR points at it, small networks otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

# Where `bash run_tests.sh` downloads MNIST when MNIST_DIR is not set.
CHECKOUT_MNIST_DIR = Path(__file__).resolve().parent.parent / "data" / "mnist"


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST arrays (CI sets MNIST_DIR); skipped with a reason when absent."""
    from nn_core.storage.mnist import find_mnist_dir, load_mnist

    if not os.environ.get("MNIST_DIR") and find_mnist_dir(default_dir=CHECKOUT_MNIST_DIR) is None:
        pytest.skip("MNIST not available: set MNIST_DIR to the folder with the four IDX files")
    return load_mnist(download=False, default_dir=CHECKOUT_MNIST_DIR)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def default_pass_threads():
    """Every test starts with the default pass threads, whatever the last one (or an
    AppTest run of the dashboard, which sets them for its process) left."""
    from nn_core.speed.threads import set_pass_threads

    set_pass_threads(None)
    yield
    set_pass_threads(None)
