"""Plain-data configuration: what a network is and how it is trained.

Both are frozen dataclasses so they can be stored in a network file as JSON and
rebuilt exactly; ``from_dict`` is the validating boundary for untrusted input.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from .errors import ConfigError

INPUT_SIZE = 784
N_CLASSES = 10
ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh")
OPTIMIZERS = ("sgd", "momentum", "adam")
LOSSES = ("cross_entropy", "mse")
LR_SCHEDULES = ("constant", "cosine")
WEIGHT_INITS = ("he", "xavier")  # how initial weights are scaled (nn_core.model.layers.initial_weights)
INITS = ("auto", *WEIGHT_INITS)  # "auto" picks by the activation (NetworkConfig.weight_init)
MAX_LAYER_WIDTH = 4096
MAX_HIDDEN_LAYERS = 8


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not (low <= value <= high):
        raise ConfigError(f"{name} must be between {low} and {high}; got {value!r}")


def _from_dict(cls: type, data: Any) -> Any:
    """Build a config dataclass from a mapping, rejecting unknown or mistyped keys."""
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__} must be a JSON object; got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
    kwargs = {}
    for name, value in data.items():
        expected = type(getattr(cls(), name)) if name != "layers" else tuple
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if expected is tuple and isinstance(value, list):
            value = tuple(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(
                f"{cls.__name__}.{name} must be {expected.__name__}; got {type(value).__name__}"
            )
        kwargs[name] = value
    return cls(**kwargs)


MAX_CONV_CHANNELS = 256
MAX_KERNEL = 11
PADDINGS = ("same", "valid")

Shape = tuple[int, ...]  # one image's shape without the batch axis: (H, W, C) or (features,)
IMAGE_SHAPE: Shape = (28, 28, 1)


@dataclass(frozen=True)
class ConvSpec:
    """A stride-1 convolution of ``channels`` filters, ``kernel`` × ``kernel``, optionally
    followed by batch norm. JSON: ``{"conv": 16, "kernel": 5, "padding": "same", "batchnorm": false}``."""

    channels: int
    kernel: int = 3
    padding: str = "same"  # "same" keeps the image's size; "valid" shrinks it by kernel - 1
    batchnorm: bool = False

    def output_shape(self, shape: Shape) -> Shape:
        side = shape[0] if self.padding == "same" else shape[0] - self.kernel + 1
        return (side, side, self.channels)

    def n_parameters(self, shape: Shape) -> int:
        weights = (self.kernel ** 2 * shape[2] + 1) * self.channels
        return weights + (2 * self.channels if self.batchnorm else 0)

    def describe(self) -> str:
        return f"c{self.channels}k{self.kernel}" + ("bn" if self.batchnorm else "")



@dataclass(frozen=True)
class PoolSpec:
    """Max pooling over ``size`` × ``size`` windows. JSON: ``{"pool": 2}``."""

    size: int

    def output_shape(self, shape: Shape) -> Shape:
        return (shape[0] // self.size, shape[1] // self.size, shape[2])

    def n_parameters(self, shape: Shape) -> int:
        return 0

    def describe(self) -> str:
        return f"p{self.size}"


@dataclass(frozen=True)
class DenseSpec:
    """A fully connected layer of ``width`` units. JSON: ``{"dense": 10}``, or a width in an MLP's list."""

    width: int

    def output_shape(self, shape: Shape) -> Shape:
        return (self.width,)

    def n_parameters(self, shape: Shape) -> int:
        return (math.prod(shape) + 1) * self.width

    def describe(self) -> str:
        return f"d{self.width}"


LayerSpec = ConvSpec | PoolSpec | DenseSpec
# Each kind's JSON keys: the key naming the kind comes first; the type each key holds.
SPEC_KEYS: dict[str, dict[str, type]] = {
    "conv": {"conv": int, "kernel": int, "padding": str, "batchnorm": bool},
    "pool": {"pool": int},
    "dense": {"dense": int},
}


def parse_layer_spec(index: int, spec: Any) -> LayerSpec:
    """One layer's JSON object → its spec, validated; ConfigError says what was expected."""
    where = f"layer {index + 1}"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where} must be a number (an MLP width) or an object like "
                          f'{{"conv": 16, "kernel": 5}}; got {spec!r}')
    kinds = [kind for kind in SPEC_KEYS if kind in spec]
    if len(kinds) != 1:
        raise ConfigError(f"{where} must name exactly one of conv, pool, dense; got {spec!r}")
    kind = kinds[0]
    allowed = SPEC_KEYS[kind]
    unknown = sorted(set(spec) - set(allowed))
    if unknown:
        raise ConfigError(f"{where} ({kind}) has unknown key(s) {', '.join(unknown)}; "
                          f"allowed: {', '.join(allowed)}")
    for key, value in spec.items():
        if not isinstance(value, allowed[key]) or (allowed[key] is int and isinstance(value, bool)):
            raise ConfigError(f"{where}: {key} must be {allowed[key].__name__}; got {value!r}")
    if kind == "conv":
        conv = ConvSpec(spec["conv"], spec.get("kernel", 3), spec.get("padding", "same"),
                        spec.get("batchnorm", False))
        _check_range(f"{where} conv channels", conv.channels, 1, MAX_CONV_CHANNELS)
        _check_range(f"{where} kernel", conv.kernel, 1, MAX_KERNEL)
        _check_choice(f"{where} padding", conv.padding, PADDINGS)
        return conv
    if kind == "pool":
        _check_range(f"{where} pool size", spec["pool"], 2, 4)
        return PoolSpec(spec["pool"])
    _check_range(f"{where} dense width", spec["dense"], 1, MAX_LAYER_WIDTH)
    return DenseSpec(spec["dense"])


def _is_mlp_sizes(layers: tuple) -> bool:
    return all(isinstance(n, int) and not isinstance(n, bool) for n in layers)


@dataclass(frozen=True)
class NetworkConfig:
    """A network from the 784 input pixels to the 10 classes, as plain data.

    ``layers`` is the JSON form: either MLP sizes, ``(784, 256, 128, 10)``, or a
    list of layer objects for a convolutional network, e.g. ``({"conv": 16,
    "kernel": 5}, {"pool": 2}, {"conv": 32, "kernel": 5}, {"pool": 2},
    {"dense": 10})`` (see ConvSpec, PoolSpec, DenseSpec; the last must be
    ``{"dense": 10}``). ``layer_specs()`` gives them as those dataclasses.
    """

    layers: tuple = (INPUT_SIZE, 256, 128, N_CLASSES)
    activation: str = "relu"  # applied after every conv and hidden dense layer
    dropout: float = 0.0  # probability of dropping a hidden dense unit while training
    init: str = "auto"  # "auto": He for ReLU-like, Xavier for sigmoid/tanh
    seed: int = 0  # seeds the initial weights and dropout masks

    def __post_init__(self) -> None:
        if not isinstance(self.layers, tuple) or not self.layers:
            raise ConfigError(f"layers must be a non-empty list; got {self.layers!r}")
        if _is_mlp_sizes(self.layers):
            self._check_mlp_sizes()
        else:
            self._check_specs()
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("init", self.init, INITS)
        _check_range("dropout", self.dropout, 0.0, 0.9)

    def _check_mlp_sizes(self) -> None:
        layers = self.layers
        if len(layers) < 2 or layers[0] != INPUT_SIZE or layers[-1] != N_CLASSES:
            raise ConfigError(
                f"layers must start at {INPUT_SIZE} inputs and end at {N_CLASSES} classes, "
                f"e.g. 784,256,128,10; got {','.join(map(str, layers))}"
            )
        if len(layers) - 2 > MAX_HIDDEN_LAYERS:
            raise ConfigError(f"at most {MAX_HIDDEN_LAYERS} hidden layers; got {len(layers) - 2}")
        for width in layers[1:-1]:
            _check_range("hidden layer width", width, 1, MAX_LAYER_WIDTH)

    def _check_specs(self) -> None:
        specs = [parse_layer_spec(index, spec) for index, spec in enumerate(self.layers)]
        if len(specs) > 2 * MAX_HIDDEN_LAYERS + 1:
            raise ConfigError(f"at most {2 * MAX_HIDDEN_LAYERS + 1} layers; got {len(specs)}")
        if specs[-1] != DenseSpec(N_CLASSES):
            raise ConfigError(f'the last layer must be {{"dense": {N_CLASSES}}}; got {self.layers[-1]!r}')
        dense = [isinstance(spec, DenseSpec) for spec in specs]
        if not all(dense[dense.index(True):]):
            raise ConfigError("conv and pool layers must come before the dense layers")
        shape = IMAGE_SHAPE
        for index, spec in enumerate(specs):
            shape = spec.output_shape(shape)
            if shape[0] < 1:
                raise ConfigError(f"layer {index + 1} shrinks the 28×28 image to nothing: "
                                  f"use smaller kernels, 'same' padding or fewer pools")

    @property
    def is_convolutional(self) -> bool:
        return not isinstance(self.layer_specs()[0], DenseSpec)

    @property
    def weight_init(self) -> str:
        """The initial-weight scheme, "he" or "xavier", with "auto" decided by the activation."""
        if self.init != "auto":
            return self.init
        return "xavier" if self.activation in ("sigmoid", "tanh") else "he"

    def layer_specs(self) -> list[LayerSpec]:
        """Every layer after the input, as its spec dataclass."""
        if _is_mlp_sizes(self.layers):
            return [DenseSpec(width) for width in self.layers[1:]]
        return [parse_layer_spec(index, spec) for index, spec in enumerate(self.layers)]

    @property
    def input_shape(self) -> Shape:
        return IMAGE_SHAPE if self.is_convolutional else (INPUT_SIZE,)

    def shapes(self) -> list[Shape]:
        """Output shape of every spec in ``layer_specs()`` (without the batch axis)."""
        shape, shapes = self.input_shape, []
        for spec in self.layer_specs():
            shape = spec.output_shape(shape)
            shapes.append(shape)
        return shapes

    @property
    def n_parameters(self) -> int:
        """Weights, biases and batch-norm scales this architecture holds, known before allocating any."""
        inputs = [self.input_shape, *self.shapes()[:-1]]
        return sum(spec.n_parameters(shape) for spec, shape in zip(self.layer_specs(), inputs))

    def describe(self) -> str:
        """Short architecture text, e.g. "784-256-128-10 relu" or "c16k5-p2-c32k5-p2-d10 relu"."""
        if not self.is_convolutional:
            return f"{'-'.join(map(str, self.layers))} {self.activation}"
        return f"{'-'.join(spec.describe() for spec in self.layer_specs())} {self.activation}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["layers"] = [dict(spec) if isinstance(spec, dict) else spec for spec in self.layers]
        return data

    @classmethod
    def from_dict(cls, data: Any) -> NetworkConfig:
        return _from_dict(cls, data)


# Architectures offered by name in the CLI and the dashboard.
PRESETS: dict[str, tuple] = {
    "mlp": (INPUT_SIZE, 256, 128, N_CLASSES),
    "cnn": ({"conv": 16, "kernel": 5}, {"pool": 2}, {"conv": 32, "kernel": 5}, {"pool": 2},
            {"dense": N_CLASSES}),
}


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimizer, schedule, batches, regularisation, augmentation."""

    optimizer: str = "momentum"
    learning_rate: float = 0.05
    momentum: float = 0.9  # "momentum" only: how much of the last step each step keeps
    nesterov: bool = False  # "momentum" only: look ahead along the velocity
    beta1: float = 0.9  # "adam" only: decay of the gradient's running mean
    beta2: float = 0.999  # "adam" only: decay of the squared gradient's running mean
    batch_size: int = 128
    epochs: int = 10
    weight_decay: float = 0.0  # L2 penalty on weights (not biases)
    lr_schedule: str = "constant"  # "cosine" anneals to 0 over all epochs
    loss: str = "cross_entropy"
    augment: bool = False  # random shift/rotation/scale/thickness per batch
    elastic: float = 0.0  # with augment: elastic distortion strength (alpha, px); ~30 is gentle
    seed: int = 0  # seeds shuffling and augmentation

    def __post_init__(self) -> None:
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _check_choice("loss", self.loss, LOSSES)
        _check_range("learning_rate", self.learning_rate, 1e-7, 10.0)
        _check_range("momentum", self.momentum, 0.0, 0.999)
        _check_range("beta1", self.beta1, 0.0, 0.999)
        _check_range("beta2", self.beta2, 0.0, 0.99999)
        _check_range("batch_size", self.batch_size, 1, 60000)
        _check_range("epochs", self.epochs, 1, 1000)
        _check_range("weight_decay", self.weight_decay, 0.0, 1.0)
        _check_range("elastic", self.elastic, 0.0, 100.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> TrainConfig:
        """Validated, from JSON; an Adam run saved before beta1 had a field of its own kept
        it in ``momentum``, and still trains with it."""
        if isinstance(data, dict) and data.get("optimizer") == "adam" and "beta1" not in data \
                and "momentum" in data:
            data = {**data, "beta1": data["momentum"]}
        return _from_dict(cls, data)
