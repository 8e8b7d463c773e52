"""The network library (the networks folder) as the pages use it: listing, loading, uploads,
downloads and the metadata a network is saved with."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from nn_core.errors import NetworkFileError
from nn_core.model.network import Network
from nn_core.storage import network_file
from nn_core.storage.network_file import Metadata

from dashboard import mnist_cache, server_settings
from dashboard.active_network import ActiveNetwork
from dashboard.library import DEFAULT_MAX_BYTES, DEFAULT_QUOTA, Library


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
    quota = server_settings.positive_int_setting(server_settings.LIBRARY_QUOTA_ENV, DEFAULT_QUOTA)
    max_megabytes = server_settings.positive_int_setting(server_settings.LIBRARY_MAX_MB_ENV,
                                                         DEFAULT_MAX_BYTES >> 20)
    return Library(server_settings.networks_dir(), owner_token, server_settings.default_network_path(),
                   quota=quota, max_bytes=max_megabytes << 20)


def list_saved_networks(library: Library) -> list[SavedNetwork]:
    """Every .npz in the networks folder, loaded and validated, sorted by file name."""
    def read_only(path: Path) -> str | None:
        return None if library.may_change(path) else library.why_read_only(path)

    return [SavedNetwork(path, None, None, str(loaded), read_only(path)) if isinstance(loaded, NetworkFileError)
            else SavedNetwork(path, *loaded, None, read_only(path))
            for path, loaded in network_file.list_networks(library.directory)]


def library_file_names() -> list[str]:
    """The .npz files in the networks folder, sorted, without loading them."""
    return sorted(path.name for path in server_settings.networks_dir().glob("*.npz"))


def load_library_network(file_name: str) -> Network:
    """One network from the networks folder by file name (NetworkFileError if it is unusable)."""
    return network_file.load_network(server_settings.networks_dir() / Path(file_name).name)[0]


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
        accuracy = mnist_cache.test_accuracy(network)
    return replace(metadata, name=name, test_accuracy=accuracy)
