"""Optimizers walk (name, param, grad) triples and update params in place.

The learning rate is a plain attribute so a trainer (or a UI slider) can
change it between steps without losing momentum or Adam state.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from typing import ContextManager, Iterable, Iterator, Sequence

import numpy as np

from .blas import axpby, axpy
from .config import TrainConfig
from .layers import Layer, parameter_name

Parameters = Iterable[tuple[str, np.ndarray, np.ndarray]]


class Optimizer:
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

    def lend_state(self, layers: Sequence[Layer]) -> ContextManager[float]:
        """A context for a training step's backward passes, giving the ``grad_decay``
        the first pass uses: 0 (fresh gradients) unless the optimizer has lent the
        layers arrays of its own as ``grads``. This one lends none."""
        return nullcontext(0.0)


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
        self._updated_by_backward: set[str] = set()

    def _velocity(self, name: str, param: np.ndarray) -> np.ndarray:
        velocity = self.velocity.get(name)
        if velocity is None:
            velocity = self.velocity[name] = np.zeros_like(param)
        return velocity

    @contextmanager
    def lend_state(self, layers: Sequence[Layer]) -> Iterator[float]:
        """Gradients go straight into their velocity, v = momentum · v + g.

        The weight-gradient products do that update themselves, saving a pass
        over every weight per step (6-8% of an MLP step). Only plain heavy ball
        allows it: Nesterov's step and weight decay need g itself.
        """
        if self.nesterov or self.weight_decay:
            yield 0.0
            return
        lent = []
        try:
            for index, layer in enumerate(layers):
                for key, param in layer.params.items():
                    name = parameter_name(index, key)
                    lent.append((layer, key, layer.grads[key]))
                    layer.grads[key] = self._velocity(name, param)
                    self._updated_by_backward.add(name)
            yield self.momentum
        except BaseException:
            self._updated_by_backward.clear()
            raise
        finally:
            for layer, key, grads in lent:
                layer.grads[key] = grads

    def update(self, name: str, param: np.ndarray, grad: np.ndarray) -> None:
        velocity = self._velocity(name, param)
        if name in self._updated_by_backward:
            self._updated_by_backward.discard(name)
        else:
            axpby(1.0, grad, self.momentum, velocity)
        if self.nesterov:
            axpy(-self.learning_rate, grad, param)
            axpy(-self.learning_rate * self.momentum, velocity, param)
        else:
            axpy(-self.learning_rate, velocity, param)


class Adam(Optimizer):
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

    def update(self, name: str, param: np.ndarray, grad: np.ndarray) -> None:
        if name not in self.first:
            self.first[name] = np.zeros_like(param)
            self.second[name] = np.zeros_like(param)
            self._scratch[name] = np.empty_like(param)
            self.steps[name] = 0
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
    return Adam(config.learning_rate, beta1=config.momentum, weight_decay=config.weight_decay)
