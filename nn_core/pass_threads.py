"""A network's passes spread over threads, by default one per BLAS thread.

A conv network takes a batch in several cache-sized passes (network.pass_slices).
numpy runs a pass's elementwise work (im2col copies, pooling, activations) on one
core, so with BLAS on two cores a third of a step leaves one core idle. Giving
each thread a share of the passes, and BLAS one thread each, keeps every core
busy all step: 20-40% more samples/s on the CNN preset on two cores. MLPs (one
pass) and batch-norm networks (which need the whole batch at once) gain nothing
and keep one thread. Inference over many images (evaluation, a test set's
predictions) spreads its passes the same way.

In training, every thread but the caller's works on a replica of the network:
the same parameters, its own gradients, which are added into the network's
afterwards. Inference passes return their own outputs and keep nothing a
prediction needs, so threads share the network itself.
The threads wait for each other without spinning (BLAS's own threads spin), so
a process that keeps BLAS on one thread, as the dashboard does beside the
browser, may still ask for several (``set_pass_threads``).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Callable, Iterator, TypeVar

from .blas import axpy, blas_threads, single_threaded_blas

if TYPE_CHECKING:
    from .network import Network

PassesResult = tuple[float, int]
RunPasses = Callable[["Network", list[slice], float], PassesResult]
"""Runs forward and backward over some of a batch's passes on a network, adding
their gradients up from the given first-pass ``grad_decay``; returns the passes'
summed share of the batch's mean loss, and how many they classified correctly."""


_configured_threads: int | None = None
Result = TypeVar("Result")


def set_pass_threads(threads: int | None) -> None:
    """How many threads a network's passes spread over in this process, in training and
    inference; None (the default): one per BLAS thread, so ``--threads`` applies."""
    global _configured_threads
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"pass threads must be a positive integer or None; got {threads!r}")
    _configured_threads = threads


def pass_threads() -> int:
    """The threads passes spread over now (see ``set_pass_threads``)."""
    return _configured_threads or blas_threads()


@cache
def _thread_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max(1, (os.cpu_count() or 1) - 1), thread_name_prefix="nn_core-pass")


def split_passes(parts: list[slice], workers: int) -> list[list[slice]]:
    """``parts`` in ``workers`` consecutive groups whose sizes differ by at most one."""
    size, extra = divmod(len(parts), workers)
    groups, start = [], 0
    for index in range(workers):
        end = start + size + (index < extra)
        groups.append(parts[start:end])
        start = end
    return groups


def _run_groups(run_group: Callable[[int, list[slice]], Result], groups: list[list[slice]]) -> list[Result]:
    """``run_group(index, group)`` for every group: the first on the caller's thread, the
    others on the pool's. Returns their results in order once every one has finished,
    even when one fails (its error is raised then)."""
    futures = [_thread_pool().submit(run_group, index, group) for index, group in enumerate(groups) if index]
    try:
        first = run_group(0, groups[0])
    finally:
        wait(futures)  # even on an error here: no thread may still be running after
    return [first] + [future.result() for future in futures]


def map_passes(run_pass: Callable[[slice], Result], parts: list[slice]) -> list[Result]:
    """``run_pass`` on every part, in order, the parts spread over the pass threads with
    BLAS on one thread meanwhile. For inference: ``run_pass`` must keep no state."""
    workers = min(pass_threads(), len(parts))
    if workers == 1:
        return [run_pass(part) for part in parts]
    with single_threaded_blas():
        results = _run_groups(lambda _, group: [run_pass(part) for part in group], split_passes(parts, workers))
    return [result for group_results in results for result in group_results]


class PassThreads:
    """Runs a network's training passes on the pass threads (at most one per pass) inside
    ``spread``; elsewhere, on the caller's thread alone."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self._replicas: list[Network] = []
        self._threads = 1

    @contextmanager
    def spread(self) -> Iterator[None]:
        """A block of training steps whose passes use the pass threads, with BLAS itself on
        one thread meanwhile; their number is read on entry. Switching BLAS's pool costs
        more than a step's threads gain, so it is switched once per block, not per batch."""
        threads = pass_threads() if self.network.images_per_training_pass is not None else 1
        if threads == 1:
            yield
            return
        with single_threaded_blas():
            self._threads = threads
            try:
                yield
            finally:
                self._threads = 1

    def run(self, run_passes: RunPasses, parts: list[slice], first_decay: float) -> PassesResult:
        """Every pass in ``parts``, the first group on this thread, with ``first_decay`` (see
        nn_core.layers' grad_decay) for the network's own first pass; replicas start afresh."""
        workers = min(self._threads, len(parts))
        if workers == 1:
            return run_passes(self.network, parts, first_decay)
        while len(self._replicas) < workers - 1:
            self._replicas.append(self.network.replica())
        networks = [self.network, *self._replicas[:workers - 1]]
        results = _run_groups(lambda index, group: run_passes(networks[index], group,
                                                              first_decay if index == 0 else 0.0),
                              split_passes(parts, workers))
        for replica in networks[1:]:
            for layer, twin in zip(self.network.layers, replica.layers):
                for key, grad in layer.grads.items():
                    axpy(1.0, twin.grads[key], grad)
        return sum(loss for loss, _ in results), sum(correct for _, correct in results)
