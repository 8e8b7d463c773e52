"""A training run the Train page can drive in small time slices.

``TrainingRun`` wraps an nn_core ``Trainer`` with what a live UI needs and the
trainer does not know about: doing as many batches as fit in a time budget,
evaluating every so often, and a wall-clock throughput and ETA. It holds no
Streamlit state, so the benchmark and the tests drive it directly. On the
server it runs inside a worker process (dashboard.training_worker), one thread.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from nn_core.config import TrainConfig
from nn_core.model.network import Network
from nn_core.training.trainer import History, Trainer
from nn_core.training.training_state import TrainingState

MODES = {"new": "Train a new network", "continue": "Continue training the active network",
         "fine_tune": "Fine-tune the active network on my labelled drawings"}
# Training seconds between validation points (plus one at each epoch's end): a steady
# curve, while the 5,000 validation images cost a few percent of the time at most.
EVAL_EVERY_SECONDS = 2.0
MAX_EVAL_SHARE = 0.15  # slow networks validate less often, so validating stays below this share of the time
# A CNN scores ~2,000 images/s: all 5,000 validation images would stall a UI tick for seconds.
CONV_EVAL_IMAGES = 1000
THROUGHPUT_WINDOW = 8  # ticks the samples/s figure is averaged over
MNIST_PER_DRAWING = 50  # fine-tuning mixes this many MNIST digits per drawing, so nothing is forgotten
DRAWING_REPEATS = 10  # each labelled drawing appears this often per fine-tuning epoch


def fine_tune_dataset(drawings: np.ndarray, drawing_labels: np.ndarray, mnist_images: np.ndarray,
                      mnist_labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Labelled drawings (N, 28, 28) uint8, each repeated, mixed with a random MNIST sample.

    Returns (M, 784) uint8 images and (M,) labels. Without the MNIST share a few
    drawings would pull the network away from everything else it knows.
    """
    drawings = np.asarray(drawings, dtype=np.uint8).reshape(len(drawings), 784)
    repeated = np.repeat(drawings, DRAWING_REPEATS, axis=0)
    repeated_labels = np.repeat(np.asarray(drawing_labels, dtype=mnist_labels.dtype), DRAWING_REPEATS)
    n_mnist = min(len(mnist_images), MNIST_PER_DRAWING * len(drawings))
    picked = rng.choice(len(mnist_images), size=n_mnist, replace=False)
    return (np.concatenate([repeated, mnist_images[picked]]),
            np.concatenate([repeated_labels, mnist_labels[picked]]))


@dataclass
class TickReport:
    """What one ``tick`` did: batches trained, whether it evaluated, whether training is done."""

    batches: int
    samples: int
    evaluated: bool
    done: bool


@dataclass
class TrainingRun:
    """A Trainer plus evaluation scheduling and wall-clock throughput for the UI.

    ``mode`` is one of ``MODES``; ``base_name`` suggests a file name when saving.
    """

    trainer: Trainer
    mode: str
    base_name: str
    eval_every_seconds: float = EVAL_EVERY_SECONDS
    samples_seen: int = 0
    _throughput: deque = field(default_factory=lambda: deque(maxlen=THROUGHPUT_WINDOW))
    _last_rate: float | None = None  # shown while paused
    _seconds_per_sample: float | None = None  # measured, to size the next chunk of a tick
    _evaluated_at: float = 0.0  # the trainer's training time at the last validation point
    _eval_seconds: float = 0.0  # how long the last validation took
    _stop_after_epoch: int | None = None  # set by stop_at_epoch_end

    # -- building -------------------------------------------------------------
    @classmethod
    def create(cls, network: Network, images: np.ndarray, labels: np.ndarray, config: TrainConfig,
               eval_images: np.ndarray, eval_labels: np.ndarray, mode: str, base_name: str,
               eval_every_seconds: float = EVAL_EVERY_SECONDS,
               training_state: TrainingState | None = None) -> TrainingRun:
        """A run on (N, 784) uint8 images; evaluation on the given validation images
        (the first ``CONV_EVAL_IMAGES`` of them for a convolutional network). ``training_state``:
        go on with that saved run on these images (``Trainer.from_checkpoint``, other data)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
        if network.config.is_convolutional:
            eval_images, eval_labels = eval_images[:CONV_EVAL_IMAGES], eval_labels[:CONV_EVAL_IMAGES]
        if training_state is None:
            trainer = Trainer(network, images, labels, config, eval_images, eval_labels)
        else:
            trainer = Trainer.from_checkpoint(network, images, labels, config, training_state,
                                              eval_images=eval_images, eval_labels=eval_labels, same_data=False)
        return cls(trainer=trainer, mode=mode, base_name=base_name, eval_every_seconds=eval_every_seconds)

    # -- stepping -------------------------------------------------------------
    @property
    def network(self) -> Network:
        return self.trainer.network

    @property
    def done(self) -> bool:
        return self.trainer.done

    def step_batches(self, n_batches: int) -> TickReport:
        """Exactly ``n_batches`` batches (fewer if training finishes)."""
        return self._run(lambda batches: n_batches - batches)

    def stop_at_epoch_end(self) -> None:
        """Let ticks train only to the end of the current epoch, then stop (``stopped``).

        Step one epoch trains this way, tick by tick, so its charts stream and Pause
        answers within a tick; ``pause`` cancels it.
        """
        self._stop_after_epoch = self.trainer.epochs_done + 1

    @property
    def stopping_at_epoch_end(self) -> bool:
        return self._stop_after_epoch is not None and not self.stopped

    @property
    def stopped(self) -> bool:
        """Done, or at the epoch end ``stop_at_epoch_end`` asked for."""
        return self.done or (self._stop_after_epoch is not None
                             and self.trainer.epochs_done >= self._stop_after_epoch)

    def tick(self, budget_seconds: float) -> TickReport:
        """As many batches as fit in ``budget_seconds`` (at least one unless ``stopped``), for
        one UI refresh.

        Also records the wall-clock time between ticks, so samples/s includes the
        time the page spends drawing, not just the maths.
        """
        deadline = time.perf_counter() + budget_seconds

        def batches_that_fit(batches: int) -> int:
            if self.stopped:
                return 0
            if self._seconds_per_sample is None:
                return 1  # measure one first
            # Per sample, not per batch: the batch size may have just changed.
            seconds_per_batch = self._seconds_per_sample * self.trainer.config.batch_size
            fitting = int((deadline - time.perf_counter()) / seconds_per_batch)
            return max(fitting, 1 if batches == 0 else 0)

        report = self._run(batches_that_fit)
        self._throughput.append((time.perf_counter(), self.samples_seen))
        return report

    def _run(self, allowance: Callable[[int], int]) -> TickReport:
        """Train in chunks of ``allowance(batches done so far)`` until it says 0, evaluating
        after a chunk when a validation point is due.

        One ``Trainer.step(n)`` per chunk keeps the per-call overhead out of the loop.
        """
        batches = samples = 0
        evaluated = False
        while not self.trainer.done:
            chunk = allowance(batches)
            if chunk < 1:
                break
            steps_before = self.trainer.step_count
            result = self.trainer.step(chunk)
            batches += self.trainer.step_count - steps_before
            samples += result.samples
            self._seconds_per_sample = result.seconds / max(result.samples, 1)
            if result.epoch_finished or self.trainer.elapsed - self._evaluated_at >= self._eval_interval:
                self._evaluate()
                evaluated = True
        self.samples_seen += samples
        return TickReport(batches, samples, evaluated, self.trainer.done)

    @property
    def _eval_interval(self) -> float:
        """Training seconds between validation points: more when validating is slow."""
        return max(self.eval_every_seconds, self._eval_seconds / MAX_EVAL_SHARE)

    def _evaluate(self) -> None:
        started = time.perf_counter()
        self.trainer.evaluate()
        self._eval_seconds = time.perf_counter() - started
        self._evaluated_at = self.trainer.elapsed

    def pause(self) -> None:
        """Start a new throughput window on resume: time spent paused is not training time.
        Resuming trains freely again, past any epoch end ``stop_at_epoch_end`` set."""
        self._stop_after_epoch = None
        self._last_rate = self.samples_per_second
        self._throughput.clear()

    def update(self, **changes: object) -> None:
        """``Trainer.update`` between batches, never in the middle of one."""
        self.trainer.update(**changes)

    def history(self) -> History:
        """A copy of the trainer's history."""
        return History.from_dict(self.trainer.history.to_dict())

    # -- figures for the progress line ---------------------------------------------
    @property
    def samples_per_second(self) -> float | None:
        """Wall-clock samples per second over the last few ticks (the last known rate while paused)."""
        if len(self._throughput) < 2:
            return self._last_rate
        (start, first), (end, last) = self._throughput[0], self._throughput[-1]
        return (last - first) / (end - start) if end > start else self._last_rate

    @property
    def progress(self) -> float:
        """Fraction of all configured epochs done, in [0, 1]."""
        return min(1.0, self.trainer.epoch / self.trainer.config.epochs)

    @property
    def eta_seconds(self) -> float | None:
        rate = self.samples_per_second
        if not rate:
            return None
        remaining_epochs = max(0.0, self.trainer.config.epochs - self.trainer.epoch)
        return remaining_epochs * len(self.trainer.images) / rate

    @property
    def latest_validation_accuracy(self) -> float | None:
        accuracies = self.trainer.history.eval_accuracy
        return accuracies[-1] if accuracies else None
