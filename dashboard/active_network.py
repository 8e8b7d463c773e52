"""The network a session draws with: the bundled one, a new untrained one, and where its run stood.

The bundled network's bytes are read once per server and shared
(``st.cache_resource``); every session builds its own Network from them, so no
session can change another's weights.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from nn_core.config import PRESETS, NetworkConfig
from nn_core.errors import ConfigError, NetworkFileError
from nn_core.model.network import Network
from nn_core.storage import network_file
from nn_core.storage.network_file import Metadata
from nn_core.training.training_state import TrainingState

from dashboard import server_settings
from dashboard.architecture import mlp_layers


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
    """A fresh copy of the bundled network for one session, and a warning if it is unusable."""
    path = server_settings.default_network_path()
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
