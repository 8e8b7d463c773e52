"""The dashboard's logic below the pages: classification, the network library, training runs.

Runs without a Streamlit server and without MNIST (small random data stands in).
"""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from nn_core.model.blas import blas_threads
from nn_core.config import PRESETS, NetworkConfig, TrainConfig
from nn_core.errors import ConfigError, NetworkFileError
from nn_core.model.network import Network
from nn_core.storage.network_file import Metadata, load_network, network_to_bytes, save_network
from nn_core.speed import passes
from nn_core.speed.threads import pass_threads
from nn_core.training.trainer import Trainer

from dashboard import (active_network, image_classification, introspection, labelled_drawings, networks_folder,
                       server_settings, server_threads, training)
from dashboard.architecture import cnn_layers
from dashboard.active_network import ActiveNetwork
from dashboard.labelled_drawings import LabelledDrawing
from dashboard.training import CONV_EVAL_IMAGES, DRAWING_REPEATS, MNIST_PER_DRAWING, TrainingRun, fine_tune_dataset

SMALL = NetworkConfig(layers=(784, 16, 10), seed=3)
SMALL_CNN = NetworkConfig(layers=cnn_layers([4, 8], kernel=3, batchnorm=True, dense_width=16), seed=3)


@pytest.fixture
def library(tmp_path, monkeypatch) -> Path:
    """A networks folder holding a protected default.npz; the dashboard is pointed at it."""
    default = save_network(tmp_path / "default.npz", Network(SMALL), Metadata.new("bundled"))
    monkeypatch.setenv(server_settings.NETWORKS_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(server_settings.DEFAULT_NETWORK_ENV, str(default))
    return tmp_path


def canvas_with_stroke() -> np.ndarray:
    """A 280×280 RGBA canvas as the browser sends it: opaque black with one white vertical stroke."""
    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[..., 3] = 255
    canvas[50:230, 130:150, :3] = 255
    return canvas


def random_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 784), dtype=np.uint8), rng.integers(0, 10, n)


# -- classification ------------------------------------------------------------------------------
def test_empty_canvas_gives_no_prediction():
    blank = np.zeros((280, 280, 4), np.uint8)
    blank[..., 3] = 255
    result = image_classification.classify(Network(SMALL), blank)
    assert result.preprocessed.empty and result.probabilities is None and result.predicted is None


def test_drawn_canvas_gives_probabilities_of_the_28x28_input():
    network = Network(SMALL)
    result = image_classification.classify(network, canvas_with_stroke())
    assert result.preprocessed.image.shape == (28, 28)
    assert result.probabilities.shape == (10,) and result.probabilities.sum() == pytest.approx(1, abs=1e-5)
    assert result.predicted == int(network.predict(result.preprocessed.image)[0])
    assert result.confidence == pytest.approx(result.probabilities.max())


def test_classify_runs_the_path_it_is_asked_for():
    network = Network(SMALL)
    canvas = canvas_with_stroke()
    assert image_classification.classify(network, canvas).preprocessed.source == "canvas"  # auto: a uniform background
    assert image_classification.classify(network, canvas, "canvas").preprocessed.source == "canvas"
    assert image_classification.classify(network, canvas, "photo").preprocessed.source == "photo"


def test_hidden_activations_and_first_layer_weights():
    network = Network(NetworkConfig(layers=(784, 32, 16, 10), activation="tanh"))
    layers = introspection.hidden_activations(network, np.zeros((28, 28), np.float32))
    assert [values.shape for _, values in layers] == [(32,), (16,)]
    assert "32 Tanh" in layers[0][0]
    assert introspection.first_layer_weights(network).shape == (784, 32)
    assert introspection.hidden_activations(Network(NetworkConfig(layers=(784, 10))), np.zeros(784)) == []


def test_feature_maps_of_every_conv_and_pool_layer_of_a_cnn():
    network = Network(SMALL_CNN)
    image = np.zeros((28, 28), np.float32)
    image[5:23, 13:16] = 1.0
    maps = introspection.feature_maps(network, image)
    assert [values.shape for _, values in maps] == [(28, 28, 4), (14, 14, 4), (14, 14, 8), (7, 7, 8)]
    assert [title.split(" (")[0] for title, _ in maps] == ["Conv 1", "Pool 1", "Conv 2", "Pool 2"]
    assert "4 maps 28×28" in maps[0][0] and "ReLU" in maps[0][0]
    assert min(values.min() for _, values in maps) >= 0  # after ReLU (past batch norm), not before
    outputs = network.activations(image)
    # Layers: ToImage, Conv, BatchNorm, ReLU, Pool: the conv's maps are its activated batch norm.
    np.testing.assert_array_equal(maps[0][1], np.maximum(outputs[3][0], 0))
    np.testing.assert_array_equal(maps[1][1], outputs[5][0])
    assert introspection.feature_maps(Network(SMALL), image) == []


def test_a_cnn_has_dense_activations_filters_and_saliency():
    network = Network(SMALL_CNN)
    image = np.zeros((28, 28), np.float32)
    (title, values), = introspection.hidden_activations(network, image)
    assert values.shape == (16,) and title == "Hidden layer 1: 16 ReLU units"
    assert introspection.first_layer_weights(network).shape == (3, 3, 1, 4)
    assert network.saliency(image).shape == (1, 784)
    assert introspection.hidden_activations(Network(NetworkConfig(layers=cnn_layers([4]))), image) == []


def test_fingerprint_follows_the_weights():
    network = Network(SMALL)
    copy = Network(network.config)
    copy.load_state_dict({name: param.copy() for name, param in network.state_dict().items()})
    assert active_network.network_fingerprint(network) == active_network.network_fingerprint(copy)
    copy.layers[0].params["weight"][0, 0] += 1
    assert active_network.network_fingerprint(network) != active_network.network_fingerprint(copy)


# -- labelled drawings -------------------------------------------------------------------------------
def test_labelled_drawings_download_as_npz():
    image = np.zeros((28, 28), np.float32)
    image[10:20, 14] = 1.0
    drawings = [LabelledDrawing.from_preprocessed(image, 1), LabelledDrawing.from_preprocessed(image * 0.5, 7)]
    with np.load(io.BytesIO(labelled_drawings.drawings_to_npz(drawings))) as data:
        assert data["images"].shape == (2, 28, 28) and data["images"].dtype == np.uint8
        assert data["images"][0, 15, 14] == 255 and data["images"][1, 15, 14] == 128
        assert list(data["labels"]) == [1, 7]
    with pytest.raises(ValueError, match="digit"):
        LabelledDrawing.from_preprocessed(image, 10)


# -- the network library ----------------------------------------------------------------------------------
def test_default_network_is_loaded_per_session_as_a_separate_copy(library):
    first, warning = active_network.load_default_network()
    second, _ = active_network.load_default_network()
    assert warning is None and first.metadata.name == "bundled"
    assert first.network is not second.network
    first.network.layers[0].params["weight"][:] = 0
    assert np.abs(second.network.layers[0].params["weight"]).sum() > 0


def test_missing_default_falls_back_to_an_untrained_network(tmp_path, monkeypatch):
    monkeypatch.setenv(server_settings.DEFAULT_NETWORK_ENV, str(tmp_path / "nowhere.npz"))
    active, warning = active_network.load_default_network()
    assert active.path is None and "no bundled network" in warning


def test_listing_reports_broken_files_instead_of_failing(library):
    (library / "broken.npz").write_bytes(b"not a zip at all")
    session_library = networks_folder.network_library("me")
    listing = {item.path.name: item for item in networks_folder.list_saved_networks(session_library)}
    assert listing["broken.npz"].network is None and "zip" in listing["broken.npz"].error
    assert "bundled default" in listing["default.npz"].read_only_reason
    assert listing["default.npz"].network.describe() == "784-16-10 relu"


def test_uploaded_bytes_are_validated():
    network = Network(SMALL)
    data = network_to_bytes(network, Metadata.new("up"))
    loaded, metadata = networks_folder.read_uploaded_network(data)
    assert metadata.name == "up" and loaded.describe() == network.describe()
    for bad in (b"", b"PK\x03\x04 truncated", data[: len(data) // 2]):
        with pytest.raises(NetworkFileError):
            networks_folder.read_uploaded_network(bad)


def test_new_untrained_network_from_the_form():
    active = active_network.new_untrained_network(" tiny ", "32; 16", "sigmoid", 5)
    assert active.network.describe() == "784-32-16-10 sigmoid" and active.metadata.name == "tiny"
    assert active.path is None and active.label == "tiny (unsaved)"
    assert active_network.new_untrained_network("", "", "relu", 0).network.describe() == "784-10 relu"
    with pytest.raises(ConfigError, match="whole numbers"):
        active_network.new_untrained_network("x", "12, lots", "relu", 0)
    with pytest.raises(ConfigError):
        active_network.new_untrained_network("x", "0", "relu", 0)
    cnn = active_network.new_untrained_network("conv", "ignored", "relu", 1, architecture="cnn")
    assert cnn.network.config.layers == PRESETS["cnn"] and cnn.network.describe() == "c16k5-p2-c32k5-p2-d10 relu"
    with pytest.raises(ConfigError, match="mlp or cnn"):
        active_network.new_untrained_network("x", "", "relu", 0, architecture="rnn")


def test_download_name_and_metadata_for_saving():
    active = ActiveNetwork(Network(SMALL), Metadata.new("Nice net", test_accuracy=0.5), None)
    assert networks_folder.download_file_name(active) == "Nice-net.npz"
    renamed = networks_folder.metadata_for_saving(active.network, active.metadata, "stem")
    assert renamed.name == "stem" and renamed.test_accuracy == 0.5


# -- training runs ---------------------------------------------------------------------------------------
def make_run(n: int = 512, batch_size: int = 32, epochs: int = 2,
             eval_every_seconds: float = 1000.0) -> TrainingRun:
    images, labels = random_data(n)
    val_images, val_labels = random_data(64, seed=1)
    return TrainingRun.create(Network(SMALL), images, labels, TrainConfig(batch_size=batch_size, epochs=epochs),
                              val_images, val_labels, mode="new", base_name="run",
                              eval_every_seconds=eval_every_seconds)


def test_step_batches_counts_batches_and_samples():
    run = make_run()
    report = run.step_batches(5)
    assert report.batches == 5 and report.samples == 160 and not report.evaluated
    assert len(run.trainer.history.loss) == 5 and run.samples_seen == 160


def test_validation_points_come_every_few_training_seconds(monkeypatch):
    monkeypatch.setattr(training, "MAX_EVAL_SHARE", float("inf"))  # however long validating takes
    run = make_run(eval_every_seconds=0.0)  # due after every chunk of training
    run.step_batches(1)
    run.step_batches(2)
    assert run.trainer.history.eval_step == [1, 3]


def tick_until_stopped(run: TrainingRun) -> None:
    for _ in range(1000):
        if run.stopped:
            return
        run.tick(0.001)
    raise AssertionError("the run never stopped")


def test_stop_at_epoch_end_ticks_to_the_epoch_end_and_stays_there():
    run = make_run()
    run.step_batches(3)
    run.stop_at_epoch_end()
    assert run.stopping_at_epoch_end
    tick_until_stopped(run)
    assert run.trainer.epochs_done == 1 and run.trainer.step_count == 16 and not run.done
    assert run.trainer.history.eval_step[-1] == 16  # an epoch's end is a validation point
    assert run.tick(0.001).batches == 0 and not run.stopping_at_epoch_end
    run.stop_at_epoch_end()  # the next epoch is the last
    tick_until_stopped(run)
    assert run.done and run.progress == 1.0
    assert run.step_batches(1).batches == 0  # nothing left to do


def test_pause_cancels_stop_at_epoch_end():
    run = make_run(epochs=3)
    run.stop_at_epoch_end()
    run.step_batches(2)
    run.pause()
    assert not run.stopping_at_epoch_end
    for _ in range(20):
        run.tick(0.001)
    assert run.trainer.step_count > 16  # past the first epoch's end


def test_tick_trains_for_about_its_budget_and_measures_throughput():
    run = make_run(n=4096, epochs=50)
    first = run.tick(0.05)
    assert first.batches >= 1 and run.samples_per_second is None
    run.tick(0.05)
    assert run.samples_per_second > 0 and run.eta_seconds > 0
    run.pause()
    assert run.samples_per_second > 0  # the last rate stays on screen while paused


def test_tick_sizes_chunks_by_samples_so_a_larger_batch_does_not_overrun():
    run = make_run(n=4096, batch_size=16, epochs=50)
    run.tick(0.05)
    run.trainer.update(batch_size=512)  # 32x the work per batch
    started = time.perf_counter()
    report = run.tick(0.1)
    assert report.batches >= 1 and time.perf_counter() - started < 1.0


def test_a_cnn_run_validates_on_fewer_images_and_less_often_when_validating_is_slow():
    images, labels = random_data(256)
    val_images, val_labels = random_data(CONV_EVAL_IMAGES + 500, seed=1)
    run = TrainingRun.create(Network(SMALL_CNN), images, labels, TrainConfig(batch_size=32), val_images,
                             val_labels, mode="new", base_name="cnn", eval_every_seconds=0.0)
    assert len(run.trainer.eval_images) == CONV_EVAL_IMAGES
    assert run.step_batches(1).evaluated  # eval_every_seconds=0: the first point is due at once
    assert not run.step_batches(1).evaluated  # one tiny batch is far less than the stretched interval


def test_the_server_keeps_blas_on_one_thread_and_a_cnn_run_on_every_core(monkeypatch):
    monkeypatch.setattr(server_threads, "PASS_THREADS", 2)
    threads_seen = set()
    train_passes = passes.train_passes

    def recording(network, *args, **kwargs):
        threads_seen.add(threading.current_thread().name)
        return train_passes(network, *args, **kwargs)

    monkeypatch.setattr(passes, "train_passes", recording)
    network = Network(NetworkConfig(layers=cnn_layers([4, 8], kernel=3, batchnorm=False, dense_width=16)))
    images, labels = random_data(128)
    run = TrainingRun.create(network, images, labels, TrainConfig(batch_size=32), images, labels, "new", "x")
    run.trainer.passes.images_per_pass = 8  # batches of 32 in 4 passes
    server_threads.configure_threads.clear()
    limits = server_threads.configure_threads()
    try:
        assert blas_threads() == 1 and pass_threads() == 2
        run.step_batches(2)
    finally:
        limits.restore_original_limits()
        server_threads.configure_threads.clear()
    assert len(threads_seen) == 2


def test_fine_tune_dataset_mixes_repeated_drawings_with_mnist():
    drawings = np.full((3, 28, 28), 200, np.uint8)
    mnist_images, mnist_labels = random_data(1000)
    images, labels = fine_tune_dataset(drawings, np.array([4, 4, 9]), mnist_images, mnist_labels,
                                       np.random.default_rng(0))
    assert images.shape == (3 * DRAWING_REPEATS + 3 * MNIST_PER_DRAWING, 784) and images.dtype == np.uint8
    assert (labels[: 3 * DRAWING_REPEATS] == np.repeat([4, 4, 9], DRAWING_REPEATS)).all()
    assert (images[: 3 * DRAWING_REPEATS] == 200).all()


def test_unknown_mode_is_refused():
    images, labels = random_data(64)
    with pytest.raises(ValueError, match="mode"):
        TrainingRun.create(Network(SMALL), images, labels, TrainConfig(), images, labels, "guess", "x")
