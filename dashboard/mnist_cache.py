"""MNIST, loaded once per server and shared read-only by every session (``st.cache_resource``)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from nn_core.model.network import Network
from nn_core.storage.mnist import MnistData, load_mnist

from dashboard import server_settings
from dashboard.training_worker import share_read_only


@st.cache_resource(show_spinner="Loading MNIST…")
def mnist() -> MnistData:
    """The four MNIST arrays, loaded once per server and made read-only for every session."""
    data = load_mnist(default_dir=server_settings.mnist_dir())
    for array in (data.train_images, data.train_labels, data.test_images, data.test_labels):
        array.flags.writeable = False
    return data


@st.cache_resource(show_spinner=False)
def training_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train_x, train_y, val_x, val_y): 55,000 images to train on, 5,000 to validate, read-only."""
    arrays = mnist().validation_split()
    for array in arrays:
        array.flags.writeable = False
    return arrays


@st.cache_resource(show_spinner="Preparing MNIST for the trainers…")
def shared_training_files() -> tuple[str, str, str, str]:
    """``training_split()`` as read-only .npy files that every trainer process maps: one copy in
    memory however many train. Paths of (train_x, train_y, val_x, val_y)."""
    names = ("train-images", "train-labels", "validation-images", "validation-labels")
    return tuple(share_read_only(array, server_settings.shared_mnist_dir(), name)
                 for array, name in zip(training_split(), names))


def test_accuracy(network: Network) -> float:
    data = mnist()
    return network.score(data.test_images, data.test_labels)
