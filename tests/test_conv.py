"""Convolutional layers: forward against slow references, backward against finite differences."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import nn_core.model.conv as conv
from nn_core.model.conv import BatchNorm, Conv2D, Flatten, MaxPool2D
from nn_core.errors import ConfigError, ShapeError
from nn_core.model.layers import Dense, Layer, ReLU
from nn_core.model.losses import softmax_cross_entropy
from tests.gradients import numerical_gradient


def as_float64(layer: Layer) -> Layer:
    """Cast params and grads the way Network.astype does."""
    for key in layer.params:
        layer.params[key] = layer.params[key].astype(np.float64)
        layer.grads[key] = layer.grads[key].astype(np.float64)
    return layer


def check_layer_gradients(layer: Layer, x: np.ndarray, rng: np.random.Generator,
                          training: bool = False) -> None:
    """Analytic input and parameter gradients of sum(out * upstream) against numeric ones."""
    upstream = rng.standard_normal(layer.forward(x.copy(), training).shape)

    def objective() -> float:
        return float((layer.forward(x.copy(), training) * upstream).sum())

    layer.forward(x.copy(), training)
    analytic_input = layer.backward(upstream.copy())
    analytic_params = {key: grad.copy() for key, grad in layer.grads.items()}
    np.testing.assert_allclose(analytic_input, numerical_gradient(objective, x), rtol=1e-5, atol=1e-7)
    for key, param in layer.params.items():
        np.testing.assert_allclose(analytic_params[key], numerical_gradient(objective, param),
                                   rtol=1e-5, atol=1e-7)


def same_pads(kernel: int) -> tuple[int, int]:
    """TensorFlow's "same": the odd padding pixel of an even kernel goes after."""
    total = kernel - 1
    return total // 2, total - total // 2


def naive_convolution(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, padding: str) -> np.ndarray:
    """Direct loop over images and output pixels: slow, obviously right."""
    kernel = weight.shape[0]
    before, after = same_pads(kernel) if padding == "same" else (0, 0)
    padded = np.pad(x, ((0, 0), (before, after), (before, after), (0, 0)))
    n, height, width, _ = padded.shape
    out = np.zeros((n, height - kernel + 1, width - kernel + 1, weight.shape[3]))
    for image in range(n):
        for row in range(out.shape[1]):
            for col in range(out.shape[2]):
                patch = padded[image, row:row + kernel, col:col + kernel]
                out[image, row, col] = np.tensordot(patch, weight, axes=3) + bias
    return out


def conv64(rng: np.random.Generator, in_channels: int, out_channels: int, kernel: int,
           padding: str) -> Conv2D:
    layer = as_float64(Conv2D(in_channels, out_channels, kernel, rng, padding))
    layer.params["bias"][:] = rng.standard_normal(out_channels)  # a zero bias would hide bias bugs
    return layer


# -- Conv2D -------------------------------------------------------------------
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("kernel", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("in_channels", [1, 3])
def test_conv_matches_naive_convolution(padding, kernel, in_channels, rng):
    layer = conv64(rng, in_channels, 4, kernel, padding)
    x = rng.standard_normal((3, 7, 6, in_channels))
    expected = naive_convolution(x, layer.params["weight"], layer.params["bias"], padding)
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("kernel,size", [(3, 5), (3, 6), (2, 5), (2, 6)])
@pytest.mark.parametrize("in_channels", [2, 1])
def test_conv_gradients(padding, kernel, size, in_channels, rng):
    layer = conv64(rng, in_channels, 3, kernel, padding)
    check_layer_gradients(layer, rng.standard_normal((2, size, size, in_channels)), rng, training=True)


def test_conv_gradients_after_an_inference_forward(rng):
    """Saliency maps run backward after forward(training=False), which uses its own scratch."""
    layer = conv64(rng, 2, 3, 3, "same")
    check_layer_gradients(layer, rng.standard_normal((2, 5, 5, 2)), rng, training=False)


@pytest.mark.parametrize("kernel,padding,expected", [
    (5, "same", (4, 28, 28, 16)), (4, "same", (4, 28, 28, 16)),
    (5, "valid", (4, 24, 24, 16)), (2, "valid", (4, 27, 27, 16)),
])
def test_conv_output_shape_and_dtype(kernel, padding, expected, rng):
    layer = Conv2D(1, 16, kernel, rng, padding)
    out = layer.forward(rng.random((4, 28, 28, 1), dtype=np.float32))
    assert out.shape == expected
    assert out.dtype == np.float32
    dx = layer.backward(np.ones(expected, np.float32))
    assert dx.shape == (4, 28, 28, 1) and dx.dtype == np.float32
    assert all(layer.grads[key].dtype == np.float32 for key in layer.grads)


def test_conv_even_kernel_pads_bottom_right_like_tensorflow(rng):
    layer = Conv2D(1, 1, 2, rng, "same")
    layer.params["weight"][:] = 0
    layer.params["weight"][1, 1, 0, 0] = 1  # picks the pixel below-right of each output
    x = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    out = layer.forward(x)[0, :, :, 0]
    np.testing.assert_array_equal(out, [[4, 5, 0], [7, 8, 0], [0, 0, 0]])


def test_conv_without_input_gradient_fills_the_same_grads(rng):
    layer = Conv2D(3, 5, 3, rng)
    x = rng.standard_normal((4, 8, 8, 3), dtype=np.float32)
    grad = rng.standard_normal((4, 8, 8, 5), dtype=np.float32)
    layer.forward(x, training=True)
    assert layer.backward(grad.copy(), need_input_grad=False) is None
    skipped = {key: value.copy() for key, value in layer.grads.items()}
    layer.forward(x, training=True)
    assert layer.backward(grad.copy()).shape == x.shape
    for key in skipped:
        np.testing.assert_allclose(skipped[key], layer.grads[key], rtol=1e-6)


@pytest.mark.parametrize("in_channels", [1, 3])
@pytest.mark.parametrize("training", [True, False])
def test_conv_in_slices_matches_one_pass(in_channels, training, rng, monkeypatch):
    """A batch too big for one cols matrix is convolved in slices with identical results."""
    layer = conv64(rng, in_channels, 4, 3, "same")
    x = rng.standard_normal((7, 6, 6, in_channels))
    grad = rng.standard_normal((7, 6, 6, 4))
    whole_out = layer.forward(x, training)
    whole_dx = layer.backward(grad.copy())
    whole_grads = {key: value.copy() for key, value in layer.grads.items()}
    # Room for 3 images' patches: slices of 3, 3 and 1.
    monkeypatch.setattr(conv, "MAX_COLS_BYTES", 3 * 36 * 9 * in_channels * 8)
    # Room for 2 images' input-gradient row patches: 8 padded rows × 6 × (3 pixels × 4 channels).
    monkeypatch.setattr(conv, "INPUT_GRAD_ROWS_BYTES", 2 * 8 * 6 * 12 * 8)
    np.testing.assert_allclose(layer.forward(x, training), whole_out, rtol=1e-12)
    np.testing.assert_allclose(layer.backward(grad.copy()), whole_dx, rtol=1e-12)
    for key, value in whole_grads.items():
        np.testing.assert_allclose(layer.grads[key], value, rtol=1e-12)


def test_conv_reused_buffers_follow_batch_shape_changes(rng):
    """Scratch arrays are reused across calls; a changed batch must not see stale data."""
    layer = conv64(rng, 2, 3, 3, "same")
    big, small = rng.standard_normal((5, 7, 7, 2)), rng.standard_normal((2, 4, 5, 2))
    grad = rng.standard_normal((2, 4, 5, 3))
    layer.forward(big, training=True)
    layer.backward(rng.standard_normal((5, 7, 7, 3)))
    out_small = layer.forward(small, training=True)
    dx_small = layer.backward(grad.copy())
    fresh = conv64(np.random.default_rng(0), 2, 3, 3, "same")
    for key in layer.params:
        fresh.params[key][...] = layer.params[key]
    np.testing.assert_allclose(out_small, fresh.forward(small, training=True), rtol=1e-12)
    np.testing.assert_allclose(dx_small, fresh.backward(grad.copy()), rtol=1e-12)
    np.testing.assert_allclose(layer.forward(big, training=True),
                               naive_convolution(big, layer.params["weight"], layer.params["bias"], "same"),
                               rtol=1e-12, atol=1e-12)


def test_conv_backward_twice_gives_the_same_gradients(rng):
    """E.g. saliency for two classes after one forward; the input gradient's patches
    (fewer here: C_out < C_in) reuse the memory of the forward's."""
    layer = conv64(rng, 3, 2, 3, "same")
    layer.forward(rng.standard_normal((2, 5, 5, 3)), training=True)
    grad = rng.standard_normal((2, 5, 5, 2))
    first_dx = layer.backward(grad.copy())
    first_weight_grad = layer.grads["weight"].copy()
    np.testing.assert_allclose(layer.backward(grad.copy()), first_dx, rtol=1e-12)
    np.testing.assert_allclose(layer.grads["weight"], first_weight_grad, rtol=1e-12)


def test_conv_predictions_stay_right_while_other_threads_use_the_layer(rng):
    """The dashboard predicts from threads while training may run: forwards must not share scratch."""
    layer = Conv2D(16, 32, 5, rng)
    inputs = [rng.standard_normal((32, 14, 14, 16), dtype=np.float32) for _ in range(3)]
    expected = [layer.forward(x) for x in inputs]
    failures: list[int] = []

    def predict_repeatedly(index: int, training: bool) -> None:
        for _ in range(10):
            out = layer.forward(inputs[index], training=training)
            if not np.allclose(out, expected[index], rtol=1e-5, atol=1e-5):
                failures.append(index)

    threads = [threading.Thread(target=predict_repeatedly, args=(index, index == 0)) for index in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_conv_returns_fresh_arrays(rng):
    """Outputs are kept by callers (activations, in-place ReLU), so they never alias scratch memory."""
    layer = Conv2D(2, 3, 3, rng)
    x = rng.standard_normal((2, 5, 5, 2), dtype=np.float32)
    first = layer.forward(x, training=True)
    kept = first.copy()
    layer.forward(x * 2, training=True)
    np.testing.assert_array_equal(first, kept)


def test_conv_init_scales(rng):
    he = Conv2D(8, 64, 5, rng, init="he").params["weight"]
    xavier = Conv2D(8, 64, 5, rng, init="xavier").params["weight"]
    assert he.shape == (5, 5, 8, 64) and he.dtype == np.float32
    assert he.std() == pytest.approx(np.sqrt(2 / (25 * 8)), rel=0.05)
    assert xavier.std() == pytest.approx(np.sqrt(2 / (25 * 8 + 25 * 64)), rel=0.05)


@pytest.mark.parametrize("kwargs", [dict(kernel=0), dict(in_channels=2.5), dict(padding="full"),
                                    dict(init="zeros"), dict(out_channels=True)])
def test_conv_rejects_bad_configuration(kwargs, rng):
    arguments = dict(in_channels=1, out_channels=4, kernel=3, padding="same", init="he") | kwargs
    with pytest.raises(ConfigError):
        Conv2D(rng=rng, **arguments)


def test_conv_rejects_bad_input_shapes(rng):
    layer = Conv2D(1, 4, 5, rng, "valid")
    with pytest.raises(ShapeError, match="reshape"):
        layer.forward(np.zeros((2, 784), np.float32))
    with pytest.raises(ShapeError, match="1 channel"):
        layer.forward(np.zeros((2, 28, 28, 3), np.float32))
    with pytest.raises(ShapeError, match="at least 5×5"):
        layer.forward(np.zeros((2, 4, 28, 1), np.float32))


def test_conv_describe(rng):
    assert Conv2D(1, 16, 5, rng).describe() == "Conv2D(1→16, 5×5, same)"
    assert Conv2D(16, 32, 3, rng, "valid").describe() == "Conv2D(16→32, 3×3, valid)"


# -- MaxPool2D ----------------------------------------------------------------
def distinct_values(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random values at least 0.01 apart, so finite differences never change a window's maximum."""
    return rng.permutation(np.arange(np.prod(shape))).reshape(shape) * 0.01


@pytest.mark.parametrize("size,shape", [(2, (2, 4, 6, 3)), (2, (2, 5, 7, 2)), (3, (1, 7, 6, 2)),
                                        (1, (1, 3, 3, 2))])
def test_maxpool_forward_and_gradients(size, shape, rng):
    x = distinct_values(rng, shape)
    layer = MaxPool2D(size)
    out_h, out_w = shape[1] // size, shape[2] // size
    expected = x[:, :out_h * size, :out_w * size].reshape(
        shape[0], out_h, size, out_w, size, shape[3]).max(axis=(2, 4))
    np.testing.assert_array_equal(layer.forward(x), expected)
    check_layer_gradients(layer, x, rng)


def test_maxpool_drops_remainder_and_routes_nothing_there(rng):
    x = distinct_values(rng, (1, 5, 5, 1))
    layer = MaxPool2D(2)
    assert layer.forward(x).shape == (1, 2, 2, 1)
    dx = layer.backward(np.ones((1, 2, 2, 1)))
    assert not dx[:, 4].any() and not dx[:, :, 4].any()
    assert dx.sum() == 4


def test_maxpool_tie_gives_gradient_to_exactly_one_winner():
    x = np.zeros((2, 4, 4, 3), np.float32)  # every window is a four-way tie
    x[0, 2:, 2:, 1] = 5.0
    layer = MaxPool2D(2)
    grad = np.arange(1, 25, dtype=np.float32).reshape(2, 2, 2, 3)
    layer.forward(x)
    dx = layer.backward(grad.copy())
    windows = dx.reshape(2, 2, 2, 2, 2, 3)
    np.testing.assert_array_equal((windows != 0).sum(axis=(2, 4)), np.ones((2, 2, 2, 3)))
    np.testing.assert_array_equal(windows.sum(axis=(2, 4)), grad)


def test_maxpool_backward_survives_in_place_relu_on_its_output(rng):
    x = rng.standard_normal((2, 4, 4, 3))
    layer = MaxPool2D(2)
    out = layer.forward(x)
    grad = rng.standard_normal(out.shape)
    expected = layer.backward(grad.copy())
    out = layer.forward(x)
    np.maximum(out, 0, out=out)  # what ReLU does while training
    np.testing.assert_array_equal(layer.backward(grad.copy()), expected)


def test_maxpool_rejects_bad_size_and_input():
    with pytest.raises(ConfigError):
        MaxPool2D(0)
    with pytest.raises(ShapeError):
        MaxPool2D(2).forward(np.zeros((2, 16)))
    with pytest.raises(ShapeError, match="at least 3×3"):
        MaxPool2D(3).forward(np.zeros((1, 2, 8, 1)))
    assert MaxPool2D(2).describe() == "MaxPool2D(2)"


# -- Flatten ------------------------------------------------------------------
def test_flatten_round_trip_and_gradient(rng):
    x = rng.standard_normal((3, 2, 4, 5))
    layer = Flatten()
    out = layer.forward(x)
    assert out.shape == (3, 40)
    np.testing.assert_array_equal(out[1], x[1].ravel())
    grad = rng.standard_normal((3, 40))
    np.testing.assert_array_equal(layer.backward(grad), grad.reshape(3, 2, 4, 5))
    check_layer_gradients(layer, x, rng)
    assert layer.describe() == "Flatten"
    with pytest.raises(ShapeError):
        layer.forward(np.zeros(5))


# -- BatchNorm ----------------------------------------------------------------
def batchnorm64(rng: np.random.Generator, channels: int) -> BatchNorm:
    layer = as_float64(BatchNorm(channels))
    layer.params["gamma"][:] = rng.uniform(0.5, 2.0, channels)
    layer.params["beta"][:] = rng.standard_normal(channels)
    return layer


@pytest.mark.parametrize("shape", [(4, 3, 3, 2), (6, 3)])
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_gradients(shape, training, rng):
    layer = batchnorm64(rng, shape[-1])
    layer.buffers["running_mean"][:] = rng.standard_normal(shape[-1])
    layer.buffers["running_var"][:] = rng.uniform(0.5, 2.0, shape[-1])
    check_layer_gradients(layer, rng.standard_normal(shape) * 3 + 1, rng, training=training)


def test_batchnorm_normalises_each_channel_while_training(rng):
    layer = BatchNorm(3)
    x = rng.standard_normal((16, 5, 5, 3)).astype(np.float32) * [1, 10, 0.1] + [5, -2, 0]
    out = layer.forward(x, training=True)
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1, rtol=1e-3)


def test_batchnorm_running_stats_converge_and_drive_inference(rng):
    layer = BatchNorm(2)
    x = (rng.standard_normal((50, 4, 2)) * [2.0, 0.5] + [3.0, -1.0]).astype(np.float32)
    for _ in range(200):
        layer.forward(x, training=True)
    flat = x.reshape(-1, 2)
    np.testing.assert_allclose(layer.buffers["running_mean"], flat.mean(axis=0), rtol=1e-4)
    np.testing.assert_allclose(layer.buffers["running_var"], flat.var(axis=0, ddof=1), rtol=1e-4)
    before = {key: value.copy() for key, value in layer.buffers.items()}
    single = layer.forward(x[:1], training=False)  # one image: batch statistics would be useless
    expected = (x[:1] - flat.mean(axis=0)) / np.sqrt(flat.var(axis=0, ddof=1) + layer.eps)
    np.testing.assert_allclose(single, expected, rtol=1e-3, atol=1e-4)
    for key, value in before.items():
        np.testing.assert_array_equal(layer.buffers[key], value)  # inference leaves them alone


def test_batchnorm_keeps_running_stats_out_of_params():
    layer = BatchNorm(4)
    assert set(layer.params) == set(layer.grads) == {"gamma", "beta"}
    assert set(layer.buffers) == {"running_mean", "running_var"}
    assert layer.describe() == "BatchNorm(4)"
    with pytest.raises(ShapeError):
        layer.forward(np.zeros((2, 5, 5, 3), np.float32))
    with pytest.raises(ConfigError):
        BatchNorm(4, momentum=1.5)


# -- the layers together ------------------------------------------------------
def test_small_cnn_gradients_end_to_end(rng):
    """conv → relu → pool → conv(+BatchNorm) → relu → pool → flatten → dense, in float64."""
    layers = [as_float64(layer) for layer in (
        Conv2D(1, 3, 3, rng), ReLU(), MaxPool2D(2),
        Conv2D(3, 4, 2, rng, "valid"), BatchNorm(4), ReLU(), MaxPool2D(2),
        Flatten(), Dense(1 * 1 * 4, 10, rng))]  # 8×8 → 8×8 → 4×4 → 3×3 → 1×1
    x = rng.random((3, 8, 8, 1))
    labels = np.array([2, 7, 4])

    def loss() -> float:
        out = x.copy()
        for layer in layers:
            out = layer.forward(out, training=True)
        return softmax_cross_entropy(out, labels)[0]

    out = x.copy()
    for layer in layers:
        out = layer.forward(out, training=True)
    grad = softmax_cross_entropy(out, labels)[1]
    for layer in reversed(layers):
        grad = layer.backward(grad)
    analytic = [{key: value.copy() for key, value in layer.grads.items()} for layer in layers]
    np.testing.assert_allclose(grad, numerical_gradient(loss, x), rtol=1e-4, atol=1e-8)
    for layer, grads in zip(layers, analytic):
        for key, param in layer.params.items():
            np.testing.assert_allclose(grads[key], numerical_gradient(loss, param), rtol=1e-4, atol=1e-8)
