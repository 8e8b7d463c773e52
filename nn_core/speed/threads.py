"""A network's passes spread over threads, by default one per BLAS thread.

A conv network takes a batch in several cache-sized passes (``passes.pass_slices``).
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
from functools import cache
from typing import Callable, TypeVar

from ..model.blas import blas_threads, single_threaded_blas

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


def run_groups(run_group: Callable[[int, list[slice]], Result], groups: list[list[slice]]) -> list[Result]:
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
        results = run_groups(lambda _, group: [run_pass(part) for part in group], split_passes(parts, workers))
    return [result for group_results in results for result in group_results]
