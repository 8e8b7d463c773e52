"""The plain convolution is right (finite differences), and the fast Conv2D computes what it does."""

from __future__ import annotations

import numpy as np
import pytest

from nn_core.model.conv import Conv2D
from nn_core.model.plain_conv import PlainConv2D
from tests.gradients import numerical_gradient


def float64_pair(rng: np.random.Generator, in_channels: int, out_channels: int, kernel: int,
                 padding: str) -> tuple[PlainConv2D, Conv2D]:
    """A plain and a fast convolution with the same float64 weights and a non-zero bias."""
    plain = PlainConv2D(in_channels, out_channels, kernel, rng, padding)
    fast = Conv2D(in_channels, out_channels, kernel, rng, padding)
    plain.params["bias"][:] = rng.standard_normal(out_channels)
    for layer in (plain, fast):
        for key, value in plain.params.items():
            layer.params[key] = value.astype(np.float64)
            layer.grads[key] = np.zeros_like(layer.params[key])
    return plain, fast


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("kernel", [1, 2, 3])
def test_plain_convolution_gradients_match_finite_differences(padding, kernel, rng):
    layer, _ = float64_pair(rng, 2, 3, kernel, padding)
    x = rng.standard_normal((2, 5, 5, 2))
    upstream = rng.standard_normal(layer.forward(x).shape)

    def objective() -> float:
        return float((layer.forward(x) * upstream).sum())

    layer.forward(x)
    input_grad = layer.backward(upstream.copy())
    param_grads = {key: grad.copy() for key, grad in layer.grads.items()}
    np.testing.assert_allclose(input_grad, numerical_gradient(objective, x), rtol=1e-5, atol=1e-7)
    for key, param in layer.params.items():
        np.testing.assert_allclose(param_grads[key], numerical_gradient(objective, param), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("kernel", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("in_channels", [1, 3])
@pytest.mark.parametrize("training", [False, True])
def test_the_fast_convolution_computes_what_the_plain_one_does(padding, kernel, in_channels, training, rng):
    plain, fast = float64_pair(rng, in_channels, 4, kernel, padding)
    x = rng.standard_normal((3, 12, 12, in_channels))
    expected = plain.forward(x, training)
    np.testing.assert_allclose(fast.forward(x, training), expected, rtol=1e-10, atol=1e-12)
    upstream = rng.standard_normal(expected.shape)
    np.testing.assert_allclose(fast.backward(upstream.copy()), plain.backward(upstream.copy()),
                               rtol=1e-10, atol=1e-12)
    for key in plain.grads:
        np.testing.assert_allclose(fast.grads[key], plain.grads[key], rtol=1e-10, atol=1e-12, err_msg=key)
