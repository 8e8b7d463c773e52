"""Training runs in worker processes: their lifecycle, the cap on trainers, sessions ending, crashes.

Small random data and a small network, so each worker trains in well under a second.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
import time

from dataclasses import replace

import numpy as np
import pytest

from nn_core.config import NetworkConfig, TrainConfig
from nn_core.model.network import Network

from dashboard import trainer_pool
from dashboard.architecture import cnn_layers
from dashboard.learning_watch import PredictionWatch, WatchSpec
from dashboard.trainer_pool import RemoteRun, TrainerPool
from dashboard.training_worker import (LOWEST_NICENESS, TRAINER_PRIORITY_ENV, RunSpec, build_run, lower_priority,
                                       share_read_only)
from browser_driver.harness import checkout_env

SMALL = NetworkConfig(layers=(784, 16, 10), seed=3)
TIMEOUT = 60  # seconds a worker may take to start on a busy machine


def spec(n: int = 2048, epochs: int = 1000, network_config: NetworkConfig = SMALL, weights=None,
         **train_settings) -> RunSpec:
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (n, 784), dtype=np.uint8), rng.integers(0, 10, n)
    return RunSpec(network_config, weights, TrainConfig(epochs=epochs, **train_settings), "new", "test",
                   images, labels, images[:256], labels[:256])


def process_ends(pid: int, timeout: float = 10.0) -> bool:
    """Whether process ``pid`` is gone (or a zombie) within ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[-1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def pool():
    """A pool of two trainers; every run made in a test is closed after it."""
    made: list[RemoteRun] = []
    pool = TrainerPool(2)
    register = pool.register

    def remember(run: RemoteRun) -> None:
        made.append(run)
        register(run)

    pool.register = remember
    yield pool
    for run in made:
        run.close()


def step(run: RemoteRun, n: int = 1) -> None:
    sequence = run.step_batches(n)
    assert run.wait_until(lambda r: r.acknowledged(sequence), TIMEOUT), run.error


# -- the lifecycle ---------------------------------------------------------------------------------
def test_a_run_trains_in_its_own_process_at_the_lowest_priority(pool):
    run = RemoteRun(spec(), pool)
    assert run.worker_pid is None  # no process until the run needs to train
    step(run, 3)
    assert run.worker_pid not in (None, os.getpid())
    assert os.getpriority(os.PRIO_PROCESS, run.worker_pid) == LOWEST_NICENESS
    assert os.sched_getscheduler(run.worker_pid) == os.SCHED_OTHER
    assert run.status.step_count == 3 and run.status.samples_seen == 3 * 128
    assert len(run.history().loss) == 3 and not run.busy and pool.n_training == 0  # the slot came back
    trained = run.network().layers[0].params["weight"]
    assert not np.array_equal(trained, Network(SMALL).layers[0].params["weight"])


def test_workers_can_run_at_sched_idle_instead_and_an_unknown_priority_is_refused(pool, monkeypatch):
    monkeypatch.setenv(TRAINER_PRIORITY_ENV, "idle")  # a spawned worker inherits the environment
    run = RemoteRun(spec(), pool)
    step(run)
    assert os.sched_getscheduler(run.worker_pid) == os.SCHED_IDLE
    with pytest.raises(ValueError, match="nice, idle"):
        lower_priority("lowest")  # refused before anything changes in this process


def test_a_run_shows_its_watched_digits_and_map_as_it_trains(pool):
    rng = np.random.default_rng(1)
    map_images, map_labels = rng.integers(0, 256, (300, 784), dtype=np.uint8), rng.integers(0, 10, 300)
    watched = PredictionWatch(rng.random((3, 784), dtype=np.float32), ["your drawing", "a", "b"], np.array([-1, 2, 5]))
    drawing = watched.images[0].reshape(28, 28)
    run = RemoteRun(replace(spec(), watch=WatchSpec(watched, map_images, map_labels, drawing)), pool)
    step(run, 2)
    # Each step is looked at once it is done: its predictions and a map with the drawing's star.
    assert run.wait_until(lambda r: r.watch().batches[-1:] == [2] and r.hidden_map is not None, TIMEOUT)
    watch = run.watch()
    np.testing.assert_allclose(watch.latest, run.network().predict_proba(watched.images), atol=1e-5)
    assert run.hidden_map.points.shape == (300, 2) and run.hidden_map.star.shape == (2,)
    assert list(run.map_labels) == list(map_labels) and run.map_version >= 1
    assert watch.names == ["your drawing", "a", "b"]


def test_start_streams_progress_and_pause_stops_it(pool):
    run = RemoteRun(spec(), pool)
    run.start()
    assert run.training and run.busy
    assert run.wait_until(lambda r: r.status.step_count >= 20, TIMEOUT), run.error
    assert run.status.training and pool.n_training == 1
    run.pause()
    assert run.wait_until(lambda r: not r.busy, TIMEOUT)
    paused_at = run.status.step_count
    time.sleep(0.5)
    assert run.status.step_count == paused_at and not run.training and pool.n_training == 0
    assert len(run.history().loss) == paused_at  # every batch's record arrived


def test_step_one_epoch_stops_at_the_epoch_end_and_resume_goes_past_it(pool):
    run = RemoteRun(spec(n=1024, batch_size=64), pool)
    run.step_epoch()
    assert run.wait_until(lambda r: not r.busy, TIMEOUT), run.error
    assert run.status.epochs_done == 1 and run.status.step_count == 16
    assert run.history().eval_step[-1] == 16  # validated at the epoch's end
    run.start()
    assert run.wait_until(lambda r: r.status.epochs_done >= 2, TIMEOUT), run.error


def test_settings_changed_mid_run_reach_the_worker(pool):
    run = RemoteRun(spec(), pool)
    run.update(learning_rate=0.01)  # before the worker exists: it starts with it
    step(run)
    run.start()
    run.update(learning_rate=0.2, batch_size=32)
    assert run.train_config.learning_rate == 0.2  # the page sees its own change at once
    assert run.wait_until(lambda r: r.history().learning_rate[-1] == 0.2, TIMEOUT), run.error
    run.pause()
    assert run.wait_until(lambda r: not r.busy, TIMEOUT)
    history = run.history()
    assert history.learning_rate[0] == 0.01 and run.status.config.batch_size == 32
    assert run.status.samples_seen < 128 * run.status.step_count  # later batches were smaller


def test_a_run_finishes_and_gives_back_its_trainer(pool):
    run = RemoteRun(spec(n=512, epochs=2, batch_size=128), pool)
    run.start()
    assert run.wait_until(lambda r: r.status.done and not r.busy, TIMEOUT), run.error
    assert run.status.epochs_done == 2 and run.status.progress == 1.0 and pool.n_training == 0
    assert not run.training


def test_continuing_a_cnn_keeps_its_batch_norm_statistics_and_leaves_the_original_alone(pool):
    config = NetworkConfig(layers=cnn_layers([4, 8], kernel=3, batchnorm=True, dense_width=16), seed=3)
    original = Network(config)
    original.layers[2].buffers["running_mean"][:] = 0.5
    before = original.layers[1].params["weight"].copy()
    weights = {name: values.copy() for name, values in original.state_dict().items()}
    run = RemoteRun(spec(n=256, network_config=config, weights=weights, batch_size=32), pool)
    assert run.network().layers[2].buffers["running_mean"][0] == 0.5  # before training, the given weights
    step(run)
    trained = run.network()
    assert not np.array_equal(trained.layers[1].params["weight"], before)
    np.testing.assert_array_equal(original.layers[1].params["weight"], before)
    assert not np.allclose(trained.layers[2].buffers["running_mean"], 0.5)  # updated from 0.5, not reset


# -- the cap on trainers ------------------------------------------------------------------------------
def test_runs_beyond_the_cap_wait_in_line_and_train_when_a_trainer_frees():
    pool = TrainerPool(1)
    first, second, third = (RemoteRun(spec(), pool) for _ in range(3))
    try:
        first.start()
        second.start()
        third.step_batches(1)
        assert second.waiting and second.places_ahead == 0 and third.places_ahead == 1
        assert second.training and second.busy and second.worker_pid is None  # no process while waiting
        assert first.wait_until(lambda r: r.status.step_count > 0, TIMEOUT)
        first.pause()
        assert second.wait_until(lambda r: r.status.step_count > 0, TIMEOUT), second.error
        assert third.places_ahead == 0
        second.pause()  # or third would wait for all its epochs
        assert third.wait_until(lambda r: r.status.step_count == 1 and not r.busy, TIMEOUT), third.error
        assert pool.n_training == 0
    finally:
        for run in (first, second, third):
            run.close()


def test_a_waiting_run_paused_leaves_the_line():
    pool = TrainerPool(1)
    first, second = RemoteRun(spec(), pool), RemoteRun(spec(), pool)
    try:
        first.start()
        second.start()
        second.pause()
        assert not second.waiting and not second.busy and pool.ahead_of(second) is None
        first.pause()
        assert first.wait_until(lambda r: not r.busy, TIMEOUT)
        assert pool.n_training == 0 and second.worker_pid is None
    finally:
        first.close()
        second.close()


# -- workers never outlive their session or their server -------------------------------------------------------
def test_a_run_whose_session_ended_stops_its_worker():
    open_sessions = {"alice", "bob"}
    pool = TrainerPool(2, session_is_open=lambda session: session in open_sessions)
    alice, bob = RemoteRun(spec(), pool, "alice"), RemoteRun(spec(), pool, "bob")
    try:
        alice.start()
        step(bob)
        worker = alice.worker_pid
        open_sessions.discard("alice")  # her tab closed
        now = time.monotonic()
        pool.check_sessions(now)
        assert not process_ends(worker, timeout=0.2)  # a reconnecting tab gets a grace period
        pool.check_sessions(now + trainer_pool.SESSION_GRACE_SECONDS)
        assert process_ends(worker) and alice.error is None and not alice.busy
        assert pool.n_training == 0 and os.path.exists(f"/proc/{bob.worker_pid}")  # bob's stays
    finally:
        alice.close()
        bob.close()


def test_a_run_dropped_with_its_session_stops_its_worker():
    run = RemoteRun(spec(), TrainerPool(1))
    step(run)
    worker = run.worker_pid
    del run
    gc.collect()
    assert process_ends(worker)


def test_workers_stop_when_their_server_dies(tmp_path):
    """A server killed outright leaves no trainer behind: each worker notices its parent is gone."""
    server = textwrap.dedent(f"""
        import os
        import numpy as np
        from nn_core.config import NetworkConfig, TrainConfig
        from dashboard.trainer_pool import RemoteRun, TrainerPool
        from dashboard.training_worker import RunSpec

        if __name__ == "__main__":
            images = np.zeros((2048, 784), np.uint8)
            labels = np.zeros(2048, np.int64)
            spec = RunSpec(NetworkConfig(layers=(784, 16, 10)), None, TrainConfig(epochs=1000), "new", "x",
                           images, labels, images[:256], labels[:256])
            run = RemoteRun(spec, TrainerPool(1))
            run.start()
            assert run.wait_until(lambda r: r.status.step_count > 0, {TIMEOUT})
            print(run.worker_pid, flush=True)
            os.kill(os.getpid(), 9)
    """)
    script = tmp_path / "server.py"
    script.write_text(server)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=TIMEOUT,
                            env=checkout_env())
    worker = int(result.stdout.split()[0])
    assert process_ends(worker)


# -- failures are reported, never hung on ---------------------------------------------------------------------------
def test_an_error_in_the_worker_is_reported_with_its_traceback(pool):
    run = RemoteRun(spec(), pool)
    step(run)
    run._changed.acquire()  # an invalid setting the page would never send, straight to the worker
    run._send(("update", 99, {"batch_size": 0}))
    run._changed.release()
    assert not run.wait_until(lambda r: False, TIMEOUT) and "batch_size" in run.error
    assert "Traceback" in run.error and not run.busy and pool.n_training == 0
    with pytest.raises(RuntimeError, match="reset"):
        run.start()


def test_a_killed_worker_is_reported(pool):
    run = RemoteRun(spec(), pool)
    run.start()
    assert run.wait_until(lambda r: r.status.step_count > 0, TIMEOUT)
    os.kill(run.worker_pid, signal.SIGKILL)
    run.wait_until(lambda r: False, TIMEOUT)
    assert "stopped unexpectedly (exit code -9)" in run.error and not run.busy and pool.n_training == 0


# -- MNIST shared read-only -----------------------------------------------------------------------------------------
def test_training_data_is_shared_as_one_read_only_file(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (300, 784), dtype=np.uint8)
    labels = np.arange(300) % 10
    path = share_read_only(images, tmp_path, "images")
    assert share_read_only(images.copy(), tmp_path, "images") == path  # the same content: the same file
    assert share_read_only(images[::-1], tmp_path, "images") != path
    run = build_run(RunSpec(SMALL, None, TrainConfig(), "new", "x", path, share_read_only(labels, tmp_path, "labels"),
                            path, share_read_only(labels, tmp_path, "labels")))
    assert isinstance(run.trainer.images, np.memmap) and not run.trainer.images.flags.writeable
    np.testing.assert_array_equal(run.trainer.images, images)
    run.step_batches(1)
    assert not list(tmp_path.glob("*.tmp"))
