"""Every dashboard page through Streamlit's AppTest (no browser): opens, reacts, keeps sessions apart.

The canvas cannot draw here (AppTest shows it as an unknown element); drawing
is tested in tests/browser. Pages needing MNIST are skipped without MNIST_DIR.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from nn_core.config import PRESETS, NetworkConfig, TrainConfig
from nn_core.errors import DownloadError
from nn_core.model.network import Network
from nn_core.training.trainer import Trainer
from nn_core.storage.network_file import Metadata, load_network, network_to_bytes, save_network

from dashboard import image_classification, mnist_cache, server_settings, training_server
from dashboard.architecture import cnn_layers
from dashboard.learning_watch import MAP_DIGITS
from dashboard.library import Library
from dashboard.active_network import ActiveNetwork
from dashboard.widgets import format_loss
from dashboard.labelled_drawings import LabelledDrawing
from dashboard.trainer_pool import RemoteRun
from dashboard.training import DRAWING_REPEATS, MNIST_PER_DRAWING

APP = "../dashboard/app.py"  # AppTest resolves this from this file's folder
TIMEOUT = 60
needs_mnist = pytest.mark.skipif(not os.environ.get("MNIST_DIR"),
                                 reason="MNIST_DIR is not set: point it at the MNIST files to test these pages")


@pytest.fixture
def library(tmp_path, monkeypatch) -> Path:
    """A networks folder with a small default and one other network; the app is pointed at it."""
    save_network(tmp_path / "default.npz", Network(NetworkConfig(layers=(784, 32, 10))), Metadata.new("bundled"))
    save_network(tmp_path / "other.npz", Network(NetworkConfig(layers=(784, 24, 10), seed=1)),
                 Metadata.new("other", test_accuracy=0.5))
    monkeypatch.setenv(server_settings.NETWORKS_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(server_settings.DEFAULT_NETWORK_ENV, str(tmp_path / "default.npz"))
    return tmp_path


def open_app(page: str | None = None, **session_state) -> AppTest:
    """The app after its first run, on ``page``, with ``session_state`` preset before that run."""
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in session_state.items():
        app.session_state[key] = value
    app.run()
    if page is not None:
        app.switch_page(f"views/{page}.py").run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def by_label(elements, label: str):
    matches = [element for element in elements if element.label == label]
    assert matches, f"no element labelled {label!r}; have {[e.label for e in elements]}"
    return matches[0]


def small_cnn() -> ActiveNetwork:
    """An untrained, unsaved CNN to make active: small, so pages with it open quickly."""
    config = NetworkConfig(layers=cnn_layers([4, 8], kernel=3, batchnorm=True), seed=2)
    return ActiveNetwork(Network(config), Metadata.new("tiny-cnn"), None)


def chart_keys(app: AppTest) -> list[str]:
    """The keys of the page's Plotly charts (AppTest knows them only as unknown elements)."""
    return [chart.proto.id.rsplit("-", 1)[-1] for chart in app.get("plotly_chart")]


A_DRAWN_ONE = np.zeros((280, 280, 4), np.uint8)
A_DRAWN_ONE[50:230, 130:150] = 255  # white ink on a transparent canvas


def debug_page_for_drawing(canvas: np.ndarray, **session_state) -> AppTest:
    """The Debug page with ``canvas`` as the session's current drawing."""
    app = open_app(**session_state)  # the Draw page sets the current drawing: replace it afterwards
    network = app.session_state["active_network"].network
    app.session_state["current_classification"] = image_classification.classify(network, canvas)
    app.switch_page("views/debug.py").run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def _plotly_array_length(values: list | dict) -> int:
    """Length of an array in a Plotly figure's JSON: a list, or numpy's data as base64 bytes."""
    if isinstance(values, dict):
        return len(base64.b64decode(values["bdata"])) // np.dtype(values["dtype"]).itemsize
    return len(values)


def sidebar_text(app: AppTest) -> str:
    return " ".join(str(element.value) for element in [*app.sidebar.markdown, *app.sidebar.caption])


# -- every page opens ---------------------------------------------------------------------------------
def test_draw_page_opens_with_the_default_network_in_the_sidebar(library):
    app = open_app()
    assert app.title[0].value == "Draw a digit"
    assert [info.value for info in app.info] == ["Draw a digit"]  # empty canvas: no prediction
    assert not app.metric
    assert "bundled" in sidebar_text(app) and "784-32-10 relu" in sidebar_text(app)


@needs_mnist
@pytest.mark.parametrize("page, title", [("train", "Train a network"), ("debug", "Look inside the network"),
                                         ("networks", "Networks")])
def test_every_page_opens_without_exception(library, page, title):
    app = open_app(page)
    assert app.title[0].value == title
    assert "bundled" in sidebar_text(app)


# -- train ----------------------------------------------------------------------------------------------
# Each run trains in a worker process: a test reads what the worker reported, waiting for it
# where the page would keep refreshing.
WORKER_TIMEOUT = 60


@pytest.fixture(autouse=True)
def close_runs_after_each_test():
    """Stop the worker of every run a test leaves behind (a test's sessions end with it)."""
    runs: list[RemoteRun] = []
    original = RemoteRun.__init__

    def remember(self, *args, **kwargs):
        original(self, *args, **kwargs)
        runs.append(self)

    RemoteRun.__init__ = remember
    yield
    RemoteRun.__init__ = original
    for run in runs:
        run.close()


def training_run(app: AppTest) -> RemoteRun:
    return app.session_state["training_run"]


def wait_for(app: AppTest, condition, what: str) -> RemoteRun:
    """The app's run once ``condition(run)`` holds, then the page rerun to show it."""
    run = training_run(app)
    assert run.wait_until(condition, WORKER_TIMEOUT), f"the trainer never got to: {what} ({run.error})"
    app.run()
    return run


@needs_mnist
def test_step_one_batch_grows_the_history(library):
    app = open_app("train")
    by_label(app.button, "Step one batch").click().run()
    run = training_run(app)
    assert len(run.history().loss) == 1
    assert by_label(app.metric, "Batches").value == "1"
    assert by_label(app.metric, "Samples seen").value == "128"
    by_label(app.button, "Step one batch").click().run()
    assert len(run.history().loss) == 2 and not app.exception
    assert run.worker_pid != os.getpid()  # trained by its own process


@needs_mnist
def test_start_trains_in_the_worker_and_pause_stops(library):
    app = open_app("train")
    by_label(app.button, "Start").click().run()
    assert by_label(app.button, "Pause")
    run = wait_for(app, lambda run: run.status.step_count > 0, "train a batch")
    assert int(by_label(app.metric, "Batches").value.replace(",", "")) > 0
    by_label(app.button, "Pause").click().run()
    wait_for(app, lambda run: not run.busy, "pause")
    paused_at = run.status.step_count
    app.run()
    assert not run.status.training and run.status.step_count == paused_at
    assert by_label(app.button, "Resume") and not app.exception


@needs_mnist
def test_step_one_epoch_trains_live_and_pauses_at_the_epoch_end(library):
    drawings = [LabelledDrawing.from_preprocessed(np.eye(28, dtype=np.float32), label % 10)
                for label in range(20)]  # fine-tuning on these: a short epoch
    app = open_app("train", labelled_drawings=drawings, train_mode="fine_tune")
    by_label(app.button, "Step one epoch").click().run()
    run = wait_for(app, lambda run: not run.busy, "the end of the epoch")
    batches = run.status.batches_per_epoch
    assert run.status.epochs_done == 1 and run.status.step_count == batches and batches > 1
    assert by_label(app.button, "Resume")
    assert "Keep the result" in [subheader.value for subheader in app.main.subheader]
    assert not app.exception


@needs_mnist
def test_the_loss_chart_switches_to_a_log_scale(library):
    app = open_app("train")
    by_label(app.button, "Step one batch").click().run()

    def loss_axis_type() -> str | None:
        chart = next(chart for chart in app.get("plotly_chart") if chart.proto.id.endswith("loss_chart"))
        return json.loads(chart.proto.spec)["layout"]["yaxis"].get("type")

    assert loss_axis_type() != "log"
    app.toggle(key="train_loss_log").set_value(True).run()
    assert loss_axis_type() == "log" and not app.exception


@needs_mnist
def test_sliders_change_the_running_trainer(library):
    app = open_app("train")
    by_label(app.button, "Step one batch").click().run()
    app.select_slider(key="train_lr").set_value(0.01).run()
    app.toggle(key="train_augment").set_value(True).run()
    run = wait_for(app, lambda run: not run.busy, "apply the settings")
    config = run.status.config
    assert config.learning_rate == 0.01 and config.augment
    by_label(app.button, "Step one batch").click().run()
    assert run.history().learning_rate[-1] == 0.01  # the worker trained with it


@needs_mnist
def test_fine_tune_on_labelled_drawings(library):
    drawings = [LabelledDrawing.from_preprocessed(np.eye(28, dtype=np.float32), label) for label in (1, 7)]
    app = open_app("train", labelled_drawings=drawings, train_mode="fine_tune")
    by_label(app.button, "Step one batch").click().run()
    run = training_run(app)
    assert run.mode == "fine_tune" and run.base_name == "bundled-finetuned" and run.status.step_count == 1
    assert run.status.batches_per_epoch == 1  # 2 × (repeats + MNIST share) images in one batch of 128
    assert 2 * (DRAWING_REPEATS + MNIST_PER_DRAWING) <= 128
    assert not np.array_equal(run.network().layers[0].params["weight"],
                              app.session_state["active_network"].network.layers[0].params["weight"])


@needs_mnist
def test_fine_tuning_without_drawings_cannot_start(library):
    app = open_app("train", train_mode="fine_tune")
    assert by_label(app.button, "Start").disabled and by_label(app.button, "Step one batch").disabled
    assert any("Fine-tuning needs labelled drawings" in info.value for info in app.info)


@needs_mnist
def test_trained_network_can_become_active(library):
    app = open_app("train")
    by_label(app.button, "Step one batch").click().run()
    by_label(app.button, "Make it the active network").click().run()
    active = app.session_state["active_network"]
    assert active.path is None and active.metadata.test_accuracy is not None
    np.testing.assert_array_equal(active.network.layers[0].params["weight"],
                                  training_run(app).network().layers[0].params["weight"])
    assert "(unsaved)" in sidebar_text(app)


@needs_mnist
def test_make_active_after_save_makes_the_saved_file_active_without_measuring_again(library, monkeypatch):
    measured = []
    measure = mnist_cache.test_accuracy
    monkeypatch.setattr(mnist_cache, "test_accuracy", lambda network: measured.append(1) or measure(network))
    app = open_app("train")
    by_label(app.button, "Step one batch").click().run()
    assert any("Will be saved as `saved_networks/net-" in caption.value for caption in app.caption)
    app.text_input(key="train_save_name").set_value("../mine").run()
    assert any("Will be saved as `saved_networks/mine.npz`" in caption.value for caption in app.caption)
    by_label(app.button, "Save network").click().run()
    assert (library / "mine.npz").exists() and len(measured) == 1
    by_label(app.button, "Make it the active network").click().run()
    active = app.session_state["active_network"]
    assert active.path == library / "mine.npz" and active.metadata.name == "mine" and len(measured) == 1
    assert "mine" in sidebar_text(app) and "(unsaved)" not in sidebar_text(app)
    app.switch_page("views/networks.py").run()
    table = app.dataframe[0].value
    assert list(table.loc[table["file"] == "mine.npz", "active"]) == ["✓"]


@needs_mnist
def test_reset_discards_the_run_and_stops_its_worker(library):
    app = open_app("train")
    by_label(app.button, "Step one batch").click().run()
    worker = training_run(app).worker_pid
    by_label(app.button, "Reset").click().run()
    assert app.session_state["training_run"] is None
    assert any("press **Start**" in info.value for info in app.info)
    assert process_ends(worker)


@needs_mnist
def test_a_crashed_trainer_is_shown_on_the_page(library):
    app = open_app("train")
    by_label(app.button, "Step one batch").click().run()
    run = training_run(app)
    os.kill(run.worker_pid, signal.SIGKILL)
    assert run.wait_until(lambda run: run.error is not None, WORKER_TIMEOUT)
    app.run()
    assert any("stopped unexpectedly" in error.value for error in app.error)
    assert by_label(app.button, "Resume").disabled and by_label(app.button, "Step one batch").disabled
    by_label(app.button, "Reset").click().run()
    assert app.session_state["training_run"] is None and not app.exception


@needs_mnist
def test_a_run_beyond_the_cap_waits_for_a_free_trainer(library, monkeypatch):
    monkeypatch.setenv(server_settings.MAX_TRAINERS_ENV, "1")
    training_server.trainer_pool.clear()
    try:
        first, second = open_app("train"), open_app("train")
        by_label(first.button, "Start").click().run()
        by_label(second.button, "Start").click().run()
        assert any("Waiting for a free trainer (0 ahead)" in info.value for info in second.info)
        assert training_run(second).status.step_count == 0
        by_label(first.button, "Pause").click().run()
        run = wait_for(second, lambda run: run.status.step_count > 0, "train once the first run paused")
        assert not run.waiting and not any("Waiting" in info.value for info in second.info)
    finally:
        training_server.trainer_pool.clear()


@needs_mnist
def test_step_one_batch_of_the_preset_cnn(library):
    app = open_app("train", train_kind="CNN")
    assert any("c16k5-p2-c32k5-p2-d10 relu" in caption.value for caption in app.caption)
    by_label(app.button, "Step one batch").click().run()
    run = training_run(app)
    assert run.network_config.layers == PRESETS["cnn"] and run.status.step_count == 1
    assert run.base_name == "cnn-c16k5-p2-c32k5-p2-d10"
    assert by_label(app.metric, "Samples seen").value == "128"


@needs_mnist
def test_the_cnn_caption_promises_the_speed_this_server_measured(library, monkeypatch):
    app = open_app("train", train_kind="CNN")
    caption = next(caption.value for caption in app.caption if "Timed on this server" in caption.value)
    rate = float(caption.split("about ")[1].split(" images/s")[0].replace(",", ""))
    assert rate > 0 and "15–20 seconds" not in caption
    timed = []
    monkeypatch.setattr(training_server, "training_speed",
                        lambda config, architecture, batch_size: timed.append((architecture, batch_size)) or 1100.0)
    app.select_slider(key="train_channels_0").set_value(8).run()
    assert timed == [("c8k5-p2-c32k5-p2-d10 relu", 128)]
    assert any("about 1,100 images/s, so an epoch takes about 50s" in caption.value for caption in app.caption)


@needs_mnist
def test_cnn_builder_controls_make_the_network_config(library):
    app = open_app("train", train_kind="CNN", train_conv_blocks=3, train_kernel=3, train_batchnorm=True,
                   train_dense=32, train_dropout=0.2)
    app.select_slider(key="train_channels_0").set_value(8)
    app.select_slider(key="train_channels_2").set_value(16)
    app.run()
    by_label(app.button, "Step one batch").click().run()
    config = training_run(app).network_config
    assert config.layers == ({"conv": 8, "kernel": 3, "batchnorm": True}, {"pool": 2},
                             {"conv": 32, "kernel": 3, "batchnorm": True}, {"pool": 2},
                             {"conv": 16, "kernel": 3, "batchnorm": True}, {"pool": 2},
                             {"dense": 32}, {"dense": 10})
    assert config.dropout == 0.2 and not app.exception


@needs_mnist
@pytest.mark.parametrize("mode", ["continue", "fine_tune"])
def test_continue_and_fine_tune_an_active_cnn(library, mode):
    drawings = [LabelledDrawing.from_preprocessed(np.eye(28, dtype=np.float32), 1)]
    app = open_app("train", active_network=small_cnn(), train_mode=mode, labelled_drawings=drawings)
    by_label(app.button, "Step one batch").click().run()
    run = training_run(app)
    assert run.mode == mode and run.network().describe() == "c4k3bn-p2-c8k3bn-p2-d10 relu"
    assert run.status.step_count == 1
    assert any("c4k3bn-p2-c8k3bn-p2-d10" in caption.value for caption in app.caption)


@needs_mnist
@pytest.mark.parametrize("mode", ["continue", "fine_tune"])
def test_going_on_training_starts_from_the_networks_own_settings(library, mode):
    own = TrainConfig(optimizer="adam", learning_rate=0.002, batch_size=64, weight_decay=1e-4, beta1=0.8)
    active = ActiveNetwork(Network(NetworkConfig(layers=(784, 16, 10))),
                           Metadata.new("adam-net", train_config=own.to_dict()), None)
    drawings = [LabelledDrawing.from_preprocessed(np.eye(28, dtype=np.float32), 1)]
    app = open_app("train", active_network=active, labelled_drawings=drawings)
    assert app.selectbox(key="train_optimizer").value == "momentum"  # a new network: the page's defaults
    assert app.number_input(key="train_epochs").value > TrainConfig().epochs  # long enough to watch
    app.segmented_control(key="train_mode").set_value(mode).run()
    assert app.selectbox(key="train_optimizer").value == "adam"
    assert app.select_slider(key="train_lr").value == 0.002 and app.select_slider(key="train_batch").value == 64
    by_label(app.button, "Step one batch").click().run()
    config = training_run(app).status.config
    assert (config.optimizer, config.learning_rate, config.batch_size, config.weight_decay, config.beta1) == \
        ("adam", 0.002, 64, 1e-4, 0.8)
    by_label(app.button, "Reset").click().run()
    app.segmented_control(key="train_mode").set_value("new").run()
    assert app.selectbox(key="train_optimizer").value == "momentum" and app.select_slider(key="train_lr").value == 0.05


@needs_mnist
def test_continue_goes_on_with_the_saved_run_of_the_active_network(library):
    config = TrainConfig(optimizer="adam", learning_rate=0.002, batch_size=32, epochs=2)
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (64, 784), dtype=np.uint8), rng.integers(0, 10, 64)
    trainer = Trainer(Network(NetworkConfig(layers=(784, 16, 10))), images, labels, config)
    while not trainer.done:
        trainer.step()
    path = library / "checkpoint.npz"
    save_network(path, trainer.network, Metadata.new("checkpoint", train_config=config.to_dict()),
                 training=trainer.training_state())
    app = open_app("train", active_network=ActiveNetwork(trainer.network, load_network(path)[1], path),
                   train_mode="continue")
    assert any("Goes on with its saved run after epoch 2" in caption.value for caption in app.caption)
    assert app.number_input(key="train_epochs").value > 2  # counted from the saved run's start
    by_label(app.button, "Step one batch").click().run()
    status = training_run(app).status
    assert status.step_count == trainer.step_count + 1 and status.epochs_done == 2
    assert status.config.optimizer == "adam" and not app.exception


def process_ends(pid: int, timeout: float = 10.0) -> bool:
    """Whether process ``pid`` is gone (or a zombie) within ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().split(")")[-1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


# -- debug -----------------------------------------------------------------------------------------------
@needs_mnist
def test_debug_page_on_an_mnist_test_image(library):
    app = open_app("debug", debug_source="MNIST test image")
    headers = [header.value for header in app.subheader]
    assert headers[:2] == ["Preprocessing, stage by stage", "Inside the network"]
    assert "On the 10,000 test images" in headers
    assert by_label(app.metric, "Test accuracy").value.endswith("%")
    assert any("the true digit is **7**" in md.value for md in app.markdown)  # test image 0 is a 7
    keys = chart_keys(app)
    assert {"saliency", "activations_0", "weights", "confusion"} <= set(keys)
    assert not [key for key in keys if key.startswith("feature_maps") or key == "filters"]


@needs_mnist
def test_debug_page_shows_filters_and_feature_maps_of_a_cnn_for_the_drawing(library):
    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[..., 3] = 255
    canvas[50:230, 130:150, :3] = 255  # a "1" on an opaque black canvas
    app = debug_page_for_drawing(canvas, active_network=small_cnn())
    headers = [header.value for header in app.subheader]
    assert headers[:3] == ["Preprocessing, stage by stage", "Inside the network", "What the first layer looks for"]
    keys = chart_keys(app)
    assert [key for key in keys if key.startswith("feature_maps")] == [f"feature_maps_{i}" for i in range(4)]
    assert {"saliency", "filters", "debug_probabilities", "confusion"} <= set(keys) and "weights" not in keys
    assert "c4k3bn-p2-c8k3bn-p2-d10 relu" in sidebar_text(app)


@needs_mnist
def test_debug_page_maps_the_hidden_layer_with_the_drawing_as_a_star(library, mnist):
    app = debug_page_for_drawing(A_DRAWN_ONE)
    assert "How the network sorts digits" in [header.value for header in app.subheader]
    figure = json.loads(next(chart.proto.spec for chart in app.get("plotly_chart")
                             if chart.proto.id.endswith("-hidden_map")))
    assert _plotly_array_length(figure["data"][0]["x"]) == MAP_DIGITS
    assert figure["data"][-1]["marker"]["symbol"] == "star"
    captions = [caption for element in app.main if type(element).__name__ == "Image" for caption in element.captions]
    neighbours = [caption for caption in captions if " → " in caption]
    assert len(neighbours) == 5 and any(caption.startswith("1 → ") for caption in neighbours), captions


def test_debug_page_explains_a_drawing_without_mnist(library, monkeypatch):
    def offline():
        raise DownloadError("could not download MNIST (offline?)")

    monkeypatch.setattr(mnist_cache, "mnist", offline)
    app = debug_page_for_drawing(A_DRAWN_ONE)
    headers = [header.value for header in app.main.subheader]
    assert headers == ["Preprocessing, stage by stage", "Inside the network", "What the first layer looks for",
                       "How the network sorts digits", "On the 10,000 test images"]
    assert any("clean drawing" in caption.value for caption in app.caption)
    assert [error.value for error in app.error] == [
        "The map of the hidden layer needs the MNIST dataset: could not download MNIST (offline?)",
        "The test-set analysis needs the MNIST dataset: could not download MNIST (offline?)"]
    assert {"saliency", "weights"} <= set(chart_keys(app)) and "confusion" not in chart_keys(app)
    app.segmented_control(key="debug_source").set_value("MNIST test image").run()
    assert [error.value for error in app.error][0].startswith("Picking a test image needs the MNIST dataset")


# -- networks ----------------------------------------------------------------------------------------------
@needs_mnist
def test_make_a_saved_network_active(library):
    app = open_app("networks")
    app.selectbox(key="networks_chosen").select_index(1)  # other.npz (sorted after default.npz)
    app.run()
    by_label(app.button, "Make active").click().run()
    assert app.session_state["active_network"].path == library / "other.npz"
    assert "other" in sidebar_text(app) and "784-24-10" in sidebar_text(app)


@needs_mnist
def test_create_an_untrained_network_from_the_form(library):
    app = open_app("networks")
    by_label(app.text_input, "Hidden layer sizes").set_value("20")
    by_label(app.text_input, "Name").set_value("fresh")
    by_label(app.button, "Create and make active").click().run()
    active = app.session_state["active_network"]
    assert active.network.describe() == "784-20-10 relu" and active.metadata.name == "fresh"


@needs_mnist
def test_create_the_preset_cnn_from_the_form(library):
    app = open_app("networks")
    by_label(app.radio, "Architecture").set_value("cnn")
    by_label(app.button, "Create and make active").click().run()
    active = app.session_state["active_network"]
    assert active.network.config.layers == PRESETS["cnn"] and active.path is None
    assert "c16k5-p2-c32k5-p2-d10 relu" in sidebar_text(app)


@needs_mnist
def test_bad_layer_sizes_show_an_error_and_change_nothing(library):
    app = open_app("networks")
    by_label(app.text_input, "Hidden layer sizes").set_value("many")
    by_label(app.button, "Create and make active").click().run()
    assert any("whole numbers" in error.value for error in app.error)
    assert app.session_state["active_network"].metadata.name == "bundled"


@needs_mnist
def test_the_default_and_other_sessions_networks_cannot_be_renamed_or_deleted(library):
    app = open_app("networks")
    assert app.selectbox(key="networks_chosen").value.path.name == "default.npz"
    assert by_label(app.button, "Rename…").disabled and by_label(app.button, "Delete…").disabled
    app.selectbox(key="networks_chosen").select_index(1).run()  # other.npz: not saved by this session
    assert by_label(app.button, "Rename…").disabled and by_label(app.button, "Delete…").disabled
    assert any("other.npz was saved by another session" in caption.value for caption in app.caption)
    assert not by_label(app.button, "Make active").disabled  # but anyone may use it


@needs_mnist
def test_delete_asks_for_confirmation_first(library):
    # The dialog's own buttons rerun only the dialog (a fragment), which AppTest cannot
    # do; deleting itself is tested in test_library and in the browser.
    Library(library, "alice-secret").save(Network(NetworkConfig(layers=(784, 10))), Metadata.new("mine"), "mine")
    app = open_app("networks", library_owner_token="alice-secret")
    app.selectbox(key="networks_chosen").select_index(1).run()  # mine.npz
    by_label(app.button, "Delete…").click().run()
    assert any("Delete `mine.npz` for good?" in md.value for md in app.markdown)
    assert by_label(app.button, "Delete") and (library / "mine.npz").exists()


@needs_mnist
def test_save_the_active_network_asks_before_replacing_and_only_its_own(library):
    app = open_app("networks", library_owner_token="alice-secret")
    by_label(app.button, "Create and make active").click().run()  # "my-network", unsaved
    by_label(app.button, "Save network").click().run()
    saved = library / "my-network.npz"
    assert saved.exists() and load_network(saved)[1].test_accuracy is not None
    assert app.session_state["active_network"].path == saved
    app = open_app("networks", library_owner_token="alice-secret")  # the same person, another page load
    by_label(app.button, "Create and make active").click().run()
    assert by_label(app.button, "Save network").disabled  # the name is taken
    by_label(app.checkbox, "Replace the existing my-network.npz").check().run()
    assert not by_label(app.button, "Save network").disabled
    bob = open_app("networks")
    by_label(bob.button, "Create and make active").click().run()
    assert any("my-network.npz was saved by another session" in error.value for error in bob.error)
    assert not [button for button in bob.button if button.label == "Save network"]


@needs_mnist
def test_the_save_and_rename_forms_say_what_the_file_will_be_called(library):
    Library(library, "alice-secret").save(Network(NetworkConfig(layers=(784, 10))), Metadata.new("mine"), "mine")
    app = open_app("networks", library_owner_token="alice-secret")
    by_label(app.button, "Create and make active").click().run()
    app.text_input(key="active_save_name").set_value("a/b\\c:d*?").run()
    captions = [caption.value for caption in app.caption]
    assert any("Will be saved as `saved_networks/a-b-c-d.npz`" in caption for caption in captions), captions
    assert not any("Saved as" in caption for caption in captions)
    app.selectbox(key="networks_chosen").select_index(1).run()  # mine.npz
    by_label(app.button, "Rename…").click().run()
    assert any("Will be renamed to `mine.npz`" in caption.value for caption in app.caption)


@needs_mnist
def test_an_uploaded_network_made_active_has_one_save_form(library):
    upload = network_to_bytes(Network(NetworkConfig(layers=(784, 20, 10))), Metadata.new("tiny"))
    app = open_app("networks")
    app.get("file_uploader")[0].set_value(("tiny.npz", upload, "application/octet-stream")).run()
    assert [text.key for text in app.text_input].count("upload_save_name") == 1
    by_label(app.button, "Make it the active network").click().run()
    assert app.session_state["active_network"].metadata.name == "tiny"
    save_forms = [text.key for text in app.text_input if text.key in ("upload_save_name", "active_save_name")]
    assert save_forms == ["active_save_name"]
    assert any("It is the active network: save it below." in caption.value for caption in app.caption)


# -- sessions ------------------------------------------------------------------------------------------------
@needs_mnist
def test_sessions_do_not_see_each_others_networks_or_training(library):
    alice, bob = open_app("networks"), open_app("train")
    by_label(alice.text_input, "Hidden layer sizes").set_value("12")
    by_label(alice.button, "Create and make active").click().run()
    by_label(bob.button, "Step one batch").click().run()
    bob.run()
    assert alice.session_state["active_network"].network.describe() == "784-12-10 relu"
    assert bob.session_state["active_network"].metadata.name == "bundled"
    assert "training_run" not in alice.session_state or alice.session_state["training_run"] is None
    assert alice.session_state["active_network"].network is not bob.session_state["active_network"].network


def test_debug_page_shows_what_the_photo_cleanup_removed_from_a_photo(library, monkeypatch):
    def offline():
        raise DownloadError("could not download MNIST (offline?)")

    monkeypatch.setattr(mnist_cache, "mnist", offline)
    rng = np.random.default_rng(0)
    photo = np.clip(0.28 + rng.normal(0, 0.03, (320, 320)), 0, 1)  # a desk
    photo[20:300, 20:300] = 0.9 + rng.normal(0, 0.01, (280, 280))  # the page on it
    photo[70:250, 150:160] = 0.2  # a "1"
    app = open_app()
    app.session_state["current_classification"] = image_classification.classify(
        app.session_state["active_network"].network, (photo * 255).astype(np.uint8))
    app.switch_page("views/debug.py").run()
    assert not app.exception, [e.value for e in app.exception]
    assert "photo_cleanup" in chart_keys(app)
    captions = [caption.value for caption in app.caption]
    assert any("photo path" in caption for caption in captions)
    assert any("outside the page" in caption for caption in captions)


def test_the_last_loss_keeps_three_significant_figures_however_small():
    # Late in a run the loss falls below 0.001: three decimals would show "0.000".
    assert format_loss(2.3456) == "2.35"
    assert format_loss(0.0412) == "0.0412"
    assert format_loss(0.000412) == "0.000412"
    assert format_loss(None) == "–"
