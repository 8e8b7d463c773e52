"""Plain-data configuration: what a network is and how it is trained.

Both are frozen dataclasses so they can be stored in a network file as JSON and
rebuilt exactly; ``from_dict`` is the validating boundary for untrusted input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from .errors import ConfigError

INPUT_SIZE = 784
N_CLASSES = 10
ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh")
OPTIMIZERS = ("sgd", "momentum", "adam")
LOSSES = ("cross_entropy", "mse")
LR_SCHEDULES = ("constant", "cosine")
INITS = ("auto", "he", "xavier")
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


@dataclass(frozen=True)
class NetworkConfig:
    """A fully connected network: sizes from the 784 inputs to the 10 classes."""

    layers: tuple[int, ...] = (INPUT_SIZE, 256, 128, N_CLASSES)
    activation: str = "relu"  # applied after every hidden Dense layer
    dropout: float = 0.0  # probability of dropping a hidden unit while training
    init: str = "auto"  # "auto": He for ReLU-like, Xavier for sigmoid/tanh
    seed: int = 0  # seeds the initial weights and dropout masks

    def __post_init__(self) -> None:
        layers = self.layers
        if not isinstance(layers, tuple) or not all(
            isinstance(n, int) and not isinstance(n, bool) for n in layers
        ):
            raise ConfigError(f"layers must be a list of whole numbers; got {layers!r}")
        if len(layers) < 2 or layers[0] != INPUT_SIZE or layers[-1] != N_CLASSES:
            raise ConfigError(
                f"layers must start at {INPUT_SIZE} inputs and end at {N_CLASSES} classes, "
                f"e.g. 784,256,128,10; got {','.join(map(str, layers))}"
            )
        if len(layers) - 2 > MAX_HIDDEN_LAYERS:
            raise ConfigError(f"at most {MAX_HIDDEN_LAYERS} hidden layers; got {len(layers) - 2}")
        for width in layers[1:-1]:
            _check_range("hidden layer width", width, 1, MAX_LAYER_WIDTH)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("init", self.init, INITS)
        _check_range("dropout", self.dropout, 0.0, 0.9)

    @property
    def n_parameters(self) -> int:
        """Weights and biases this architecture holds, known before allocating any."""
        return sum((n_in + 1) * n_out for n_in, n_out in zip(self.layers[:-1], self.layers[1:]))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["layers"] = list(self.layers)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> NetworkConfig:
        return _from_dict(cls, data)


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimizer, schedule, batches, regularisation, augmentation."""

    optimizer: str = "momentum"
    learning_rate: float = 0.05
    momentum: float = 0.9  # used by "momentum"; beta1 for "adam"
    nesterov: bool = False
    batch_size: int = 128
    epochs: int = 10
    weight_decay: float = 0.0  # L2 penalty on weights (not biases)
    lr_schedule: str = "constant"  # "cosine" anneals to 0 over all epochs
    loss: str = "cross_entropy"
    augment: bool = False  # random shift/rotation/scale/thickness per batch
    seed: int = 0  # seeds shuffling and augmentation

    def __post_init__(self) -> None:
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _check_choice("loss", self.loss, LOSSES)
        _check_range("learning_rate", self.learning_rate, 1e-7, 10.0)
        _check_range("momentum", self.momentum, 0.0, 0.999)
        _check_range("batch_size", self.batch_size, 1, 60000)
        _check_range("epochs", self.epochs, 1, 1000)
        _check_range("weight_decay", self.weight_decay, 0.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> TrainConfig:
        return _from_dict(cls, data)
