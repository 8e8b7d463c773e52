"""The network: a stack of layers built from a NetworkConfig.

Only the model lives here; the training loop is in trainer.py.
"""

from __future__ import annotations

import copy
import math
from typing import Iterator

import numpy as np

from ..config import INPUT_SIZE, N_CLASSES, ConvSpec, NetworkConfig, PoolSpec
from ..errors import ShapeError
from .conv import BatchNorm, Conv2D, Flatten, MaxPool2D
from .layers import ACTIVATION_LAYERS, Dense, Dropout, Layer, ToImage, parameter_name
from .losses import softmax


def as_input_batch(images: np.ndarray) -> np.ndarray:
    """Any digit image(s) → (N, 784) float32 in [0, 1].

    Accepts (784,), (28, 28), (N, 784) or (N, 28, 28); integers (uint8 pixels) are
    divided by 255 exactly as in training, floats are taken to be in [0, 1].
    """
    array = np.asarray(images)
    if np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.float32) * np.float32(1 / 255)
    elif np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32, copy=False)
    else:
        raise ShapeError(f"digit images must be numeric; got dtype {array.dtype}")
    if array.shape in ((INPUT_SIZE,), (28, 28)):
        array = array.reshape(1, INPUT_SIZE)
    elif array.ndim == 3 and array.shape[1:] == (28, 28):
        array = array.reshape(len(array), INPUT_SIZE)
    elif not (array.ndim == 2 and array.shape[1] == INPUT_SIZE):
        raise ShapeError(
            f"expected digit images shaped (784,), (28, 28), (N, 784) or (N, 28, 28); "
            f"got {array.shape}"
        )
    if not np.isfinite(array).all():
        raise ShapeError("digit images contain NaN or infinite values")
    return array


class Network:
    """Dense (and optionally conv/pool) layers with activations between them; outputs 10 logits.

    ``forward`` gives logits; ``predict_proba`` softmax probabilities;
    ``parameters`` yields ``(name, param, grad)`` for any optimizer.
    """

    def __init__(self, config: NetworkConfig = NetworkConfig()) -> None:
        self.config = config
        # Draws the initial weights, then dropout masks (a saved run keeps its state).
        self.rng = rng = np.random.default_rng(config.seed)
        init = config.weight_init
        activation = ACTIVATION_LAYERS[config.activation]
        specs = config.layer_specs()
        self.layers: list[Layer] = [ToImage()] if config.is_convolutional else []
        previous = config.input_shape
        for index, (spec, shape) in enumerate(zip(specs, config.shapes())):
            following = specs[index + 1] if index + 1 < len(specs) else None
            if isinstance(spec, ConvSpec):
                self.layers.append(Conv2D(previous[2], spec.channels, spec.kernel, rng, spec.padding, init))
                if spec.batchnorm:
                    self.layers.append(BatchNorm(spec.channels))
                self.layers.append(activation())
            elif isinstance(spec, PoolSpec):
                self.layers.append(MaxPool2D(spec.size))
            else:
                if len(previous) == 3:
                    self.layers.append(Flatten())
                self.layers.append(Dense(math.prod(previous), spec.width, rng, init))
                if following is not None:
                    self.layers.append(activation())
                    if config.dropout > 0:
                        self.layers.append(Dropout(config.dropout, rng))
            previous = shape
        # Layers up to the first trainable one never need an input gradient in training.
        self._first_trainable = next(i for i, layer in enumerate(self.layers) if layer.params)

    def replica(self) -> Network:
        """A network for training passes on another thread: the same parameters and
        buffers (shared, not copied), its own gradients and per-pass state. Batch norm
        updates its shared statistics, so batch-norm networks never train this way."""
        twin = copy.copy(self)
        twin.layers = [layer.replica() for layer in self.layers]
        return twin

    # -- the maths ---------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Logits (N, 10) for a float32 batch x (N, 784); ``backward`` follows the latest."""
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def backward(self, grad_logits: np.ndarray, need_input_grad: bool = False,
                 accumulate: bool = False) -> np.ndarray | None:
        """Fill every layer's grads from dLoss/dlogits (N, 10) of the latest forward;
        optionally return dLoss/dx (N, 784).

        ``accumulate`` adds the gradients to what ``grads`` hold, as for a batch taken
        in several passes.
        """
        grad = grad_logits
        first = 0 if need_input_grad else self._first_trainable
        try:
            for index in range(len(self.layers) - 1, first - 1, -1):
                layer = self.layers[index]
                layer.accumulate_grads = accumulate
                grad = layer.backward(grad, need_input_grad or index > first)
        finally:
            for layer in self.layers:
                layer.accumulate_grads = False
        return grad if need_input_grad else None

    def activations(self, images: np.ndarray) -> list[np.ndarray]:
        """Input and every layer's output for one forward pass (inference mode).

        Returns a list whose first entry is the (N, 784) input and whose last is
        the (N, 10) logits; entry i+1 is the output of ``self.layers[i]``.
        """
        outputs = [as_input_batch(images)]
        for layer in self.layers:
            outputs.append(layer.forward(outputs[-1], training=False))
        return outputs

    # -- scikit-learn style ------------------------------------------------
    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities (N, 10) for any digit image(s), see ``as_input_batch``."""
        return softmax(self.forward(as_input_batch(images)))

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Predicted digits (N,) as int64."""
        return self.forward(as_input_batch(images)).argmax(axis=1)

    def score(self, images: np.ndarray, labels: np.ndarray, chunk: int = 500) -> float:
        """Accuracy on (N, 784) images, evaluated in chunks to bound memory."""
        labels = np.asarray(labels)
        correct = 0
        for start in range(0, len(labels), chunk):
            batch = as_input_batch(images[start:start + chunk])
            correct += int((self.forward(batch).argmax(axis=1) == labels[start:start + chunk]).sum())
        return correct / max(len(labels), 1)

    def saliency(self, images: np.ndarray, target: int | np.ndarray | None = None) -> np.ndarray:
        """Gradient of a class's logit w.r.t. the input pixels, (N, 784).

        ``target`` defaults to each image's predicted class.
        """
        x = as_input_batch(images)
        network = self._inference_twin()
        logits = network.forward(x)
        targets = logits.argmax(axis=1) if target is None else np.broadcast_to(target, len(x))
        if np.any((targets < 0) | (targets >= N_CLASSES)):
            raise ShapeError(f"saliency target must be a digit 0-9; got {target!r}")
        grad = np.zeros_like(logits)
        grad[np.arange(len(x)), targets] = 1
        return network.backward(grad, need_input_grad=True)

    def _inference_twin(self) -> Network:
        """The same parameters with their own gradients and per-pass state, for an inference
        pass and its backward: a saliency map then never disturbs, nor is disturbed by, a
        training step or another thread's prediction with this network (the dashboard's
        sessions share one). Inference draws no random numbers and uses no training scratch,
        so the plain Layer.replica does, without Dropout's and Conv2D's own."""
        twin = copy.copy(self)
        twin.layers = [Layer.replica(layer) for layer in self.layers]
        return twin

    # -- parameters --------------------------------------------------------
    def parameters(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """(name, param, grad) for every trainable array, e.g. ("layers.0.weight", W, dW)."""
        for index, layer in enumerate(self.layers):
            for key, param in layer.params.items():
                yield parameter_name(index, key), param, layer.grads[key]

    def buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        """Saved but untrained arrays, e.g. ("layers.2.running_mean", ...) of batch norm."""
        for index, layer in enumerate(self.layers):
            for key, buffer in layer.buffers.items():
                yield parameter_name(index, key), buffer

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every array a network file stores: parameters and buffers by name."""
        arrays = {name: param for name, param, _ in self.parameters()}
        arrays.update(self.buffers())
        return arrays

    def load_state_dict(self, arrays: dict[str, np.ndarray]) -> None:
        """Copy arrays into the parameters and buffers; names and shapes must match exactly."""
        targets = self.state_dict()
        if set(arrays) != set(targets):
            missing = sorted(set(targets) - set(arrays))
            extra = sorted(set(arrays) - set(targets))
            raise ShapeError(f"parameter names do not match the architecture: "
                             f"missing {missing or 'none'}, unexpected {extra or 'none'}")
        for name, target in targets.items():
            value = arrays[name]
            if value.shape != target.shape:
                raise ShapeError(f"{name} has shape {value.shape}; the architecture needs {target.shape}")
            target[...] = value

    def astype(self, dtype: np.dtype) -> Network:
        """Cast every parameter, gradient and buffer in place (float64 for gradient checks)."""
        for layer in self.layers:
            for arrays in (layer.params, layer.grads, layer.buffers):
                for key in arrays:
                    arrays[key] = arrays[key].astype(dtype)
        return self

    @property
    def n_parameters(self) -> int:
        return sum(param.size for _, param, _ in self.parameters())

    def describe(self) -> str:
        """Short architecture text, e.g. "784-256-128-10 relu"."""
        return self.config.describe()
