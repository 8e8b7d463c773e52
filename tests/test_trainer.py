"""The trainer: steppable, reconfigurable between steps, reproducible, and it learns."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nn_core.speed import passes as passes_module
from nn_core.config import PRESETS, NetworkConfig, TrainConfig
from nn_core.errors import ShapeError
from nn_core.model.network import Network
from nn_core.model.optimizers import SGD, Adam, Momentum, make_optimizer
from nn_core.speed.passes import FastPasses
from nn_core.training.trainer import History, Trainer
from tests.small_runs import SMALL_CNN, SMALL_CNN_BATCHNORM, assert_trained_alike, small_trainer, toy_digits


def test_step_returns_metrics_and_advances_the_cursor(rng):
    trainer = small_trainer(rng)
    result = trainer.step(3)
    assert result.step == 3 and result.samples == 150
    assert result.epoch == pytest.approx(150 / 600)
    assert np.isfinite(result.loss) and 0 <= result.accuracy <= 1
    assert len(trainer.history) == 3
    assert not result.epoch_finished


def test_step_stops_at_the_end_of_an_epoch(rng):
    trainer = small_trainer(rng)
    result = trainer.step(100)
    assert result.epoch_finished and result.samples == 600
    assert trainer.epochs_done == 1 and trainer.epoch == 1.0
    trainer.step(100)
    assert trainer.done


def test_learns_and_records_evaluations(rng):
    trainer = small_trainer(rng, optimizer="adam", learning_rate=0.003)
    history = trainer.run(batches_per_step=4)
    assert trainer.done
    assert history.eval_accuracy[-1] > 0.95
    assert len(history.eval_accuracy) == 2
    assert np.mean(history.loss[-5:]) < np.mean(history.loss[:5]) / 2


def test_reproducible_for_a_seed(rng):
    images, labels = toy_digits(rng)

    def train() -> list[float]:
        network = Network(NetworkConfig(layers=(784, 16, 10), dropout=0.2, seed=4))
        trainer = Trainer(network, images, labels, TrainConfig(batch_size=32, augment=True, seed=9))
        trainer.step(10)
        return trainer.history.loss

    assert train() == train()


def test_settings_change_between_steps(rng):
    trainer = small_trainer(rng)
    trainer.step(2)
    velocity = trainer.optimizer.velocity["layers.0.weight"].copy()
    trainer.update(learning_rate=0.001, batch_size=20, augment=True)
    assert trainer.optimizer.velocity["layers.0.weight"] is not None
    np.testing.assert_array_equal(trainer.optimizer.velocity["layers.0.weight"], velocity)
    result = trainer.step(1)
    assert result.samples == 20 and result.learning_rate == 0.001
    trainer.update(optimizer="adam")
    assert isinstance(trainer.optimizer, Adam)
    trainer.step(1)
    assert trainer.history.learning_rate[-1] == 0.001


def test_batches_are_scaled_pixels_at_any_batch_size(rng):
    trainer = small_trainer(rng)
    for indices in ([5, 3, 599], list(range(100)), [7]):  # grows past the buffer, then shrinks
        batch = trainer._input_batch(np.array(indices))
        assert batch.dtype == np.float32 and batch.shape == (len(indices), 784)
        np.testing.assert_allclose(batch, trainer.images[indices] / 255, rtol=1e-6)


@pytest.mark.parametrize("optimizer", ["momentum", "adam", "sgd"])
def test_a_batch_in_several_passes_trains_as_in_one(optimizer):
    in_passes, whole = (small_trainer(np.random.default_rng(5), SMALL_CNN, optimizer=optimizer)
                        for _ in range(2))
    assert in_passes.passes.images_per_training_pass > 50  # the toy CNN is small: force passes
    in_passes.passes.images_per_pass = 16  # 50 images: passes of 13, 13, 13 and 11
    whole.passes.images_per_pass = None
    for trainer in (in_passes, whole):
        trainer.step(3)
    assert_trained_alike(in_passes, whole)


def test_only_conv_networks_without_batch_norm_train_in_passes():
    def passes(layers) -> int | None:
        return FastPasses(Network(NetworkConfig(layers=layers))).images_per_training_pass

    assert passes((784, 256, 128, 10)) is None
    assert passes(SMALL_CNN_BATCHNORM) is None
    # c16k5-p2-c32k5-p2: the second conv's patches take 14·14·25·16 floats per image.
    assert passes(PRESETS["cnn"]) == passes_module.PASS_PATCH_BYTES // (14 * 14 * 25 * 16 * 4)


def test_cosine_schedule_anneals(rng):
    trainer = small_trainer(rng, lr_schedule="cosine", learning_rate=0.1)
    assert trainer.learning_rate == pytest.approx(0.1)
    trainer.step(100)  # one of two epochs
    assert trainer.learning_rate == pytest.approx(0.05)


def test_history_serialises(rng):
    trainer = small_trainer(rng)
    trainer.step(2)
    trainer.evaluate()
    document = json.loads(json.dumps(trainer.history.to_dict()))
    restored = History.from_dict(document)
    assert restored.loss == trainer.history.loss
    assert restored.eval_step == [2]


def test_rejects_bad_datasets(rng):
    network = Network(NetworkConfig(layers=(784, 8, 10)))
    with pytest.raises(ShapeError, match=r"\(N, 784\)"):
        Trainer(network, np.zeros((10, 28, 28), np.uint8), np.zeros(10, np.uint8))
    with pytest.raises(ShapeError, match="labels"):
        Trainer(network, np.zeros((10, 784), np.uint8), np.zeros(9, np.uint8))


def test_optimizers_follow_their_formulas():
    param, grad = np.ones(3, np.float32), np.full(3, 0.5, np.float32)
    SGD(0.1).step([("w.weight", param, grad)])
    np.testing.assert_allclose(param, 0.95)
    adam, param = Adam(0.01), np.ones(3, np.float32)
    adam.step([("w.bias", param, grad)])
    np.testing.assert_allclose(param, 1 - 0.01, rtol=1e-5)  # Adam's first step is lr * sign(g)
    decay, param = SGD(0.1, weight_decay=0.5), np.ones(3, np.float32)
    decay.step([("w.weight", param, np.zeros(3, np.float32))])
    np.testing.assert_allclose(param, 0.95)
    nesterov = make_optimizer(TrainConfig(optimizer="momentum", nesterov=True))
    assert isinstance(nesterov, Momentum) and nesterov.nesterov


@pytest.mark.parametrize("size", [3, 50_000])  # BLAS may split large arrays across threads
def test_two_steps_follow_each_update_rule(size):
    grads = [np.full(size, 0.5, np.float32), np.full(size, -0.25, np.float32)]

    def two_steps(optimizer):
        param = np.ones(size, np.float32)
        for grad in grads:
            optimizer.step([("w.weight", param, grad)])
        return param

    # Heavy ball: v1 = g1, v2 = 0.9 v1 + g2; Nesterov steps along g + 0.9 v.
    v1, v2 = 0.5, 0.9 * 0.5 - 0.25
    heavy_ball = two_steps(Momentum(0.1, momentum=0.9))
    np.testing.assert_allclose(heavy_ball, 1 - 0.1 * (v1 + v2), rtol=1e-6)
    nesterov_steps = (0.5 + 0.9 * v1) + (-0.25 + 0.9 * v2)
    np.testing.assert_allclose(two_steps(Momentum(0.1, momentum=0.9, nesterov=True)),
                               1 - 0.1 * nesterov_steps, rtol=1e-6)
    m1, s1 = 0.1 * 0.5, 0.001 * 0.25
    m2, s2 = 0.9 * m1 + 0.1 * -0.25, 0.999 * s1 + 0.001 * 0.0625
    adam_step2 = 0.01 * np.sqrt(1 - 0.999**2) / (1 - 0.9**2) * m2 / (np.sqrt(s2) + 1e-8)
    np.testing.assert_allclose(two_steps(Adam(0.01)), 1 - 0.01 - adam_step2, rtol=1e-5)


def test_mnist_reaches_high_accuracy_quickly(mnist):
    """A short real run: the engine learns MNIST (full runs are in benchmarks/)."""
    network = Network(NetworkConfig())
    trainer = Trainer(network, mnist.train_images[:20000], mnist.train_labels[:20000],
                      TrainConfig(optimizer="adam", learning_rate=0.001, epochs=1))
    trainer.run()
    assert network.score(mnist.test_images, mnist.test_labels) > 0.93
