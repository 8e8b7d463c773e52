"""Shared fixtures: real MNIST when MNIST_DIR points at it, small networks otherwise."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST arrays (CI sets MNIST_DIR); skipped with a reason when absent."""
    from nn_core.mnist import find_mnist_dir, load_mnist

    if not os.environ.get("MNIST_DIR") and find_mnist_dir() is None:
        pytest.skip("MNIST not available: set MNIST_DIR to the folder with the four IDX files")
    return load_mnist(download=False)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def default_pass_threads():
    """Every test starts with the default pass threads, whatever the last one (or an
    AppTest run of the dashboard, which sets them for its process) left."""
    from nn_core.pass_threads import set_pass_threads

    set_pass_threads(None)
    yield
    set_pass_threads(None)
