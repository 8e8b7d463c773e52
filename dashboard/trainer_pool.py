"""The server side of training in worker processes: a handle per run, and the pool that caps them.

A ``RemoteRun`` is what a session keeps (in ``dashboard.state``): it starts the
run's worker process (dashboard.training_worker) the first time the run needs
to train, sends it commands, and keeps the latest status, history and weights
that a reader thread takes off the pipe — so the page reads them at once,
never waiting for a tick, and a worker that dies is noticed even when nobody
looks.

The ``TrainerPool`` (one per server) lets at most ``capacity`` runs train at
once: a run asks for a slot to train (Start, Step…) and gives it back when it
goes idle (paused, stepped, finished, failed, closed); a run beyond the cap
waits in line. Every second the pool pings each worker (their heartbeat) and
closes the runs whose browser session has ended.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
import types
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import numpy as np

from nn_core.config import NetworkConfig, TrainConfig
from nn_core.model.network import Network
from nn_core.training.trainer import History

from dashboard.learning_watch import HiddenMap, PredictionWatch, WatchUpdate
from dashboard.training_worker import RunSpec, RunStatus, run_worker

MONITOR_SECONDS = 1.0  # between heartbeats, and between checks that sessions are still open
SESSION_GRACE_SECONDS = 3.0  # a session gone this long is closed (a reconnecting tab comes back sooner)
STOP_SECONDS = 5.0  # a closed worker gets this long to exit before it is killed
_SPAWN = multiprocessing.get_context("spawn")  # fork would copy the server's threads and locks mid-use

SessionCheck = Callable[[str], bool]


class TrainerPool:
    """At most ``capacity`` runs train at once; the others wait, first come first served."""

    def __init__(self, capacity: int, session_is_open: SessionCheck | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1; got {capacity}")
        self.capacity = capacity
        self._session_is_open = session_is_open
        self._lock = threading.Lock()
        self._training: set[RemoteRun] = set()
        self._waiting: deque[RemoteRun] = deque()
        self._runs: weakref.WeakSet[RemoteRun] = weakref.WeakSet()
        self._closed_since: dict[str, float] = {}
        self._monitor: threading.Thread | None = None

    # -- slots ---------------------------------------------------------------------------
    def request(self, run: RemoteRun) -> bool:
        """A slot for ``run`` now (True), or a place in line (False; ``run.slot_granted`` comes later)."""
        with self._lock:
            if run in self._training:
                return True
            if len(self._training) < self.capacity:
                self._training.add(run)
                return True
            if run not in self._waiting:
                self._waiting.append(run)
            return False

    def release(self, run: RemoteRun) -> None:
        """``run`` no longer trains (or waits): its slot goes to the first in line."""
        with self._lock:
            if run in self._waiting:
                self._waiting.remove(run)
            if run not in self._training:
                return
            self._training.discard(run)
            granted = self._waiting.popleft() if self._waiting else None
            if granted is not None:
                self._training.add(granted)
        if granted is not None:
            granted.slot_granted()

    def ahead_of(self, run: RemoteRun) -> int | None:
        """How many runs wait before ``run``; None if it is not waiting."""
        with self._lock:
            return self._waiting.index(run) if run in self._waiting else None

    @property
    def n_training(self) -> int:
        with self._lock:
            return len(self._training)

    # -- keeping workers alive, and not longer than their session ----------------------
    def register(self, run: RemoteRun) -> None:
        with self._lock:
            self._runs.add(run)
            if self._monitor is None:
                self._monitor = threading.Thread(target=self._watch, name="trainer-pool-monitor", daemon=True)
                self._monitor.start()

    def _watch(self) -> None:
        while True:
            time.sleep(MONITOR_SECONDS)
            self.check_sessions()

    def check_sessions(self, now: float | None = None) -> None:
        """Ping every worker; close each run whose session has been gone SESSION_GRACE_SECONDS."""
        now = time.monotonic() if now is None else now
        for run in list(self._runs):
            run.ping()
            session = run.session_id
            if session is None or self._session_is_open is None or self._session_is_open(session):
                self._closed_since.pop(session, None)
                continue
            if now - self._closed_since.setdefault(session, now) >= SESSION_GRACE_SECONDS:
                run.close()
                self._runs.discard(run)


_MAIN_MODULE_SWAP = threading.Lock()


@contextmanager
def _app_script_hidden() -> Iterator[None]:
    """While a worker is spawned, show multiprocessing a ``__main__`` with no file to run again.

    A spawned process imports its parent's ``__main__`` again before it runs its target; under
    Streamlit that module is the app script, so each worker would run a whole page (its imports,
    its navigation and its session-state calls, each logging that there is no session) before
    training. The worker needs only ``run_worker``, which it imports by name.
    """
    with _MAIN_MODULE_SWAP:
        main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            sys.modules["__main__"] = main


def _stop_process(process: Any, connection: Any) -> None:
    """Ask a worker to close, then make sure it has (also run when its RemoteRun is garbage-collected)."""
    try:
        connection.send(("close",))
    except (OSError, ValueError):
        pass
    if process is not None and process.pid is not None:
        process.join(STOP_SECONDS)
        if process.is_alive():
            process.kill()
            process.join(STOP_SECONDS)


class RemoteRun:
    """One session's training run, trained by a worker process; the Train page's handle to it.

    Commands return at once; ``status``, ``history`` and ``network`` give what
    the worker last reported. ``wait_until`` blocks (with a timeout) for a report.
    """

    def __init__(self, spec: RunSpec, pool: TrainerPool, session_id: str | None = None) -> None:
        self.mode, self.base_name = spec.mode, spec.base_name
        self.network_config: NetworkConfig = spec.network_config
        self.session_id = session_id
        self._spec = spec
        self._pool = pool
        # One lock for every change of state, so a report and a command never interleave
        # (e.g. the slot given back for a report that a new Start has already overtaken).
        self._changed = threading.Condition(threading.RLock())
        self._status = RunStatus(acknowledged=0, training=False, config=spec.train_config)
        self._history = History()
        self._weights = spec.weights
        # What the worker saw of its watched digits and map (see dashboard.learning_watch).
        self._watch = None if spec.watch is None else replace(spec.watch.watch, batches=[], probabilities=[])
        self.map_labels = None if spec.watch is None else spec.watch.map_labels
        self.hidden_map: HiddenMap | None = None
        self.map_version = 0  # counts the maps received, so a page rebuilds its chart only for a new one
        self._error: str | None = None
        self._sequence = 0
        self._last_sent = 0  # the sequence number of the last command sent to the worker
        self._trains_from = None  # the sequence number of the last command that needs a slot
        self._reported = False  # the worker has sent its first status
        self._wants_training = False  # Start or Step one epoch, not paused since
        self._queued: tuple | None = None  # a training command waiting for a slot
        self._process = None
        self._connection = None
        self._closed = False
        self._finalizer: weakref.finalize | None = None
        pool.register(self)

    # -- what the page reads ------------------------------------------------------------
    @property
    def status(self) -> RunStatus:
        return self._status

    @property
    def train_config(self) -> TrainConfig:
        return self._status.config

    @property
    def error(self) -> str | None:
        """Why the worker stopped, if it failed."""
        return self._error

    @property
    def waiting(self) -> bool:
        """In line for a slot."""
        return self._queued is not None

    @property
    def places_ahead(self) -> int | None:
        return self._pool.ahead_of(self)

    @property
    def starting(self) -> bool:
        """Its worker has started but not reported yet."""
        return self._process is not None and not self._reported and not self._error

    @property
    def training(self) -> bool:
        """Training on its own (Start, Step one epoch), or about to; False once paused or stopped."""
        if self._error or self._closed or not self._wants_training:
            return False
        return self.waiting or self._status.acknowledged < self._trains_from or self._status.training

    @property
    def busy(self) -> bool:
        """Training, waiting for a slot, or carrying out a command: the page should keep refreshing."""
        if self._error or self._closed:
            return False
        return self.waiting or self._status.training or self._status.acknowledged < self._last_sent

    @property
    def worker_pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def history(self) -> History:
        with self._changed:
            return History(**self._history.to_dict())

    def network(self) -> Network:
        """A new Network with the weights the worker last sent (when it was last idle)."""
        network = Network(self.network_config)
        if self._weights is not None:
            network.load_state_dict({name: values.copy() for name, values in self._weights.items()})
        return network

    def watch(self) -> PredictionWatch | None:
        """The watched digits with every prediction the worker reported, as of now (a copy)."""
        with self._changed:
            if self._watch is None:
                return None
            return replace(self._watch, batches=list(self._watch.batches),
                           probabilities=list(self._watch.probabilities))

    def wait_until(self, condition: Callable[[RemoteRun], bool], timeout: float) -> bool:
        """Block until ``condition(self)`` holds after a report (True), or ``timeout`` s pass (False)."""
        with self._changed:
            return self._changed.wait_for(lambda: condition(self) or self._error is not None or self._closed,
                                          timeout) and condition(self)

    def acknowledged(self, sequence: int) -> bool:
        return self._status.acknowledged >= sequence

    # -- commands --------------------------------------------------------------------------
    def start(self) -> int:
        """Train until paused or finished. Returns the command's sequence number."""
        return self._train(("train",))

    def step_batches(self, n_batches: int) -> int:
        return self._train(("step_batches", n_batches))

    def step_epoch(self) -> int:
        """Train to the end of the current epoch, then stop."""
        return self._train(("step_epoch",))

    def pause(self) -> None:
        with self._changed:
            self._wants_training = False
            if self._queued is not None:  # it has not trained since it asked: just leave the line
                self._queued = None
                self._pool.release(self)
            elif self._process is not None:
                self._send(("pause", self._next_sequence()))

    def update(self, **changes: Any) -> None:
        """Change training settings (applied between batches)."""
        with self._changed:
            config = replace(self._status.config, **changes)
            self._spec.train_config = config  # a worker not started yet begins with them
            self._status = replace(self._status, config=config)
            if self._process is not None:
                self._send(("update", self._next_sequence(), changes))

    def ping(self) -> None:
        with self._changed:
            if self._process is not None:
                self._send(("ping",))

    def close(self) -> None:
        """Stop the worker (it exits within a tick; killed after STOP_SECONDS) and give back its slot."""
        with self._changed:
            self._closed = True
            self._queued = None
            self._pool.release(self)
            if self._finalizer is not None:
                threading.Thread(target=self._finalizer, name="trainer-stop", daemon=True).start()
            self._changed.notify_all()

    # -- inside ---------------------------------------------------------------------------
    def _next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    def _train(self, command: tuple) -> int:
        with self._changed:
            if self._closed or self._error:
                raise RuntimeError("this run has stopped; reset it to train again")
            name, *arguments = command
            self._wants_training = name != "step_batches"
            sequence = self._trains_from = self._next_sequence()
            if self._pool.request(self):
                self._send((name, sequence, *arguments))
            else:
                self._queued = (name, sequence, *arguments)
            return sequence

    def slot_granted(self) -> None:
        """Called by the pool when this run's turn to train has come."""
        with self._changed:
            command, self._queued = self._queued, None
            if command is not None:
                self._send(command)

    def _send(self, message: tuple) -> None:
        """Send ``message`` to the worker, starting it first if needed (under ``self._changed``)."""
        if self._closed or self._error:
            return
        if self._process is None:
            self._start_worker()
        if len(message) > 1:
            self._last_sent = max(self._last_sent, message[1])
        try:
            self._connection.send(message)
        except (OSError, ValueError):
            pass  # the worker has gone; its reader thread reports why

    def _start_worker(self) -> None:
        server_end, worker_end = _SPAWN.Pipe()
        process = _SPAWN.Process(target=run_worker, args=(worker_end, self._spec, os.getpid()),
                                 name=f"trainer-{self.base_name}", daemon=True)
        with _app_script_hidden():
            process.start()
        worker_end.close()
        self._process, self._connection = process, server_end
        # Without a reference to self: a session dropped without closing its run still stops its worker.
        self._finalizer = weakref.finalize(self, _stop_process, process, server_end)
        threading.Thread(target=_read_reports, args=(weakref.ref(self), server_end, process),
                         name=f"trainer-reader-{process.pid}", daemon=True).start()

    def _receive(self, status: RunStatus, added: dict[str, list], weights: dict[str, np.ndarray] | None,
                 watched: WatchUpdate | None = None) -> None:
        with self._changed:
            if watched is not None and self._watch is not None:
                for batch, probabilities in watched.records:
                    self._watch.batches.append(batch)
                    self._watch.probabilities.append(probabilities)
                if watched.hidden_map is not None:
                    self.hidden_map = watched.hidden_map
                    self.map_version += 1
            # In place: a report adds a few batches to a history of thousands, and the GIL this
            # thread holds is the one every session's drawing waits for.
            for name, values in added.items():
                getattr(self._history, name).extend(values)
            if weights is not None:
                self._weights = weights
            # Settings sent after this report stay as the page set them until the worker confirms.
            config = status.config if status.acknowledged >= self._last_sent else self._status.config
            self._status = replace(status, config=config)
            self._reported = True
            if self._trains_from is not None and status.acknowledged >= self._trains_from and not status.training:
                self._pool.release(self)
            self._changed.notify_all()

    def _fail(self, message: str) -> None:
        with self._changed:
            self._error = message
            self._queued = None
            self._pool.release(self)
            self._changed.notify_all()


def _read_reports(run_ref: weakref.ref, connection: Any, process: Any) -> None:
    """A run's reader thread: every report off the pipe until the worker exits.

    It holds the run only weakly, so a session dropped without closing its run
    lets the run be collected, and its finalizer stop the worker.
    """
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            break
        run = run_ref()
        if run is None:
            return
        if message[0] == "failed":
            run._fail(f"The trainer stopped with an error:\n{message[1]}")
            return
        run._receive(*message[1:])
        del run
    process.join(STOP_SECONDS)
    run = run_ref()
    if run is not None and not run._closed:
        run._fail(f"The trainer process stopped unexpectedly (exit code {process.exitcode}).")
