"""Forward+backward speed of nn_core's convolutional layers, printed.

    python benchmarks/conv_speed.py [--batch 128] [--runs 7] [--steps 10] [--profile]

Times the small CNN conv16 k5 same → relu → pool2 → conv32 k5 same → relu →
pool2 → flatten → dense 10 (softmax cross-entropy) on a batch of 128 28×28
images, the figure the speed target is set on (≥ 0.7× PyTorch CPU, which does
about 8,500 samples/s on the 2-core machine side by side, where the issue quoted
5,000), then each layer on its own.
The machine is shared, so every figure is the median of several runs, and a
textbook im2col version runs alongside: its ratio to nn_core holds whatever
the load. With threadpoolctl, BLAS is also timed limited to one thread
(OpenBLAS's spinning threads are slow when other jobs take a core).
With --profile, the top of a cProfile of the whole network is printed too.
When PyTorch is importable the same network is timed with it.
Every nn_core figure here is on the caller's thread: the trainer also spreads a
batch's passes over one thread per core (nn_core.speed.threads), which
`train_speed.py --compare-torch` includes.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import cProfile
import os
import pstats
import statistics
import time
from typing import Callable, ContextManager

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


from nn_core.model.conv import Conv2D, Flatten
from nn_core.model.layers import Dense, Layer, ReLU, ToImage
from nn_core.config import PRESETS, NetworkConfig
from nn_core.model.losses import softmax_cross_entropy
from nn_core.model.network import Network
from nn_core.speed.passes import FastPasses, pass_slices, pools_first, train_passes
from nn_core.speed.pool_layout import with_pool_layout

# PyTorch 2.13 CPU on this machine, 2 threads, for the ratio when torch is absent: what
# `train_speed.py --compare-torch` measured (7,900-9,000 samples/s in six runs).
TORCH_SAMPLES_PER_SECOND_HERE = 8500
TARGET_RATIO = 0.7


class NaiveConv2D(Layer):
    """The textbook im2col baseline: np.pad and a fresh cols copy per call, col2im by k·k shifted adds."""

    def __init__(self, conv: Conv2D) -> None:
        super().__init__()
        self.kernel = conv.kernel
        self.params = conv.params  # the same weights as nn_core's layer
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        k, before = self.kernel, (self.kernel - 1) // 2
        padded = np.pad(x, ((0, 0), (before, k - 1 - before), (before, k - 1 - before), (0, 0)))
        windows = sliding_window_view(padded, (k, k), axis=(1, 2)).transpose(0, 1, 2, 4, 5, 3)
        self._cols = np.ascontiguousarray(windows).reshape(-1, k * k * x.shape[3])
        self._shape = x.shape
        weight = self.params["weight"].reshape(self._cols.shape[1], -1)
        return (self._cols @ weight + self.params["bias"]).reshape(*x.shape[:3], -1)

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        grad_rows = grad.reshape(-1, grad.shape[3])
        weight = self.params["weight"].reshape(self._cols.shape[1], -1)
        self.grads["weight"][...] = (self._cols.T @ grad_rows).reshape(self.grads["weight"].shape)
        self.grads["bias"][...] = grad_rows.sum(axis=0)
        if not need_input_grad:
            return None
        n, height, width, channels = self._shape
        k, before = self.kernel, (self.kernel - 1) // 2
        patches = (grad_rows @ weight.T).reshape(n, height, width, k, k, channels)
        padded = np.zeros((n, height + k - 1, width + k - 1, channels), grad.dtype)
        for i in range(k):
            for j in range(k):
                padded[:, i:i + height, j:j + width] += patches[:, :, :, i, j]
        return padded[:, before:before + height, before:before + width]


class NaiveMaxPool2D(Layer):
    """Baseline 2×2 pooling: reshape + max over the window axes, gradient through an equality mask."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        n, height, width, channels = x.shape
        windows = x.reshape(n, height // 2, 2, width // 2, 2, channels)
        out = windows.max(axis=(2, 4))
        self._mask = windows == out[:, :, None, :, None]
        return out

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        n, half_h, _, half_w, _, channels = self._mask.shape
        return (self._mask * grad[:, :, None, :, None]).reshape(n, half_h * 2, half_w * 2, channels)


def small_cnn() -> Network:
    """The CNN preset: conv16 k5 same, pool2, conv32 k5 same, pool2, dense 10."""
    return Network(NetworkConfig(layers=PRESETS["cnn"]))


def textbook_cnn(network: Network) -> Network:
    """``network`` (the CNN preset) with the textbook layers, in the textbook order (each
    ReLU before its pool), in place of its own; it shares their weights."""
    textbook = copy.copy(network)
    first_conv, second_conv = (layer for layer in network.layers if isinstance(layer, Conv2D))
    dense = network.layers[-1]
    assert isinstance(dense, Dense)
    textbook.layers = [ToImage(), NaiveConv2D(first_conv), ReLU(), NaiveMaxPool2D(),
                       NaiveConv2D(second_conv), ReLU(), NaiveMaxPool2D(), Flatten(), dense.replica()]
    return textbook


def train_step(network: Network, images: np.ndarray, labels: np.ndarray, parts: list[slice]) -> None:
    """One forward+backward over the batch as the trainer does it, in ``parts``."""
    train_passes(network, images, labels, softmax_cross_entropy, parts)


def timed_run(action: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Wall-clock and CPU seconds per call, averaged over ``repeats`` calls.

    CPU time (all threads of this process) is barely affected by other jobs on
    the machine, so it is the steadier figure for comparing versions when BLAS
    runs single-threaded; wall time is what a user sees.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        action()
    return (time.perf_counter() - wall) / repeats, (time.process_time() - cpu) / repeats


def median_seconds(action: Callable[[], object], runs: int, repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds per call over ``runs`` runs, after one warm-up call."""
    action()
    walls, cpus = zip(*(timed_run(action, repeats) for _ in range(runs)))
    return statistics.median(walls), statistics.median(cpus)


def blas_thread_settings() -> dict[str, Callable[[], ContextManager]]:
    """BLAS as configured and, when threadpoolctl is there, limited to one thread."""
    settings: dict[str, Callable[[], ContextManager]] = {"BLAS default threads": contextlib.nullcontext}
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return settings
    settings["BLAS 1 thread"] = lambda: threadpool_limits(limits=1, user_api="blas")
    return settings


Case = tuple[Network, Callable[[], ContextManager], list[slice]]  # network, BLAS setting, its passes


def seconds_per_step(cases: dict[str, Case], images: np.ndarray, labels: np.ndarray, runs: int,
                     steps: int) -> dict[str, tuple[float, float]]:
    """Median wall and CPU seconds per training step of each (network, BLAS setting) case.

    The cases take turns run by run, so load from other jobs on the shared
    machine falls on all of them alike.
    """
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for network, _, parts in cases.values():
        train_step(network, images, labels, parts)
    for _ in range(runs):
        for name, (network, limit, parts) in cases.items():
            with limit():
                samples[name].append(timed_run(lambda: train_step(network, images, labels, parts), steps))
    return {name: (statistics.median(wall for wall, _ in runs_),
                   statistics.median(cpu for _, cpu in runs_)) for name, runs_ in samples.items()}


def batch(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.random((size, 784), dtype=np.float32), rng.integers(0, 10, size)


def per_layer_milliseconds(network: Network, images: np.ndarray, runs: int,
                           repeats: int) -> list[tuple[str, float, float, float, float]]:
    """(description, forward wall/CPU ms, backward wall/CPU ms) of each layer after the
    input reshape, on its real activations."""
    rows = []
    x = network.layers[0].forward(images)
    for index, layer in enumerate(network.layers[1:]):
        # ReLU works in place while training: hand every forward a fresh copy.
        forward = median_seconds(lambda: layer.forward(x.copy(), training=True), runs, repeats)
        out = layer.forward(x.copy(), training=True)
        grad = np.random.default_rng(index).standard_normal(out.shape, dtype=np.float32)
        backward = median_seconds(lambda: layer.backward(grad.copy(), need_input_grad=index > 0),
                                  runs, repeats)
        rows.append((layer.describe(), *(seconds * 1e3 for seconds in forward + backward)))
        x = out
    return rows


def profile_table(network: Network, images: np.ndarray, labels: np.ndarray, parts: list[slice],
                  steps: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        train_step(network, images, labels, parts)
    profiler.disable()
    report = pstats.Stats(profiler)
    report.sort_stats("tottime")
    lines: list[str] = []
    report.stream = type("Sink", (), {"write": lambda self, text: lines.append(text)})()
    report.print_stats(15)
    return "".join(lines)


def torch_samples_per_second(batch_size: int, runs: int, steps: int) -> float | None:
    """The same network in PyTorch (NCHW), forward+backward only, if torch is installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 16, 5, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 5, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(7 * 7 * 32, 10))
    images = torch.rand(batch_size, 1, 28, 28)
    labels = torch.randint(0, 10, (batch_size,))
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        model.zero_grad(set_to_none=True)
        loss_fn(model(images), labels).backward()

    return batch_size / median_seconds(step, runs, steps)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128, help="images per step")
    parser.add_argument("--runs", type=int, default=7, help="timed runs; the median is reported")
    parser.add_argument("--steps", type=int, default=10, help="forward+backward steps per run")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of the network")
    args = parser.parse_args()
    images, labels = batch(np.random.default_rng(0), args.batch)

    settings = blas_thread_settings()
    # nn_core as its trainer runs a batch: in cache-sized passes, each activation after its pool
    # and each conv fused with its pool (the pool layout); the textbook version in one pass.
    plain = small_cnn()
    network = with_pool_layout(pools_first(plain))
    passes = pass_slices(args.batch, FastPasses(plain).images_per_training_pass)
    networks = {"nn_core": (network, passes),
                "naive im2col": (textbook_cnn(plain), pass_slices(args.batch, None))}
    cases = {(name, setting): (candidate, limit, parts)
             for name, (candidate, parts) in networks.items() for setting, limit in settings.items()}
    timings = seconds_per_step(cases, images, labels, args.runs, args.steps)
    print(f"small CNN forward+backward, batch {args.batch}, nn_core in {len(passes)} passes on one thread "
          f"(median of {args.runs} runs of {args.steps} steps)")
    rates = {case: args.batch / seconds for case, (seconds, _) in timings.items()}
    for (name, setting), (seconds, cpu_seconds) in timings.items():
        print(f"  {name:<13}{setting:<22}{rates[name, setting]:>7,.0f} samples/s  "
              f"{seconds * 1e3:6.1f} ms/step wall  {cpu_seconds * 1e3:6.1f} ms CPU")
    fastest = max(settings, key=lambda setting: rates["nn_core", setting])
    for setting in settings:
        print(f"  nn_core / naive, {setting}: "
              f"{rates['nn_core', setting] / rates['naive im2col', setting]:.2f}x")
    print(f"\nper layer, {fastest} (ms, wall / CPU)")
    print(f"{'layer':<50}{'forward':>16}{'backward':>16}")
    with settings[fastest]():
        for name, *times in per_layer_milliseconds(network, images, args.runs, max(1, args.steps // 4)):
            forward, backward = (f"{wall:.2f} / {cpu:.2f}" for wall, cpu in zip(times[::2], times[1::2]))
            print(f"{name:<50}{forward:>16}{backward:>16}")

    if args.profile:
        with settings[fastest]():
            print(profile_table(network, images, labels, passes, args.steps))

    torch_rate = torch_samples_per_second(args.batch, args.runs, args.steps)
    if torch_rate is None:
        reference, source = TORCH_SAMPLES_PER_SECOND_HERE, "PyTorch not installed; its figure measured here"
    else:
        reference, source = torch_rate, "PyTorch now"
    ratio = rates["nn_core", fastest] / reference
    print(f"{source}: {reference:,.0f} samples/s; nn_core ({fastest})/PyTorch = {ratio:.2f}x "
          f"(target ≥ {TARGET_RATIO}x)")


if __name__ == "__main__":
    main()
