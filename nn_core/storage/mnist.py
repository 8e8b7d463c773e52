"""MNIST: read IDX files, find them on disk, download and verify them.

The four canonical files are IDX: a 4-byte magic number (0x0000, dtype code
0x08 = uint8, number of dimensions), one big-endian uint32 per dimension, then
the data. They may be gzip-compressed; compression is detected from the file's
first bytes, never from its name.

Arrays come back as read-only uint8 (60000 × 784 training images are 47 MB,
not the 376 MB of float64), so one loaded copy can be shared safely.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import struct
import tempfile
import urllib.request
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO, NamedTuple

import numpy as np

from ..errors import ConfigError, DataError, DownloadError, ShapeError

GZIP_MAGIC = b"\x1f\x8b"
IDX_UINT8 = 0x08
MAX_IDX_ELEMENTS = 100_000_000
CHUNK_BYTES = 256 * 1024

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"


class FileSpec(NamedTuple):
    """What a file's decompressed content must be: its SHA-256 (hex) and size in bytes."""

    sha256: str
    size: int


# Hashes of the decompressed content: mirrors re-compress, so .gz bytes may differ.
FILES: Mapping[str, FileSpec] = MappingProxyType({
    TRAIN_IMAGES: FileSpec("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", 47_040_016),
    TRAIN_LABELS: FileSpec("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", 60_008),
    TEST_IMAGES: FileSpec("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", 7_840_016),
    TEST_LABELS: FileSpec("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", 10_008),
})

EXPECTED_SHAPES: Mapping[str, tuple[int, ...]] = MappingProxyType({
    TRAIN_IMAGES: (60_000, 28, 28),
    TRAIN_LABELS: (60_000,),
    TEST_IMAGES: (10_000, 28, 28),
    TEST_LABELS: (10_000,),
})

MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

# Some mirrors turn away urllib's default "Python-urllib" agent.
USER_AGENT = "nn_core-mnist-downloader"

ProgressCallback = Callable[[str, int, int | None], None]

_REPLACE_HINT = "Replace it with a fresh copy of the MNIST file (delete it and download again)."


# ---------------------------------------------------------------- IDX reading

def read_idx(path: str | Path) -> np.ndarray:
    """Read a raw or gzip-compressed uint8 IDX file.

    Returns a read-only uint8 array of the shape the header declares, e.g.
    (60000, 28, 28) for training images, (60000,) for training labels.
    Raises DataError naming the file if it is missing, foreign, truncated,
    longer than declared or not valid gzip.
    """
    path = Path(path)
    try:
        raw = open(path, "rb")
    except OSError as exc:
        raise DataError(f"cannot open MNIST file {path}: {exc.strerror or exc}") from exc
    with raw:
        stream = raw
        try:
            stream = _content_stream(raw)
            return _parse_idx(stream, path)
        except (OSError, EOFError, zlib.error) as exc:
            problem = "corrupt or truncated gzip data" if stream is not raw else "read error"
            raise DataError(f"{path}: {problem} ({exc}). {_REPLACE_HINT}") from exc


def _content_stream(raw: BinaryIO) -> BinaryIO:
    """raw itself, or a gzip reader over it if it starts with the gzip magic bytes."""
    compressed = raw.read(2) == GZIP_MAGIC
    raw.seek(0)
    return gzip.GzipFile(fileobj=raw) if compressed else raw  # type: ignore[return-value]


def _parse_idx(stream: BinaryIO, path: Path) -> np.ndarray:
    magic = stream.read(4)
    if len(magic) < 4:
        raise DataError(f"{path}: too short to be an IDX file ({len(magic)} bytes). {_REPLACE_HINT}")
    zero_a, zero_b, dtype_code, ndim = magic
    if (zero_a, zero_b, dtype_code) != (0, 0, IDX_UINT8) or not 1 <= ndim <= 4:
        raise DataError(
            f"{path}: not a uint8 IDX file: expected it to start with bytes 00 00 08 0N "
            f"(N = 1..4 dimensions), found {magic.hex(' ')}. {_REPLACE_HINT}")
    header = stream.read(4 * ndim)
    if len(header) < 4 * ndim:
        raise DataError(f"{path}: truncated IDX header (declares {ndim} dimensions). {_REPLACE_HINT}")
    shape = struct.unpack(f">{ndim}I", header)
    count = int(np.prod(shape, dtype=np.int64))
    if min(shape) == 0 or count > MAX_IDX_ELEMENTS:
        raise DataError(
            f"{path}: implausible IDX dimensions {shape}: each must be > 0 and the total "
            f"at most {MAX_IDX_ELEMENTS:,} elements. {_REPLACE_HINT}")
    data = stream.read(count)
    if len(data) < count:
        raise DataError(
            f"{path}: truncated: header declares shape {shape} = {count:,} data bytes, "
            f"but only {len(data):,} follow. {_REPLACE_HINT}")
    if stream.read(1):
        raise DataError(
            f"{path}: longer than declared: extra bytes after the {count:,} data bytes "
            f"of shape {shape}. {_REPLACE_HINT}")
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


# ---------------------------------------------------------------- the dataset

@dataclass(frozen=True, eq=False)
class MnistData:
    """The four MNIST arrays, uint8 (read-only when they come from load_mnist).

    train_images (60000, 784), train_labels (60000,), test_images (10000, 784),
    test_labels (10000,). Pixels are 0..255 (scale to float32 per batch, not
    here); labels are 0..9.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray

    def __post_init__(self) -> None:
        _check_split("train", self.train_images, self.train_labels)
        _check_split("test", self.test_images, self.test_labels)

    def validation_split(self, n: int = 5000) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Hold out the LAST n training examples as validation data.

        Returns views (no copies): train_images (N-n, 784), train_labels (N-n,),
        validation_images (n, 784), validation_labels (n,).
        """
        total = len(self.train_labels)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= n < total:
            raise ConfigError(f"validation size must be an integer in 0..{total - 1}, got {n!r}")
        cut = total - int(n)
        return (self.train_images[:cut], self.train_labels[:cut],
                self.train_images[cut:], self.train_labels[cut:])


def _check_split(name: str, images: np.ndarray, labels: np.ndarray) -> None:
    for what, array, ndim in (("images", images, 2), ("labels", labels, 1)):
        if not isinstance(array, np.ndarray) or array.dtype != np.uint8 or array.ndim != ndim:
            raise ShapeError(f"{name} {what} must be a {ndim}-D uint8 numpy array, got "
                             f"{type(array).__name__} {getattr(array, 'dtype', '')} {getattr(array, 'shape', '')}")
    if images.shape[1] != 784:
        raise ShapeError(f"{name} images must have shape (N, 784), got {images.shape}")
    if len(images) != len(labels):
        raise DataError(f"{name} has {len(images)} images but {len(labels)} labels; they must agree")
    if labels.size and labels.max() > 9:
        raise DataError(f"{name} labels must be digits 0..9, found {int(labels.max())}")


# ---------------------------------------------------------------- finding files

def _locate(directory: Path, name: str) -> Path | None:
    """The file for `name` in directory, compressed or not (the .gz name wins)."""
    for candidate in (name, name.removesuffix(".gz")):
        if (directory / candidate).is_file():
            return directory / candidate
    return None


def _missing(directory: Path, names: Sequence[str]) -> list[str]:
    return [name for name in names if _locate(directory, name) is None]


def find_mnist_dir(data_dir: str | Path | None = None, default_dir: Path | None = None) -> Path | None:
    """The first directory holding all four MNIST files, or None.

    Looks at, in order: `data_dir`, the MNIST_DIR environment variable, the
    caller's `default_dir` (the CLI's and the app's data/mnist/). Each file may
    be `.gz` or uncompressed. An
    explicit `data_dir` or MNIST_DIR that lacks files raises DataError rather
    than silently falling back to another directory.
    """
    explicit = [("data_dir (--data-dir)", data_dir), ("MNIST_DIR", os.environ.get("MNIST_DIR") or None)]
    for source, value in explicit:
        if value is None:
            continue
        directory = Path(value).expanduser()
        missing = _missing(directory, list(FILES))
        if missing:
            state = "does not exist" if not directory.is_dir() else f"lacks {', '.join(missing)}"
            raise DataError(
                f"{source} points to {directory}, which {state}. Put the four MNIST files "
                f"({', '.join(FILES)}; each may also be uncompressed, without .gz) there, "
                f"or point it elsewhere.")
        return directory
    if default_dir is not None and not _missing(Path(default_dir), list(FILES)):
        return Path(default_dir)
    return None


# ---------------------------------------------------------------- downloading

def _content_digest(path: Path, limit: int) -> tuple[str, int]:
    """SHA-256 (hex) and size of the file's decompressed content, read at most `limit` + 1 bytes."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as raw:
        stream = _content_stream(raw)
        # Stop just past the expected size so a gzip bomb cannot fill memory or time.
        while size <= limit and (chunk := stream.read(min(CHUNK_BYTES, limit + 1 - size))):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _verification_problem(path: Path, spec: FileSpec) -> str | None:
    """Why the file's content is not what `spec` says, or None if it is."""
    try:
        sha256, size = _content_digest(path, spec.size)
    except (OSError, EOFError, zlib.error) as exc:
        return f"unreadable or corrupt gzip ({exc})"
    if size > spec.size:
        return f"content larger than the expected {spec.size:,} bytes"
    if size < spec.size:
        return f"content of {size:,} bytes, expected {spec.size:,}"
    if sha256 != spec.sha256:
        return f"SHA-256 {sha256[:12]}… of the content, expected {spec.sha256[:12]}…"
    return None


def _fetch(url: str, target: Path, name: str, spec: FileSpec,
           progress: ProgressCallback | None, timeout: float) -> None:
    """Stream url into target, calling progress(name, bytes_done, total_or_None)."""
    # Compressed data may be a little larger than its content; anything far past that is hostile.
    byte_limit = spec.size + spec.size // 8 + 65_536
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(target, "wb") as out:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        done = 0
        if progress:
            progress(name, done, total)
        while chunk := response.read(CHUNK_BYTES):
            done += len(chunk)
            if done > byte_limit:
                raise DataError(f"server sent more than {byte_limit:,} bytes")
            out.write(chunk)
            if progress:
                progress(name, done, total)


def _new_temp_file(dest: Path, name: str) -> Path:
    # In dest itself, so the final os.replace is an atomic rename on one filesystem.
    try:
        handle, temp_name = tempfile.mkstemp(dir=dest, prefix=f".{name}.", suffix=".tmp")
    except OSError as exc:
        raise DataError(f"cannot write into the MNIST directory {dest}: {exc.strerror or exc}") from exc
    os.close(handle)
    return Path(temp_name)


def _download_file(name: str, spec: FileSpec, dest: Path, mirrors: Sequence[str],
                   progress: ProgressCallback | None, timeout: float) -> tuple[str | None, list[str]]:
    """Fetch one file into dest from the first mirror that serves valid content.

    Returns that mirror (None if every one failed) and the failures ("url: reason").
    """
    failures = [] if mirrors else ["no mirrors given"]
    for mirror in mirrors:
        url = mirror if mirror.endswith("/") else mirror + "/"
        url += name
        temp = _new_temp_file(dest, name)
        try:
            _fetch(url, temp, name, spec, progress, timeout)
            problem = _verification_problem(temp, spec)
            if problem is None:
                os.replace(temp, dest / name)
                return mirror, failures
            failures.append(f"{url}: corrupted download: {problem}")
        except (OSError, ValueError, http.client.HTTPException) as exc:
            # URLError/HTTPError/timeouts are OSError; bad URLs and our own DataError are ValueError.
            failures.append(f"{url}: {exc}")
        finally:
            temp.unlink(missing_ok=True)
    return None, failures


def download_mnist(dest: Path, mirrors: Sequence[str] = MIRRORS, files: Mapping[str, FileSpec] = FILES,
                   progress: ProgressCallback | None = None, timeout: float = 30) -> Path:
    """Download the missing MNIST files into dest and return dest.

    Files already present (compressed or not) with the right content are
    skipped. Each missing file is tried on the mirrors in order (the last one
    that worked first) until one serves it; a download is
    kept only if its decompressed content has the SHA-256 and size of `files`,
    and is written atomically (no partial file ever has the final name).
    Raises DownloadError listing what was tried if a file fails on every mirror.
    """
    dest = Path(dest)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the MNIST directory {dest}: {exc.strerror or exc}") from exc
    for name, spec in files.items():
        present = _locate(dest, name)
        if present is not None and _verification_problem(present, spec) is None:
            continue
        working, failures = _download_file(name, spec, dest, mirrors, progress, timeout)
        if working is None:
            tried = "\n".join(f"  - {failure}" for failure in failures)
            raise DownloadError(
                f"could not download MNIST (offline?). Tried:\n{tried}\n\n"
                f"Put the MNIST files ({', '.join(files)}) in {dest} or set MNIST_DIR / --data-dir.")
        # Ask the mirror that just worked first next time, rather than waiting on dead ones again.
        mirrors = [working, *(mirror for mirror in mirrors if mirror != working)]
    return dest


# ---------------------------------------------------------------- loading

def load_mnist(data_dir: str | Path | None = None, download: bool = True,
               progress: ProgressCallback | None = None, default_dir: Path | None = None) -> MnistData:
    """Find (or download) and read MNIST; see MnistData for the arrays' shapes.

    Files are looked up as find_mnist_dir does. If none are found and
    `download` is true they are downloaded into `data_dir` when given, else
    into `default_dir`. Nothing is cached between calls.
    """
    directory = _resolve_data_dir(data_dir, download, progress, default_dir)
    arrays = {}
    for name, expected in EXPECTED_SHAPES.items():
        path = _locate(directory, name) or directory / name
        array = read_idx(path)
        if array.shape != expected:
            raise DataError(f"{path}: shape {array.shape}, expected {expected}: not the MNIST file {name}. "
                            f"{_REPLACE_HINT}")
        arrays[name] = array
    return MnistData(
        train_images=arrays[TRAIN_IMAGES].reshape(-1, 784),
        train_labels=arrays[TRAIN_LABELS],
        test_images=arrays[TEST_IMAGES].reshape(-1, 784),
        test_labels=arrays[TEST_LABELS],
    )


def _resolve_data_dir(data_dir: str | Path | None, download: bool,
                      progress: ProgressCallback | None, default_dir: Path | None) -> Path:
    try:
        found = find_mnist_dir(data_dir, default_dir)
    except DataError:
        if data_dir is None or not download:
            raise
        return download_mnist(Path(data_dir).expanduser(), progress=progress)
    if found is not None:
        return found
    where = f"in {default_dir}, " if default_dir is not None else ""
    if not download or default_dir is None:
        raise DataError(
            f"MNIST files not found. Put the four files ({', '.join(FILES)}) {where}"
            f"set MNIST_DIR / --data-dir to a directory holding them"
            + (", or allow downloading." if default_dir is not None else "."))
    return download_mnist(default_dir, progress=progress)
