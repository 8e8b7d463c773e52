"""Network architectures as the builder forms describe them → ``NetworkConfig.layers``.

Pure functions (no Streamlit), shared by the Train and Networks pages and
tested with plain pytest. A CNN here is a stack of blocks, each a "same"
convolution (optionally batch-normalised) followed by 2×2 max pooling, then an
optional hidden dense layer and the 10 outputs; the defaults give exactly
``nn_core.config.PRESETS["cnn"]``.
"""

from __future__ import annotations

from collections.abc import Sequence

from nn_core.config import INPUT_SIZE, N_CLASSES, NetworkConfig

KINDS = ("MLP", "CNN")
CONV_CHANNELS = [8, 16, 32, 64]
DEFAULT_CHANNELS = [16, 32, 64]  # block 1, 2, 3; the first two are the preset's
MAX_CONV_BLOCKS = len(DEFAULT_CHANNELS)  # a third 2×2 pool leaves 3×3 maps: more would leave nothing
DEFAULT_CONV_BLOCKS = 2
KERNELS = [3, 5]
DEFAULT_KERNEL = 5
DENSE_WIDTHS = [0, 32, 64, 128, 256]  # 0: straight from the last pooled maps to the 10 outputs
POOL = 2


def mlp_layers(hidden_widths: Sequence[int]) -> tuple[int, ...]:
    """Hidden widths, e.g. [256, 128] → (784, 256, 128, 10)."""
    return (INPUT_SIZE, *(int(width) for width in hidden_widths), N_CLASSES)


def cnn_layers(channels: Sequence[int], kernel: int = DEFAULT_KERNEL, batchnorm: bool = False,
               dense_width: int = 0) -> tuple[dict, ...]:
    """Layer specs of conv blocks with ``channels`` each, then an optional hidden dense layer.

    ``cnn_layers([16, 32])`` is ``PRESETS["cnn"]``. Keys are only written when they
    differ from nn_core's defaults, so the specs (and file metadata) stay short.
    """
    conv = {"kernel": int(kernel), **({"batchnorm": True} if batchnorm else {})}
    blocks = [spec for width in channels for spec in ({"conv": int(width), **conv}, {"pool": POOL})]
    hidden = [{"dense": int(dense_width)}] if dense_width else []
    return (*blocks, *hidden, {"dense": N_CLASSES})


def run_name(config: NetworkConfig) -> str:
    """A file-name stem suggesting the architecture: "net-256-128" or "cnn-c16k5-p2-c32k5-p2-d10"."""
    if config.is_convolutional:
        return f"cnn-{config.describe().split()[0]}"
    return f"net-{'-'.join(map(str, config.layers[1:-1]))}"


def shape_summary(config: NetworkConfig) -> str:
    """What each layer outputs for one image, e.g. "28×28×1 → 28×28×16 → 14×14×16 → … → 10"."""
    start = [(28, 28, 1) if config.is_convolutional else (INPUT_SIZE,)]
    return " → ".join("×".join(map(str, shape)) for shape in start + config.shapes())
