"""Command line: ``python -m nn_core download|train|evaluate|predict|info``.

The only part of nn_core that prints. Bad input ends with a one-line error
and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Callable, Sequence, TextIO

import numpy as np

from .config import (ACTIVATIONS, LOSSES, LR_SCHEDULES, OPTIMIZERS, PRESETS, NetworkConfig,
                     TrainConfig)
from .errors import NNCoreError
from .metrics import confusion_matrix, per_class_accuracy
from .mnist import download_mnist, find_mnist_dir, load_mnist
from .network import Network
from .network_file import Metadata, load_network, save_network
from .preprocess import PREPROCESS_VERSION, preprocess_file
from .trainer import StepResult, Trainer


# The command line's own defaults, relative to the folder it runs in (the checkout's root
# in the README); the library itself takes every path from its caller.
DEFAULT_DATA_DIR = Path("data") / "mnist"
DEFAULT_NETWORK = Path("saved_networks") / "default.npz"


class ProgressBar:
    """A one-line text bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self.stream, self.width = stream, width
        self.enabled = stream.isatty()

    def show(self, label: str, fraction: float, suffix: str = "") -> None:
        if not self.enabled:
            return
        filled = int(self.width * min(max(fraction, 0.0), 1.0))
        bar = "█" * filled + "·" * (self.width - filled)
        self.stream.write(f"\r{label} {bar} {fraction:6.1%} {suffix}\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def _download_progress(bar: ProgressBar) -> Callable[[str, int, int | None], None]:
    def report(name: str, done: int, total: int | None) -> None:
        bar.show(f"downloading {name}", done / total if total else 0.0, f"{done / 1e6:.1f} MB")
    return report


def _load_data(args: argparse.Namespace):
    bar = ProgressBar()
    try:
        return load_mnist(args.data_dir, download=True, progress=_download_progress(bar),
                          default_dir=DEFAULT_DATA_DIR)
    finally:
        bar.close()


# -- commands --------------------------------------------------------------------
def cmd_download(args: argparse.Namespace) -> int:
    found = find_mnist_dir(args.data_dir, DEFAULT_DATA_DIR)
    if found is not None:
        print(f"MNIST is already in {found}")
        return 0
    bar = ProgressBar()
    try:
        dest = download_mnist(Path(args.data_dir or DEFAULT_DATA_DIR), progress=_download_progress(bar))
    finally:
        bar.close()
    print(f"MNIST downloaded and verified in {dest}")
    return 0


def _train_config(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(optimizer=args.optimizer, learning_rate=args.lr, momentum=args.momentum,
                       nesterov=args.nesterov, batch_size=args.batch_size, epochs=args.epochs,
                       weight_decay=args.weight_decay, lr_schedule=args.lr_schedule, loss=args.loss,
                       augment=args.augment, elastic=args.elastic, seed=args.seed)


def parse_layers(text: str) -> tuple:
    """--layers: a preset name, comma-separated MLP sizes, or a JSON list of layer specs."""
    if text in PRESETS:
        return PRESETS[text]
    try:
        if text.lstrip().startswith("["):
            return tuple(json.loads(text))
        return tuple(int(size) for size in text.split(","))
    except ValueError:
        raise NNCoreError(f"--layers must be a preset ({', '.join(PRESETS)}), sizes like "
                          f'784,256,128,10, or a JSON list like \'[{{"conv": 16, "kernel": 5}}, '
                          f'{{"pool": 2}}, {{"dense": 10}}]\'; got {text!r}') from None


MAX_EXTRA_IMAGES = 200_000


def load_extra_data(path: str) -> tuple[np.ndarray, np.ndarray]:
    """--extra-data: an .npz of ``images`` (N, 28, 28) or (N, 784) uint8 and ``labels`` (N,) 0-9,
    e.g. the labelled drawings the dashboard downloads. Never unpickled."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            images, labels = archive["images"], archive["labels"]
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise NNCoreError(f"--extra-data {path}: expected an .npz with arrays 'images' and "
                          f"'labels' ({exc})") from None
    if images.dtype != np.uint8 or images.shape[1:] not in ((28, 28), (784,)) or len(images) == 0:
        raise NNCoreError(f"--extra-data {path}: images must be uint8 (N, 28, 28) or (N, 784) "
                          f"with N ≥ 1; got {images.dtype} {images.shape}")
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer) \
            or labels.min() < 0 or labels.max() > 9 or len(images) > MAX_EXTRA_IMAGES:
        raise NNCoreError(f"--extra-data {path}: labels must be {len(images)} digits 0-9 "
                          f"(at most {MAX_EXTRA_IMAGES:,} images)")
    return images.reshape(len(images), 784), labels.astype(np.uint8)


def cmd_train(args: argparse.Namespace) -> int:
    network_config = NetworkConfig(layers=parse_layers(args.layers), activation=args.activation,
                                   dropout=args.dropout, seed=args.seed)
    train_config = _train_config(args)
    out = Path(args.out)
    if out.exists() and not args.force:
        raise NNCoreError(f"{out} already exists; pass --force to overwrite it")
    data = _load_data(args)
    if args.validation:
        images, labels, eval_images, eval_labels = data.validation_split()
    else:
        images, labels = data.train_images, data.train_labels
        eval_images, eval_labels = data.test_images, data.test_labels
    if args.extra_data:
        extra_images, extra_labels = load_extra_data(args.extra_data)
        images = np.concatenate([images, extra_images])
        labels = np.concatenate([labels, extra_labels])
    network = Network(network_config)
    trainer = Trainer(network, images, labels, train_config, eval_images, eval_labels)
    log = sys.stderr if args.json else sys.stdout
    bar = ProgressBar()
    eval_name = "validation" if args.validation else "test"
    print(f"training {network.describe()} ({network.n_parameters:,} parameters) on "
          f"{len(images):,} images, {train_config.epochs} epochs", file=log)

    def on_step(result: StepResult) -> None:
        bar.show(f"epoch {trainer.epochs_done + 1}/{train_config.epochs}", trainer.epoch % 1 or 1.0,
                 f"loss {result.loss:.4f}  {result.samples_per_second:,.0f} samples/s")

    epoch_start = 0  # first history row of the running epoch

    def on_epoch(epoch: int, accuracy: float | None) -> None:
        nonlocal epoch_start
        bar.close()
        loss = float(np.mean(trainer.history.loss[epoch_start:]))
        epoch_start = len(trainer.history)
        print(f"epoch {epoch:3d}/{train_config.epochs}  loss {loss:.4f}  {eval_name} accuracy "
              f"{accuracy:.2%}  ({trainer.elapsed:.1f} s)", file=log, flush=True)

    trainer.run(on_step=on_step, on_epoch=on_epoch)
    test_accuracy = network.score(data.test_images, data.test_labels)
    samples_per_second = trainer.epochs_done * len(images) / trainer.elapsed
    command = "python -m nn_core " + shlex.join(args.argv)
    metadata = Metadata.new(args.name or out.stem, test_accuracy=test_accuracy,
                            train_config=train_config.to_dict(), history=trainer.history.to_dict(),
                            command=command, preprocess_version=PREPROCESS_VERSION)
    save_network(out, network, metadata, overwrite=args.force)
    summary = {"test_accuracy": test_accuracy, "seconds": round(trainer.elapsed, 3),
               "samples_per_second": round(samples_per_second, 1), "out": str(out)}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"test accuracy {test_accuracy:.2%}; trained in {trainer.elapsed:.1f} s "
              f"({samples_per_second:,.0f} samples/s); saved {out}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    network, metadata = load_network(args.network)
    data = _load_data(args)
    predictions = network.predict(data.test_images)
    confusion = confusion_matrix(data.test_labels, predictions)
    accuracy = float(np.trace(confusion) / confusion.sum())
    per_class = per_class_accuracy(confusion)
    if args.json:
        print(json.dumps({"network": metadata.name, "test_accuracy": accuracy,
                          "per_class_accuracy": [round(float(a), 6) for a in per_class],
                          "confusion": confusion.tolist()}))
        return 0
    print(f"{metadata.name}: {network.describe()}")
    print(f"test accuracy {accuracy:.2%} on {confusion.sum():,} images")
    print("per-class accuracy: " + "  ".join(f"{d}: {a:.1%}" for d, a in enumerate(per_class)))
    print("confusion matrix (rows: true digit, columns: predicted)")
    print("      " + "".join(f"{d:>6}" for d in range(10)))
    for digit, row in enumerate(confusion):
        print(f"{digit:>6}" + "".join(f"{count:>6}" for count in row))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    network, _ = load_network(args.network)
    failures = 0
    for file in args.files:
        try:
            result = preprocess_file(file)
        except (NNCoreError, OSError) as exc:
            failures += 1
            print(f"error: {file}: {_one_line(exc)}", file=sys.stderr)
            continue
        if result.empty:
            record = {"file": file, "prediction": None, "probabilities": None, "empty": True}
        else:
            probabilities = network.predict_proba(result.vector)[0]
            record = {"file": file, "prediction": int(probabilities.argmax()),
                      "probabilities": [round(float(p), 6) for p in probabilities]}
        if args.json:
            print(json.dumps(record))
        elif result.empty:
            print(f"{file}: nothing drawn")
        else:
            print(f"{file}: {record['prediction']} "
                  f"({max(record['probabilities']):.1%} confident)")
    return 1 if failures else 0


def cmd_info(args: argparse.Namespace) -> int:
    network, metadata = load_network(args.network)
    document = {"name": metadata.name, "architecture": network.describe(),
                "parameters": network.n_parameters, "test_accuracy": metadata.test_accuracy,
                "created": metadata.created, "format_version": metadata.format_version,
                "preprocess_version": metadata.preprocess_version, "command": metadata.command,
                "network": network.config.to_dict(), "train_config": metadata.train_config,
                "history_batches": len((metadata.history or {}).get("step", []))}
    if args.json:
        print(json.dumps(document))
    else:
        for key, value in document.items():
            print(f"{key:>18}: {value}")
    return 0


# -- argument parsing ----------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m nn_core",
                                     description="Train and use a from-scratch numpy digit classifier.")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="BLAS threads (default: numpy's, one per core); 1 is faster when "
                             "other programs keep the cores busy")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def data_dir(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--data-dir", help="folder holding the four MNIST files "
                         "(default: $MNIST_DIR, then data/mnist/, else download)")

    sub = commands.add_parser("download", help="download and verify MNIST")
    data_dir(sub)
    sub.set_defaults(run=cmd_download)

    sub = commands.add_parser("train", help="train a network on MNIST and save it")
    sub.add_argument("--layers", default="784,256,128,10",
                     help="MLP sizes (784 first, 10 last), a preset (mlp, cnn), or a JSON list of "
                          'layer specs, e.g. \'[{"conv": 16, "kernel": 5}, {"pool": 2}, {"dense": 10}]\'')
    sub.add_argument("--activation", default="relu", choices=ACTIVATIONS)
    sub.add_argument("--dropout", type=float, default=0.0, help="hidden-unit dropout rate")
    sub.add_argument("--optimizer", default="momentum", choices=OPTIMIZERS)
    sub.add_argument("--lr", type=float, default=0.05, help="learning rate")
    sub.add_argument("--momentum", type=float, default=0.9, help="momentum (Adam: beta1)")
    sub.add_argument("--nesterov", action="store_true", help="Nesterov momentum")
    sub.add_argument("--batch-size", type=int, default=128)
    sub.add_argument("--epochs", type=int, default=10)
    sub.add_argument("--weight-decay", type=float, default=0.0, help="L2 penalty on weights")
    sub.add_argument("--lr-schedule", default="constant", choices=LR_SCHEDULES)
    sub.add_argument("--loss", default="cross_entropy", choices=LOSSES)
    sub.add_argument("--augment", action="store_true", help="random shift/rotation/scale/thickness")
    sub.add_argument("--elastic", type=float, default=0.0,
                     help="with --augment: elastic distortion strength in pixels (about 30 is gentle)")
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument("--validation", action="store_true",
                     help="hold out the last 5,000 training images for per-epoch evaluation")
    sub.add_argument("--extra-data", metavar="NPZ",
                     help="also train on these labelled images: an .npz with uint8 'images' "
                          "(N, 28, 28) and 'labels' (N,), e.g. drawings saved from the dashboard")
    sub.add_argument("--name", help="name stored in the file (default: the file's stem)")
    sub.add_argument("--out", required=True, help="where to save, e.g. saved_networks/mine.npz")
    sub.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    sub.add_argument("--json", action="store_true", help="print a final JSON summary on stdout")
    data_dir(sub)
    sub.set_defaults(run=cmd_train)

    sub = commands.add_parser("evaluate", help="test accuracy, per-class accuracy, confusion matrix")
    sub.add_argument("--network", default=str(DEFAULT_NETWORK), help="network file (.npz)")
    sub.add_argument("--json", action="store_true")
    data_dir(sub)
    sub.set_defaults(run=cmd_evaluate)

    sub = commands.add_parser("predict", help="classify image files (PNG, JPEG, ...)")
    sub.add_argument("files", nargs="+", metavar="FILE")
    sub.add_argument("--network", default=str(DEFAULT_NETWORK), help="network file (.npz)")
    sub.add_argument("--json", action="store_true", help="one JSON object per line")
    sub.set_defaults(run=cmd_predict)

    sub = commands.add_parser("info", help="show a network file's metadata after validating it")
    sub.add_argument("network", help="network file (.npz)")
    sub.add_argument("--json", action="store_true")
    sub.set_defaults(run=cmd_info)
    return parser


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return args.run(args)
    except (NNCoreError, OSError) as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
