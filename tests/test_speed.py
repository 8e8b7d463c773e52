"""The speed layer switched on and off trains to the same weights: bit for bit for an MLP
(one pass, the same products), within float32 rounding for a CNN (passes, threads and the
fused conv → pool sum the same gradients in another order)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from nn_core.config import NetworkConfig
from nn_core.model.network import Network
from nn_core.speed import fast_enabled
from nn_core.speed import passes
from nn_core.speed.passes import FastPasses, pools_first, predict_proba
from nn_core.speed.threads import set_pass_threads
from nn_core.training.trainer import PlainPasses, Trainer
from tests.small_runs import SMALL_CNN, small_trainer

CNN_SPEC = [{"conv": 4, "kernel": 3}, {"pool": 2}, {"conv": 6, "kernel": 3, "padding": "valid",
                                                  "batchnorm": True}, {"pool": 2}, {"dense": 10}]


def trained(monkeypatch, switch: str, layers, optimizer: str, images_per_pass: int | None = None) -> Trainer:
    monkeypatch.setenv("NN_CORE_FAST", switch)
    trainer = small_trainer(np.random.default_rng(5), layers, optimizer=optimizer)
    if images_per_pass is not None:
        trainer.passes.images_per_pass = images_per_pass
    trainer.step(4)
    trainer.evaluate()
    return trainer


@pytest.mark.parametrize("switch, expected", [("0", False), ("1", True), (" 0 ", False), ("", True)])
def test_nn_core_fast_switches_the_speed_layer(monkeypatch, switch, expected):
    monkeypatch.setenv("NN_CORE_FAST", switch)
    assert fast_enabled() is expected
    trainer = small_trainer(np.random.default_rng(5))
    assert isinstance(trainer.passes, FastPasses if expected else PlainPasses)


@pytest.mark.parametrize("switch", ["1", "0"])
def test_the_speed_layer_leaves_the_network_s_own_layers_alone(monkeypatch, switch):
    monkeypatch.setenv("NN_CORE_FAST", switch)
    trainer = small_trainer(np.random.default_rng(5), SMALL_CNN)
    trainer.step(2)
    textbook = Network(trainer.network.config).layers
    assert [type(layer) for layer in trainer.network.layers] == [type(layer) for layer in textbook]
    assert [layer.describe() for layer in trainer.network.layers] == [layer.describe() for layer in textbook]


@pytest.mark.parametrize("optimizer", ["momentum", "adam", "sgd"])
def test_an_mlp_trains_bit_for_bit_alike_with_the_speed_layer_on_and_off(monkeypatch, optimizer):
    fast = trained(monkeypatch, "1", (784, 32, 16, 10), optimizer)
    plain = trained(monkeypatch, "0", (784, 32, 16, 10), optimizer)
    assert fast.history.loss == plain.history.loss
    assert fast.history.eval_accuracy == plain.history.eval_accuracy
    for (name, weights, _), (_, expected, _) in zip(fast.network.parameters(), plain.network.parameters()):
        np.testing.assert_array_equal(weights, expected, err_msg=name)


@pytest.mark.parametrize("optimizer", ["momentum", "sgd"])
@pytest.mark.parametrize("images_per_pass, threads", [(None, 1), (16, 1), (16, 2)])
def test_a_cnn_trains_alike_with_the_speed_layer_on_and_off(monkeypatch, optimizer, images_per_pass, threads):
    set_pass_threads(threads)
    with threadpool_limits(1, user_api="blas"):
        fast = trained(monkeypatch, "1", SMALL_CNN, optimizer, images_per_pass)
        plain = trained(monkeypatch, "0", SMALL_CNN, optimizer)
    assert fast.history.loss == pytest.approx(plain.history.loss, rel=1e-6)
    assert fast.history.train_accuracy == plain.history.train_accuracy
    for (name, weights, _), (_, expected, _) in zip(fast.network.parameters(), plain.network.parameters()):
        np.testing.assert_allclose(weights, expected, rtol=1e-6, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("switch", ["1", "0"])
def test_probabilities_in_passes_match_the_network_s_own(monkeypatch, switch):
    monkeypatch.setenv("NN_CORE_FAST", switch)
    network = small_trainer(np.random.default_rng(5), SMALL_CNN).network
    images = np.random.default_rng(6).integers(0, 256, (40, 784)).astype(np.uint8)
    monkeypatch.setattr(passes, "images_per_pass", lambda config: 16)  # 40 images: passes of 14, 13, 13
    set_pass_threads(2)
    np.testing.assert_allclose(predict_proba(network, images), network.predict_proba(images),
                               rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh"])
def test_activation_after_the_pool_matches_the_textbook_order(activation):
    textbook = Network(NetworkConfig.from_dict({"layers": CNN_SPEC, "activation": activation}))
    network = pools_first(copy.deepcopy(textbook))
    assert [layer.describe() for layer in network.layers[1:4]] == ["Conv2D(1→4, 3×3, same)", "MaxPool2D(2)",
                                                                   textbook.layers[2].describe()]
    x = np.random.default_rng(0).random((3, 784)).astype(np.float32)
    np.testing.assert_allclose(network.forward(x, training=True), textbook.forward(x, training=True),
                               rtol=1e-5, atol=1e-6)
    grad = np.random.default_rng(1).standard_normal((3, 10)).astype(np.float32)
    np.testing.assert_allclose(network.backward(grad.copy(), need_input_grad=True),
                               textbook.backward(grad.copy(), need_input_grad=True), rtol=1e-4, atol=1e-6)
    for (name, _, ours), (_, _, theirs) in zip(network.parameters(), textbook.parameters()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6, err_msg=name)
