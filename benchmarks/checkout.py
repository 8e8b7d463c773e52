"""Where this checkout keeps what the benchmarks read: the bundled network and MNIST.

The library takes every path from its caller; benchmarks run from the checkout
(``python benchmarks/<name>.py``) and find these beside themselves.
"""

from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
DEFAULT_NETWORK = CHECKOUT / "saved_networks" / "default.npz"
MNIST_DIR = CHECKOUT / "data" / "mnist"  # looked at after --data-dir and $MNIST_DIR
