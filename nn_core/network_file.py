"""Network files: a safe .npz of float32 arrays plus a JSON metadata entry.

Files come from strangers (uploads), so loading trusts nothing: it never
unpickles, reads .npy headers before any data, bounds every size, and checks
names, shapes, dtypes, values and the metadata schema before building a
Network. Every problem raises NetworkFileError with a readable message.
Saving is atomic: a temp file in the target folder, then a rename.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import tempfile
import unicodedata
import zipfile
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .config import NetworkConfig, TrainConfig
from .errors import ConfigError, NetworkFileError, ShapeError
from .network import Network

# 1: MLPs only. 2: adds conv/pool/batch-norm layer specs and batch-norm buffers.
FORMAT_VERSION = 2
METADATA_ENTRY = "metadata.json"
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_PARAMETERS = 8_000_000  # 32 MB of float32: far above any network we train
MAX_METADATA_BYTES = 8 * 1024 * 1024
MAX_HISTORY_ROWS = 200_000


@dataclass(frozen=True)
class Metadata:
    """What a network file says about its network, besides the weights."""

    name: str
    created: str  # ISO 8601, UTC
    test_accuracy: float | None = None
    train_config: dict[str, Any] | None = None
    history: dict[str, list[float]] | None = None
    # nn_core.preprocess.PREPROCESS_VERSION the network was trained for, stamped by
    # whoever trains it (storage knows nothing of preprocessing); None: not recorded.
    preprocess_version: int | None = None
    command: str | None = None  # how it was trained, for reproducing it
    format_version: int = FORMAT_VERSION

    @classmethod
    def new(cls, name: str, **values: Any) -> Metadata:
        """Metadata stamped with the current time."""
        return cls(name=name, created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   **values)


# -- names on disk -------------------------------------------------------------
def sanitize_name(text: str) -> str:
    """A safe file stem from any text: letters, digits, '-' and '_' only, at most 64 chars.

    Strips path separators, dots and anything else that could escape the folder.
    """
    ascii_text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", ascii_text).strip("-_")[:64].strip("-_")
    if not stem:
        raise NetworkFileError(f"{text!r} is not usable as a network name: use letters or digits")
    return stem


def network_path(name: str, directory: Path) -> Path:
    """Where a network called ``name`` lives: ``directory/<sanitized>.npz``."""
    return Path(directory) / f"{sanitize_name(name)}.npz"


# -- writing -------------------------------------------------------------------
def network_to_bytes(network: Network, metadata: Metadata) -> bytes:
    """The whole file as bytes (for downloads, and what ``save_network`` writes)."""
    document = asdict(metadata)
    document["network"] = network.config.to_dict()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(METADATA_ENTRY, json.dumps(document, allow_nan=False))
        for name, param in network.state_dict().items():
            array_bytes = io.BytesIO()
            np.lib.format.write_array(array_bytes, np.ascontiguousarray(param, dtype=np.float32),
                                      allow_pickle=False)
            archive.writestr(f"{name}.npy", array_bytes.getvalue())
    return buffer.getvalue()


def save_network(path: str | Path, network: Network, metadata: Metadata,
                 overwrite: bool = False) -> Path:
    """Write atomically; an existing file is replaced only with ``overwrite=True``."""
    path = Path(path)
    if path.suffix != ".npz":
        raise NetworkFileError(f"network files end in .npz; got {path.name!r}")
    if path.exists() and not overwrite:
        raise NetworkFileError(f"{path} already exists; choose another name or allow overwriting")
    path.parent.mkdir(parents=True, exist_ok=True)
    data = network_to_bytes(network, metadata)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); a saved network is an ordinary file.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp_name, 0o666 & ~umask)
        with os.fdopen(handle, "wb") as temp:
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        if overwrite:
            os.replace(temp_name, path)
        else:
            # link() fails if the name was taken meanwhile: no silent clobbering.
            os.link(temp_name, path)
    except FileExistsError:
        raise NetworkFileError(f"{path} already exists; choose another name or allow overwriting")
    finally:
        if os.path.exists(temp_name):
            os.unlink(temp_name)
    return path


# -- reading -------------------------------------------------------------------
def _read_source(source: str | Path | bytes | BinaryIO) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise NetworkFileError(f"no network file at {path}")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise NetworkFileError(f"{path.name} is larger than the {MAX_FILE_BYTES >> 20} MB limit")
        data = path.read_bytes()
    else:
        data = source.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise NetworkFileError(f"network file is larger than the {MAX_FILE_BYTES >> 20} MB limit")
    return data


def _open_archive(data: bytes) -> zipfile.ZipFile:
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise NetworkFileError("not a network file: expected a .npz (zip) archive")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise NetworkFileError(f"the .npz archive is damaged ({exc})") from None
    declared = sum(member.file_size for member in members)
    if declared > MAX_FILE_BYTES:
        # A zip bomb declares far more than it stores; refuse before inflating anything.
        raise NetworkFileError(f"the archive unpacks to {declared:,} bytes, over the "
                               f"{MAX_FILE_BYTES >> 20} MB limit")
    names = [member.filename for member in members]
    if len(set(names)) != len(names):
        raise NetworkFileError("the archive holds duplicate entries")
    if METADATA_ENTRY not in names:
        raise NetworkFileError(f"not a network file of this app: no {METADATA_ENTRY} entry")
    return archive


def _read_member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    info = archive.getinfo(name)
    if info.file_size > limit:
        raise NetworkFileError(f"{name} is {info.file_size:,} bytes, over its {limit:,}-byte limit")
    try:
        with archive.open(info) as member:
            data = member.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise NetworkFileError(f"{name} in the archive is damaged or truncated ({exc})") from None
    if len(data) > limit:
        raise NetworkFileError(f"{name} unpacks to more than its {limit:,}-byte limit")
    return data


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise NetworkFileError(f"invalid metadata: {message}")


def _parse_metadata(raw: bytes) -> tuple[NetworkConfig, Metadata]:
    try:
        document = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise NetworkFileError(f"{METADATA_ENTRY} is not valid JSON ({exc})") from None
    _require(isinstance(document, dict), "expected a JSON object")
    version = document.get("format_version")
    _require(isinstance(version, int) and not isinstance(version, bool),
             "format_version must be a whole number")
    if version > FORMAT_VERSION:
        raise NetworkFileError(f"network file format {version} is newer than this app reads "
                               f"(up to {FORMAT_VERSION}); update the app")
    try:
        config = NetworkConfig.from_dict(document.get("network"))
        train_config = document.get("train_config")
        if train_config is not None:
            TrainConfig.from_dict(train_config)
    except ConfigError as exc:
        raise NetworkFileError(f"invalid metadata: {exc}") from None
    if version < 2 and config.is_convolutional:
        raise NetworkFileError(f"invalid metadata: format {version} files hold MLPs only")
    allowed = {f.name for f in fields(Metadata)} | {"network"}
    unknown = sorted(set(document) - allowed)
    _require(not unknown, f"unknown field(s) {', '.join(unknown)}")
    _require(isinstance(document.get("name"), str) and 0 < len(document["name"]) <= 200,
             "name must be text of 1-200 characters")
    _require(isinstance(document.get("created"), str) and len(document["created"]) <= 64,
             "created must be a date-time text")
    accuracy = document.get("test_accuracy")
    _require(accuracy is None or (isinstance(accuracy, (int, float)) and not isinstance(accuracy, bool)
                                  and 0 <= accuracy <= 1), "test_accuracy must be between 0 and 1")
    preprocess_version = document.get("preprocess_version")
    _require(preprocess_version is None or (isinstance(preprocess_version, int)
                                            and not isinstance(preprocess_version, bool)),
             "preprocess_version must be a whole number")
    command = document.get("command")
    _require(command is None or (isinstance(command, str) and len(command) <= 2000),
             "command must be text")
    _check_history(document.get("history"))
    values = {key: value for key, value in document.items() if key != "network"}
    return config, Metadata(**values)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


def _check_history(history: Any) -> None:
    if history is None:
        return
    _require(isinstance(history, dict), "history must be an object of columns")
    for column, values in history.items():
        _require(isinstance(column, str) and len(column) <= 64, "history column names must be short text")
        _require(isinstance(values, list) and len(values) <= MAX_HISTORY_ROWS,
                 f"history column {column!r} must be a list of at most {MAX_HISTORY_ROWS} numbers")
        _require(all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values),
                 f"history column {column!r} must hold numbers only")


def _read_npy(raw: bytes, name: str, expected_shape: tuple[int, ...]) -> np.ndarray:
    """Parse one .npy entry without ever allowing pickled objects."""
    stream = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(stream)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, fortran_order, dtype = read_header(stream)
    except (ValueError, OSError, SyntaxError, TypeError) as exc:
        raise NetworkFileError(f"{name} is not a valid numpy array ({exc})") from None
    if dtype != np.dtype("<f4"):
        raise NetworkFileError(f"{name} has dtype {dtype}; network weights must be float32")
    if tuple(shape) != expected_shape:
        raise NetworkFileError(f"{name} has shape {tuple(shape)}; the architecture needs {expected_shape}")
    payload = stream.read()
    expected_bytes = math.prod(expected_shape) * 4
    if len(payload) != expected_bytes:
        raise NetworkFileError(f"{name} holds {len(payload):,} data bytes; its shape needs "
                               f"{expected_bytes:,} (the file is truncated or padded)")
    array = np.frombuffer(payload, dtype="<f4").reshape(shape, order="F" if fortran_order else "C")
    if not np.isfinite(array).all():
        raise NetworkFileError(f"{name} contains NaN or infinite values")
    return array


def load_network(source: str | Path | bytes | BinaryIO) -> tuple[Network, Metadata]:
    """Validate a network file completely, then build its Network.

    Raises NetworkFileError for anything unsafe or inconsistent.
    """
    archive = _open_archive(_read_source(source))
    config, metadata = _parse_metadata(_read_member(archive, METADATA_ENTRY, MAX_METADATA_BYTES))
    if config.n_parameters > MAX_PARAMETERS:
        raise NetworkFileError(f"the architecture has {config.n_parameters:,} parameters, over the "
                               f"{MAX_PARAMETERS:,} limit")
    network = Network(config)
    expected = {f"{name}.npy": param.shape for name, param in network.state_dict().items()}
    found = {name for name in archive.namelist() if name != METADATA_ENTRY}
    if found != set(expected):
        missing = sorted(set(expected) - found)
        extra = sorted(found - set(expected))
        raise NetworkFileError(f"weights do not match the architecture {network.describe()}: "
                               f"missing {missing or 'none'}, unexpected {extra or 'none'}")
    arrays = {}
    for entry, shape in expected.items():
        raw = _read_member(archive, entry, math.prod(shape) * 4 + 4096)
        arrays[entry.removesuffix(".npy")] = _read_npy(raw, entry, shape)
    try:
        network.load_state_dict(arrays)
    except ShapeError as exc:
        raise NetworkFileError(str(exc)) from None
    return network, metadata


def list_networks(directory: Path) -> list[tuple[Path, tuple[Network, Metadata] | NetworkFileError]]:
    """Every .npz in ``directory``, sorted by name, loaded and validated, or the error that makes it unusable."""
    listing: list[tuple[Path, tuple[Network, Metadata] | NetworkFileError]] = []
    for path in sorted(Path(directory).glob("*.npz")):
        try:
            listing.append((path, load_network(path)))
        except NetworkFileError as exc:
            listing.append((path, exc))
    return listing
