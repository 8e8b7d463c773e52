"""The shared network library: ownership, quota, size cap, and two servers writing one folder at once."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from nn_core.config import NetworkConfig
from nn_core.errors import NetworkFileError
from nn_core.model.network import Network
from nn_core.storage.network_file import Metadata, load_network, network_to_bytes, save_network

from dashboard.library import Library, LibraryError

SMALL = NetworkConfig(layers=(784, 16, 10), seed=3)


@pytest.fixture
def folder(tmp_path) -> Path:
    """A networks folder holding the bundled default and a file saved outside the app."""
    save_network(tmp_path / "default.npz", Network(SMALL), Metadata.new("bundled"))
    save_network(tmp_path / "copied-in.npz", Network(SMALL), Metadata.new("copied"))
    return tmp_path


def save(library: Library, name: str, overwrite: bool = False) -> Path:
    return library.save(Network(SMALL), Metadata.new(name), name, overwrite=overwrite)


def test_a_session_changes_only_what_it_saved(folder):
    alice, bob = Library(folder, "alice-secret"), Library(folder, "bob-secret")
    mine = save(alice, "alices")
    assert alice.owns(mine) and alice.may_change(mine) and not bob.may_change(mine)
    for refused in (lambda: bob.rename(mine, "taken"), lambda: bob.delete(mine), lambda: save(bob, "alices", True)):
        with pytest.raises(LibraryError, match="another session"):
            refused()
    assert load_network(mine)[1].name == "alices" and not (folder / "taken.npz").exists()
    save(alice, "alices", overwrite=True)
    renamed = alice.rename(mine, "alices-best")
    assert alice.owns(renamed) and not mine.exists() and not mine.with_suffix(".owner").exists()
    assert load_network(renamed)[1].name == "alices-best"  # the name inside the file follows
    alice.delete(renamed)
    assert not renamed.exists() and not renamed.with_suffix(".owner").exists()


def test_the_default_and_files_saved_outside_the_app_are_read_only_to_everyone(folder):
    alice = Library(folder, "alice-secret", default_network=folder / "default.npz")
    for path in (folder / "default.npz", folder / "copied-in.npz"):
        assert not alice.may_change(path)
        with pytest.raises(LibraryError):
            alice.delete(path)
        with pytest.raises(LibraryError):
            alice.rename(path, "mine-now")
    assert "bundled default" in alice.why_read_only(folder / "default.npz")
    with pytest.raises(LibraryError, match="bundled default"):
        save(alice, "default", overwrite=True)
    with pytest.raises(LibraryError, match="reserved"):
        alice.rename(save(alice, "mine"), "default")


def test_existing_names_are_never_replaced_unless_asked(folder):
    alice = Library(folder, "alice-secret")
    mine, other = save(alice, "a"), save(alice, "b")
    with pytest.raises(NetworkFileError, match="exists"):
        save(alice, "a")
    with pytest.raises(NetworkFileError, match="exists"):
        alice.rename(mine, "b")
    assert load_network(other)[1].name == "b"


def test_a_session_saves_at_most_its_quota(folder):
    alice, bob = Library(folder, "alice-secret", quota=2), Library(folder, "bob-secret", quota=2)
    first = save(alice, "one")
    save(alice, "two")
    with pytest.raises(LibraryError, match="you have saved 2 networks"):
        save(alice, "three")
    save(alice, "two", overwrite=True)  # replacing one's own file takes no more room
    save(bob, "bobs")  # the quota is per session
    alice.delete(first)
    save(alice, "three")
    assert alice.owned_count() == 2 and bob.owned_count() == 1


def test_the_library_refuses_networks_past_its_size_cap(folder):
    size = len(network_to_bytes(Network(SMALL), Metadata.new("x")))
    room = Library(folder, "x").total_bytes() + 2 * size + size // 2
    alice = Library(folder, "alice-secret", max_bytes=room)
    save(alice, "one")
    save(alice, "two")
    with pytest.raises(LibraryError, match="library is full"):
        Library(folder, "bob-secret", max_bytes=room).save(Network(SMALL), Metadata.new("three"), "three")
    assert not (folder / "three.npz").exists() and not (folder / "three.owner").exists()


def _save_many(folder: str, owner: str, names: list[str], results) -> None:
    """One server's session saving, renaming and deleting in the shared folder."""
    library = Library(Path(folder), owner)
    for name in names:
        try:
            path = library.save(Network(SMALL), Metadata.new(f"{owner}:{name}"), name)
            results.put((owner, name, "saved"))
            if name.endswith("0"):
                library.delete(library.rename(path, f"{name}-{owner}"))
        except NetworkFileError as error:
            results.put((owner, name, f"refused: {error}"))


def test_two_servers_on_one_folder_never_take_each_others_files(tmp_path):
    """Two processes race to save the same names: each name has one owner, whose file it holds."""
    names = [f"net{i}" for i in range(12)]
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    servers = [context.Process(target=_save_many, args=(str(tmp_path), owner, names, results))
               for owner in ("server-a", "server-b")]
    for server in servers:
        server.start()
    for server in servers:
        server.join(120)
        assert server.exitcode == 0
    outcomes = [results.get(timeout=5) for _ in range(2 * len(names))]
    kept = [name for name in names if not name.endswith("0")]  # a renamed-away name is free again
    winners = {name: owner for owner, name, outcome in outcomes if outcome == "saved" and name in kept}
    assert len(winners) == len(kept)  # every kept name saved exactly once...
    assert sum(outcome == "saved" for _, name, outcome in outcomes if name in kept) == len(kept)
    assert all("exists" in outcome or "another session" in outcome
               for _, _, outcome in outcomes if outcome != "saved")  # ...the other server refused
    assert not [name for name in names if name not in kept and (tmp_path / f"{name}.npz").exists()]
    for name, owner in winners.items():
        path = tmp_path / f"{name}.npz"
        assert load_network(path)[1].name == f"{owner}:{name}"  # the file is the owner's
        assert Library(tmp_path, owner).owns(path)
        other = "server-b" if owner == "server-a" else "server-a"
        assert not Library(tmp_path, other).may_change(path)
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))
