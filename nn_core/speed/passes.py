"""A network's batches in passes: the speed layer's training and inference.

A conv network takes many images in passes small enough that each pass's
arrays stay in cache, spread over the pass threads (``nn_core.speed.threads``);
the passes' gradients add up to the whole batch's. A conv layer's activation
runs after the pool that follows it, and the conv and the pool train as one
``pool_layout.ConvPool``. Only arithmetic order changes, so a run trains as the
plain one-pass trainer does within float32 rounding; an MLP, which takes a batch
in one pass, trains bit for bit alike.
"""

from __future__ import annotations

import copy
import math
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np

from ..model.blas import axpy, single_threaded_blas
from ..config import ConvSpec, NetworkConfig
from ..model.conv import BatchNorm, MaxPool2D
from ..model.layers import ACTIVATION_LAYERS
from ..model.losses import softmax
from ..model.network import Network, as_input_batch
from . import fast_enabled
from .pool_layout import with_pool_layout
from .threads import map_passes, pass_threads, run_groups, split_passes

ACTIVATION_TYPES = tuple(ACTIVATION_LAYERS.values())

LossFunction = Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray]]
"""(logits, labels) → (mean loss, its gradient w.r.t. the logits), as in nn_core.model.losses."""

PASS_PATCH_BYTES = 12 * 2**20
"""A conv network takes many images in passes of as many images as keep every
conv layer's patch matrix within this size. A pass's arrays then stay in
cache: on the CNN presets a training batch of 128 runs a third faster in 4-7
passes than in one, with the same gradient, and evaluation twice as fast."""


def images_per_pass(config: NetworkConfig) -> int | None:
    """How many images one forward (and backward) pass should take; None: any number.

    An MLP's products at these sizes gain nothing from smaller passes, only
    lose speed.
    """
    if not config.is_convolutional:
        return None
    widest, in_channels = 0, 1
    for spec, shape in zip(config.layer_specs(), config.shapes()):
        if isinstance(spec, ConvSpec):
            patch_bytes = shape[0] * shape[1] * spec.kernel ** 2 * in_channels * 4
            widest = max(widest, patch_bytes)
        if len(shape) == 3:
            in_channels = shape[2]
    return max(1, PASS_PATCH_BYTES // widest)


def pass_slices(n_images: int, images_per_pass: int | None) -> list[slice]:
    """A batch of ``n_images`` split into equal passes of at most ``images_per_pass`` (None: one pass)."""
    passes = math.ceil(n_images / (images_per_pass or max(n_images, 1)))
    size = max(math.ceil(n_images / max(passes, 1)), 1)
    return [slice(start, start + size) for start in range(0, n_images, size)]


def train_passes(network: Network, images: np.ndarray, labels: np.ndarray, loss: LossFunction,
                 parts: list[slice], accumulate: bool = False) -> tuple[float, int]:
    """Training forward and backward over ``parts`` of a batch, adding their gradients up.

    Each pass's loss gradient is weighted by its share of the batch, so the passes
    of a whole batch sum to its mean-loss gradient. The first pass replaces what
    ``grads`` hold unless ``accumulate``; later ones add to it. Returns these passes'
    share of the batch's mean loss, and how many of their images they classified correctly.
    """
    mean_loss, correct = 0.0, 0
    for index, part in enumerate(parts):
        logits = network.forward(images[part], training=True)
        correct += int((logits.argmax(axis=1) == labels[part]).sum())
        pass_loss, grad = loss(logits, labels[part])
        share = len(grad) / len(labels)  # each pass's loss is the mean over its own part
        if share < 1:
            grad *= np.asarray(share, grad.dtype)
        mean_loss += pass_loss * share
        network.backward(grad, accumulate=accumulate or index > 0)
    return mean_loss, correct


def pools_first(network: Network) -> Network:
    """The network's own layers (parameters, gradients and all), each activation that
    precedes a pool moved after it.

    Every activation here is non-decreasing, so it commutes with a max: after the pool
    it gives the same outputs and gradients while touching one value per pooling window
    instead of all of them.
    """
    view = copy.copy(network)
    view.layers = list(network.layers)
    for index in range(len(view.layers) - 1):
        layer, following = view.layers[index:index + 2]
        if isinstance(layer, ACTIVATION_TYPES) and isinstance(following, MaxPool2D):
            view.layers[index:index + 2] = following, layer
    return view


class FastPasses:
    """Runs a network's training batches and inference in passes on the pass threads.

    ``images_per_pass`` may be changed (None: one pass). Training spreads its passes
    over threads only inside ``spread``; elsewhere they run on the caller's thread.
    """

    def __init__(self, network: Network) -> None:
        self._fast_network = with_pool_layout(pools_first(network))
        self.images_per_pass = images_per_pass(network.config)
        # Batch norm normalises with the whole batch's statistics, so it trains in one pass.
        self._one_training_pass = any(isinstance(layer, BatchNorm) for layer in network.layers)
        self._replicas: list[Network] = []
        self._threads = 1

    @property
    def images_per_training_pass(self) -> int | None:
        """``images_per_pass`` in training (None: the whole batch in one pass)."""
        return None if self._one_training_pass else self.images_per_pass

    @contextmanager
    def spread(self) -> Iterator[None]:
        """A block of training steps whose passes use the pass threads, with BLAS itself on
        one thread meanwhile; their number is read on entry. Switching BLAS's pool costs
        more than a step's threads gain, so it is switched once per block, not per batch."""
        threads = pass_threads() if self.images_per_training_pass is not None else 1
        if threads == 1:
            yield
            return
        with single_threaded_blas():
            self._threads = threads
            try:
                yield
            finally:
                self._threads = 1

    def train_batch(self, images: np.ndarray, labels: np.ndarray, loss: LossFunction) -> tuple[float, int]:
        """Forward and backward over a batch, its gradient left in the network's ``grads``;
        returns the batch's mean loss and how many images it classified correctly."""
        parts = pass_slices(len(labels), self.images_per_training_pass)
        workers = min(self._threads, len(parts))
        network = self._fast_network
        if workers == 1:
            return train_passes(network, images, labels, loss, parts)
        while len(self._replicas) < workers - 1:
            self._replicas.append(network.replica())
        networks = [network, *self._replicas[:workers - 1]]
        results = run_groups(lambda index, group: train_passes(networks[index], images, labels, loss, group),
                             split_passes(parts, workers))
        for replica in networks[1:]:
            for layer, twin in zip(network.layers, replica.layers):
                for key, grad in layer.grads.items():
                    axpy(1.0, twin.grads[key], grad)
        return sum(share for share, _ in results), sum(correct for _, correct in results)

    def forward(self, images: np.ndarray) -> np.ndarray:
        """Logits (N, 10) of an inference forward, many images taken in passes spread over threads."""
        return forward_in_passes(self._fast_network, images, self.images_per_pass)


def forward_in_passes(network: Network, images: np.ndarray, images_per_pass: int | None) -> np.ndarray:
    """Logits (N, 10) of an inference forward over float32 (N, 784) images, in passes of
    at most ``images_per_pass`` spread over the pass threads."""
    if not images_per_pass or len(images) <= images_per_pass:
        return network.forward(images)
    return np.concatenate(map_passes(lambda part: network.forward(images[part]),
                                     pass_slices(len(images), images_per_pass)))


def predict_proba(network: Network, images: np.ndarray) -> np.ndarray:
    """``network.predict_proba(images)``, its passes spread over threads unless NN_CORE_FAST=0."""
    if not fast_enabled():
        return network.predict_proba(images)
    return softmax(forward_in_passes(pools_first(network), as_input_batch(images), images_per_pass(network.config)))
