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

from ..config import NetworkConfig, TrainConfig
from ..errors import ConfigError, NetworkFileError, ShapeError
from ..model.network import Network
from ..model.optimizers import make_optimizer
from ..training.training_state import TrainingState, n_training_images, optimizer_array_names

# 1: MLPs only. 2: adds conv/pool/batch-norm layer specs and batch-norm buffers.
# 3: adds the state of the training run (optimizer, position, generators) to resume it.
FORMAT_VERSION = 3
# A file without a training state is written as format 2, which older apps still read.
FORMAT_WITHOUT_TRAINING = 2
TRAINING_ENTRY = "training"  # the training state's key in the metadata document
OPTIMIZER_PREFIX = "optimizer/"  # its arrays' entries, e.g. optimizer/velocity/layers.0.weight.npy
ORDER_ENTRY = "training/order.npy"  # the run's shuffled order of its training images
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
    format_version: int = FORMAT_WITHOUT_TRAINING

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
def network_to_bytes(network: Network, metadata: Metadata, training: TrainingState | None = None) -> bytes:
    """The whole file as bytes (for downloads, and what ``save_network`` writes).

    With ``training`` (a Trainer's ``training_state()``; ``metadata.train_config`` then
    names its settings) the file can continue the run exactly (``load_checkpoint``).
    """
    document = asdict(metadata)
    document["network"] = network.config.to_dict()
    document["format_version"] = FORMAT_WITHOUT_TRAINING if training is None else FORMAT_VERSION
    arrays = {f"{name}.npy": np.ascontiguousarray(param, dtype=np.float32)
              for name, param in network.state_dict().items()}
    if training is not None:
        if metadata.train_config is None:
            raise NetworkFileError("a training state needs the run's train_config in the metadata")
        document[TRAINING_ENTRY] = training.to_json()
        arrays[ORDER_ENTRY] = np.ascontiguousarray(training.order, dtype="<i4")
        arrays.update({f"{OPTIMIZER_PREFIX}{name}.npy": np.ascontiguousarray(array, dtype=np.float32)
                       for name, array in training.optimizer_arrays.items()})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(METADATA_ENTRY, json.dumps(document, allow_nan=False))
        for entry, array in arrays.items():
            array_bytes = io.BytesIO()
            np.lib.format.write_array(array_bytes, array, allow_pickle=False)
            archive.writestr(entry, array_bytes.getvalue())
    return buffer.getvalue()


def save_network(path: str | Path, network: Network, metadata: Metadata,
                 overwrite: bool = False, training: TrainingState | None = None) -> Path:
    """Write atomically; an existing file is replaced only with ``overwrite=True``.
    ``training``: see ``network_to_bytes``."""
    path = Path(path)
    if path.suffix != ".npz":
        raise NetworkFileError(f"network files end in .npz; got {path.name!r}")
    if path.exists() and not overwrite:
        raise NetworkFileError(f"{path} already exists; choose another name or allow overwriting")
    path.parent.mkdir(parents=True, exist_ok=True)
    data = network_to_bytes(network, metadata, training)
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
            raise NetworkFileError("no such network file")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise NetworkFileError(f"the file is larger than the {MAX_FILE_BYTES >> 20} MB limit")
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


def _parse_metadata(raw: bytes) -> tuple[NetworkConfig, Metadata, dict[str, Any] | None]:
    """The architecture, the metadata and the training-state document (None: not saved)."""
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
    training = document.get(TRAINING_ENTRY)
    if training is not None:
        _require(version >= 3, f"format {version} files hold no training state")
        _require(isinstance(training, dict) and train_config is not None,
                 "a training state needs the run's train_config")
    allowed = {f.name for f in fields(Metadata)} | {"network", TRAINING_ENTRY}
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
    values = {key: value for key, value in document.items() if key not in ("network", TRAINING_ENTRY)}
    return config, Metadata(**values), training


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


def _read_npy(raw: bytes, name: str, expected_shape: tuple[int, ...], expected_dtype: str = "<f4") -> np.ndarray:
    """Parse one .npy entry of ``expected_dtype`` (float32 weights, int32 indices) without
    ever allowing pickled objects."""
    stream = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(stream)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, fortran_order, dtype = read_header(stream)
    except (ValueError, OSError, SyntaxError, TypeError) as exc:
        raise NetworkFileError(f"{name} is not a valid numpy array ({exc})") from None
    if dtype != np.dtype(expected_dtype):
        raise NetworkFileError(f"{name} has dtype {dtype}; it must be {np.dtype(expected_dtype).name}")
    if tuple(shape) != expected_shape:
        raise NetworkFileError(f"{name} has shape {tuple(shape)}; the architecture needs {expected_shape}")
    payload = stream.read()
    expected_bytes = math.prod(expected_shape) * dtype.itemsize
    if len(payload) != expected_bytes:
        raise NetworkFileError(f"{name} holds {len(payload):,} data bytes; its shape needs "
                               f"{expected_bytes:,} (the file is truncated or padded)")
    array = np.frombuffer(payload, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")
    if dtype.kind == "f" and not np.isfinite(array).all():
        raise NetworkFileError(f"{name} contains NaN or infinite values")
    return array


def _read_arrays(archive: zipfile.ZipFile, expected: dict[str, tuple[tuple[int, ...], str]],
                 described: str) -> dict[str, np.ndarray]:
    """Every entry but the metadata, which must be exactly ``expected`` (entry → shape, dtype)
    for what the metadata ``described``."""
    found = {name for name in archive.namelist() if name != METADATA_ENTRY}
    if found != set(expected):
        missing = sorted(set(expected) - found)
        extra = sorted(found - set(expected))
        raise NetworkFileError(f"the arrays do not match {described}: "
                               f"missing {missing or 'none'}, unexpected {extra or 'none'}")
    arrays = {}
    for entry, (shape, dtype) in expected.items():
        raw = _read_member(archive, entry, math.prod(shape) * 4 + 4096)
        arrays[entry] = _read_npy(raw, entry, shape, dtype)
    return arrays


def _training_entries(document: dict[str, Any], network: Network) -> dict[str, tuple[tuple[int, ...], str]]:
    """The arrays a training-state document says the file holds, with their shapes and dtypes."""
    params = {name: param.shape for name, param, _ in network.parameters()}
    entries = {ORDER_ENTRY: ((n_training_images(document),), "<i4")}
    for name in optimizer_array_names(document):
        parameter = name.partition("/")[2]
        if parameter not in params:
            raise ConfigError(f"optimizer array {name!r} belongs to no parameter of {network.describe()}")
        entries[f"{OPTIMIZER_PREFIX}{name}.npy"] = (params[parameter], "<f4")
    return entries


def _training_state(document: dict[str, Any], arrays: dict[str, np.ndarray], network: Network,
                    train_config: TrainConfig) -> TrainingState:
    """The validated training state; its optimizer state is tried on the optimizer it names."""
    optimizer_arrays = {entry.removeprefix(OPTIMIZER_PREFIX).removesuffix(".npy"): array
                        for entry, array in arrays.items() if entry.startswith(OPTIMIZER_PREFIX)}
    state = TrainingState.from_json(document, arrays[ORDER_ENTRY], optimizer_arrays)
    params = {name: param for name, param, _ in network.parameters()}
    make_optimizer(train_config).load_state_dict(state.optimizer_arrays, state.optimizer_steps, params)
    return state


def load_checkpoint(source: str | Path | bytes | BinaryIO
                    ) -> tuple[Network, Metadata, TrainingState | None]:
    """Validate a network file completely, then build its Network; also the state of the
    training run it was saved from, when the file holds one (see ``network_to_bytes``).

    Raises NetworkFileError for anything unsafe or inconsistent, naming the file when
    ``source`` is a path.
    """
    try:
        return _load(source)
    except NetworkFileError as exc:
        if isinstance(source, (str, Path)):
            raise NetworkFileError(f"{source}: {exc}") from None
        raise


def load_network(source: str | Path | bytes | BinaryIO) -> tuple[Network, Metadata]:
    """``load_checkpoint`` without the training state: the network and its metadata."""
    network, metadata, _ = load_checkpoint(source)
    return network, metadata


def _load(source: str | Path | bytes | BinaryIO) -> tuple[Network, Metadata, TrainingState | None]:
    archive = _open_archive(_read_source(source))
    config, metadata, training = _parse_metadata(_read_member(archive, METADATA_ENTRY, MAX_METADATA_BYTES))
    if config.n_parameters > MAX_PARAMETERS:
        raise NetworkFileError(f"the architecture has {config.n_parameters:,} parameters, over the "
                               f"{MAX_PARAMETERS:,} limit")
    network = Network(config)
    weights = {f"{name}.npy": (param.shape, "<f4") for name, param in network.state_dict().items()}
    described = f"the architecture {network.describe()}"
    try:
        training_entries = {} if training is None else _training_entries(training, network)
    except ConfigError as exc:
        raise NetworkFileError(f"invalid training state: {exc}") from None
    if training_entries:
        described += " and its training state"
    arrays = _read_arrays(archive, {**weights, **training_entries}, described)
    try:
        network.load_state_dict({entry.removesuffix(".npy"): arrays[entry] for entry in weights})
    except ShapeError as exc:
        raise NetworkFileError(str(exc)) from None
    if training is None:
        return network, metadata, None
    try:
        state = _training_state(training, arrays, network, TrainConfig.from_dict(metadata.train_config))
    except (ConfigError, ShapeError) as exc:
        raise NetworkFileError(f"invalid training state: {exc}") from None
    return network, metadata, state


def list_networks(directory: Path) -> list[tuple[Path, tuple[Network, Metadata] | NetworkFileError]]:
    """Every .npz in ``directory``, sorted by name, loaded and validated, or the error that makes it unusable."""
    listing: list[tuple[Path, tuple[Network, Metadata] | NetworkFileError]] = []
    for path in sorted(Path(directory).glob("*.npz")):
        try:
            listing.append((path, load_network(path)))
        except NetworkFileError as exc:
            listing.append((path, exc))
    return listing
