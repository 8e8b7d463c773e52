"""Tests of nn_core.storage.mnist: IDX reading, the dataset, finding, downloading, loading."""
from __future__ import annotations

import functools
import gzip
import io
import os
import socket
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nn_core.storage import mnist
from nn_core.errors import ConfigError, DataError, DownloadError, ShapeError
from nn_core.storage.mnist import (FILES, TEST_IMAGES, TRAIN_IMAGES, TRAIN_LABELS, MnistData, download_mnist,
                           find_mnist_dir, load_mnist, read_idx)
from tests.idx_fixtures import MirrorServer, fake_mnist_contents, idx_bytes, specs_for, write_files

REAL_DIR = os.environ.get("MNIST_DIR")
needs_real_mnist = pytest.mark.skipif(
    not REAL_DIR, reason="MNIST_DIR is not set: point it at the four real MNIST files to run this test")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def no_mnist_anywhere(tmp_path, monkeypatch) -> Path:
    """No MNIST_DIR and an empty default data dir (returned) so nothing is found."""
    monkeypatch.delenv("MNIST_DIR", raising=False)
    return tmp_path / "default" / "mnist"


# ---------------------------------------------------------------- the real data

@pytest.fixture(scope="module")
def real_data() -> MnistData:
    if not REAL_DIR:
        pytest.skip("MNIST_DIR is not set: point it at the four real MNIST files to run this test")
    return load_mnist(REAL_DIR, download=False)


def test_real_data_shapes_dtypes_and_labels(real_data):
    assert real_data.train_images.shape == (60000, 784)
    assert real_data.train_labels.shape == (60000,)
    assert real_data.test_images.shape == (10000, 784)
    assert real_data.test_labels.shape == (10000,)
    for array in (real_data.train_images, real_data.train_labels, real_data.test_images, real_data.test_labels):
        assert array.dtype == np.uint8
        assert not array.flags.writeable  # shared safely between dashboard sessions
    assert set(np.unique(real_data.train_labels)) == set(range(10))
    assert set(np.unique(real_data.test_labels)) == set(range(10))
    assert real_data.train_images.max() == 255 and real_data.train_images.min() == 0
    # Known first labels of the canonical files.
    assert real_data.train_labels[:5].tolist() == [5, 0, 4, 1, 9]
    assert real_data.test_labels[:5].tolist() == [7, 2, 1, 0, 4]


def test_real_data_stays_uint8_in_memory(real_data):
    assert real_data.train_images.nbytes == 47_040_000
    assert real_data.test_images.nbytes == 7_840_000


def test_validation_split_is_the_last_n_as_views(real_data):
    train_x, train_y, val_x, val_y = real_data.validation_split(5000)
    assert train_x.shape == (55000, 784) and train_y.shape == (55000,)
    assert val_x.shape == (5000, 784) and val_y.shape == (5000,)
    assert np.shares_memory(train_x, real_data.train_images)
    assert np.shares_memory(val_x, real_data.train_images)
    assert np.shares_memory(val_y, real_data.train_labels)
    assert np.array_equal(val_x, real_data.train_images[-5000:])
    assert np.array_equal(train_y, real_data.train_labels[:55000])


@needs_real_mnist
def test_files_table_matches_the_real_files():
    for name, spec in FILES.items():
        path = mnist._locate(Path(REAL_DIR), name)
        assert path is not None, name
        assert mnist._verification_problem(path, spec) is None


@needs_real_mnist
def test_load_mnist_finds_the_files_through_MNIST_DIR(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_DIR", REAL_DIR)
    data = load_mnist(download=False, default_dir=tmp_path / "empty")
    assert data.train_images.shape == (60000, 784)


@needs_real_mnist
def test_load_mnist_downloads_into_the_default_dir_when_nothing_is_found(no_mnist_anywhere, monkeypatch):
    routes = {f"/m/{name}": (Path(REAL_DIR) / name).read_bytes() for name in FILES}
    with MirrorServer(routes) as server:
        local_download = functools.partial(mnist.download_mnist, mirrors=[server.url("m")])
        monkeypatch.setattr(mnist, "download_mnist", local_download)
        data = load_mnist(download=True, default_dir=no_mnist_anywhere)
    assert sorted(p.name for p in no_mnist_anywhere.iterdir()) == sorted(FILES)
    assert data.test_labels[:5].tolist() == [7, 2, 1, 0, 4]


# ---------------------------------------------------------------- read_idx

def test_read_idx_reads_raw_and_gzip_alike(tmp_path, rng):
    images = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    (tmp_path / "raw").write_bytes(idx_bytes(images))
    (tmp_path / "packed.bin").write_bytes(gzip.compress(idx_bytes(images)))  # the name does not say gzip
    for name in ("raw", "packed.bin"):
        array = read_idx(tmp_path / name)
        assert array.dtype == np.uint8 and array.shape == (3, 28, 28)
        assert np.array_equal(array, images)


def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (28, 28)).save(buffer, format="PNG")
    return buffer.getvalue()


LABELS_IDX = idx_bytes(np.arange(10, dtype=np.uint8))
HOSTILE_FILES = {
    "empty": (b"", "too short"),
    "truncated data": (LABELS_IDX[:-3], "truncated: header declares shape (10,)"),
    "truncated header": (bytes([0, 0, 8, 3, 0, 0]), "truncated IDX header"),
    "over-long": (LABELS_IDX + b"\0", "longer than declared"),
    "wrong dtype code (float)": (bytes([0, 0, 0x0D, 1]) + LABELS_IDX[4:], "not a uint8 IDX file"),
    "PNG image": (_png_bytes(), "found 89 50 4e 47"),
    "text file": (b"hello, this is not MNIST\n", "not a uint8 IDX file"),
    "zero dimensions": (bytes([0, 0, 8, 0]), "not a uint8 IDX file"),
    "huge declared dims": (bytes([0, 0, 8, 3]) + struct.pack(">3I", 60000, 60000, 60000), "implausible"),
    "a zero-sized dim": (bytes([0, 0, 8, 2]) + struct.pack(">2I", 0, 28), "implausible"),
    "gzip magic then garbage": (b"\x1f\x8b" + b"garbage" * 10, "corrupt or truncated gzip"),
    "cut-off gzip": (gzip.compress(LABELS_IDX)[:-12], "corrupt or truncated gzip"),
    "gzip with a bad CRC": (gzip.compress(LABELS_IDX)[:-8] + b"\0" * 8, "corrupt or truncated gzip"),
    "valid gzip of truncated IDX": (gzip.compress(LABELS_IDX[:-1]), "truncated"),
}


@pytest.mark.parametrize("case", HOSTILE_FILES)
def test_read_idx_rejects_hostile_files_with_a_useful_message(tmp_path, case):
    content, expected_words = HOSTILE_FILES[case]
    path = tmp_path / "hostile-idx1-ubyte.gz"
    path.write_bytes(content)
    with pytest.raises(DataError) as caught:
        read_idx(path)
    message = str(caught.value)
    assert str(path) in message
    assert expected_words in message
    assert "fresh copy" in message  # says what to do


def test_read_idx_on_a_missing_file_or_a_directory(tmp_path):
    with pytest.raises(DataError, match="cannot open MNIST file .*nope"):
        read_idx(tmp_path / "nope")
    with pytest.raises(DataError, match="cannot open MNIST file"):
        read_idx(tmp_path)


# ---------------------------------------------------------------- MnistData

def _tiny_data(n_train: int = 6) -> MnistData:
    return MnistData(np.zeros((n_train, 784), np.uint8), np.arange(n_train, dtype=np.uint8) % 10,
                     np.zeros((2, 784), np.uint8), np.array([3, 9], np.uint8))


def test_mnist_data_rejects_inconsistent_arrays():
    good = _tiny_data()
    with pytest.raises(DataError, match="6 images but 5 labels"):
        MnistData(good.train_images, good.train_labels[:5], good.test_images, good.test_labels)
    with pytest.raises(DataError, match="0..9, found 10"):
        MnistData(good.train_images, good.train_labels, good.test_images, np.array([3, 10], np.uint8))
    with pytest.raises(ShapeError, match="uint8"):
        MnistData(good.train_images.astype(np.float32), good.train_labels, good.test_images, good.test_labels)
    with pytest.raises(ShapeError, match=r"\(N, 784\)"):
        MnistData(np.zeros((6, 28), np.uint8), good.train_labels, good.test_images, good.test_labels)


def test_validation_split_sizes():
    data = _tiny_data(6)
    train_x, train_y, val_x, val_y = data.validation_split(2)
    assert len(train_x) == len(train_y) == 4 and len(val_x) == len(val_y) == 2
    assert val_y.tolist() == [4, 5]
    train_x, _, val_x, _ = data.validation_split(0)
    assert len(train_x) == 6 and len(val_x) == 0
    for bad in (6, -1, 2.5, True):
        with pytest.raises(ConfigError, match="validation size"):
            data.validation_split(bad)


# ---------------------------------------------------------------- find_mnist_dir

def test_find_order_is_argument_then_MNIST_DIR_then_default(tmp_path, monkeypatch, rng):
    contents = fake_mnist_contents(rng)
    explicit, env, default = tmp_path / "explicit", tmp_path / "env", tmp_path / "default"
    for directory in (explicit, env, default):
        write_files(directory, contents)
    monkeypatch.setenv("MNIST_DIR", str(env))
    assert find_mnist_dir(explicit, default) == explicit
    assert find_mnist_dir(str(explicit), default) == explicit
    assert find_mnist_dir(None, default) == env
    monkeypatch.delenv("MNIST_DIR")
    assert find_mnist_dir(None, default) == default
    assert find_mnist_dir() is None  # the library has no folder of its own


def test_find_accepts_uncompressed_names(no_mnist_anywhere, rng):
    write_files(no_mnist_anywhere, fake_mnist_contents(rng), compress=False)
    assert find_mnist_dir(default_dir=no_mnist_anywhere) == no_mnist_anywhere
    assert not (no_mnist_anywhere / TRAIN_IMAGES).exists()


def test_find_returns_none_when_nothing_is_anywhere(no_mnist_anywhere, rng):
    assert find_mnist_dir(default_dir=no_mnist_anywhere) is None
    partial = fake_mnist_contents(rng)
    del partial[TEST_IMAGES]
    write_files(no_mnist_anywhere, partial)
    assert find_mnist_dir(default_dir=no_mnist_anywhere) is None


def test_find_complains_about_an_explicit_or_env_dir_that_lacks_files(tmp_path, monkeypatch, rng):
    monkeypatch.delenv("MNIST_DIR", raising=False)
    incomplete = tmp_path / "incomplete"
    partial = fake_mnist_contents(rng)
    del partial[TRAIN_LABELS]
    write_files(incomplete, partial)
    with pytest.raises(DataError, match=f"lacks {TRAIN_LABELS}"):
        find_mnist_dir(incomplete)
    with pytest.raises(DataError, match="does not exist"):
        find_mnist_dir(tmp_path / "missing")
    monkeypatch.setenv("MNIST_DIR", str(incomplete))
    with pytest.raises(DataError, match=f"MNIST_DIR points to .*lacks {TRAIN_LABELS}"):
        find_mnist_dir()


# ---------------------------------------------------------------- load_mnist

def test_load_without_download_says_where_to_put_the_files(no_mnist_anywhere):
    with pytest.raises(DataError) as caught:
        load_mnist(download=False, default_dir=no_mnist_anywhere)
    message = str(caught.value)
    assert str(no_mnist_anywhere) in message and "MNIST_DIR" in message and TRAIN_IMAGES in message


def test_load_without_a_default_folder_never_downloads_into_one_of_its_own(no_mnist_anywhere, monkeypatch):
    monkeypatch.setattr(mnist, "download_mnist", lambda *args, **kwargs: pytest.fail("downloaded"))
    with pytest.raises(DataError, match="set MNIST_DIR / --data-dir"):
        load_mnist(download=True)


def test_load_downloads_into_an_explicit_dir_that_lacks_the_files(tmp_path, monkeypatch):
    asked = []

    def offline_download(dest, progress=None):
        asked.append(dest)
        raise DownloadError("could not download MNIST (offline?)")

    monkeypatch.setattr(mnist, "download_mnist", offline_download)
    with pytest.raises(DataError, match="--data-dir.* does not exist"):
        load_mnist(tmp_path / "mine", download=False)
    assert asked == []
    with pytest.raises(DownloadError, match="offline"):
        load_mnist(tmp_path / "mine", download=True)
    assert asked == [tmp_path / "mine"]


def test_load_rejects_idx_files_of_the_wrong_shape(tmp_path, rng):
    write_files(tmp_path, fake_mnist_contents(rng))
    with pytest.raises(DataError, match=r"shape \(6, 28, 28\), expected \(60000, 28, 28\)"):
        load_mnist(tmp_path, download=False)


# ---------------------------------------------------------------- download_mnist

@pytest.fixture
def fake_mirror_files(rng) -> tuple[dict[str, bytes], dict[str, mnist.FileSpec]]:
    """(served .gz bytes by name, FILES-style specs of their decompressed content)."""
    contents = fake_mnist_contents(rng, n_train=300, n_test=50)
    return {name: gzip.compress(data) for name, data in contents.items()}, specs_for(contents)


def _routes(prefix: str, served: dict[str, bytes]) -> dict[str, bytes]:
    return {f"/{prefix}/{name}": data for name, data in served.items()}


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"  # nothing listens there any more: connection refused


def _assert_downloaded(dest: Path, specs: dict[str, mnist.FileSpec]) -> None:
    assert sorted(p.name for p in dest.iterdir()) == sorted(specs)  # no temp files left
    for name, spec in specs.items():
        assert mnist._verification_problem(dest / name, spec) is None
        assert read_idx(dest / name).dtype == np.uint8


def test_download_writes_verified_files_and_reports_progress(tmp_path, fake_mirror_files, monkeypatch):
    served, specs = fake_mirror_files
    monkeypatch.setattr(mnist, "CHUNK_BYTES", 16 * 1024)  # several progress steps for a small file
    calls = []
    with MirrorServer(_routes("good", served)) as server:
        result = download_mnist(tmp_path / "dest", mirrors=[server.url("good")], files=specs,
                                progress=lambda *args: calls.append(args))
    assert result == tmp_path / "dest"
    _assert_downloaded(result, specs)
    for name, data in served.items():
        own = [(done, total) for file, done, total in calls if file == name]
        assert own[0] == (0, len(data)) and own[-1] == (len(data), len(data))
        assert [done for done, _ in own] == sorted(done for done, _ in own)
    assert len([c for c in calls if c[0] == TRAIN_IMAGES]) > 2  # streamed in several chunks


def test_download_skips_valid_files_and_replaces_corrupt_ones(tmp_path, fake_mirror_files):
    served, specs = fake_mirror_files
    dest = tmp_path / "dest"
    with MirrorServer(_routes("good", served)) as server:
        download_mnist(dest, mirrors=[server.url("good")], files=specs)
        server.requests.clear()
        download_mnist(dest, mirrors=[server.url("good")], files=specs)
        assert server.requests == []
        (dest / TEST_IMAGES).write_bytes(b"\x1f\x8b rotten")
        download_mnist(dest, mirrors=[server.url("good")], files=specs)
        assert server.requests == [f"/good/{TEST_IMAGES}"]
    _assert_downloaded(dest, specs)


def test_download_falls_back_from_a_corrupted_mirror(tmp_path, fake_mirror_files):
    served, specs = fake_mirror_files
    # Valid gzip, wrong content: only the content hash can catch this one.
    corrupted = {name: gzip.compress(gzip.decompress(data)[:-1] + b"\x07") for name, data in served.items()}
    with MirrorServer({**_routes("bad", corrupted), **_routes("good", served)}) as server:
        download_mnist(tmp_path, mirrors=[server.url("bad"), server.url("good")], files=specs)
        # The good mirror is asked first once it has worked.
        assert server.requests == [f"/bad/{TRAIN_IMAGES}"] + [f"/good/{name}" for name in specs]
    _assert_downloaded(tmp_path, specs)


@pytest.mark.parametrize("dead", ["closed port", "404"])
def test_download_falls_back_from_a_dead_mirror(tmp_path, fake_mirror_files, dead):
    served, specs = fake_mirror_files
    with MirrorServer(_routes("good", served)) as server:
        first = _closed_port_url() if dead == "closed port" else server.url("missing")
        download_mnist(tmp_path, mirrors=[first, server.url("good")], files=specs)
    _assert_downloaded(tmp_path, specs)


def test_download_falls_back_from_a_mirror_that_never_answers(tmp_path, fake_mirror_files):
    served, specs = fake_mirror_files
    with socket.socket() as silent, MirrorServer(_routes("good", served)) as server:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel accepts connections; nobody ever answers
        silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}/mnist/"
        download_mnist(tmp_path, mirrors=[silent_url, server.url("good")], files=specs, timeout=0.3)
        assert server.requests == [f"/good/{name}" for name in specs]
    _assert_downloaded(tmp_path, specs)


def test_download_rejects_cut_short_and_oversized_responses(tmp_path, fake_mirror_files):
    served, specs = fake_mirror_files
    cut_short = {f"/short/{name}": (len(data), data[: len(data) // 2]) for name, data in served.items()}
    oversized = {f"/huge/{name}": b"\0" * (3 * specs[name].size + 100_000) for name in served}
    with MirrorServer({**cut_short, **oversized}) as server:
        with pytest.raises(DownloadError) as caught:
            download_mnist(tmp_path, mirrors=[server.url("short"), server.url("huge")], files=specs)
    message = str(caught.value)
    assert "corrupt" in message and "more than" in message
    assert list(tmp_path.iterdir()) == []


def test_download_with_every_mirror_bad_says_offline_and_leaves_nothing(tmp_path, fake_mirror_files):
    served, specs = fake_mirror_files
    garbage = {name: b"\x1f\x8b" + b"x" * 100 for name in served}
    dest = tmp_path / "dest"
    with MirrorServer(_routes("garbage", garbage)) as server:
        mirrors = [_closed_port_url(), server.url("missing"), server.url("garbage")]
        with pytest.raises(DownloadError) as caught:
            download_mnist(dest, mirrors=mirrors, files=specs)
    message = str(caught.value)
    assert "could not download MNIST (offline?)" in message
    assert f"in {dest} or set MNIST_DIR / --data-dir" in message
    # Its own paragraph, so Markdown (the dashboard shows this message) does not run it into the list.
    assert "\n\nPut the MNIST files" in message
    assert all(name in message for name in specs)
    assert all(mirror + TRAIN_IMAGES in message for mirror in mirrors)  # lists what was tried
    assert "404" in message and "refused" in message.lower()
    assert list(dest.iterdir()) == []  # no partial file, no temp file
    assert isinstance(caught.value, DataError)


def test_download_with_no_mirrors_fails_instead_of_pretending(tmp_path, fake_mirror_files):
    _, specs = fake_mirror_files
    with pytest.raises(DownloadError, match="no mirrors given"):
        download_mnist(tmp_path, mirrors=[], files=specs)
