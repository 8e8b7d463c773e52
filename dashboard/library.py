"""The shared network library (a folder of .npz files): who may change what, and how much fits.

A class shares one folder, possibly through several app servers at once. The
rules, kept on disk so every server sees the same:

- a session may rename, overwrite or delete only the networks it saved; the
  others are read-only to it. Each saved ``<name>.npz`` has an owner file
  ``<name>.owner`` beside it holding a hash of the saving session's owner token
  (a random secret that never leaves that session's server memory). A file
  without one (bundled, copied in, saved by the CLI) is read-only to everyone;
- a session may keep at most ``quota`` networks, and the folder at most
  ``max_bytes`` of them;
- every change happens under an exclusive lock on ``.library.lock`` in the
  folder (flock: between processes, so between servers on one machine or on a
  shared file system that supports it), and files are written atomically, so
  two servers saving at once never leave a half-written file or a wrong owner.

Nothing here touches Streamlit; ``dashboard.networks_folder`` points it at the folder.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from nn_core.storage import network_file
from nn_core.errors import NetworkFileError
from nn_core.model.network import Network
from nn_core.storage.network_file import Metadata

DEFAULT_STEM = "default"  # the bundled network's name: nobody may take it
OWNER_SUFFIX = ".owner"
LOCK_NAME = ".library.lock"
DEFAULT_QUOTA = 20  # networks per session: plenty for a lesson, and one student cannot fill the disk
DEFAULT_MAX_BYTES = 500 * 2**20  # the whole folder; a default MLP file is ~1 MB, a CNN's ~0.1 MB


class LibraryError(NetworkFileError):
    """A change the library's rules refuse (not yours, quota reached, library full)."""


def owner_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Library:
    """One networks folder, seen by one session (``owner_token``) under the class's limits.

    ``default_network`` is the bundled network's file, which nobody may change.
    """

    directory: Path
    owner_token: str
    default_network: Path | None = None
    quota: int = DEFAULT_QUOTA
    max_bytes: int = DEFAULT_MAX_BYTES

    # -- reading -------------------------------------------------------------------------
    def protected(self, path: Path) -> bool:
        """The bundled default: no session may overwrite, rename or delete it."""
        path = Path(path)
        return path.stem == DEFAULT_STEM or (self.default_network is not None
                                             and path.resolve() == Path(self.default_network).resolve())

    def path_for(self, name: str) -> Path:
        """Where a network called ``name`` is saved (name sanitised; NetworkFileError if unusable)."""
        return network_file.network_path(name, self.directory)

    def owns(self, path: Path) -> bool:
        """Whether this session saved ``path`` (and may so change or delete it)."""
        return _read_owner(path) == owner_hash(self.owner_token)

    def may_change(self, path: Path) -> bool:
        return not self.protected(path) and self.owns(path)

    def why_read_only(self, path: Path) -> str:
        if self.protected(path):
            return f"{path.name} is the bundled default network: nobody can change it"
        return f"{path.name} was saved by another session (or outside the app): it is read-only to you"

    def owned_count(self) -> int:
        mine = owner_hash(self.owner_token)
        return sum(_read_owner(path) == mine for path in self.directory.glob("*.npz"))

    def total_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.directory.glob("*.npz") if path.is_file())

    # -- changing --------------------------------------------------------------------------
    def save(self, network: Network, metadata: Metadata, name: str, overwrite: bool = False) -> Path:
        """Save as ``name``: a new file within the quota and the size cap, or (``overwrite``) a
        replacement of one of this session's own files. LibraryError says why not."""
        path = self.path_for(name)
        size = len(network_file.network_to_bytes(network, metadata))
        with self._locked():
            exists = path.exists()
            if exists and not overwrite:
                raise NetworkFileError(f"{path.name} already exists; choose another name")
            if exists and not self.may_change(path):
                raise LibraryError(f"{self.why_read_only(path)}; save under another name")
            if self.protected(path):
                raise LibraryError(f"{path.name} is reserved for the bundled default network; choose another name")
            if not exists and self.owned_count() >= self.quota:
                raise LibraryError(f"you have saved {self.quota} networks, the most one session may keep: "
                                   "delete one of yours first")
            replaced = path.stat().st_size if exists else 0
            if self.total_bytes() - replaced + size > self.max_bytes:
                raise LibraryError(f"the network library is full ({self.max_bytes >> 20} MB): "
                                   "ask your teacher to make room")
            self._write_owner(path)
            network_file.save_network(path, network, metadata, overwrite=exists)
        return path

    def rename(self, path: Path, new_name: str) -> Path:
        """Rename one of this session's networks, never onto an existing name; the name inside
        the file follows (it is what the pages show): the new file's stem."""
        target = self.path_for(new_name)
        with self._locked():
            if not self.may_change(path):
                raise LibraryError(f"{self.why_read_only(path)}: you cannot rename it")
            if self.protected(target):
                raise LibraryError(f"{target.name} is reserved for the bundled default network")
            if target.exists():
                raise NetworkFileError(f"{target.name} already exists; choose another name")
            network, metadata, training = network_file.load_checkpoint(path)
            self._write_owner(target)
            # save_network links the new file into place: never over a file that appeared meanwhile
            network_file.save_network(target, network, replace(metadata, name=target.stem), training=training)
            path.unlink()
            _owner_path(path).unlink(missing_ok=True)
        return target

    def delete(self, path: Path) -> None:
        with self._locked():
            if not self.may_change(path):
                raise LibraryError(f"{self.why_read_only(path)}: you cannot delete it")
            path.unlink()
            _owner_path(path).unlink(missing_ok=True)

    # -- inside --------------------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / LOCK_NAME, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write_owner(self, path: Path) -> None:
        """Record this session as ``path``'s owner (a rename over the old record: never half-written)."""
        owner = _owner_path(path)
        temporary = owner.with_name(f".{owner.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps({"owner": owner_hash(self.owner_token)}))
        os.replace(temporary, owner)


def _owner_path(path: Path) -> Path:
    return path.with_suffix(OWNER_SUFFIX)


def _read_owner(path: Path) -> str | None:
    try:
        return json.loads(_owner_path(path).read_text()).get("owner")
    except (OSError, ValueError, AttributeError):
        return None  # no owner file, or not one this app wrote: nobody's

