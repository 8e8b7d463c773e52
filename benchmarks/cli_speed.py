"""The CLI's training samples/s beside another commit's, measured side by side.

    python benchmarks/cli_speed.py --compare-commit REV [--commit REV2] [--rounds 3] [--epochs 1]
                                   [--threads N]

Trains the MLP and the CNN preset with ``python -m nn_core train`` from this
checkout's working tree (or from ``--commit``) and from ``--compare-commit``,
each exported with ``git archive`` into a temporary folder and put first on
PYTHONPATH. The runs alternate (A B A B ...) with the same arguments and seed,
so a machine shared with other work slows both alike; every round's figure is
printed with the medians and their ratio. samples/s is the CLI's own figure
(training steps only, from its ``--json`` summary). MNIST comes from
``--data-dir``, else $MNIST_DIR, else the checkout's data/mnist.

``--threads N`` hands both CLIs their ``--threads N`` (BLAS threads, and with them
the CNN's pass threads): on a machine whose cores other jobs keep busy, BLAS's
spinning threads make a run's speed swing several-fold with the load, while one
thread per process keeps the comparison steadier.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from checkout import CHECKOUT, MNIST_DIR

PRESETS = ("mlp", "cnn")


def export_commit(revision: str, folder: Path) -> Path:
    """The tree of ``revision`` written into ``folder``; returns the folder."""
    archive = subprocess.run(["git", "-C", str(CHECKOUT), "archive", "--format=tar", revision],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def commit_name(revision: str) -> str:
    return subprocess.run(["git", "-C", str(CHECKOUT), "log", "-1", "--format=%h %s", revision],
                          check=True, capture_output=True, text=True).stdout.strip()[:72]


def cli_samples_per_second(checkout: Path, preset: str, epochs: int, seed: int, threads: int | None,
                           data_dir: str, out_folder: Path) -> float:
    """One CLI training run of ``preset`` with ``checkout``'s nn_core; its samples/s."""
    environment = {**os.environ, "PYTHONPATH": str(checkout), "MNIST_DIR": data_dir}
    thread_option = ["--threads", str(threads)] if threads else []
    command = [sys.executable, "-m", "nn_core", *thread_option, "train", "--layers", preset, "--epochs", str(epochs),
               "--seed", str(seed), "--out", str(out_folder / f"{preset}.npz"), "--force", "--json"]
    # Run from outside both checkouts so that neither is found through the working directory.
    result = subprocess.run(command, env=environment, cwd=out_folder, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} with {checkout} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])["samples_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare-commit", required=True, metavar="REV",
                        help="the commit to compare with, e.g. a release or main before a change")
    parser.add_argument("--commit", metavar="REV", help="time this commit instead of the working tree")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each checkout per preset")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--presets", nargs="+", choices=PRESETS, default=list(PRESETS))
    parser.add_argument("--data-dir", help="MNIST folder (default: $MNIST_DIR, then data/mnist)")
    parser.add_argument("--threads", type=int, help="the CLIs' --threads (default: theirs, one per core)")
    args = parser.parse_args()
    data_dir = args.data_dir or os.environ.get("MNIST_DIR") or str(MNIST_DIR)

    with tempfile.TemporaryDirectory(prefix="cli_speed_") as temporary:
        temporary = Path(temporary)
        ours = export_commit(args.commit, temporary / "ours") if args.commit else CHECKOUT
        theirs = export_commit(args.compare_commit, temporary / "theirs")
        (temporary / "runs").mkdir()
        ours_name = commit_name(args.commit) if args.commit else f"working tree of {CHECKOUT}"
        print(f"A = {ours_name}\nB = {commit_name(args.compare_commit)}")
        threads = f"--threads {args.threads} " if args.threads else ""
        print(f"python -m nn_core {threads}train --layers PRESET --epochs {args.epochs} --seed {args.seed}, "
              f"MNIST from {data_dir}, {args.rounds} rounds A B A B ...")
        for preset in args.presets:
            rates: dict[str, list[float]] = {"A": [], "B": []}
            for round_number in range(1, args.rounds + 1):
                for label, checkout in (("A", ours), ("B", theirs)):
                    rates[label].append(cli_samples_per_second(checkout, preset, args.epochs, args.seed,
                                                               args.threads, data_dir, temporary / "runs"))
                print(f"  {preset} round {round_number}: A {rates['A'][-1]:,.0f}  B {rates['B'][-1]:,.0f} "
                      f"samples/s", flush=True)
            median_a, median_b = statistics.median(rates["A"]), statistics.median(rates["B"])
            print(f"{preset}: median A {median_a:,.0f}, B {median_b:,.0f} samples/s; "
                  f"A/B = {median_a / median_b:.3f} (per round: "
                  f"{', '.join(f'{a / b:.3f}' for a, b in zip(rates['A'], rates['B']))})", flush=True)


if __name__ == "__main__":
    main()
