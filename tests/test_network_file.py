"""Network files are untrusted input: round trips work, hostile files are refused clearly."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from nn_core.config import NetworkConfig, TrainConfig
from nn_core.errors import NetworkFileError
from nn_core.model.network import Network
from nn_core.storage.network_file import (MAX_FILE_BYTES, METADATA_ENTRY, Metadata, list_networks,
                                  load_network, network_path, network_to_bytes, sanitize_name,
                                  save_network)

SMALL = NetworkConfig(layers=(784, 12, 10), seed=3)


def small_file_bytes(**metadata) -> bytes:
    return network_to_bytes(Network(SMALL), Metadata.new("small", **metadata))


def rebuild(original: bytes, replace: dict[str, bytes] | None = None, drop: tuple[str, ...] = (),
            add: dict[str, bytes] | None = None) -> bytes:
    """A copy of a network file with entries replaced, dropped or added."""
    replace, add = replace or {}, add or {}
    source = zipfile.ZipFile(io.BytesIO(original))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            if name not in drop:
                target.writestr(name, replace.get(name, source.read(name)))
        for name, data in add.items():
            target.writestr(name, data)
    return out.getvalue()


def npy_bytes(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def metadata_of(data: bytes) -> dict:
    return json.loads(zipfile.ZipFile(io.BytesIO(data)).read(METADATA_ENTRY))


def test_round_trip_keeps_weights_config_and_metadata(tmp_path):
    network = Network(SMALL)
    history = {"step": [1, 2], "loss": [2.3, 1.9]}
    metadata = Metadata.new("mine", test_accuracy=0.9, train_config=TrainConfig().to_dict(),
                            history=history, command="python -m nn_core train ...")
    path = save_network(tmp_path / "mine.npz", network, metadata)
    loaded, loaded_metadata = load_network(path)
    assert loaded.config == SMALL
    assert loaded_metadata == metadata
    for (name, a, _), (_, b, _) in zip(network.parameters(), loaded.parameters()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    # It is an ordinary .npz: numpy reads it without pickle.
    with np.load(path, allow_pickle=False) as archive:
        assert archive["layers.0.weight"].dtype == np.float32


def test_save_is_atomic_and_refuses_to_overwrite_without_intent(tmp_path):
    path = tmp_path / "net.npz"
    save_network(path, Network(SMALL), Metadata.new("first"))
    with pytest.raises(NetworkFileError, match="already exists"):
        save_network(path, Network(SMALL), Metadata.new("second"))
    assert load_network(path)[1].name == "first"
    save_network(path, Network(SMALL), Metadata.new("second"), overwrite=True)
    assert load_network(path)[1].name == "second"
    assert [p.name for p in tmp_path.iterdir()] == ["net.npz"]  # no temp files left


@pytest.mark.parametrize("text, expected", [
    ("My Net", "My-Net"), ("../../etc/passwd", "etc-passwd"), ("a/b\\c", "a-b-c"),
    ("ünïcodé", "unicode"), ("..hidden", "hidden"), ("x" * 100, "x" * 64),
])
def test_names_are_sanitised(text, expected):
    assert sanitize_name(text) == expected
    assert network_path(text, "/tmp/nets").parent.as_posix() == "/tmp/nets"


@pytest.mark.parametrize("text", ["", "...", "///", "★"])
def test_unusable_names_are_refused(text):
    with pytest.raises(NetworkFileError, match="not usable"):
        sanitize_name(text)


def refused(data: bytes, message: str) -> None:
    with pytest.raises(NetworkFileError, match=message):
        load_network(data)


def test_not_a_zip():
    refused(b"hello, I am a text file", "expected a .npz")
    refused(b"", "expected a .npz")


def test_truncated_file():
    data = small_file_bytes()
    refused(data[: len(data) // 2], "npz|damaged|truncated")


def test_pickled_object_array_is_refused():
    data = small_file_bytes()
    evil = npy_bytes(np.array([{"x": 1}, None], dtype=object), allow_pickle=True)
    refused(rebuild(data, replace={"layers.0.bias.npy": evil}), "float32")


def test_wrong_shapes_are_refused():
    data = small_file_bytes()
    refused(rebuild(data, replace={"layers.0.weight.npy": npy_bytes(np.zeros((784, 13), np.float32))}),
            r"shape \(784, 13\)")


def test_wrong_dtype_is_refused():
    data = small_file_bytes()
    refused(rebuild(data, replace={"layers.0.bias.npy": npy_bytes(np.zeros(12, np.float64))}), "float32")


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused(bad_value):
    weight = np.zeros((12, 10), np.float32)
    weight[3, 4] = bad_value
    refused(rebuild(small_file_bytes(), replace={"layers.2.weight.npy": npy_bytes(weight)}),
            "NaN or infinite")


def test_missing_and_extra_arrays_are_refused():
    data = small_file_bytes()
    refused(rebuild(data, drop=("layers.2.bias.npy",)), "missing.*layers.2.bias")
    refused(rebuild(data, add={"payload.npy": npy_bytes(np.zeros(3, np.float32))}), "unexpected.*payload")
    refused(rebuild(data, drop=(METADATA_ENTRY,)), "no metadata.json")


def test_zip_bomb_is_refused_before_inflating():
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(METADATA_ENTRY, "{}")
        archive.writestr("layers.0.weight.npy", b"\0" * (MAX_FILE_BYTES + 1))
    assert len(bomb.getvalue()) < 200_000  # small on disk, huge when unpacked
    refused(bomb.getvalue(), "over the 64 MB limit")


def test_oversized_file_is_refused(tmp_path):
    path = tmp_path / "huge.npz"
    with open(path, "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)
    refused(path, "larger than")


def test_huge_declared_dimensions_are_refused():
    data = small_file_bytes()
    metadata = metadata_of(data)
    metadata["network"]["layers"] = [784, 4096, 4096, 4096, 10]
    refused(rebuild(data, replace={METADATA_ENTRY: json.dumps(metadata).encode()}), "parameters, over")
    # An .npy header declaring an enormous shape is rejected from the header alone.
    header = npy_bytes(np.zeros((784, 12), np.float32))
    huge = header.replace(b"(784, 12)", b"(78400000, 12000)")
    refused(rebuild(data, replace={"layers.0.weight.npy": huge}), "shape")


@pytest.mark.parametrize("field, value, message", [
    ("format_version", 99, "newer than this app"),
    ("format_version", "1", "whole number"),
    ("name", 5, "name must be text"),
    ("test_accuracy", 7, "between 0 and 1"),
    ("history", {"loss": ["a"]}, "numbers only"),
    ("network", {"layers": [784, 10], "activation": "evil"}, "activation"),
    ("train_config", {"optimizer": "magic"}, "optimizer"),
    ("surprise", 1, "unknown field"),
])
def test_metadata_schema_is_enforced(field, value, message):
    data = small_file_bytes()
    metadata = metadata_of(data)
    metadata[field] = value
    refused(rebuild(data, replace={METADATA_ENTRY: json.dumps(metadata).encode()}), message)


def test_metadata_must_be_json_without_nan():
    data = small_file_bytes()
    refused(rebuild(data, replace={METADATA_ENTRY: b"{not json"}), "not valid JSON")
    text = json.dumps(metadata_of(data)).replace('"test_accuracy": null', '"test_accuracy": NaN')
    refused(rebuild(data, replace={METADATA_ENTRY: text.encode()}), "not valid JSON")


def test_list_networks_reports_good_and_bad_files(tmp_path):
    save_network(tmp_path / "good.npz", Network(SMALL), Metadata.new("good"))
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    listing = dict((p.name, loaded) for p, loaded in list_networks(tmp_path))
    assert listing["good.npz"][1].name == "good" and listing["good.npz"][0].config == SMALL
    assert isinstance(listing["bad.npz"], NetworkFileError)


BUNDLED_NETWORK = Path(__file__).resolve().parent.parent / "saved_networks" / "default.npz"


def test_bundled_default_network_is_valid_and_accurate():
    if not BUNDLED_NETWORK.exists():
        pytest.fail("saved_networks/default.npz is missing: the app needs it to draw at once")
    network, metadata = load_network(BUNDLED_NETWORK)
    assert metadata.test_accuracy >= 0.993
    assert metadata.command.startswith("python -m nn_core ") and " train " in metadata.command
    assert "--out saved_networks/default.npz" in metadata.command
    assert os.path.getsize(BUNDLED_NETWORK) < 5 * 1024 * 1024


def test_bundled_default_network_accuracy_is_real(mnist):
    network, metadata = load_network(BUNDLED_NETWORK)
    accuracy = network.score(mnist.test_images, mnist.test_labels)
    assert accuracy == pytest.approx(metadata.test_accuracy, abs=1e-6)


def test_cnn_round_trip_keeps_batch_norm_buffers(tmp_path):
    config = NetworkConfig(layers=({"conv": 4, "kernel": 3, "batchnorm": True}, {"pool": 2},
                                   {"dense": 10}))
    network = Network(config)
    network.layers[2].buffers["running_mean"][:] = [0.1, 0.2, 0.3, 0.4]
    path = save_network(tmp_path / "cnn.npz", network, Metadata.new("cnn"))
    loaded, _ = load_network(path)
    assert loaded.config == config
    np.testing.assert_array_equal(loaded.layers[2].buffers["running_mean"],
                                  np.float32([0.1, 0.2, 0.3, 0.4]))
    images = np.random.default_rng(0).random((3, 784), dtype=np.float32)
    np.testing.assert_allclose(loaded.predict_proba(images), network.predict_proba(images), rtol=1e-6)


def test_format_1_files_still_load_and_cannot_hold_cnns():
    data = small_file_bytes()
    metadata = metadata_of(data)
    metadata["format_version"] = 1
    network, loaded = load_network(rebuild(data, replace={METADATA_ENTRY: json.dumps(metadata).encode()}))
    assert loaded.format_version == 1 and network.config == SMALL
    metadata["network"]["layers"] = [{"conv": 2}, {"dense": 10}]
    refused(rebuild(data, replace={METADATA_ENTRY: json.dumps(metadata).encode()}), "MLPs only")


def test_saved_files_are_ordinary_readable_files(tmp_path):
    path = save_network(tmp_path / "net.npz", Network(SMALL), Metadata.new("net"))
    assert path.stat().st_mode & 0o044 == 0o044  # group and others may read it, like any file
