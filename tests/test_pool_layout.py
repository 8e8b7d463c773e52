"""The speed layer's fused conv → pool (the pool layout) gives the plain layers' outputs and gradients."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from nn_core.config import NetworkConfig
from nn_core.model.conv import Conv2D, MaxPool2D
from nn_core.model.losses import softmax_cross_entropy
from nn_core.model.network import Network
from nn_core.speed.passes import pools_first, train_passes
from nn_core.speed.pool_layout import ConvPool, with_pool_layout


def float64_conv(rng: np.random.Generator, in_channels: int, out_channels: int, kernel: int,
                 padding: str) -> Conv2D:
    """A conv in float64 (so the comparisons are exact to rounding) with a non-zero bias."""
    layer = Conv2D(in_channels, out_channels, kernel, rng, padding)
    layer.params = {key: value.astype(np.float64) for key, value in layer.params.items()}
    layer.params["bias"][:] = rng.standard_normal(out_channels)
    layer.grads = {key: np.zeros_like(value) for key, value in layer.params.items()}
    return layer


def plain_pair_and_fused(rng: np.random.Generator, in_channels: int, kernel: int, padding: str,
                         size: int) -> tuple[list, ConvPool]:
    """A Conv2D → MaxPool2D pair, and a ConvPool of a second conv with the same parameters."""
    conv = float64_conv(rng, in_channels, 4, kernel, padding)
    twin = copy.deepcopy(conv)
    return [conv, MaxPool2D(size)], ConvPool(twin, MaxPool2D(size))


def run_layers(layers: list, x: np.ndarray, upstream: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A training forward and backward; returns the output and the input gradient."""
    out = x
    for layer in layers:
        out = layer.forward(out, training=True)
    grad = upstream.copy()
    for layer in reversed(layers):
        grad = layer.backward(grad)
    return out, grad


def images_with_ties(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    x = rng.standard_normal(shape)
    x[0] = 0  # a blank image: every window of its conv output a tie
    x[-1, :, :shape[2] // 2] = 1.0  # a flat half: ties that are not a window's first pixel
    return x


@pytest.mark.parametrize("in_channels, kernel, padding, size, height",
                         [(1, 3, "same", 2, 6), (3, 3, "same", 2, 6), (2, 3, "same", 3, 6), (1, 5, "same", 2, 8),
                          (2, 4, "same", 2, 6), (2, 3, "valid", 2, 8)])
def test_conv_pool_trains_as_the_conv_and_the_pool(in_channels, kernel, padding, size, height, rng, monkeypatch):
    plain, fused = plain_pair_and_fused(rng, in_channels, kernel, padding, size)
    # In training the fused layer takes the pool layout, never the conv's own forward.
    monkeypatch.setattr(fused.conv, "forward", lambda *args: pytest.fail("ran the conv's own forward"))
    x = images_with_ties(rng, (3, height, height, in_channels))
    out_side = (height if padding == "same" else height - kernel + 1) // size
    upstream = rng.standard_normal((3, out_side, out_side, 4))
    expected_out, expected_dx = run_layers(plain, x, upstream)
    out, dx = run_layers([fused], x, upstream)
    np.testing.assert_allclose(out, expected_out, rtol=1e-12)
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-10, atol=1e-12)
    for key, grad in plain[0].grads.items():
        np.testing.assert_allclose(fused.grads[key], grad, rtol=1e-10, err_msg=key)
    assert fused.grads is fused.conv.grads and fused.params is fused.conv.params


def test_conv_pool_adds_to_its_gradients_when_accumulating(rng):
    _, fused = plain_pair_and_fused(rng, 2, 3, "same", 2)
    x, upstream = rng.standard_normal((2, 6, 6, 2)), rng.standard_normal((2, 3, 3, 4))
    run_layers([fused], x, upstream)
    once = {key: grad.copy() for key, grad in fused.grads.items()}
    fused.accumulate_grads = True
    run_layers([fused], x, upstream)
    for key, grad in fused.grads.items():
        np.testing.assert_allclose(grad, 2 * once[key], rtol=1e-12, err_msg=key)


@pytest.mark.parametrize("training", [True, False])
def test_conv_pool_runs_the_two_layers_where_the_pool_crops_and_in_inference(training, rng):
    plain, fused = plain_pair_and_fused(rng, 1, 3, "valid", 2)  # 7×7 → 5×5: the pool drops a row and column
    x, upstream = rng.standard_normal((2, 7, 7, 1)), rng.standard_normal((2, 2, 2, 4))
    if training:
        fused.accumulate_grads = True  # handed to the conv, and taken back after
        plain[0].accumulate_grads = True
        expected_out, expected_dx = run_layers(plain, x, upstream)
        out, dx = run_layers([fused], x, upstream)
        np.testing.assert_allclose(dx, expected_dx, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(fused.grads["weight"], plain[0].grads["weight"], rtol=1e-10)
        assert fused.conv.accumulate_grads is False
    else:
        expected_out = plain[1].forward(plain[0].forward(x))
        out = fused.forward(x)
    np.testing.assert_allclose(out, expected_out, rtol=1e-12)


def test_conv_pool_replica_shares_parameters_and_keeps_its_own_gradients(rng):
    _, fused = plain_pair_and_fused(rng, 2, 3, "same", 2)
    twin = fused.replica()
    assert twin.params is fused.params
    run_layers([twin], rng.standard_normal((2, 6, 6, 2)), rng.standard_normal((2, 3, 3, 4)))
    assert twin.grads["weight"].any()
    assert not fused.grads["weight"].any()


def test_cnn_trains_through_the_fused_view_with_the_plain_network_s_gradients(rng):
    config = NetworkConfig(layers=({"conv": 4, "kernel": 3}, {"pool": 2}, {"conv": 6, "kernel": 3},
                                   {"pool": 2}, {"dense": 10}))
    images = rng.random((5, 784)).astype(np.float32)
    images[0] = 0  # a blank image: every first-layer window a tie
    labels = np.array([0, 3, 9, 4, 1])
    plain, network = Network(config), Network(config)
    textbook = [layer.describe() for layer in network.layers]
    view = with_pool_layout(pools_first(network))
    assert [layer.describe() for layer in view.layers] == [
        "ToImage", "ConvPool(Conv2D(1→4, 3×3, same), MaxPool2D(2))", "ReLU",
        "ConvPool(Conv2D(4→6, 3×3, same), MaxPool2D(2))", "ReLU", "Flatten", "Dense(294→10)"]
    assert [layer.describe() for layer in network.layers] == textbook  # the model itself is untouched
    for trained in (plain, view):
        train_passes(trained, images, labels, softmax_cross_entropy, [slice(0, 5)])
    for (name, _, expected), (_, _, grad) in zip(plain.parameters(), network.parameters()):
        np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-7, err_msg=name)
