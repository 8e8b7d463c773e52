"""Accuracy on digits as people draw them, through `python -m nn_core predict`.

    python benchmarks/drawn_accuracy.py [--network P] [--n 10000] [--printed 600]
    python benchmarks/drawn_accuracy.py --skeleton-upsample 1   # jagged traces

Builds realistic drawings from MNIST *test* digits (benchmarks/drawn_digits.py:
round-brush strokes 10–26 px on a 280×280 canvas, 30–90% of its height, anywhere,
in three encodings; by default each of the 10,000 test digits once, since on
3,000 the figure wanders by ±0.2 points between seeds), writes them as PNGs and
classifies them with the real CLI, so the figures are exactly what a user gets.
Also prints typeset digits in common fonts (placed on the canvas, and in pictures
cropped to their ink), and the naive-resize baseline (the original app's
squashing of the whole canvas to 28×28) on the same drawings.
Targets: drawn ≥ 98.5% and no more than 0.5 points below MNIST test accuracy;
printed ≥ 95%. ``--skeleton-upsample`` changes how each digit's path is found
(thinned at 4× MNIST's resolution by default; 1 gives the jagged staircase a
tracer working at 28×28 would draw), to check that the figures do not hang on
one generator's style.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


from checkout import CHECKOUT, DEFAULT_NETWORK, MNIST_DIR
from nn_core.mnist import load_mnist
from nn_core.network_file import load_network
from nn_core.preprocess import naive_resize
from nn_core.synthetic.drawn_digits import UPSAMPLE, DrawnCase, drawn_cases, printed_cases, save_case_png

FILES_PER_CALL = 500  # keeps each command line well under the OS limit


@dataclass(frozen=True)
class WrittenCase:
    """A test case saved as a PNG, without its canvas."""

    path: Path
    label: int
    encoding: str


def written_cases(cases: Iterable[DrawnCase], folder: Path, kind: str,
                  naive: bool = False) -> tuple[list[WrittenCase], np.ndarray | None]:
    """Save each case as a PNG; with ``naive`` also return their naive 28×28 resizes (N, 784)."""
    written, naive_inputs = [], []
    for index, case in enumerate(cases):
        path = folder / f"{kind}-{index:05d}-{case.encoding}-{case.label}.png"
        save_case_png(case, path)
        written.append(WrittenCase(path, case.label, case.encoding))
        if naive:
            naive_inputs.append(naive_resize(case.image))
    return written, np.stack(naive_inputs) if naive else None


def cli_predictions(paths: list[Path], network: Path) -> list[int | None]:
    """Predictions from `python -m nn_core predict --json`, in the order of ``paths``."""
    predictions: list[int | None] = []
    for start in range(0, len(paths), FILES_PER_CALL):
        chunk = [str(p) for p in paths[start:start + FILES_PER_CALL]]
        result = subprocess.run([sys.executable, "-m", "nn_core", "predict", *chunk, "--json",
                                 "--network", str(network)], cwd=CHECKOUT, capture_output=True,
                                text=True, check=True)
        predictions += [json.loads(line)["prediction"] for line in result.stdout.splitlines()]
    return predictions


def report(title: str, cases: list[WrittenCase], predictions: list[int | None]) -> float:
    if not cases:
        print(f"{title}: none asked for")
        return float("nan")
    correct = np.array([p == c.label for p, c in zip(predictions, cases)])
    by_encoding = defaultdict(list)
    for case, ok in zip(cases, correct):
        by_encoding[case.encoding].append(ok)
    parts = "  ".join(f"{name} {np.mean(oks):.2%}" for name, oks in sorted(by_encoding.items()))
    print(f"{title}: {correct.mean():.2%} of {len(cases)}   ({parts})")
    return float(correct.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default=str(DEFAULT_NETWORK))
    parser.add_argument("--n", type=int, default=10000, help="drawn digits")
    parser.add_argument("--printed", type=int, default=600, help="typeset digits")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--skeleton-upsample", type=int, default=UPSAMPLE,
                        help="resolution (× 28) at which digits are thinned before retracing")
    parser.add_argument("--data-dir", help="MNIST folder (default: $MNIST_DIR, data/mnist)")
    args = parser.parse_args()
    if args.skeleton_upsample < 1:
        parser.error(f"--skeleton-upsample must be at least 1; got {args.skeleton_upsample}")

    data = load_mnist(args.data_dir, default_dir=MNIST_DIR)
    network, metadata = load_network(args.network)
    mnist_accuracy = network.score(data.test_images, data.test_labels)
    print(f"network {metadata.name} ({network.describe()}): MNIST test accuracy {mnist_accuracy:.2%}")

    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as folder:
        # Cases are written out as they come: 10,000 canvases would hold 3 GB in memory.
        cases = drawn_cases(data.test_images, data.test_labels, args.n, rng,
                            upsample=args.skeleton_upsample)
        drawn, naive_inputs = written_cases(cases, Path(folder), "drawn", naive=True)
        printed, _ = written_cases(printed_cases(args.printed, rng), Path(folder), "printed")
        cropped, _ = written_cases(printed_cases(args.printed, rng, cropped_to_ink=True), Path(folder),
                                   "cropped")
        predictions = cli_predictions([case.path for case in drawn + printed + cropped], Path(args.network))

    drawn_accuracy = report("drawn digits (CLI predict)", drawn, predictions[:len(drawn)])
    report("printed digits (CLI predict)", printed, predictions[len(drawn):len(drawn) + len(printed)])
    report("printed digits cropped to their ink (CLI predict)", cropped, predictions[len(drawn) + len(printed):])
    report("drawn digits, naive resize baseline", drawn, list(network.predict(naive_inputs)))
    print(f"gap to MNIST test accuracy: {100 * (mnist_accuracy - drawn_accuracy):.2f} points "
          f"(target ≤ 0.5)")


if __name__ == "__main__":
    main()
