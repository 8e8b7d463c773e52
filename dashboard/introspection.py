"""Looking inside a network: hidden activations, feature maps, first-layer weights, and what it
does on the MNIST test set (cached per network fingerprint in ``st.cache_data``)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from nn_core.model.conv import Conv2D, MaxPool2D
from nn_core.model.layers import ACTIVATION_LAYERS, Dense
from nn_core.model.network import Network
from nn_core.speed.passes import predict_proba

from dashboard import mnist_cache
from dashboard.learning_watch import MAP_DIGITS, Projection, fit_projection, last_hidden_activations

SCORING_CHUNK = 500
_ACTIVATION_TYPES = tuple(ACTIVATION_LAYERS.values())


def _activation_after(network: Network, index: int) -> int:
    """Index of the first activation layer after layer ``index`` (past any batch norm)."""
    return next(i for i in range(index + 1, len(network.layers))
                if isinstance(network.layers[i], _ACTIVATION_TYPES))


def hidden_activations(network: Network, image: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(title, (n_units,) values) for the output of every hidden dense layer's activation, first to last."""
    outputs = network.activations(image)
    dense = [index for index, layer in enumerate(network.layers[:-1]) if isinstance(layer, Dense)]
    titles_and_values = []
    for number, index in enumerate(dense, start=1):
        activation = _activation_after(network, index)
        values = outputs[activation + 1][0]
        titles_and_values.append((f"Hidden layer {number}: {values.shape[0]} "
                                  f"{network.layers[activation].describe()} units", values))
    return titles_and_values


def feature_maps(network: Network, image: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(title, (H, W, C) maps) for every conv layer (after its activation) and every pooling layer.

    Empty for a network without convolutions.
    """
    outputs = network.activations(image)
    layers = network.layers
    maps, n_conv, n_pool = [], 0, 0
    for index, layer in enumerate(layers):
        if isinstance(layer, Conv2D):
            n_conv += 1
            activation = _activation_after(network, index)
            values = outputs[activation + 1][0]
            kernel = layer.params["weight"].shape[0]
            maps.append((f"Conv {n_conv} ({kernel}×{kernel}, {layers[activation].describe()}): "
                         f"{values.shape[2]} maps {values.shape[0]}×{values.shape[1]}", values))
        elif isinstance(layer, MaxPool2D):
            n_pool += 1
            values = outputs[index + 1][0]
            maps.append((f"Pool {n_pool} (max {layer.size}×{layer.size}): {values.shape[2]} maps "
                         f"{values.shape[0]}×{values.shape[1]}", values))
    return maps


def first_layer_weights(network: Network) -> np.ndarray:
    """The first trainable layer's weights: (784, n_units) for an MLP (one 28×28 template per
    unit), (k, k, 1, C_out) for a CNN (one k×k filter per output channel)."""
    return next(layer.params["weight"] for layer in network.layers if "weight" in layer.params)


@st.cache_data(max_entries=16, show_spinner="Scoring the network on the 10,000 test images…")
def test_set_probabilities(_network: Network, fingerprint: str) -> np.ndarray:
    """(10000, 10) float32 probabilities on the MNIST test set, cached per network fingerprint."""
    # In chunks: a CNN's feature maps for all 10,000 images at once would take gigabytes.
    images = mnist_cache.mnist().test_images
    return np.concatenate([predict_proba(_network, images[start:start + SCORING_CHUNK])
                           for start in range(0, len(images), SCORING_CHUNK)])


@st.cache_data(max_entries=16, show_spinner="Mapping how the network sorts test digits…")
def hidden_space(_network: Network, fingerprint: str) -> tuple[np.ndarray, Projection]:
    """The first MAP_DIGITS test digits in the last hidden layer, (MAP_DIGITS, units), and
    their 2-D projection, cached per network fingerprint."""
    features = last_hidden_activations(_network, mnist_cache.mnist().test_images[:MAP_DIGITS])
    return features, fit_projection(features)
