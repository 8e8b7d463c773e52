"""Re-draw MNIST *training* digits the way people draw them, as extra training data.

    python scripts/redraw_mnist.py --n 60000 --copies 2 --out data/redrawn-train.npz
    python -m nn_core train ... --extra-data data/redrawn-train.npz

People draw with a round brush of one width, so their strokes are uniform,
while MNIST's pens vary in pressure. Each digit's skeleton is retraced with a
random round brush at a random size on a 280×280 canvas (the stroke renderer of
nn_core/synthetic/drawn_digits.py) and sent through the app's own preprocessing, so
the network also learns from digits that look like drawings. With several
``--skeleton-upsample`` values each drawing's path is thinned at one of them, at
random: a path traced at 28×28 is the jagged one a cruder tracer (or a shaky hand)
draws. Mixing them traded accuracy on the smooth traces for a little on the jagged
ones in the networks tried so far, so the bundled network is trained on 4× alone.
``--pressure`` swells and thins each stroke along its length, ``--end-reach`` lets
stroke ends overshoot or curl into hooks, ``--lifts`` cuts gaps where the pen left the
paper (loops left open, strokes in pieces), ``--taper`` thins stroke ends as a pen lands
and lifts, ``--tremor`` makes the hand wander and ``--brush`` widens the range of
brushes: more varied hands than the one uniform brush. Each drawing gets a random share
of each variation, from a steady hand to a heavy one.
Only training digits are used; the benchmarks draw from the test set.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from nn_core.storage.mnist import load_mnist
from nn_core.synthetic.drawn_digits import BRUSH_RANGE, UPSAMPLE, PenStyle
from nn_core.synthetic.redraw import redraw_training_digits

CHECKOUT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60000, help="training digits to re-draw")
    parser.add_argument("--copies", type=int, default=2,
                        help="re-drawings of each digit, each with its own brush and size")
    parser.add_argument("--out", default=str(CHECKOUT / "data" / "redrawn-train.npz"))
    parser.add_argument("--skeleton-upsample", type=int, nargs="+", default=[UPSAMPLE],
                        help="resolutions (× 28) at which paths are thinned, one picked per drawing")
    parser.add_argument("--brush", type=int, nargs=2, default=list(BRUSH_RANGE), metavar=("MIN", "MAX"),
                        help="brush diameters in canvas pixels (280 wide), inclusive")
    parser.add_argument("--pressure", type=float, default=0.0,
                        help="largest relative swing of the brush width along the strokes; each "
                             "drawing gets a random share of it (0: uniform strokes)")
    parser.add_argument("--end-reach", type=float, default=0.0,
                        help="longest overshoot or hook past a stroke end, in MNIST pixels (0: none)")
    parser.add_argument("--lifts", type=int, default=0,
                        help="most pen lifts per drawing, each a gap of up to 1.2 MNIST pixels (0: none)")
    parser.add_argument("--taper", type=float, default=0.0,
                        help="largest share of the width a free stroke end loses, in [0, 1) (0: none)")
    parser.add_argument("--tremor", type=float, default=0.0,
                        help="most canvas pixels the hand wanders off the path (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data-dir", help="MNIST folder (default: $MNIST_DIR, data/mnist)")
    args = parser.parse_args()
    if min(args.skeleton_upsample) < 1:
        parser.error(f"--skeleton-upsample values must be at least 1; got {args.skeleton_upsample}")
    if not 1 <= args.brush[0] <= args.brush[1]:
        parser.error(f"--brush needs 1 ≤ MIN ≤ MAX; got {args.brush}")
    if not 0 <= args.pressure < 1 or not 0 <= args.taper < 1:
        parser.error("--pressure and --taper must lie in [0, 1)")
    if min(args.end_reach, args.lifts, args.tremor) < 0:
        parser.error("--end-reach, --lifts and --tremor must not be negative")
    data = load_mnist(args.data_dir, default_dir=CHECKOUT / "data" / "mnist")
    images, labels = redraw_training_digits(data.train_images, data.train_labels, args.n,
                                            args.copies, args.seed, args.workers,
                                            tuple(args.skeleton_upsample),
                                            PenStyle(args.pressure, args.end_reach, args.lifts,
                                                     args.taper, args.tremor), tuple(args.brush))
    np.savez_compressed(args.out, images=images, labels=labels)
    print(f"wrote {len(images):,} re-drawn training digits to {args.out}")


if __name__ == "__main__":
    main()
