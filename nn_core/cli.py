"""Command line: ``python -m nn_core download|train|evaluate|predict|info``.

The only part of nn_core that prints. Bad input ends with a one-line error
and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import zipfile
from dataclasses import fields, replace
from pathlib import Path
from typing import Callable, Sequence, TextIO

import numpy as np

from .config import (ACTIVATIONS, LOSSES, LR_SCHEDULES, OPTIMIZERS, PRESETS, NetworkConfig,
                     TrainConfig)
from .errors import NNCoreError
from .training.metrics import confusion_matrix, per_class_accuracy
from .storage.mnist import download_mnist, find_mnist_dir, load_mnist
from .model.network import Network
from .storage.network_file import Metadata, load_checkpoint, load_network, save_network
from .preprocess import PREPROCESS_VERSION, SOURCES, preprocess_file
from .training.trainer import History, StepResult, Trainer


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
    # Each TrainConfig field has an option of the same name (see build_parser).
    return TrainConfig(**{field.name: getattr(args, field.name) for field in fields(TrainConfig)})


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """ "1 epoch", "2 epochs", "60,000 images", "2 batches" (``nouns``: when not just noun + "s")."""
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"


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


EXTRA_DATA_FORM = ("an .npz archive (numpy.savez) holding uint8 'images' (N, 28, 28) or (N, 784) and "
                   "integer 'labels' (N,) 0-9, such as the labelled drawings the dashboard downloads")


def load_extra_data(path: str) -> tuple[np.ndarray, np.ndarray]:
    """--extra-data: see EXTRA_DATA_FORM. Never unpickled."""
    if not Path(path).is_file():
        raise NNCoreError(f"--extra-data {path}: no such file; it must be {EXTRA_DATA_FORM}")
    if not zipfile.is_zipfile(path):
        raise NNCoreError(f"--extra-data {path}: not an .npz archive; it must be {EXTRA_DATA_FORM}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = archive.files
            images, labels = (archive[name] if name in names else None for name in ("images", "labels"))
    except ValueError:
        # numpy's own message suggests allow_pickle=True, which would run code from the file.
        raise NNCoreError(f"--extra-data {path}: its arrays hold Python objects, which are never loaded "
                          f"(unpickling runs code from the file); it must be {EXTRA_DATA_FORM}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise NNCoreError(f"--extra-data {path}: unreadable ({exc}); it must be {EXTRA_DATA_FORM}") from None
    if images is None or labels is None:
        raise NNCoreError(f"--extra-data {path}: holds {', '.join(names) or 'no arrays'}, not both "
                          f"'images' and 'labels'; it must be {EXTRA_DATA_FORM}")
    if images.dtype != np.uint8 or images.shape[1:] not in ((28, 28), (784,)) or len(images) == 0:
        raise NNCoreError(f"--extra-data {path}: images must be uint8 (N, 28, 28) or (N, 784) "
                          f"with N ≥ 1; got {images.dtype} {images.shape}")
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer) \
            or labels.min() < 0 or labels.max() > 9 or len(images) > MAX_EXTRA_IMAGES:
        raise NNCoreError(f"--extra-data {path}: labels must be {len(images)} digits 0-9 "
                          f"(at most {MAX_EXTRA_IMAGES:,} images)")
    return images.reshape(len(images), 784), labels.astype(np.uint8)


# Options that set what a run is; a resumed run keeps the ones it was saved with.
RUN_SETTINGS = ("--layers", "--activation", "--dropout", "--optimizer", "--learning-rate", "--lr",
                "--momentum", "--nesterov", "--beta1", "--beta2", "--batch-size", "--weight-decay",
                "--lr-schedule", "--loss", "--augment", "--elastic", "--seed")
# Options that set a network's shape; a run started from a file's weights takes them from the file.
NETWORK_SETTINGS = ("--layers", "--activation", "--dropout")


def _given(argv: Sequence[str], options: Sequence[str]) -> list[str]:
    """Which of ``options`` the command line names, as ``--opt value`` or ``--opt=value``."""
    return [option for option in options if any(arg == option or arg.startswith(f"{option}=") for arg in argv)]


def _training_data(args: argparse.Namespace):
    """The training set (MNIST's, or all but its last 5,000 with --validation, plus any
    --extra-data), the evaluation set, and MNIST itself."""
    extra_images, extra_labels = load_extra_data(args.extra_data) if args.extra_data else (None, None)
    data = _load_data(args)
    if args.validation:
        images, labels, eval_images, eval_labels = data.validation_split()
    else:
        images, labels = data.train_images, data.train_labels
        eval_images, eval_labels = data.test_images, data.test_labels
    if extra_images is not None:
        images = np.concatenate([images, extra_images])
        labels = np.concatenate([labels, extra_labels])
    return images, labels, eval_images, eval_labels, data


def _output_path(args: argparse.Namespace) -> Path:
    """Where to save: --out, else (resuming) the file resumed; refused if taken without --force."""
    if args.out is None and args.resume is None:
        raise NNCoreError("--out is required: where to save the network, e.g. saved_networks/mine.npz")
    out = Path(args.out or args.resume)
    if out.exists() and not args.force and args.out is not None:
        raise NNCoreError(f"{out} already exists; pass --force to overwrite it")
    if out.exists() and out.is_dir():
        raise NNCoreError(f"--out {out} is a folder; name the file, e.g. {out / 'mine.npz'}")
    return out


def _initial_network(args: argparse.Namespace) -> tuple[Network, str]:
    """A new network, or with --init-from the weights and shape of a saved one (to fine-tune it),
    and the command that made those weights ("" for a new network)."""
    if not args.init_from:
        return Network(NetworkConfig(layers=parse_layers(args.layers), activation=args.activation,
                                     dropout=args.dropout, seed=args.seed)), ""
    given = _given(args.argv, NETWORK_SETTINGS)
    if given:
        raise NNCoreError(f"--init-from takes the network's shape from {args.init_from}; drop {', '.join(given)}")
    network, source = load_network(args.init_from)
    return network, source.command or ""


def cmd_train(args: argparse.Namespace) -> int:
    out = _output_path(args)
    log = sys.stderr if args.json else sys.stdout
    if args.resume and args.init_from:
        raise NNCoreError("--init-from starts a new run from a file's weights; --resume continues one: "
                          "pass only one of them")
    if args.resume:
        given = _given(args.argv, RUN_SETTINGS)
        if given:
            raise NNCoreError(f"--resume continues the run with the settings it was saved with; "
                              f"drop {', '.join(given)}")
        network, previous, state = load_checkpoint(args.resume)
        if state is None:
            raise NNCoreError(f"{args.resume} holds no training state to resume (saved before this "
                              f"version, or not by a training run); train a new network instead")
        saved_config = TrainConfig.from_dict(previous.train_config)
        train_config = replace(saved_config, epochs=state.epochs_done + args.epochs)
        earlier_command = previous.command or ""
    else:
        network, earlier_command = _initial_network(args)
        train_config = _train_config(args)
    images, labels, eval_images, eval_labels, data = _training_data(args)
    if args.resume:
        trainer = Trainer.from_checkpoint(network, images, labels, train_config, state,
                                          History.from_dict(previous.history or {}), eval_images, eval_labels)
        print(f"continuing {network.describe()} ({args.resume}) after {plural(state.epochs_done, 'epoch')}: "
              f"{plural(args.epochs, 'more epoch')} on {plural(len(images), 'image')}", file=log)
    else:
        trainer = Trainer(network, images, labels, train_config, eval_images, eval_labels)
        print(f"training {network.describe()} ({plural(network.n_parameters, 'parameter')}) on "
              f"{plural(len(images), 'image')}, {plural(train_config.epochs, 'epoch')}", file=log)
    epochs_before, seconds_before = trainer.epochs_done, trainer.elapsed
    _train_with_progress(trainer, log, "validation" if args.validation else "test")
    test_accuracy = trainer.evaluate(data.test_images, data.test_labels)
    seconds = trainer.elapsed - seconds_before
    samples_per_second = (trainer.epochs_done - epochs_before) * len(images) / seconds
    command = "python -m nn_core " + shlex.join(args.argv)
    # The commands that made the starting weights come first, so the file says how to remake it.
    if earlier_command and len(earlier_command) + len(command) < 1990:
        command = f"{earlier_command} && {command}"
    name = args.name or (previous.name if args.resume else out.stem)
    metadata = Metadata.new(name, test_accuracy=test_accuracy, train_config=train_config.to_dict(),
                            history=trainer.history.to_dict(), command=command,
                            preprocess_version=PREPROCESS_VERSION)
    created = not out.parent.exists()
    save_network(out, network, metadata, overwrite=args.force or args.out is None,
                 training=trainer.training_state())
    if created:
        print(f"created the folder {out.parent} for {out.name}", file=log)
    summary = {"test_accuracy": test_accuracy, "seconds": round(seconds, 3),
               "samples_per_second": round(samples_per_second, 1), "out": str(out)}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"test accuracy {test_accuracy:.2%}; trained in {seconds:.1f} s "
              f"({samples_per_second:,.0f} samples/s); saved {out}")
    return 0


def _train_with_progress(trainer: Trainer, log: TextIO, eval_name: str) -> None:
    """Run the trainer to its last epoch, with a progress bar and a line per epoch."""
    bar = ProgressBar()
    epochs = trainer.config.epochs

    def on_step(result: StepResult) -> None:
        bar.show(f"epoch {trainer.epochs_done + 1}/{epochs}", trainer.epoch % 1 or 1.0,
                 f"loss {result.loss:.4f}  {result.samples_per_second:,.0f} samples/s")

    epoch_start = len(trainer.history)  # first history row of the running epoch

    def on_epoch(epoch: int, accuracy: float | None) -> None:
        nonlocal epoch_start
        bar.close()
        loss = float(np.mean(trainer.history.loss[epoch_start:]))
        epoch_start = len(trainer.history)
        print(f"epoch {epoch:3d}/{epochs}  loss {loss:.4f}  {eval_name} accuracy "
              f"{accuracy:.2%}  ({trainer.elapsed:.1f} s)", file=log, flush=True)

    trainer.run(on_step=on_step, on_epoch=on_epoch)


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
            result = preprocess_file(file, args.source)
        except (NNCoreError, OSError) as exc:
            failures += 1
            print(f"error: {file}: {_one_line(exc)}", file=sys.stderr)
            continue
        if result.empty:
            record = {"file": file, "prediction": None, "probabilities": None, "empty": True,
                      "source": result.source}
        else:
            probabilities = network.predict_proba(result.vector)[0]
            record = {"file": file, "prediction": int(probabilities.argmax()),
                      "probabilities": [round(float(p), 6) for p in probabilities], "source": result.source}
        if args.json:
            print(json.dumps(record))
        elif result.empty:
            print(f"{file}: nothing drawn")
        else:
            print(f"{file}: {record['prediction']} "
                  f"({max(record['probabilities']):.1%} confident)")
    return 1 if failures else 0


def cmd_info(args: argparse.Namespace) -> int:
    network, metadata, state = load_checkpoint(args.network)
    document = {"name": metadata.name, "architecture": network.describe(),
                "parameters": network.n_parameters, "test_accuracy": metadata.test_accuracy,
                "created": metadata.created, "format_version": metadata.format_version,
                "preprocess_version": metadata.preprocess_version, "command": metadata.command,
                "network": network.config.to_dict(), "train_config": metadata.train_config,
                "history_batches": len((metadata.history or {}).get("step", [])),
                "resumable": state is not None}
    if args.json:
        print(json.dumps(document))
        return 0
    readable = {**document, "parameters": f"{network.n_parameters:,}",
                "test_accuracy": "not measured" if metadata.test_accuracy is None
                else f"{metadata.test_accuracy:.2%}",
                "preprocess_version": metadata.preprocess_version or "not recorded",
                "history_batches": f"{document['history_batches']:,}",
                "network": json.dumps(document["network"]),
                "train_config": json.dumps(metadata.train_config) if metadata.train_config else "not recorded",
                "resumable": "no" if state is None else
                f"yes: train --resume {args.network} --epochs N continues after "
                f"{plural(state.epochs_done, 'epoch')} ({plural(state.step_count, 'batch', 'batches')})"}
    for key, value in readable.items():
        print(f"{key:>18}: {value}")
    return 0


# -- argument parsing ----------------------------------------------------------------
class DefaultsShown(argparse.HelpFormatter):
    """Help that shows each option's default, unless it has none or its help names it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, argparse.SUPPRESS) and action.default is not False \
                and "default" not in text:
            text += " (default: %(default)s)"
        return text


def add_train_options(sub: argparse.ArgumentParser) -> None:
    """The train command's options; the defaults are NetworkConfig's and TrainConfig's own."""
    network, training = NetworkConfig(), TrainConfig()
    sub.add_argument("--layers", default=",".join(map(str, network.layers)),
                     help="MLP sizes (784 first, 10 last), a preset (mlp, cnn), or a JSON list of "
                          'layer specs, e.g. \'[{"conv": 16, "kernel": 5}, {"pool": 2}, {"dense": 10}]\'')
    sub.add_argument("--activation", default=network.activation, choices=ACTIVATIONS,
                     help="after every conv and hidden dense layer")
    sub.add_argument("--dropout", type=float, default=network.dropout, help="hidden-unit dropout rate")
    sub.add_argument("--optimizer", default=training.optimizer, choices=OPTIMIZERS, help="how weights are updated")
    sub.add_argument("--lr", "--learning-rate", dest="learning_rate", type=float, metavar="RATE",
                     default=training.learning_rate, help="learning rate")
    sub.add_argument("--momentum", type=float, default=training.momentum,
                     help="the momentum optimizer's momentum")
    sub.add_argument("--nesterov", action="store_true", help="Nesterov momentum")
    sub.add_argument("--beta1", type=float, default=training.beta1, help="Adam's decay of the mean gradient")
    sub.add_argument("--beta2", type=float, default=training.beta2,
                     help="Adam's decay of the mean squared gradient")
    sub.add_argument("--batch-size", type=int, default=training.batch_size, help="images per step")
    sub.add_argument("--epochs", type=int, default=training.epochs,
                     help="epochs to train; with --resume, epochs more")
    sub.add_argument("--weight-decay", type=float, default=training.weight_decay, help="L2 penalty on weights")
    sub.add_argument("--lr-schedule", default=training.lr_schedule, choices=LR_SCHEDULES,
                     help="cosine anneals the learning rate to 0 over all epochs")
    sub.add_argument("--loss", default=training.loss, choices=LOSSES, help="what training minimises")
    sub.add_argument("--augment", action="store_true", help="random shift/rotation/scale/thickness")
    sub.add_argument("--elastic", type=float, default=training.elastic,
                     help="with --augment: elastic distortion strength in pixels (about 30 is gentle)")
    sub.add_argument("--seed", type=int, default=training.seed,
                     help="seeds the initial weights, shuffling and augmentation")
    sub.add_argument("--validation", action="store_true",
                     help="hold out the last 5,000 training images for per-epoch evaluation")
    sub.add_argument("--extra-data", metavar="NPZ",
                     help="also train on these labelled images: an .npz with uint8 'images' "
                          "(N, 28, 28) and 'labels' (N,), e.g. drawings saved from the dashboard")
    sub.add_argument("--resume", metavar="FILE",
                     help="continue the run saved in FILE exactly where it stopped, with its settings, "
                          "for --epochs more (the same data options as that run)")
    sub.add_argument("--init-from", metavar="FILE",
                     help="start from the weights (and shape) of the network saved in FILE, with a "
                          "fresh optimizer and these training options, e.g. to fine-tune it")
    sub.add_argument("--name", help="name stored in the file (default: the file's stem)")
    sub.add_argument("--out", help="where to save, e.g. saved_networks/mine.npz; a missing folder is "
                                   "created (default with --resume: FILE itself)")
    sub.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    sub.add_argument("--json", action="store_true", help="print a final JSON summary on stdout")


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

    sub = commands.add_parser("train", help="train a network on MNIST and save it, or continue a saved run",
                              formatter_class=DefaultsShown)
    add_train_options(sub)
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
    sub.add_argument("--source", choices=SOURCES, default="auto",
                     help="canvas: a clean drawing on a uniform background; photo: a photo or scan "
                          "(lighting, page, ruled lines cleaned up); auto (default): canvas when the "
                          "background is one exact colour, else photo. JSON output says which ran")
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
