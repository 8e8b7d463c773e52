"""Accuracy on phone photos of digits written with a pen on paper.

    python benchmarks/photo_accuracy.py [--network P] [--n 500] [--seed 0]

A student's upload is rarely a clean scan: a thin, faint pen line, paper lit
unevenly (darker to one side, darker corners), and often the desk around the
page or a strip of it along one side. Each case here is an MNIST *test* digit
traced with a 2–3 px pen (nn_core/synthetic/photos.py), enlarged 2–4× to a
560–1120 px photo, on paper 40–75 grey levels lighter than the pen, with noise;
then lit evenly, lit unevenly, photographed with the desk all round the page
(lying straight or turned), with a strip of desk along one side, turned so
that the desk shows in wedges at the photo's corners, cropped to the digit's
ink, or written on ruled or squared paper whose lines run askew (or fan out,
photographed at a slant), in pen or in pencil (the lines then nearly as dark
as the digit), or in pencil one or two squares tall, as in a school maths
book, the photo cropped round it.
Prints, per condition, the share classified correctly through the app's
preprocessing and how many came out "nothing drawn".
"""

from __future__ import annotations

import argparse

import numpy as np

from checkout import DEFAULT_NETWORK, MNIST_DIR
from nn_core.storage.mnist import load_mnist
from nn_core.storage.network_file import load_network
from nn_core.preprocess import preprocess
from nn_core.synthetic.photos import PENCIL_LINES, photo_of_digit

CONDITIONS = {  # name: photo_of_digit's settings
    "even light": {},
    "uneven light": {"uneven_light": True},
    "uneven light, desk all round the page": {"uneven_light": True, "desk": "around"},
    "uneven light, strip of desk along a side": {"uneven_light": True, "desk": "strip"},
    "uneven light, page turned 3-15° on the desk": {"uneven_light": True, "desk": "turned"},
    "uneven light, turned page filling the photo, desk in its corners": {"uneven_light": True, "desk": "wedges"},
    "uneven light, cropped to the digit's ink": {"uneven_light": True, "desk": "tight"},
    "uneven light, ruled paper with a margin, lines askew up to 4°": {"uneven_light": True, "lines": "ruled"},
    "uneven light, squared paper, lines askew up to 4°": {"uneven_light": True, "lines": "squared"},
    "uneven light, ruled page turned 3-15° on the desk": {"uneven_light": True, "desk": "turned", "lines": "ruled"},
    "uneven light, ruled page photographed at a slant, lines fanning out by up to 6°": {
        "uneven_light": True, "lines": "ruled", "line_spread": (0, 6)},
    "uneven light, pencil on ruled paper, lines half to 9/10 as dark": {
        "uneven_light": True, "lines": "ruled", "line_darkness": PENCIL_LINES},
    "uneven light, pencil on squared paper, lines half to 9/10 as dark": {
        "uneven_light": True, "lines": "squared", "line_darkness": PENCIL_LINES},
    "uneven light, pencil digit one or two squares tall on squared paper, cropped loosely round it": {
        "uneven_light": True, "desk": "loose", "lines": "squared", "line_darkness": PENCIL_LINES,
        "line_gap": (0.5, 1.0)},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default=str(DEFAULT_NETWORK))
    parser.add_argument("--n", type=int, default=500, help="photos per condition")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", help="MNIST folder (default: $MNIST_DIR, data/mnist)")
    args = parser.parse_args()
    data = load_mnist(args.data_dir, default_dir=MNIST_DIR)
    network, metadata = load_network(args.network)
    images = data.test_images.reshape(-1, 28, 28)
    print(f"network {metadata.name} ({network.describe()}), {args.n} photos per condition")
    for name, condition in CONDITIONS.items():
        rng = np.random.default_rng(args.seed)  # the same digits under every condition
        correct = empty = 0
        for index in rng.choice(len(images), args.n, replace=False):
            result = preprocess(photo_of_digit(images[index], rng, **condition))
            if result.empty:
                empty += 1
            else:
                correct += int(network.predict(result.vector)[0] == data.test_labels[index])
        print(f"{name}: {correct / args.n:.1%} correct, {empty} nothing drawn")


if __name__ == "__main__":
    main()
