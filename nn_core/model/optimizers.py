"""Optimizers walk (name, param, grad) triples and update params in place.

They see only those arrays: the name keys the state each keeps (and saves),
never a layer.

The learning rate is a plain attribute so a trainer (or a UI slider) can
change it between steps without losing momentum or Adam state.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from .blas import axpby, axpy
from ..config import TrainConfig
from ..errors import ConfigError

Parameters = Iterable[tuple[str, np.ndarray, np.ndarray]]


class Optimizer:
    counts_steps = False  # whether the update depends on how many steps a parameter has taken

    def __init__(self, learning_rate: float, weight_decay: float = 0.0) -> None:
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay

    def step(self, parameters: Parameters) -> None:
        for name, param, grad in parameters:
            if self.weight_decay and name.endswith("weight"):
                # L2 penalty on weights only; decaying biases buys nothing.
                grad = grad + np.float32(self.weight_decay) * param
            self.update(name, param, grad)

    def update(self, name: str, param: np.ndarray, grad: np.ndarray) -> None:
        raise NotImplementedError

    # -- what resuming a run needs ---------------------------------------------
    def _slots(self) -> dict[str, dict[str, np.ndarray]]:
        """The arrays each parameter keeps between steps, by kind ("velocity"), then by
        parameter name; live, so loading fills them in place. Plain SGD keeps none."""
        return {}

    def _step_counts(self) -> dict[str, int]:
        """Steps taken per parameter, where the update depends on it (Adam's bias correction)."""
        return {}

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, int]]:
        """Arrays named "<kind>/<parameter>", e.g. "velocity/layers.0.weight", and step
        counts per parameter: with the settings, all an optimizer needs to go on exactly."""
        arrays = {f"{kind}/{name}": array for kind, by_name in self._slots().items()
                  for name, array in by_name.items()}
        return arrays, dict(self._step_counts())

    def load_state_dict(self, arrays: dict[str, np.ndarray], steps: dict[str, int],
                        params: dict[str, np.ndarray]) -> None:
        """Take over a saved ``state_dict`` for these ``params`` (name → array); ConfigError
        when it belongs to another optimizer or another architecture."""
        slots = self._slots()
        for key, array in arrays.items():
            kind, _, name = key.partition("/")
            if kind not in slots:
                raise ConfigError(f"optimizer state {key!r}: {type(self).__name__} keeps "
                                  f"{', '.join(slots) or 'no arrays'}")
            if name not in params or array.shape != params[name].shape:
                raise ConfigError(f"optimizer state {key!r} {array.shape} matches no parameter of the network")
        names_by_kind = [{key.partition("/")[2] for key in arrays if key.startswith(f"{kind}/")} for kind in slots]
        if any(names != names_by_kind[0] for names in names_by_kind):
            raise ConfigError(f"optimizer state: each parameter needs all of {', '.join(slots)}")
        counted = names_by_kind[0] if self.counts_steps and names_by_kind else set()
        if set(steps) != counted or not all(isinstance(n, int) and n >= 1 for n in steps.values()):
            raise ConfigError("optimizer state: the step counts do not match its saved arrays")
        for key, array in arrays.items():
            kind, _, name = key.partition("/")
            slots[kind][name] = np.array(array, dtype=params[name].dtype)
        self._step_counts().update(steps)


class SGD(Optimizer):
    def update(self, name: str, param: np.ndarray, grad: np.ndarray) -> None:
        axpy(-self.learning_rate, grad, param)


class Momentum(Optimizer):
    """Heavy-ball momentum (PyTorch's form: velocity accumulates raw gradients)."""

    def __init__(self, learning_rate: float, momentum: float = 0.9, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        super().__init__(learning_rate, weight_decay)
        self.momentum = momentum
        self.nesterov = nesterov
        self.velocity: dict[str, np.ndarray] = {}

    def _slots(self) -> dict[str, dict[str, np.ndarray]]:
        return {"velocity": self.velocity}

    def _velocity(self, name: str, param: np.ndarray) -> np.ndarray:
        velocity = self.velocity.get(name)
        if velocity is None:
            velocity = self.velocity[name] = np.zeros_like(param)
        return velocity

    def update(self, name: str, param: np.ndarray, grad: np.ndarray) -> None:
        velocity = self._velocity(name, param)
        axpby(1.0, grad, self.momentum, velocity)
        if self.nesterov:
            axpy(-self.learning_rate, grad, param)
            axpy(-self.learning_rate * self.momentum, velocity, param)
        else:
            axpy(-self.learning_rate, velocity, param)


class Adam(Optimizer):
    counts_steps = True
    def __init__(self, learning_rate: float, beta1: float = 0.9, beta2: float = 0.999,
                 epsilon: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(learning_rate, weight_decay)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.first: dict[str, np.ndarray] = {}
        self.second: dict[str, np.ndarray] = {}
        self.steps: dict[str, int] = {}
        # One work array per parameter: the update's intermediate results go
        # there instead of into a fresh temporary each.
        self._scratch: dict[str, np.ndarray] = {}

    def _slots(self) -> dict[str, dict[str, np.ndarray]]:
        return {"first": self.first, "second": self.second}

    def _step_counts(self) -> dict[str, int]:
        return self.steps

    def update(self, name: str, param: np.ndarray, grad: np.ndarray) -> None:
        if name not in self.first:
            self.first[name] = np.zeros_like(param)
            self.second[name] = np.zeros_like(param)
            self.steps[name] = 0
        if name not in self._scratch:
            self._scratch[name] = np.empty_like(param)
        self.steps[name] += 1
        t = self.steps[name]
        m, v, work = self.first[name], self.second[name], self._scratch[name]
        axpby(1 - self.beta1, grad, self.beta1, m)
        axpby(1 - self.beta2, np.multiply(grad, grad, out=work), self.beta2, v)
        # Bias correction folded into the step size.
        step_size = self.learning_rate * np.sqrt(1 - self.beta2**t) / (1 - self.beta1**t)
        np.sqrt(v, out=work)
        work += np.asarray(self.epsilon, work.dtype)
        axpy(-step_size, np.divide(m, work, out=work), param)


def make_optimizer(config: TrainConfig) -> Optimizer:
    """The optimizer a TrainConfig names, with its settings."""
    if config.optimizer == "sgd":
        return SGD(config.learning_rate, config.weight_decay)
    if config.optimizer == "momentum":
        return Momentum(config.learning_rate, config.momentum, config.nesterov, config.weight_decay)
    return Adam(config.learning_rate, beta1=config.beta1, beta2=config.beta2,
                weight_decay=config.weight_decay)
