"""A conv network's training passes on several threads train as they would on one."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from nn_core.model import blas
from nn_core.config import NetworkConfig, TrainConfig
from nn_core.model.network import Network
from nn_core.speed import passes
from nn_core.speed.passes import FastPasses
from nn_core.speed.threads import set_pass_threads, split_passes
from nn_core.training.trainer import Trainer
from tests.small_runs import (SMALL_CNN, SMALL_CNN_BATCHNORM, assert_trained_alike, small_trainer,
                                toy_digits)


@pytest.mark.parametrize("n_parts, workers, sizes", [(4, 2, [2, 2]), (7, 2, [4, 3]), (3, 3, [1, 1, 1]),
                                                     (5, 1, [5])])
def test_passes_split_into_consecutive_groups(n_parts, workers, sizes):
    parts = [slice(i, i + 1) for i in range(n_parts)]
    groups = split_passes(parts, workers)
    assert [len(group) for group in groups] == sizes
    assert [part for group in groups for part in group] == parts


def passes_trainer(layers=SMALL_CNN, **train):
    """A trainer of batches of 50; a conv network takes each batch in 4 passes."""
    trainer = small_trainer(np.random.default_rng(5), layers, **train)
    if trainer.passes.images_per_pass:
        trainer.passes.images_per_pass = 16  # the toy CNN is small: force passes of 13, 13, 13, 11
    return trainer


@pytest.fixture
def seen(monkeypatch) -> list[tuple[str, int]]:
    """(thread name, BLAS threads) of every group of training passes, as they run."""
    record, train_passes = [], passes.train_passes

    def recording(network, *args, **kwargs):
        record.append((threading.current_thread().name, blas.blas_threads()))
        return train_passes(network, *args, **kwargs)

    monkeypatch.setattr(passes, "train_passes", recording)
    return record


def threads_used(seen: list[tuple[str, int]]) -> set[str]:
    """The threads recorded so far, and the record emptied for the next run."""
    names = {name for name, _ in seen}
    seen.clear()
    return names


def two_blas_threads():
    limits = threadpool_limits(2, user_api="blas")
    if blas.blas_threads() != 2:
        limits.restore_original_limits()
        pytest.skip("numpy's BLAS cannot be set to two threads here")
    return limits


@pytest.mark.parametrize("optimizer", ["momentum", "adam", "sgd"])
def test_threads_train_as_one_thread_does(optimizer, seen):
    threaded, alone = passes_trainer(optimizer=optimizer), passes_trainer(optimizer=optimizer)
    with two_blas_threads():
        threaded.step(3)
    assert all(threads == 1 for _, threads in seen)  # BLAS on one thread meanwhile
    assert len(threads_used(seen)) == 2  # two groups of passes, two threads
    with threadpool_limits(1, user_api="blas"):
        alone.step(3)
    assert len(threads_used(seen)) == 1
    assert_trained_alike(threaded, alone)


def test_threads_with_dropout_are_reproducible():
    def trained() -> dict[str, np.ndarray]:
        images, labels = toy_digits(np.random.default_rng(5))
        network = Network(NetworkConfig(layers=SMALL_CNN[:2] + ({"dense": 12}, {"dense": 10}),
                                        dropout=0.5, seed=1))
        trainer = Trainer(network, images, labels, TrainConfig(batch_size=50))
        trainer.passes.images_per_pass = 16
        with two_blas_threads():
            trainer.step(2)
        return network.state_dict()

    first, second = trained(), trained()
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)


@pytest.mark.parametrize("layers", [(784, 32, 10), SMALL_CNN_BATCHNORM])
def test_networks_trained_in_one_pass_keep_one_thread(layers, seen):
    trainer = passes_trainer(layers)
    with two_blas_threads():
        trainer.step(2)
        assert blas.blas_threads() == 2
    assert len(threads_used(seen)) == 1


def test_an_error_on_a_pass_thread_reaches_the_caller_and_leaves_nothing_changed(monkeypatch):
    trainer = passes_trainer()
    train_passes = passes.train_passes

    def failing_off_the_main_thread(network, *args, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            raise FloatingPointError("a pass failed")
        return train_passes(network, *args, **kwargs)

    monkeypatch.setattr(passes, "train_passes", failing_off_the_main_thread)
    with two_blas_threads():
        with pytest.raises(FloatingPointError, match="a pass failed"):
            trainer.step(1)
        assert blas.blas_threads() == 2
    assert not any(layer.accumulate_grads for layer in trainer.network.layers)


def test_a_set_number_of_threads_spreads_passes_while_blas_keeps_one(seen):
    threaded, alone = passes_trainer(), passes_trainer()
    with threadpool_limits(1, user_api="blas"):  # as the dashboard's server runs
        set_pass_threads(2)
        threaded.step(3)
        assert all(threads == 1 for _, threads in seen)
        assert len(threads_used(seen)) == 2
        set_pass_threads(None)  # by default, as many as BLAS has
        alone.step(3)
        assert blas.blas_threads() == 1
    assert len(threads_used(seen)) == 1
    assert_trained_alike(threaded, alone)


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "2"])
def test_rejects_a_thread_count_that_is_not_a_positive_integer(threads):
    with pytest.raises(ValueError, match="positive integer"):
        set_pass_threads(threads)


def recording_passes(monkeypatch, fail_off_the_main_thread=False):
    """Network.forward wrapped to record (thread name, BLAS threads, images) of every call."""
    seen = []
    run_pass = Network.forward

    def recording(network, x, training=False):
        seen.append((threading.current_thread().name, blas.blas_threads(), len(x)))
        if fail_off_the_main_thread and threading.current_thread() is not threading.main_thread():
            raise FloatingPointError("a pass failed")
        return run_pass(network, x, training)

    monkeypatch.setattr(Network, "forward", recording)
    return seen


def test_inference_passes_spread_over_threads_in_order(monkeypatch):
    network = Network(NetworkConfig(layers=SMALL_CNN, seed=1))
    fast = FastPasses(network)
    fast.images_per_pass = 16
    images, _ = toy_digits(np.random.default_rng(5))
    images = images[:100].astype(np.float32) / 255
    with threadpool_limits(1, user_api="blas"):
        alone = fast.forward(images)
    np.testing.assert_allclose(alone, network.forward(images), rtol=1e-5, atol=1e-6)  # the plain pass
    seen = recording_passes(monkeypatch)
    with two_blas_threads():
        threaded = fast.forward(images)
        assert blas.blas_threads() == 2
    np.testing.assert_array_equal(threaded, alone)
    assert sum(images for _, _, images in seen) == 100 and len(seen) == 7  # passes of 15, 15, ... 10
    assert len({name for name, _, _ in seen}) == 2 and all(threads == 1 for _, threads, _ in seen)
    np.testing.assert_array_equal(network.predict(images[:10]), alone[:10].argmax(axis=1))  # one pass


def test_an_error_in_an_inference_pass_thread_reaches_the_caller(monkeypatch):
    fast = FastPasses(Network(NetworkConfig(layers=SMALL_CNN, seed=1)))
    fast.images_per_pass = 16
    recording_passes(monkeypatch, fail_off_the_main_thread=True)
    with two_blas_threads():
        with pytest.raises(FloatingPointError, match="a pass failed"):
            fast.forward(np.zeros((64, 784), np.float32))
        assert blas.blas_threads() == 2
