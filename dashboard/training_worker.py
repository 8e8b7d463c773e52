"""One training run in a process of its own: the worker side.

The server's script threads share one GIL; a run training on one of them made
every other session's drawing wait for its ticks. So each run lives in a
worker process (see dashboard.trainer_pool for the server side) that owns its
TrainingRun, lowers its own OS priority to the lowest (see lower_priority) so
answering a drawing always wins the CPU, and talks to the server through one Pipe:

- the server sends commands ``(name, sequence number, *arguments)`` and a
  ``("ping",)`` every second;
- the worker sends ``("status", RunStatus, history columns added since the
  last status, weights or None, a WatchUpdate or None)`` after every tick and
  command, and
  ``("failed", traceback)`` before it dies of an error.

The worker stops when the server closes the pipe, when its parent process is
gone, or when nothing has arrived for HEARTBEAT_TIMEOUT_SECONDS (a hung server).
MNIST arrives as paths of read-only .npy files, mapped into memory, so all
workers share one copy through the page cache. This module never imports
Streamlit: a worker starts in about a second.
"""

from __future__ import annotations

import hashlib
import os
import time
import traceback
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from nn_core.config import NetworkConfig, TrainConfig
from nn_core.model.network import Network
from nn_core.speed.threads import set_pass_threads
from nn_core.training.training_state import TrainingState

from dashboard.learning_watch import LiveWatch, WatchSpec, WatchUpdate
from dashboard.training import EVAL_EVERY_SECONDS, TrainingRun

# How far below everything else a worker runs: "nice" (nice 19: the smallest share the kernel
# gives, a weight of 15 against 1024 for a normal process, yet never nothing, so a run keeps
# moving on a busy machine) or "idle" (Linux's SCHED_IDLE: only CPU time nothing else wants; on a
# loaded machine its runs stand still, and the classroom benchmark drew no faster with it).
TRAINER_PRIORITY_ENV = "DIGITS_TRAINER_PRIORITY"
PRIORITIES = ("nice", "idle")
LOWEST_NICENESS = 19
TICK_BUDGET_SECONDS = 0.5  # training between two status messages, and the longest a command waits
IDLE_POLL_SECONDS = 1.0  # how often an idle worker checks that its server is still there
HEARTBEAT_TIMEOUT_SECONDS = 15.0  # the server pings every second; this much silence means it is gone

ArraySource = str | np.ndarray  # a path to a read-only .npy file, or a (small) array sent along


@dataclass
class RunSpec:
    """Everything a worker needs to build its TrainingRun; sent once, when it starts."""

    network_config: NetworkConfig
    weights: dict[str, np.ndarray] | None  # None: fresh weights from the config's seed
    train_config: TrainConfig
    mode: str
    base_name: str
    train_images: ArraySource  # (N, 784) uint8
    train_labels: ArraySource  # (N,)
    eval_images: ArraySource
    eval_labels: ArraySource
    eval_every_seconds: float = EVAL_EVERY_SECONDS
    watch: WatchSpec | None = None  # the digits and the map to look at while training
    # Continue this saved run exactly (optimizer state, counters; see Trainer.from_checkpoint) on
    # the page's own training images; train_config.epochs is then the run's new total.
    training_state: TrainingState | None = None


@dataclass(frozen=True)
class RunStatus:
    """What a page shows about a run, as its worker last reported it."""

    acknowledged: int  # sequence number of the last command the worker has carried out
    training: bool  # training on its own (Start or Step one epoch), not waiting for commands
    config: TrainConfig
    step_count: int = 0
    epochs_done: int = 0
    batches_per_epoch: int = 0
    samples_seen: int = 0
    samples_per_second: float | None = None
    progress: float = 0.0
    eta_seconds: float | None = None
    latest_validation_accuracy: float | None = None
    stopping_at_epoch_end: bool = False
    done: bool = False
    last_loss: float | None = None


# -- MNIST shared between processes ----------------------------------------------------------
def share_read_only(array: np.ndarray, directory: Path, name: str) -> str:
    """``array`` as a .npy file named by its content in ``directory``, written once (atomically,
    so servers sharing the folder never read half a file); returns its path."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha1(array.view(np.uint8).reshape(-1)).hexdigest()[:16]
    path = directory / f"{name}-{array.dtype}-{'x'.join(map(str, array.shape))}-{digest}.npy"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with open(temporary, "wb") as file:  # a file object: np.save would add ".npy" to a name
            np.save(file, array)
        os.replace(temporary, path)
    return str(path)


def _load(source: ArraySource) -> np.ndarray:
    return np.load(source, mmap_mode="r") if isinstance(source, str) else source


def build_run(spec: RunSpec) -> TrainingRun:
    network = Network(spec.network_config)
    if spec.weights is not None:
        network.load_state_dict(spec.weights)
    return TrainingRun.create(network, _load(spec.train_images), _load(spec.train_labels), spec.train_config,
                              _load(spec.eval_images), _load(spec.eval_labels), spec.mode, spec.base_name,
                              spec.eval_every_seconds, spec.training_state)


def status_of(run: TrainingRun, acknowledged: int, training: bool) -> RunStatus:
    trainer = run.trainer
    return RunStatus(acknowledged=acknowledged, training=training, config=trainer.config,
                     step_count=trainer.step_count, epochs_done=trainer.epochs_done,
                     batches_per_epoch=trainer.batches_per_epoch, samples_seen=run.samples_seen,
                     samples_per_second=run.samples_per_second, progress=run.progress,
                     eta_seconds=run.eta_seconds, latest_validation_accuracy=run.latest_validation_accuracy,
                     stopping_at_epoch_end=run.stopping_at_epoch_end, done=run.done,
                     last_loss=trainer.history.loss[-1] if trainer.history.loss else None)


# -- the worker -------------------------------------------------------------------------------
def lower_priority(priority: str | None = None) -> str:
    """Put this process below the server and the drawings (a class server gives drawing the CPU
    first): ``priority`` as in TRAINER_PRIORITY_ENV, by default from it, else "nice". Returns
    the priority applied: "nice" where the OS has no SCHED_IDLE."""
    priority = priority or os.environ.get(TRAINER_PRIORITY_ENV) or PRIORITIES[0]
    if priority not in PRIORITIES:
        raise ValueError(f"${TRAINER_PRIORITY_ENV} must be one of {', '.join(PRIORITIES)}; got {priority!r}")
    os.nice(LOWEST_NICENESS - os.nice(0))  # under SCHED_IDLE too: ps and top then show the worker as lowest
    if priority == "idle" and hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        return "idle"
    return "nice"


@dataclass
class _Worker:
    connection: Connection
    run: TrainingRun
    parent_pid: int
    live: LiveWatch | None = None
    training: bool = False
    acknowledged: int = 0
    closed: bool = False
    last_heard: float = field(default_factory=time.monotonic)
    _sent_lengths: dict[str, int] = field(default_factory=dict)

    def serve(self) -> None:
        self.publish(with_weights=True, look_now=True)
        while not self.closed:
            if self.connection.poll(0 if self.training else IDLE_POLL_SECONDS):
                self.handle(self.connection.recv())
                self.last_heard = time.monotonic()
            elif self.server_gone():
                return
            if self.training and not self.closed:
                self.run.tick(TICK_BUDGET_SECONDS)
                if self.run.stopped:  # finished, or at the epoch end Step one epoch asked for
                    self.run.pause()  # so that Resume trains on past that epoch end
                    self.training = False
                self.publish(with_weights=not self.training)

    def server_gone(self) -> bool:
        return (os.getppid() != self.parent_pid
                or time.monotonic() - self.last_heard > HEARTBEAT_TIMEOUT_SECONDS)

    def handle(self, message: tuple) -> None:
        name, *arguments = message
        if name == "ping":
            return
        if name == "close":
            self.closed = True
            return
        sequence, *arguments = arguments
        if name == "train":
            self.training = not self.run.done
        elif name == "pause":
            self.run.pause()
            self.training = False
        elif name == "step_batches":
            self.run.step_batches(*arguments)
        elif name == "step_epoch":
            self.run.stop_at_epoch_end()
            self.training = not self.run.done
        elif name == "update":
            self.run.update(**arguments[0])
        else:
            raise ValueError(f"unknown command {name!r}")
        self.acknowledged = sequence
        # A stepped batch shows at once on the watched digits; while training they follow the clock.
        self.publish(with_weights=not self.training, look_now=name == "step_batches")

    def publish(self, with_weights: bool, look_now: bool = False) -> None:
        """Report the run's status, then, if a look at the watched digits and the map was due,
        what it saw: in a second message, so a command is acknowledged without waiting for it."""
        self._send_status(with_weights, None)
        watched = self.look(look_now)
        if watched is not None:
            self._send_status(False, watched)

    def _send_status(self, with_weights: bool, watched: WatchUpdate | None) -> None:
        columns = self.run.trainer.history.to_dict()
        added = {name: values[self._sent_lengths.get(name, 0):] for name, values in columns.items()}
        self._sent_lengths = {name: len(values) for name, values in columns.items()}
        weights = ({name: param.copy() for name, param in self.run.network.state_dict().items()}
                   if with_weights else None)
        self.connection.send(("status", status_of(self.run, self.acknowledged, self.training), added, weights,
                              watched))

    def look(self, now: bool) -> WatchUpdate | None:
        if self.live is None:
            return None
        return self.live.look(self.run.network, self.run.trainer.step_count, now=now)


def run_worker(connection: Connection, spec: RunSpec, parent_pid: int) -> None:
    """The worker process's entry point: build the run from ``spec`` and serve commands until told
    to close or until the server is gone. Any error is sent to the server before the worker exits."""
    lower_priority()
    # One BLAS thread (several spin against each other on a shared machine); a CNN's passes
    # still spread over every core, at this process's lower priority.
    with threadpool_limits(limits=1, user_api="blas"):
        set_pass_threads(os.cpu_count() or 1)
        try:
            live = None if spec.watch is None else LiveWatch(
                replace(spec.watch, map_images=_load(spec.watch.map_images)))
            _Worker(connection, build_run(spec), parent_pid, live).serve()
        except (EOFError, BrokenPipeError, ConnectionResetError):
            pass  # the server closed its end: nobody is left to tell
        except Exception:  # noqa: BLE001 - whatever went wrong, the page must show it rather than hang
            try:
                connection.send(("failed", traceback.format_exc()))
            except OSError:
                pass
        finally:
            connection.close()
