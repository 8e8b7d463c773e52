"""Layers: each owns its parameters and their gradients under the same keys.

``forward`` keeps what ``backward`` needs; ``backward(grad)`` fills ``grads``
and returns the gradient with respect to the layer's input. Backward may
overwrite the incoming gradient array: every caller hands over a fresh one.

With ``accumulate_grads`` set (``Network.backward(..., accumulate=True)``),
backward adds the new gradient to ``grads`` instead of replacing it: a batch
taken in several passes then sums to the whole batch's gradient.
"""

from __future__ import annotations

import copy

import numpy as np

from .blas import gemm_tn
from ..config import WEIGHT_INITS
from ..errors import ConfigError


def parameter_name(layer_index: int, key: str) -> str:
    """How networks, optimizers and network files name a parameter, e.g. "layers.0.weight"."""
    return f"layers.{layer_index}.{key}"


def column_sums(matrix: np.ndarray, out: np.ndarray, accumulate: bool = False) -> None:
    """out = the sum of a (rows, columns) matrix down its rows (added to out when ``accumulate``).

    A product with a ones vector does it several times faster than
    np.sum(axis=0) when there are few columns, as for bias gradients.
    """
    ones = np.ones(len(matrix), matrix.dtype)
    if accumulate:
        out += ones @ matrix
    else:
        np.matmul(ones, matrix, out=out)


def store_gradient(target: np.ndarray, value: np.ndarray, accumulate: bool) -> None:
    """target = value, or target += value when ``accumulate`` (see accumulate_grads)."""
    if accumulate:
        target += value
    else:
        target[...] = value


class Layer:
    """Base: a layer without parameters."""

    params: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]
    buffers: dict[str, np.ndarray]  # saved with the network but not trained (batch-norm statistics)
    accumulate_grads: bool  # backward adds to grads instead of replacing them

    def __init__(self) -> None:
        self.params = {}
        self.grads = {}
        self.buffers = {}
        self.accumulate_grads = False

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        raise NotImplementedError

    def describe(self) -> str:
        return type(self).__name__

    def replica(self) -> Layer:
        """A copy for passes run on another thread: the same ``params`` and ``buffers``
        (shared, not copied), its own ``grads`` and its own state between forward and backward."""
        twin = copy.copy(self)
        twin.grads = {key: np.zeros_like(value) for key, value in self.grads.items()}
        return twin


def initial_weights(shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator,
                    init: str) -> np.ndarray:
    """Random float32 weights of ``shape``, scaled by ``init``: "he" keeps ReLU activations'
    variance steady, "xavier" suits sigmoid/tanh. ``fan_in``/``fan_out``: the inputs
    feeding one output and the outputs one input feeds."""
    if init not in WEIGHT_INITS:
        raise ConfigError(f"init must be one of {', '.join(WEIGHT_INITS)}; got {init!r}")
    scale = np.sqrt(2.0 / fan_in) if init == "he" else np.sqrt(2.0 / (fan_in + fan_out))
    return rng.standard_normal(shape, dtype=np.float32) * np.float32(scale)


class Dense(Layer):
    """y = x @ weight + bias, with x (N, n_in), weight (n_in, n_out), bias (n_out,)."""

    def __init__(self, n_in: int, n_out: int, rng: np.random.Generator, init: str = "he") -> None:
        super().__init__()
        self.params = {"weight": initial_weights((n_in, n_out), n_in, n_out, rng, init),
                       "bias": np.zeros(n_out, dtype=np.float32)}
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._x = x
        out = x @ self.params["weight"]
        out += self.params["bias"]
        return out

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        # When accumulating, the product itself adds to grads (gemm's beta = 1): no extra pass.
        gemm_tn(self._x, grad, float(self.accumulate_grads), self.grads["weight"])
        column_sums(grad, self.grads["bias"], self.accumulate_grads)
        # The first layer's input gradient is a third of backward's work and
        # only saliency maps need it.
        return grad @ self.params["weight"].T if need_input_grad else None

    def describe(self) -> str:
        n_in, n_out = self.params["weight"].shape
        return f"Dense({n_in}→{n_out})"


class ToImage(Layer):
    """(N, 784) flat pixels → (N, 28, 28, 1) channels-last images for conv layers."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return x.reshape(len(x), 28, 28, 1)

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        return grad.reshape(len(grad), 784)


class ReLU(Layer):
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        # Returns its local, never self._out: another thread may predict with this layer meanwhile.
        out = self._out = np.maximum(x, 0, out=x if training else None)
        return out

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        return np.multiply(grad, self._out > 0, out=grad)


class LeakyReLU(Layer):
    def __init__(self, slope: float = 0.01) -> None:
        super().__init__()
        self.slope = np.float32(slope)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self._positive = x > 0
        return np.where(self._positive, x, x * self.slope)

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        return np.where(self._positive, grad, grad * self.slope)


class Sigmoid(Layer):
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        # tanh form is stable for large |x| where exp(-x) would overflow.
        out = self._out = 0.5 * (np.tanh(0.5 * x) + 1)
        return out

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        return grad * self._out * (1 - self._out)


class Tanh(Layer):
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        out = self._out = np.tanh(x)
        return out

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        return grad * (1 - self._out * self._out)


class Dropout(Layer):
    """Inverted dropout: scaled while training so inference needs no change."""

    def __init__(self, rate: float, rng: np.random.Generator) -> None:
        super().__init__()
        self.rate = rate
        self.rng = rng
        self._mask: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if not training or self.rate == 0:
            self._mask = None
            return x
        keep = 1.0 - self.rate
        self._mask = (self.rng.random(x.shape, dtype=np.float32) < keep) / np.float32(keep)
        return x * self._mask

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        return grad if self._mask is None else grad * self._mask

    def replica(self) -> Dropout:
        twin = super().replica()
        # Its own stream: two threads drawing from one generator would race.
        twin.rng = self.rng.spawn(1)[0]
        return twin

    def describe(self) -> str:
        return f"Dropout({self.rate:g})"


ACTIVATION_LAYERS: dict[str, type[Layer]] = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
}
