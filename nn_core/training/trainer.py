"""The trainer: the one owner of the training loop's state.

A UI calls ``step(n)`` as often as it likes, changes settings between calls
with ``update(...)``, and reads ``history``; the CLI uses ``run``, which is
just a loop over ``step``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields, replace
from contextlib import nullcontext
from typing import Any, Callable, ContextManager

import numpy as np

from .augment import AugmentConfig, augment_batch
from ..config import TrainConfig
from ..errors import ShapeError
from ..model.losses import LOSSES
from ..model.network import Network, as_input_batch
from ..model.optimizers import make_optimizer
from ..speed import fast_enabled
from ..speed.passes import FastPasses, LossFunction
from .training_state import TrainingState

_INV_255 = np.float32(1 / 255)


@dataclass(frozen=True)
class StepResult:
    """What one ``step(n_batches)`` call did."""

    step: int  # batches trained so far, this call included
    epoch: float  # epochs completed so far, fractional (1.5 = halfway through the second)
    loss: float  # mean loss over this call's batches
    accuracy: float  # training accuracy over this call's batches
    samples: int  # images seen in this call
    seconds: float  # wall time of this call
    learning_rate: float  # rate used by the last batch
    epoch_finished: bool  # this call reached the end of an epoch

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else 0.0


@dataclass
class History:
    """Per-batch and per-evaluation records, as columns (cheap to chart and to store as JSON)."""

    step: list[int] = field(default_factory=list)
    epoch: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)  # training seconds so far
    eval_step: list[int] = field(default_factory=list)
    eval_epoch: list[float] = field(default_factory=list)
    eval_accuracy: list[float] = field(default_factory=list)
    eval_time: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, list]:
        return {f.name: list(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        names = {f.name for f in fields(cls)}
        return cls(**{name: list(values) for name, values in data.items() if name in names})

    def __len__(self) -> int:
        return len(self.step)


class PlainPasses:
    """A batch in one forward and one backward pass on the caller's thread: the plain
    model alone, which the speed layer's ``FastPasses`` matches (``NN_CORE_FAST=0``)."""

    def __init__(self, network: Network) -> None:
        self.network = network

    def spread(self) -> ContextManager[None]:
        return nullcontext()

    def train_batch(self, images: np.ndarray, labels: np.ndarray, loss: LossFunction) -> tuple[float, int]:
        """Forward and backward over a batch, its gradient left in the network's ``grads``;
        returns the batch's mean loss and how many images it classified correctly."""
        logits = self.network.forward(images, training=True)
        mean_loss, grad = loss(logits, labels)
        correct = int((logits.argmax(axis=1) == labels).sum())
        self.network.backward(grad)
        return mean_loss, correct

    def forward(self, images: np.ndarray) -> np.ndarray:
        return self.network.forward(images)


def _check_dataset(images: np.ndarray, labels: np.ndarray, what: str) -> None:
    if images.ndim != 2 or images.shape[1] != 784:
        raise ShapeError(f"{what} images must be (N, 784); got {images.shape}")
    if labels.shape != (len(images),):
        raise ShapeError(f"{what} labels must be ({len(images)},); got {labels.shape}")
    if len(images) == 0:
        raise ShapeError(f"{what} set is empty")


class Trainer:
    """Mini-batch training of a Network on (N, 784) uint8 images and (N,) labels.

    Images stay uint8 and become float32 one batch at a time, so the training
    set costs 47 MB, not 188 MB.
    """

    def __init__(self, network: Network, images: np.ndarray, labels: np.ndarray,
                 config: TrainConfig = TrainConfig(), eval_images: np.ndarray | None = None,
                 eval_labels: np.ndarray | None = None) -> None:
        _check_dataset(images, labels, "training")
        if eval_images is not None:
            _check_dataset(eval_images, eval_labels, "evaluation")
        self.network = network
        self.images, self.labels = images, labels
        self.eval_images, self.eval_labels = eval_images, eval_labels
        self.config = config
        self.rng = np.random.default_rng(config.seed)
        self.optimizer = make_optimizer(config)
        self.history = History()
        self.step_count = 0
        self.epochs_done = 0
        self.elapsed = 0.0
        self._order = self.rng.permutation(len(images))
        self._cursor = 0
        # Reused batch arrays: a fresh 400 kB float batch every step costs its
        # page faults each time, about 5% of an MLP step.
        self._pixel_buffer = np.empty((0, 784), images.dtype)
        self._batch_buffer = np.empty((0, 784), np.float32)
        # How a batch's passes run: by the speed layer unless it is switched off.
        self.passes = FastPasses(network) if fast_enabled() else PlainPasses(network)

    @classmethod
    def from_checkpoint(cls, network: Network, images: np.ndarray, labels: np.ndarray, config: TrainConfig,
                        state: TrainingState, history: History | None = None,
                        eval_images: np.ndarray | None = None,
                        eval_labels: np.ndarray | None = None, same_data: bool = True) -> Trainer:
        """A trainer that goes on with a saved run (see ``training_state``) exactly where it
        stopped: ``network`` holds the run's weights, ``images``/``labels`` are the same
        training set, ``config`` the run's settings with ``epochs`` the new total.

        With the same settings it takes the batches, random draws and optimizer steps the
        run would have taken had it never stopped. ``same_data=False`` goes on with other
        images (a network trained by the CLI continued on the dashboard's split): the
        optimizer's state, the counters and the generators carry over, and a new pass over
        these images starts, freshly shuffled. ConfigError or ShapeError when the state does
        not fit this network, data or optimizer.
        """
        if same_data and state.n_images != len(images):
            raise ShapeError(f"the run trained on {state.n_images:,} images; these are {len(images):,}: "
                             f"continue it on the same data")
        trainer = cls(network, images, labels, config, eval_images, eval_labels)
        params = {name: param for name, param, _ in network.parameters()}
        trainer.optimizer.load_state_dict(state.optimizer_arrays, state.optimizer_steps, params)
        trainer.rng.bit_generator.state = state.rng_state
        network.rng.bit_generator.state = state.network_rng_state
        if same_data:
            trainer._order, trainer._cursor = np.array(state.order, dtype=np.intp), state.cursor
        else:
            trainer._order, trainer._cursor = trainer.rng.permutation(len(images)), 0
        trainer.step_count, trainer.epochs_done, trainer.elapsed = state.step_count, state.epochs_done, state.elapsed
        trainer.history = history if history is not None else History()
        return trainer

    def training_state(self) -> TrainingState:
        """Where this run stands, to save with the network and continue later (``from_checkpoint``)."""
        arrays, steps = self.optimizer.state_dict()
        return TrainingState(self.step_count, self.epochs_done, self._cursor, self.elapsed, self._order.copy(),
                             self.rng.bit_generator.state, self.network.rng.bit_generator.state,
                             {name: array.copy() for name, array in arrays.items()}, steps)

    # -- state a UI reads --------------------------------------------------
    @property
    def epoch(self) -> float:
        """Epochs completed, fractional."""
        return self.epochs_done + self._cursor / len(self.images)

    @property
    def done(self) -> bool:
        return self.epochs_done >= self.config.epochs

    @property
    def batches_per_epoch(self) -> int:
        return math.ceil(len(self.images) / self.config.batch_size)

    @property
    def learning_rate(self) -> float:
        """The rate the next batch will use, after the schedule."""
        base = self.config.learning_rate
        if self.config.lr_schedule == "cosine":
            progress = min(self.epoch / self.config.epochs, 1.0)
            return base * 0.5 * (1 + math.cos(math.pi * progress))
        return base

    # -- changing settings between steps ------------------------------------
    def update(self, **changes: Any) -> None:
        """Change TrainConfig fields mid-run, e.g. ``update(learning_rate=0.01)``.

        Changing the optimizer kind restarts its state; other optimizer settings
        keep momentum/Adam state.
        """
        old = self.config
        self.config = replace(old, **changes)
        if self.config.optimizer != old.optimizer:
            self.optimizer = make_optimizer(self.config)
        else:
            self.optimizer.weight_decay = self.config.weight_decay
            if hasattr(self.optimizer, "nesterov"):
                self.optimizer.momentum = self.config.momentum
                self.optimizer.nesterov = self.config.nesterov
            if hasattr(self.optimizer, "beta1"):
                self.optimizer.beta1 = self.config.beta1
                self.optimizer.beta2 = self.config.beta2

    # -- the loop ------------------------------------------------------------
    def _next_batch_indices(self) -> np.ndarray:
        end = min(self._cursor + self.config.batch_size, len(self.images))
        indices = self._order[self._cursor:end]
        self._cursor = end
        return indices

    def _input_batch(self, indices: np.ndarray) -> np.ndarray:
        """The float32 batch of ``images[indices]``, valid until the next call."""
        if self.config.augment:
            return augment_batch(self.images[indices], self.rng,
                                 AugmentConfig(elastic=self.config.elastic))
        n = len(indices)
        if n > len(self._batch_buffer):
            self._pixel_buffer = np.empty((n, 784), self.images.dtype)
            self._batch_buffer = np.empty((n, 784), np.float32)
        pixels = np.take(self.images, indices, axis=0, out=self._pixel_buffer[:n])
        return np.multiply(pixels, _INV_255, out=self._batch_buffer[:n])

    def _train_batch(self, batch: np.ndarray, labels: np.ndarray) -> tuple[float, int]:
        """One optimizer step on a batch; returns its mean loss and how many it classified correctly."""
        mean_loss, correct = self.passes.train_batch(batch, labels, LOSSES[self.config.loss])
        self.optimizer.learning_rate = self.learning_rate
        self.optimizer.step(self.network.parameters())
        return mean_loss, correct

    def step(self, n_batches: int = 1) -> StepResult:
        """Train on the next ``n_batches`` batches (stopping early at an epoch's end)."""
        if n_batches < 1:
            raise ValueError(f"n_batches must be at least 1; got {n_batches}")
        started = time.perf_counter()
        losses, corrects, samples, epoch_finished = [], 0, 0, False
        with self.passes.spread():
            for _ in range(n_batches):
                indices = self._next_batch_indices()
                loss, correct = self._train_batch(self._input_batch(indices), self.labels[indices])
                self.step_count += 1
                corrects += correct
                samples += len(indices)
                losses.append(loss)
                self._record_batch(loss, correct / len(indices), self.elapsed + time.perf_counter() - started)
                if self._cursor >= len(self.images):
                    self._start_new_epoch()
                    epoch_finished = True
                    break
        seconds = time.perf_counter() - started
        self.elapsed += seconds
        return StepResult(self.step_count, self.epoch, float(np.mean(losses)), corrects / samples,
                          samples, seconds, self.optimizer.learning_rate, epoch_finished)

    def _record_batch(self, loss: float, accuracy: float, training_seconds: float) -> None:
        history = self.history
        history.step.append(self.step_count)
        history.epoch.append(round(self.epoch, 5))
        history.loss.append(loss)
        history.train_accuracy.append(accuracy)
        history.learning_rate.append(self.optimizer.learning_rate)
        history.time.append(round(training_seconds, 4))

    def _start_new_epoch(self) -> None:
        self.epochs_done += 1
        self._cursor = 0
        self._order = self.rng.permutation(len(self.images))

    def evaluate(self, images: np.ndarray | None = None, labels: np.ndarray | None = None) -> float:
        """Accuracy on the evaluation set (or the given one); recorded in history when default."""
        record = images is None
        if record:
            if self.eval_images is None:
                raise ValueError("this trainer has no evaluation set; pass images and labels")
            images, labels = self.eval_images, self.eval_labels
        accuracy = self._score(images, labels)
        if record:
            self.history.eval_step.append(self.step_count)
            self.history.eval_epoch.append(round(self.epoch, 5))
            self.history.eval_accuracy.append(accuracy)
            self.history.eval_time.append(round(self.elapsed, 4))
        return accuracy

    def _score(self, images: np.ndarray, labels: np.ndarray, chunk: int = 500) -> float:
        """Accuracy as ``Network.score`` gives it, each chunk's forward taken by ``passes``."""
        correct = 0
        for start in range(0, len(labels), chunk):
            logits = self.passes.forward(as_input_batch(images[start:start + chunk]))
            correct += int((logits.argmax(axis=1) == labels[start:start + chunk]).sum())
        return correct / max(len(labels), 1)

    def run(self, on_step: Callable[[StepResult], None] | None = None,
            on_epoch: Callable[[int, float | None], None] | None = None,
            batches_per_step: int = 50) -> History:
        """Train until ``config.epochs`` are done, evaluating after each epoch."""
        while not self.done:
            result = self.step(batches_per_step)
            if on_step is not None:
                on_step(result)
            if result.epoch_finished:
                accuracy = self.evaluate() if self.eval_images is not None else None
                if on_epoch is not None:
                    on_epoch(self.epochs_done, accuracy)
        return self.history
