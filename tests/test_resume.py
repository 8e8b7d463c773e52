"""Training resumes exactly: a network file keeps the optimizer's state and the run's position,
and a run continued from it takes the steps the unbroken run takes."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from nn_core.config import NetworkConfig, TrainConfig
from nn_core.errors import NetworkFileError, ShapeError
from nn_core.model.network import Network
from nn_core.storage.network_file import Metadata, load_checkpoint, load_network, network_to_bytes
from nn_core.training.trainer import History, Trainer
from tests.small_runs import toy_digits

SMALL_MLP = NetworkConfig(layers=(784, 16, 10), seed=5)
RUNS = {
    "sgd": TrainConfig(optimizer="sgd", learning_rate=0.05),
    "momentum": TrainConfig(optimizer="momentum", learning_rate=0.02),
    "nesterov with weight decay": TrainConfig(optimizer="momentum", nesterov=True, weight_decay=1e-3,
                                              learning_rate=0.02),
    "adam": TrainConfig(optimizer="adam", learning_rate=0.002, beta1=0.8),
}


def toy_data(n: int) -> tuple[np.ndarray, np.ndarray]:
    return toy_digits(np.random.default_rng(0), n)


def saved_run(trainer: Trainer) -> bytes:
    metadata = Metadata.new("run", train_config=trainer.config.to_dict(), history=trainer.history.to_dict())
    return network_to_bytes(trainer.network, metadata, trainer.training_state())


def resumed(data: bytes, images: np.ndarray, labels: np.ndarray, epochs: int) -> Trainer:
    network, metadata, state = load_checkpoint(data)
    config = TrainConfig.from_dict({**metadata.train_config, "epochs": epochs})
    return Trainer.from_checkpoint(network, images, labels, config, state, History.from_dict(metadata.history))


def assert_same_weights(a: Network, b: Network) -> None:
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert np.array_equal(x, y), name


@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("stop_after", [8, 13])  # at an epoch's end (8 batches of 40), and within the second
def test_a_run_saved_and_resumed_takes_the_same_steps(run, stop_after):
    images, labels = toy_data(320)
    config = replace_epochs(RUNS[run], 3, batch_size=40)
    unbroken = Trainer(Network(SMALL_MLP), images, labels, config)
    unbroken.run(batches_per_step=5)
    first = Trainer(Network(SMALL_MLP), images, labels, config)
    first.step(stop_after) if stop_after == 8 else (first.step(8), first.step(stop_after - 8))
    second = resumed(saved_run(first), images, labels, epochs=3)
    assert second.step_count == stop_after
    second.run(batches_per_step=5)
    assert_same_weights(unbroken.network, second.network)
    assert second.history.loss == pytest.approx(unbroken.history.loss, rel=0, abs=0)
    assert second.step_count == unbroken.step_count


def replace_epochs(config: TrainConfig, epochs: int, **changes) -> TrainConfig:
    return TrainConfig.from_dict({**config.to_dict(), "epochs": epochs, **changes})


def test_augmentation_and_dropout_draw_the_same_numbers_after_resuming():
    images, labels = toy_data(200)
    network_config = NetworkConfig(layers=(784, 16, 10), dropout=0.3, seed=2)
    config = TrainConfig(optimizer="adam", learning_rate=0.002, augment=True, batch_size=50, epochs=2)
    unbroken = Trainer(Network(network_config), images, labels, config)
    unbroken.run()
    first = Trainer(Network(network_config), images, labels, replace_epochs(config, 1))
    first.run()
    second = resumed(saved_run(first), images, labels, epochs=2)
    second.run()
    assert_same_weights(unbroken.network, second.network)


def test_resuming_on_other_data_is_refused():
    images, labels = toy_data(120)
    trainer = Trainer(Network(SMALL_MLP), images, labels, replace_epochs(RUNS["adam"], 1, batch_size=40))
    trainer.run()
    with pytest.raises(ShapeError, match="120 images; these are 100"):
        resumed(saved_run(trainer), images[:100], labels[:100], epochs=2)


def test_a_run_can_go_on_with_other_data_keeping_its_optimizer_state():
    images, labels = toy_data(120)
    trainer = Trainer(Network(SMALL_MLP), images, labels, replace_epochs(RUNS["adam"], 1, batch_size=40))
    trainer.run()
    network, metadata, state = load_checkpoint(saved_run(trainer))
    others, other_labels = toy_data(100)
    config = replace_epochs(RUNS["adam"], 2, batch_size=40)
    going_on = Trainer.from_checkpoint(network, others, other_labels, config, state, same_data=False)
    assert going_on.optimizer.steps == trainer.optimizer.steps
    for name, moment in trainer.optimizer.first.items():
        assert np.array_equal(going_on.optimizer.first[name], moment)
    assert going_on.epoch == 1.0  # a new pass over the other images starts
    going_on.run()
    assert going_on.step_count == 3 + 3 and set(going_on.optimizer.steps.values()) == {6}


def test_files_without_a_training_state_still_load_and_say_so():
    data = network_to_bytes(Network(SMALL_MLP), Metadata.new("plain"))
    network, metadata, state = load_checkpoint(data)
    assert state is None and metadata.format_version == 2
    assert network.config == SMALL_MLP


# -- untrusted files: the training state is checked like everything else ---------------------
@pytest.fixture(scope="module")
def momentum_file() -> bytes:
    images, labels = toy_data(80)
    trainer = Trainer(Network(SMALL_MLP), images, labels, replace_epochs(RUNS["momentum"], 1, batch_size=40))
    trainer.run()
    return saved_run(trainer)


def rewritten(data: bytes, edit_metadata=None, replace: dict[str, bytes] | None = None,
              drop: tuple[str, ...] = ()) -> bytes:
    """The archive with its metadata edited, some entries replaced and some dropped."""
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for name in source.namelist():
            if name in drop:
                continue
            content = source.read(name)
            if name == "metadata.json" and edit_metadata is not None:
                document = json.loads(content)
                edit_metadata(document)
                content = json.dumps(document).encode()
            target.writestr(name, (replace or {}).get(name, content))
    return buffer.getvalue()


def npy(array: np.ndarray) -> bytes:
    stream = io.BytesIO()
    np.lib.format.write_array(stream, array, allow_pickle=False)
    return stream.getvalue()


def refused(data: bytes, pattern: str) -> None:
    with pytest.raises(NetworkFileError, match=pattern):
        load_network(data)


def test_the_saved_state_round_trips(momentum_file):
    network, metadata, state = load_checkpoint(momentum_file)
    assert metadata.format_version == 3
    assert state.epochs_done == 1 and state.cursor == 0 and state.step_count == 2
    assert sorted(state.optimizer_arrays) == sorted(f"velocity/{name}" for name, _, _ in network.parameters())


def test_a_state_for_another_optimizer_is_refused(momentum_file):
    def now_adam(document):
        document["train_config"]["optimizer"] = "adam"
    refused(rewritten(momentum_file, now_adam), "invalid training state.*Adam keeps first, second")


def test_a_shuffled_order_that_repeats_images_is_refused(momentum_file):
    refused(rewritten(momentum_file, replace={"training/order.npy": npy(np.zeros(80, "<i4"))}),
            "order must shuffle the training images, each once")


def test_an_order_of_the_wrong_dtype_or_length_is_refused(momentum_file):
    refused(rewritten(momentum_file, replace={"training/order.npy": npy(np.arange(80, dtype=np.float64))}),
            "int32")
    def longer(document):
        document["training"]["n_images"] = 81
    refused(rewritten(momentum_file, longer), r"shape \(80,\).*needs \(81,\)")


def test_a_broken_generator_state_is_refused(momentum_file):
    def broken(document):
        document["training"]["rng_state"] = {"bit_generator": "PCG64", "state": "lots"}
    refused(rewritten(momentum_file, broken), "rng_state is not a usable generator state")


def test_missing_or_foreign_optimizer_arrays_are_refused(momentum_file):
    refused(rewritten(momentum_file, drop=("optimizer/velocity/layers.0.weight.npy",)),
            "missing.*optimizer/velocity/layers.0.weight.npy")
    def foreign(document):
        document["training"]["optimizer_arrays"].append("velocity/layers.9.weight")
    refused(rewritten(momentum_file, foreign), "belongs to no parameter")


def test_older_formats_cannot_carry_a_training_state(momentum_file):
    def older(document):
        document["format_version"] = 2
    refused(rewritten(momentum_file, older), "format 2 files hold no training state")


def test_adam_settings_saved_before_beta1_had_a_field_keep_their_meaning():
    old_adam = {key: value for key, value in TrainConfig(optimizer="adam").to_dict().items()
                if key not in ("beta1", "beta2")}
    assert TrainConfig.from_dict({**old_adam, "momentum": 0.8}).beta1 == 0.8
    momentum = {key: value for key, value in TrainConfig().to_dict().items() if key not in ("beta1", "beta2")}
    assert TrainConfig.from_dict({**momentum, "momentum": 0.8}).beta1 == TrainConfig().beta1
