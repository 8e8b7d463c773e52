"""Backprop of every layer, activation and loss checked against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from nn_core.config import NetworkConfig
from nn_core.model.layers import Dense, Dropout, LeakyReLU, ReLU, Sigmoid, Tanh
from nn_core.model.losses import softmax, softmax_cross_entropy, softmax_mse
from nn_core.model.network import Network
from tests.gradients import numerical_gradient


def check_layer(layer, x: np.ndarray, rng: np.random.Generator) -> None:
    """Compare analytic input and parameter gradients of sum(out * weights) with numeric ones."""
    upstream = rng.standard_normal(layer.forward(x.copy()).shape)

    def objective() -> float:
        return float((layer.forward(x.copy()) * upstream).sum())

    layer.forward(x.copy())
    analytic_input = layer.backward(upstream.copy())
    np.testing.assert_allclose(analytic_input, numerical_gradient(objective, x), rtol=1e-5, atol=1e-7)
    for key, param in layer.params.items():
        layer.forward(x.copy())
        layer.backward(upstream.copy())
        np.testing.assert_allclose(layer.grads[key], numerical_gradient(objective, param),
                                   rtol=1e-5, atol=1e-7)


def float64_dense(rng: np.random.Generator, n_in: int = 5, n_out: int = 4) -> Dense:
    layer = Dense(n_in, n_out, rng)
    for key in layer.params:
        layer.params[key] = rng.standard_normal(layer.params[key].shape)
        layer.grads[key] = np.zeros_like(layer.params[key])
    return layer


def test_dense_gradients(rng):
    check_layer(float64_dense(rng), rng.standard_normal((3, 5)), rng)


@pytest.mark.parametrize("layer", [ReLU(), LeakyReLU(0.1), Sigmoid(), Tanh()],
                         ids=["relu", "leaky_relu", "sigmoid", "tanh"])
def test_activation_gradients(layer, rng):
    x = rng.standard_normal((4, 6))
    x[np.abs(x) < 1e-3] = 0.5  # keep away from ReLU's kink where the derivative is undefined
    check_layer(layer, x, rng)


def test_dropout_gradient_uses_the_same_mask(rng):
    layer = Dropout(0.5, np.random.default_rng(0))
    x = rng.standard_normal((8, 10))
    out = layer.forward(x, training=True)
    grad = layer.backward(np.ones_like(x))
    np.testing.assert_array_equal(grad, out / np.where(x == 0, 1, x) * (x != 0))
    assert set(np.unique(grad)) <= {0.0, 2.0}


def test_dropout_is_identity_at_inference(rng):
    x = rng.standard_normal((8, 10))
    assert Dropout(0.5, rng).forward(x, training=False) is x


def test_dropout_keeps_expected_activation(rng):
    x = np.ones((200, 500), dtype=np.float32)
    out = Dropout(0.3, rng).forward(x, training=True)
    assert abs(out.mean() - 1.0) < 0.02
    assert abs((out == 0).mean() - 0.3) < 0.02


@pytest.mark.parametrize("loss_fn", [softmax_cross_entropy, softmax_mse], ids=["ce", "mse"])
def test_loss_gradients(loss_fn, rng):
    logits = rng.standard_normal((5, 10))
    labels = rng.integers(0, 10, 5)
    _, analytic = loss_fn(logits.copy(), labels)
    numeric = numerical_gradient(lambda: loss_fn(logits.copy(), labels)[0], logits)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def test_cross_entropy_value_and_stability():
    logits = np.array([[1000.0, 0.0, -1000.0] + [0.0] * 7])
    loss, grad = softmax_cross_entropy(logits, np.array([0]))
    assert loss == pytest.approx(0.0, abs=1e-9)
    assert np.isfinite(grad).all()
    uniform_loss, _ = softmax_cross_entropy(np.zeros((2, 10)), np.array([3, 7]))
    assert uniform_loss == pytest.approx(np.log(10))


def test_softmax_rows_sum_to_one(rng):
    probs = softmax(rng.standard_normal((6, 10)).astype(np.float32) * 30)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-6)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "sigmoid", "tanh"])
def test_whole_network_gradients(activation, rng):
    network = Network(NetworkConfig(layers=(784, 6, 5, 10), activation=activation, seed=3)).astype(np.float64)
    x = rng.random((3, 784))
    labels = np.array([1, 4, 9])

    def objective() -> float:
        return softmax_cross_entropy(network.forward(x), labels)[0]

    _, grad = softmax_cross_entropy(network.forward(x), labels)
    input_grad = network.backward(grad, need_input_grad=True)
    analytic = {name: g.copy() for name, _, g in network.parameters()}
    for name, param, _ in network.parameters():
        if param.ndim == 2:  # a 784×6 weight is slow to check numerically: spot-check rows
            rows = rng.choice(param.shape[0], min(6, param.shape[0]), replace=False)
            numeric = np.array([numerical_gradient(objective, param[r:r + 1]) for r in rows])[:, 0]
            np.testing.assert_allclose(analytic[name][rows], numeric, rtol=1e-4, atol=1e-8)
        else:
            np.testing.assert_allclose(analytic[name], numerical_gradient(objective, param),
                                       rtol=1e-4, atol=1e-8)
    pixels = rng.choice(784, 10, replace=False)
    numeric_input = numerical_gradient(objective, x)[:, pixels]
    np.testing.assert_allclose(input_grad[:, pixels], numeric_input, rtol=1e-4, atol=1e-8)
