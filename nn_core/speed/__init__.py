"""The speed layer: the same maths as the plain model, faster, wrapped around it from outside.

A conv network's training batch runs in several cache-sized passes spread over
threads (``passes``, ``threads``), a conv layer and the pool after it train as
one layer that hands the pool its output in the pool's own layout
(``pool_layout``), and BLAS's thread pool is sized around them
(``nn_core.model.blas``). Nothing in the model imports this package; the trainer
chooses it unless ``NN_CORE_FAST=0`` is set, which trains with one plain pass
per batch to the same results.
"""

from __future__ import annotations

import os

SWITCH = "NN_CORE_FAST"


def fast_enabled() -> bool:
    """Whether trainers use the speed layer: yes unless the environment sets NN_CORE_FAST=0."""
    return os.environ.get(SWITCH, "1").strip() != "0"
