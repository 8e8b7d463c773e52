"""Network construction, inference API, saliency and the config boundary."""

from __future__ import annotations

import numpy as np
import pytest

from nn_core.config import ConvSpec, DenseSpec, NetworkConfig, PoolSpec, TrainConfig
from nn_core.errors import ConfigError, ShapeError
from nn_core.model.layers import Dense, Dropout, ReLU, Tanh
from nn_core.model.losses import softmax_cross_entropy
from nn_core.model.network import Network, as_input_batch
from nn_core.speed.passes import FastPasses, pass_slices, train_passes


def test_built_from_plain_data():
    config = NetworkConfig.from_dict({"layers": [784, 32, 16, 10], "activation": "tanh", "dropout": 0.2})
    network = Network(config)
    kinds = [type(layer) for layer in network.layers]
    assert kinds == [Dense, Tanh, Dropout, Dense, Tanh, Dropout, Dense]
    assert network.n_parameters == config.n_parameters == 785 * 32 + 33 * 16 + 17 * 10
    assert network.describe() == "784-32-16-10 tanh"
    assert NetworkConfig.from_dict(config.to_dict()) == config


def test_float32_and_seeded_initialisation():
    a, b = Network(NetworkConfig(seed=5)), Network(NetworkConfig(seed=5))
    c = Network(NetworkConfig(seed=6))
    for (_, pa, ga), (_, pb, _), (_, pc, _) in zip(a.parameters(), b.parameters(), c.parameters()):
        assert pa.dtype == ga.dtype == np.float32
        np.testing.assert_array_equal(pa, pb)
        if pa.ndim == 2:
            assert not np.array_equal(pa, pc)


def test_he_initialisation_scale():
    weight = Network(NetworkConfig(layers=(784, 512, 10))).layers[0].params["weight"]
    assert weight.std() == pytest.approx(np.sqrt(2 / 784), rel=0.05)
    xavier = Network(NetworkConfig(layers=(784, 512, 10), activation="sigmoid")).layers[0].params["weight"]
    assert xavier.std() == pytest.approx(np.sqrt(2 / (784 + 512)), rel=0.05)


@pytest.mark.parametrize("bad, message", [
    ({"layers": [784, 10, 9]}, "end at 10"),
    ({"layers": [100, 10]}, "start at 784"),
    ({"layers": [784, 0, 10]}, "hidden layer width"),
    ({"layers": [784, "a", 10]}, "must be a number"),
    ({"activation": "swish"}, "activation must be one of"),
    ({"dropout": 0.95}, "dropout"),
    ({"colour": "red"}, "unknown NetworkConfig field"),
])
def test_invalid_network_configs_are_explained(bad, message):
    with pytest.raises(ConfigError, match=message):
        NetworkConfig.from_dict(bad)


def test_invalid_train_config_is_explained():
    with pytest.raises(ConfigError, match="optimizer must be one of"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(ConfigError, match="batch_size"):
        TrainConfig.from_dict({"batch_size": 0})
    with pytest.raises(ConfigError, match="must be int"):
        TrainConfig.from_dict({"epochs": True})


def test_input_shapes_accepted_and_rejected():
    image = np.zeros((28, 28), dtype=np.uint8)
    image[10, 10] = 255
    for shaped in (image, image.reshape(784), image[None], image.reshape(1, 784)):
        batch = as_input_batch(shaped)
        assert batch.shape == (1, 784) and batch.dtype == np.float32
        assert batch.max() == 1.0
    with pytest.raises(ShapeError, match=r"\(N, 784\)"):
        as_input_batch(np.zeros((5, 100)))
    with pytest.raises(ShapeError, match="NaN"):
        as_input_batch(np.full(784, np.nan))
    with pytest.raises(ShapeError, match="numeric"):
        as_input_batch(np.array(["a"] * 784))


def test_predict_proba_predict_and_activations(rng):
    network = Network(NetworkConfig(layers=(784, 20, 10)))
    images = rng.random((7, 784), dtype=np.float32)
    probabilities = network.predict_proba(images)
    assert probabilities.shape == (7, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(network.predict(images), probabilities.argmax(axis=1))
    outputs = network.activations(images)
    assert [o.shape for o in outputs] == [(7, 784), (7, 20), (7, 20), (7, 10)]
    assert (outputs[2] >= 0).all()
    np.testing.assert_allclose(outputs[-1], network.forward(images), rtol=1e-6)


def test_saliency_is_the_input_gradient_of_the_class_logit(rng):
    network = Network(NetworkConfig(layers=(784, 16, 10), activation="tanh")).astype(np.float64)
    image = rng.random((1, 784))
    saliency = network.saliency(image, target=3)
    assert saliency.shape == (1, 784)
    eps, pixel = 1e-6, 400
    plus, minus = image.copy(), image.copy()
    plus[0, pixel] += eps
    minus[0, pixel] -= eps
    numeric = (network.forward(plus)[0, 3] - network.forward(minus)[0, 3]) / (2 * eps)
    assert saliency[0, pixel] == pytest.approx(numeric, rel=1e-5)
    with pytest.raises(ShapeError, match="0-9"):
        network.saliency(image, target=12)


@pytest.mark.parametrize("layers", [(784, 16, 10), ({"conv": 4, "kernel": 3}, {"pool": 2}, {"dense": 10})])
def test_saliency_between_a_training_forward_and_backward_changes_nothing(rng, layers):
    network = Network(NetworkConfig(layers=layers, dropout=0.5))
    images, labels = rng.random((6, 784), dtype=np.float32), rng.integers(0, 10, 6)

    def trained_grads(with_saliency: bool) -> dict[str, np.ndarray]:
        for layer in network.layers:
            if isinstance(layer, Dropout):
                layer.rng = np.random.default_rng(0)  # the same mask each time
        logits = network.forward(images, training=True)
        if with_saliency:  # as another session's Debug page would, on the shared network
            network.saliency(rng.random((2, 784), dtype=np.float32))
        network.backward(softmax_cross_entropy(logits, labels)[1])
        return {name: grad.copy() for name, _, grad in network.parameters()}

    alone = trained_grads(with_saliency=False)
    for name, grad in trained_grads(with_saliency=True).items():
        np.testing.assert_array_equal(grad, alone[name], err_msg=name)


def test_state_dict_round_trip_and_mismatch():
    source, target = Network(NetworkConfig(seed=1)), Network(NetworkConfig(seed=2))
    target.load_state_dict(source.state_dict())
    for (_, a, _), (_, b, _) in zip(source.parameters(), target.parameters()):
        np.testing.assert_array_equal(a, b)
    bad = dict(source.state_dict())
    bad["layers.0.weight"] = np.zeros((3, 3), np.float32)
    with pytest.raises(ShapeError, match="layers.0.weight has shape"):
        target.load_state_dict(bad)
    with pytest.raises(ShapeError, match="missing"):
        target.load_state_dict({})


CNN_SPEC = [{"conv": 4, "kernel": 3}, {"pool": 2}, {"conv": 6, "kernel": 3, "padding": "valid",
                                                      "batchnorm": True}, {"pool": 2}, {"dense": 10}]


def test_cnn_built_from_plain_data():
    from nn_core.config import PRESETS

    config = NetworkConfig.from_dict({"layers": CNN_SPEC})
    network = Network(config)
    names = [layer.describe() for layer in network.layers]
    assert names == ["ToImage", "Conv2D(1→4, 3×3, same)", "ReLU", "MaxPool2D(2)",
                     "Conv2D(4→6, 3×3, valid)", "BatchNorm(6)", "ReLU", "MaxPool2D(2)", "Flatten",
                     "Dense(216→10)"]
    assert config.shapes() == [(28, 28, 4), (14, 14, 4), (12, 12, 6), (6, 6, 6), (10,)]
    assert network.n_parameters == config.n_parameters
    assert config.describe() == "c4k3-p2-c6k3bn-p2-d10 relu"
    assert NetworkConfig.from_dict(config.to_dict()) == config
    assert Network(NetworkConfig(layers=PRESETS["cnn"])).predict_proba(np.zeros((2, 784))).shape == (2, 10)


def test_each_layer_kind_has_its_own_spec_and_the_json_form_stays():
    config = NetworkConfig.from_dict({"layers": CNN_SPEC})
    assert config.layer_specs() == [ConvSpec(4, 3), PoolSpec(2), ConvSpec(6, 3, "valid", batchnorm=True),
                                    PoolSpec(2), DenseSpec(10)]
    assert config.to_dict()["layers"] == CNN_SPEC
    assert NetworkConfig().layer_specs() == [DenseSpec(256), DenseSpec(128), DenseSpec(10)]
    assert NetworkConfig().to_dict()["layers"] == [784, 256, 128, 10]


@pytest.mark.parametrize("activation, init, scheme", [("relu", "auto", "he"), ("tanh", "auto", "xavier"),
                                                      ("sigmoid", "he", "he"), ("relu", "xavier", "xavier")])
def test_the_initial_weights_scheme_follows_the_activation_unless_named(activation, init, scheme):
    assert NetworkConfig(activation=activation, init=init).weight_init == scheme


@pytest.mark.parametrize("layers, message", [
    ([{"conv": 4}, {"pool": 2}], "last layer must be"),
    ([{"dense": 20}, {"conv": 4}, {"dense": 10}], "before the dense"),
    ([{"conv": 4, "kernel": 30}, {"dense": 10}], "kernel"),
    ([{"conv": 4, "size": 3}, {"dense": 10}], "unknown key"),
    ([{"conv": 4, "pool": 2}, {"dense": 10}], "exactly one"),
    ([{"pool": 4}, {"pool": 4}, {"pool": 4}, {"dense": 10}], "to nothing"),
    ([{"conv": True}, {"dense": 10}], "must be int"),
])
def test_invalid_cnn_specs_are_explained(layers, message):
    with pytest.raises(ConfigError, match=message):
        NetworkConfig(layers=tuple(layers))


def test_cnn_gradients_through_the_whole_network(rng):
    from tests.gradients import numerical_gradient
    from nn_core.model.losses import softmax_cross_entropy

    network = Network(NetworkConfig(layers=tuple(CNN_SPEC), activation="tanh", seed=2)).astype(np.float64)
    x = rng.random((2, 784))
    labels = np.array([3, 8])

    def objective() -> float:
        return softmax_cross_entropy(network.forward(x, training=True), labels)[0]

    _, grad = softmax_cross_entropy(network.forward(x, training=True), labels)
    network.backward(grad)
    for name, param, analytic in network.parameters():
        flat_param, flat_grad = param.reshape(-1), analytic.reshape(-1)
        for index in rng.choice(flat_param.size, min(5, flat_param.size), replace=False):
            view = flat_param[index:index + 1]
            numeric = numerical_gradient(objective, view)[0]
            assert flat_grad[index] == pytest.approx(numeric, rel=1e-4, abs=1e-7), name


def test_cnn_saliency_and_activations(rng):
    network = Network(NetworkConfig(layers=tuple(CNN_SPEC)))
    image = rng.random((1, 784), dtype=np.float32)
    assert network.saliency(image).shape == (1, 784)
    outputs = network.activations(image)
    assert outputs[1].shape == (1, 28, 28, 1) and outputs[2].shape == (1, 28, 28, 4)
    assert outputs[-1].shape == (1, 10)


def test_many_images_are_taken_in_passes_with_the_same_results(rng):
    network = Network(NetworkConfig(layers=tuple(CNN_SPEC)))
    images = rng.random((11, 784), dtype=np.float32)
    one_pass = network.forward(images)
    fast = FastPasses(network)
    fast.images_per_pass = 4  # 11 images: passes of 4, 4 and 3
    np.testing.assert_allclose(fast.forward(images), one_pass, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n_images, images_per_pass, sizes", [
    (128, 40, [32, 32, 32, 32]), (50, 16, [13, 13, 13, 11]), (10, None, [10]), (7, 7, [7]), (0, 5, [])])
def test_a_batch_splits_into_near_equal_passes(n_images, images_per_pass, sizes):
    parts = pass_slices(n_images, images_per_pass)
    assert [len(range(n_images)[part]) for part in parts] == sizes


def test_training_passes_add_up_to_the_whole_batch_gradient(rng):
    # Without batch norm, whose statistics would differ pass by pass.
    network = Network(NetworkConfig(layers=({"conv": 4, "kernel": 3}, {"pool": 2}, {"dense": 16},
                                            {"dense": 10})))
    images = rng.random((11, 784), dtype=np.float32)
    labels = rng.integers(0, 10, 11)
    whole = train_passes(network, images, labels, softmax_cross_entropy, pass_slices(11, None))
    expected = {name: grad.copy() for name, _, grad in network.parameters()}
    parts = pass_slices(11, 4)
    assert len(parts) == 3
    first, rest = (train_passes(network, images, labels, softmax_cross_entropy, group)
                   for group in (parts[:1], parts[1:]))
    # Each part's loss is weighted by its share, so the shares add up to the batch's.
    assert first[0] + rest[0] == pytest.approx(whole[0], rel=1e-5)
    assert first[1] + rest[1] == whole[1] == (network.predict(images) == labels).sum()
    train_passes(network, images, labels, softmax_cross_entropy, parts[:1])
    train_passes(network, images, labels, softmax_cross_entropy, parts[1:], accumulate=True)
    for name, _, grad in network.parameters():
        np.testing.assert_allclose(grad, expected[name], rtol=1e-4, atol=1e-6, err_msg=name)
    assert not any(layer.accumulate_grads for layer in network.layers)


def test_a_replica_shares_parameters_but_not_gradients_or_pass_state(rng):
    layers = ({"conv": 4, "kernel": 3}, {"pool": 2}, {"dense": 16}, {"dense": 10})
    network = Network(NetworkConfig(layers=layers))
    twin = network.replica()
    for (name, param, grad), (_, twin_param, twin_grad) in zip(network.parameters(), twin.parameters()):
        assert twin_param is param, name
        assert twin_grad is not grad and twin_grad.shape == grad.shape, name
    x = rng.random((6, 784), dtype=np.float32)
    network.forward(x[:3], training=True)
    network.backward(np.ones((3, 10), np.float32))
    alone = {name: grad.copy() for name, _, grad in network.parameters()}
    network.forward(x[:3], training=True)
    twin.forward(x[3:], training=True)  # in between: must not disturb the network's backward
    network.backward(np.ones((3, 10), np.float32))
    for name, _, grad in network.parameters():
        np.testing.assert_array_equal(grad, alone[name], err_msg=name)
    assert not any(np.any(grad) for _, _, grad in twin.parameters())


def test_a_replica_draws_dropout_from_its_own_generator():
    network = Network(NetworkConfig(layers=(784, 16, 10), dropout=0.5))
    twin = network.replica()
    dropout, twin_dropout = (next(layer for layer in net.layers if isinstance(layer, Dropout))
                             for net in (network, twin))
    assert twin_dropout.rng is not dropout.rng  # threads never share a generator
