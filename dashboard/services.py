"""What the pages ask of nn_core, in one place: data, networks, classification.

Shared, read-only things (MNIST arrays, the bundled default network's bytes)
live in ``st.cache_resource``; results per network (test-set probabilities)
in ``st.cache_data`` keyed by a fingerprint of the weights. Nothing here
touches session state: a network being trained belongs to one session
(see ``dashboard.state``).
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import streamlit as st
from streamlit.runtime import Runtime
from threadpoolctl import threadpool_limits

from nn_core.storage import network_file
from nn_core.config import PRESETS, NetworkConfig, TrainConfig
from nn_core.model.conv import Conv2D, MaxPool2D
from nn_core.errors import ConfigError, NetworkFileError
from nn_core.model.layers import ACTIVATION_LAYERS, Dense
from nn_core.storage.mnist import MnistData, load_mnist
from nn_core.model.network import Network
from nn_core.storage.network_file import Metadata
from nn_core.speed.passes import predict_proba
from nn_core.speed.threads import set_pass_threads
from nn_core.preprocess import PreprocessResult, Source, preprocess
from nn_core.training.trainer import Trainer
from nn_core.training.training_state import TrainingState

from dashboard.architecture import mlp_layers
from dashboard.arrays import to_uint8_image
from dashboard.learning_watch import MAP_DIGITS, Projection, fit_projection, last_hidden_activations
from dashboard.library import DEFAULT_MAX_BYTES, DEFAULT_QUOTA, Library
from dashboard.trainer_pool import TrainerPool
from dashboard.training_worker import share_read_only

# Tests point these at temporary copies so they never touch the repository's files.
NETWORKS_DIR_ENV = "DIGITS_NETWORKS_DIR"
DEFAULT_NETWORK_ENV = "DIGITS_DEFAULT_NETWORK"
# How many runs may train at once on this server (the rest wait in line); default: one per core.
MAX_TRAINERS_ENV = "DIGITS_MAX_TRAINERS"
# The shared library's limits: networks one session may save, and megabytes in the whole folder.
LIBRARY_QUOTA_ENV = "DIGITS_LIBRARY_QUOTA"
LIBRARY_MAX_MB_ENV = "DIGITS_LIBRARY_MAX_MB"


# -- the server process -----------------------------------------------------------------
BLAS_THREADS = 1
PASS_THREADS = os.cpu_count() or 1  # a CNN's passes: one thread per core


@st.cache_resource(show_spinner=False)
def configure_threads() -> threadpool_limits:
    """Cap BLAS at one thread and spread a CNN's passes over every core, once per server process.

    The server shares two cores with the browser and with other sessions; a
    multi-threaded BLAS then spins waiting for its second thread and a batch
    takes 10-50x longer. One thread per session keeps training fast and lets
    two sessions train side by side. The pass threads (nn_core.speed.threads)
    wait without spinning, so a CNN still trains and evaluates on every core.
    """
    set_pass_threads(PASS_THREADS)
    return threadpool_limits(limits=BLAS_THREADS, user_api="blas")


# -- where networks and MNIST live ------------------------------------------------------
# The checkout the app runs from. app.py names it from its own file, which also holds
# after a plain `pip install .`, where this package is a copy outside the checkout.
_app_folder = Path(__file__).resolve().parent.parent


def use_app_folder(folder: Path) -> None:
    """Take saved_networks/ and data/mnist/ from ``folder`` (the checkout holding app.py)."""
    global _app_folder
    _app_folder = Path(folder)


def networks_dir() -> Path:
    return Path(os.environ.get(NETWORKS_DIR_ENV) or _app_folder / "saved_networks")


def default_network_path() -> Path:
    return Path(os.environ.get(DEFAULT_NETWORK_ENV) or _app_folder / "saved_networks" / "default.npz")


def mnist_dir() -> Path:
    """Where MNIST is looked for after $MNIST_DIR, and downloaded to when missing."""
    return _app_folder / "data" / "mnist"


def shared_mnist_dir() -> Path:
    """Where the trainer processes' read-only copy of the training split is kept."""
    return _app_folder / "data" / "shared-mnist"


# -- the active network ---------------------------------------------------------------
@dataclass(frozen=True)
class ActiveNetwork:
    """The network a session draws with and inspects; never trained in place."""

    network: Network
    metadata: Metadata
    path: Path | None  # the file it was loaded from; None while unsaved

    @property
    def fingerprint(self) -> str:
        return network_fingerprint(self.network)

    @property
    def label(self) -> str:
        return self.metadata.name if self.path else f"{self.metadata.name} (unsaved)"


def network_fingerprint(network: Network) -> str:
    """A short hash of architecture and weights: the cache key for per-network results."""
    digest = hashlib.sha1(network.describe().encode())
    for name, param in network.state_dict().items():
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(param).tobytes())
    return digest.hexdigest()[:16]


@st.cache_resource(show_spinner=False)
def _default_network_bytes(path: str) -> bytes:
    """The bundled network's file, read once per server and shared (bytes are immutable).

    A missing file raises (OSError), and errors are not cached: the file is
    picked up as soon as it appears.
    """
    return Path(path).read_bytes()


def load_default_network() -> tuple[ActiveNetwork, str | None]:
    """A fresh copy of the bundled network for one session, and a warning if it is unusable.

    Every session builds its own Network from the shared bytes, so no session
    can change another's weights.
    """
    path = default_network_path()
    try:
        network, metadata = network_file.load_network(_default_network_bytes(str(path)))
        return ActiveNetwork(network, metadata, path), None
    except OSError:
        problem = f"no bundled network at {path}"
    except NetworkFileError as error:
        problem = f"the bundled network {path} is unusable: {error}"
    untrained = ActiveNetwork(Network(NetworkConfig()), Metadata.new("untrained"), None)
    return untrained, f"{problem}. Using an untrained network: train one on the Train page."


def parse_hidden_layers(text: str) -> tuple[int, ...]:
    """ "256, 128" → (256, 128); empty text → () (no hidden layer). ConfigError if not whole numbers."""
    parts = [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
    try:
        return tuple(int(part) for part in parts)
    except ValueError:
        raise ConfigError(f"hidden layers must be whole numbers separated by commas, e.g. 256,128; "
                          f"got {text!r}") from None


def new_untrained_network(name: str, hidden_layers: str, activation: str, seed: int,
                          architecture: str = "mlp") -> ActiveNetwork:
    """A freshly initialised network (unsaved). ConfigError if the settings are invalid.

    ``architecture`` "mlp" uses ``hidden_layers``; "cnn" is the small preset CNN
    (``PRESETS["cnn"]``) and ignores them.
    """
    if architecture == "cnn":
        layers = PRESETS["cnn"]
    elif architecture == "mlp":
        layers = mlp_layers(parse_hidden_layers(hidden_layers))
    else:
        raise ConfigError(f"architecture must be mlp or cnn; got {architecture!r}")
    config = NetworkConfig(layers=layers, activation=activation, seed=seed)
    return ActiveNetwork(Network(config), Metadata.new(name.strip() or "untrained"), None)


# -- MNIST, shared read-only ------------------------------------------------------------
SCORING_CHUNK = 500


@st.cache_resource(show_spinner="Loading MNIST…")
def mnist() -> MnistData:
    """The four MNIST arrays, loaded once per server and made read-only for every session."""
    data = load_mnist(default_dir=mnist_dir())
    for array in (data.train_images, data.train_labels, data.test_images, data.test_labels):
        array.flags.writeable = False
    return data


@st.cache_resource(show_spinner=False)
def training_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train_x, train_y, val_x, val_y): 55,000 images to train on, 5,000 to validate, read-only."""
    arrays = mnist().validation_split()
    for array in arrays:
        array.flags.writeable = False
    return arrays


@st.cache_resource(show_spinner="Preparing MNIST for the trainers…")
def shared_training_files() -> tuple[str, str, str, str]:
    """``training_split()`` as read-only .npy files that every trainer process maps: one copy in
    memory however many train. Paths of (train_x, train_y, val_x, val_y)."""
    names = ("train-images", "train-labels", "validation-images", "validation-labels")
    return tuple(share_read_only(array, shared_mnist_dir(), name) for array, name in zip(training_split(), names))


@st.cache_data(max_entries=16, show_spinner="Scoring the network on the 10,000 test images…")
def test_set_probabilities(_network: Network, fingerprint: str) -> np.ndarray:
    """(10000, 10) float32 probabilities on the MNIST test set, cached per network fingerprint."""
    # In chunks: a CNN's feature maps for all 10,000 images at once would take gigabytes.
    images = mnist().test_images
    return np.concatenate([predict_proba(_network, images[start:start + SCORING_CHUNK])
                           for start in range(0, len(images), SCORING_CHUNK)])


@st.cache_data(max_entries=16, show_spinner="Mapping how the network sorts test digits…")
def hidden_space(_network: Network, fingerprint: str) -> tuple[np.ndarray, Projection]:
    """The first MAP_DIGITS test digits in the last hidden layer, (MAP_DIGITS, units), and
    their 2-D projection, cached per network fingerprint."""
    features = last_hidden_activations(_network, mnist().test_images[:MAP_DIGITS])
    return features, fit_projection(features)


def test_accuracy(network: Network) -> float:
    data = mnist()
    return network.score(data.test_images, data.test_labels)


TIMING_BATCHES = 3  # batches timed (after one to warm up): enough to smooth one slow batch, still quick


@st.cache_data(max_entries=32, show_spinner="Timing a few batches of this network on this server…")
def training_speed(_config: NetworkConfig, architecture: str, batch_size: int) -> float:
    """Images per second this server trains ``_config`` at (cached per ``architecture``, its
    description, and batch size): what the page promises is what this machine does."""
    rng = np.random.default_rng(0)
    n_images = (TIMING_BATCHES + 2) * batch_size
    trainer = Trainer(Network(_config), rng.integers(0, 256, (n_images, 784), dtype=np.uint8),
                      rng.integers(0, 10, n_images), TrainConfig(batch_size=batch_size, epochs=1))
    configure_threads()
    trainer.step()
    timed = trainer.step(TIMING_BATCHES)
    return timed.samples / timed.seconds


# -- training in worker processes --------------------------------------------------------
def _positive_int_setting(variable: str, default: int) -> int:
    """A whole number of at least 1 from environment ``variable``; ``default`` if unset."""
    setting = os.environ.get(variable, "").strip()
    if not setting:
        return default
    if not setting.isdigit() or int(setting) < 1:
        raise ConfigError(f"{variable} must be a whole number of at least 1; got {setting!r}")
    return int(setting)


def max_trainers() -> int:
    """$DIGITS_MAX_TRAINERS, else one trainer per core (each trains on one core at a time)."""
    return _positive_int_setting(MAX_TRAINERS_ENV, os.cpu_count() or 1)


def session_is_open(session_id: str) -> bool:
    """Whether the browser tab of ``session_id`` is still connected (always, outside a server)."""
    return not Runtime.exists() or Runtime.instance().is_active_session(session_id)


@st.cache_resource(show_spinner=False)
def trainer_pool() -> TrainerPool:
    """The server's one pool of trainer slots, shared by every session."""
    return TrainerPool(max_trainers(), session_is_open)


# -- classifying one image ------------------------------------------------------------
@dataclass(frozen=True)
class Classification:
    """A preprocessed image and, unless it was empty, the network's (10,) probabilities."""

    preprocessed: PreprocessResult
    probabilities: np.ndarray | None

    @property
    def predicted(self) -> int | None:
        return None if self.probabilities is None else int(self.probabilities.argmax())

    @property
    def confidence(self) -> float | None:
        return None if self.probabilities is None else float(self.probabilities.max())


def classify(network: Network, image: np.ndarray, source: Source = "auto") -> Classification:
    """Any image array (canvas RGBA, file pixels) → preprocessing stages and probabilities.

    ``source`` as for ``preprocess``: "canvas" for the drawing canvas, "auto" for uploads.
    """
    result = preprocess(image, source)
    if result.empty:
        return Classification(result, None)
    return Classification(result, network.predict_proba(result.image)[0])


# -- looking inside a network -------------------------------------------------------------
_ACTIVATION_TYPES = tuple(ACTIVATION_LAYERS.values())


def _activation_after(network: Network, index: int) -> int:
    """Index of the first activation layer after layer ``index`` (past any batch norm)."""
    return next(i for i in range(index + 1, len(network.layers))
                if isinstance(network.layers[i], _ACTIVATION_TYPES))


def hidden_activations(network: Network, image: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(title, (n_units,) values) for the output of every hidden dense layer's activation, first to last."""
    outputs = network.activations(image)
    dense = [index for index, layer in enumerate(network.layers[:-1]) if isinstance(layer, Dense)]
    titles_and_values = []
    for number, index in enumerate(dense, start=1):
        activation = _activation_after(network, index)
        values = outputs[activation + 1][0]
        titles_and_values.append((f"Hidden layer {number}: {values.shape[0]} "
                                  f"{network.layers[activation].describe()} units", values))
    return titles_and_values


def feature_maps(network: Network, image: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(title, (H, W, C) maps) for every conv layer (after its activation) and every pooling layer.

    Empty for a network without convolutions.
    """
    outputs = network.activations(image)
    layers = network.layers
    maps, n_conv, n_pool = [], 0, 0
    for index, layer in enumerate(layers):
        if isinstance(layer, Conv2D):
            n_conv += 1
            activation = _activation_after(network, index)
            values = outputs[activation + 1][0]
            kernel = layer.params["weight"].shape[0]
            maps.append((f"Conv {n_conv} ({kernel}×{kernel}, {layers[activation].describe()}): "
                         f"{values.shape[2]} maps {values.shape[0]}×{values.shape[1]}", values))
        elif isinstance(layer, MaxPool2D):
            n_pool += 1
            values = outputs[index + 1][0]
            maps.append((f"Pool {n_pool} (max {layer.size}×{layer.size}): {values.shape[2]} maps "
                         f"{values.shape[0]}×{values.shape[1]}", values))
    return maps


def first_layer_weights(network: Network) -> np.ndarray:
    """The first trainable layer's weights: (784, n_units) for an MLP (one 28×28 template per
    unit), (k, k, 1, C_out) for a CNN (one k×k filter per output channel)."""
    return next(layer.params["weight"] for layer in network.layers if "weight" in layer.params)


# -- the network library (saved_networks/) ------------------------------------------------
@dataclass(frozen=True)
class SavedNetwork:
    """One file in the networks folder: its network and metadata, or why it cannot be used, and
    whether the session listing it may change it."""

    path: Path
    network: Network | None
    metadata: Metadata | None
    error: str | None
    read_only_reason: str | None  # None: this session saved it and may rename, replace or delete it


def network_library(owner_token: str) -> Library:
    """The networks folder as one session (``owner_token``) may use it, under the class's limits."""
    return Library(networks_dir(), owner_token, default_network_path(),
                   quota=_positive_int_setting(LIBRARY_QUOTA_ENV, DEFAULT_QUOTA),
                   max_bytes=_positive_int_setting(LIBRARY_MAX_MB_ENV, DEFAULT_MAX_BYTES >> 20) << 20)


def list_saved_networks(library: Library) -> list[SavedNetwork]:
    """Every .npz in the networks folder, loaded and validated, sorted by file name."""
    def read_only(path: Path) -> str | None:
        return None if library.may_change(path) else library.why_read_only(path)

    return [SavedNetwork(path, None, None, str(loaded), read_only(path)) if isinstance(loaded, NetworkFileError)
            else SavedNetwork(path, *loaded, None, read_only(path))
            for path, loaded in network_file.list_networks(library.directory)]


def library_file_names() -> list[str]:
    """The .npz files in the networks folder, sorted, without loading them."""
    return sorted(path.name for path in networks_dir().glob("*.npz"))


def load_library_network(file_name: str) -> Network:
    """One network from the networks folder by file name (NetworkFileError if it is unusable)."""
    return network_file.load_network(networks_dir() / Path(file_name).name)[0]


@st.cache_data(max_entries=4, show_spinner=False)
def _saved_training_state(path: str, modified_ns: int) -> TrainingState | None:
    try:
        return network_file.load_checkpoint(path)[2]
    except NetworkFileError:
        return None  # the network itself was read before; a broken file just has nothing to go on with


def saved_training_state(active: ActiveNetwork) -> TrainingState | None:
    """Where the active network's training run stood when its file was saved, if the file says
    (read once per version of the file); None for unsaved networks and files without it."""
    if active.path is None or not active.path.exists():
        return None
    return _saved_training_state(str(active.path), active.path.stat().st_mtime_ns)


def read_uploaded_network(data: bytes) -> tuple[Network, Metadata]:
    """Validate an uploaded file completely (NetworkFileError says what is wrong)."""
    return network_file.load_network(data)


def network_download(active: ActiveNetwork) -> bytes:
    return network_file.network_to_bytes(active.network, active.metadata)


def download_file_name(active: ActiveNetwork) -> str:
    if active.path is not None:
        return active.path.name
    try:
        return f"{network_file.sanitize_name(active.metadata.name)}.npz"
    except NetworkFileError:
        return "network.npz"


def metadata_for_saving(network: Network, metadata: Metadata, name: str) -> Metadata:
    """``metadata`` under a new name, with the test accuracy measured if it is missing."""
    accuracy = metadata.test_accuracy
    if accuracy is None:
        accuracy = test_accuracy(network)
    return replace(metadata, name=name, test_accuracy=accuracy)


# -- labelled drawings ------------------------------------------------------------------
@dataclass(frozen=True)
class LabelledDrawing:
    """A drawing as the network saw it, (28, 28) uint8, with the digit the user says it is."""

    image: np.ndarray
    label: int

    @classmethod
    def from_preprocessed(cls, image: np.ndarray, label: int) -> LabelledDrawing:
        if not 0 <= label <= 9:
            raise ValueError(f"a label must be a digit 0-9; got {label}")
        return cls(to_uint8_image(image), int(label))


def drawings_as_arrays(drawings: list[LabelledDrawing]) -> tuple[np.ndarray, np.ndarray]:
    """(N, 28, 28) uint8 images and (N,) int64 labels."""
    images = np.stack([d.image for d in drawings]) if drawings else np.zeros((0, 28, 28), np.uint8)
    return images, np.array([d.label for d in drawings], dtype=np.int64)


def drawings_to_npz(drawings: list[LabelledDrawing]) -> bytes:
    """A small dataset file: ``images`` (N, 28, 28) uint8 and ``labels`` (N,) int64."""
    images, labels = drawings_as_arrays(drawings)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=images, labels=labels)
    return buffer.getvalue()
