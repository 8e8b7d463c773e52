"""Training and prediction speed of nn_core, printed (targets in the comments).

    python benchmarks/train_speed.py [--data-dir D] [--epochs 3]
    .venv-bench/bin/python benchmarks/train_speed.py --compare-torch

Figures (2-core machine targets): one epoch of 784-256-128-10 at batch 128 in
≤ 1.0 s; 98% test accuracy within ≤ 10 s of training; peak RSS of CLI training
≤ 300 MB; single-image predict (preprocess + forward) ≤ 5 ms; the small CNN
reaches 99% test accuracy in < 3 min. ``--compare-torch`` (PyTorch installed
only in the benchmark's own venv, never a product dependency) trains the same
MLP and CNN with the same batch size, optimizer, thread count and in-memory
uint8 data, interleaved in one process, best of three: targets MLP ≥ 1.5× and
CNN ≥ 0.7× PyTorch's samples/s, MLP at ≥ 70% of the machine's float32 GEMM peak.
Next to each it prints the speed of the step's matrix products alone, run as
nn_core runs them (a CNN batch in cache-sized passes spread over threads): what is
left between that ceiling and nn_core is Python, copies, elementwise work and the
two cores contending for memory.
Each round's figures are printed too, with the median ratio beside the best one,
and so are the instruction sets each library's kernels use: numpy's OpenBLAS may be
held to older kernels (OPENBLAS_CORETYPE) while PyTorch's oneDNN uses all the CPU has.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable

import numpy as np


from checkout import CHECKOUT, DEFAULT_NETWORK, MNIST_DIR
from nn_core.config import PRESETS, NetworkConfig, TrainConfig
from nn_core.storage.mnist import MnistData, load_mnist
from nn_core.model.network import Network
from nn_core.storage.network_file import load_network
from nn_core.speed.passes import FastPasses, pass_slices
from nn_core.speed.threads import map_passes
from nn_core.preprocess import preprocess
from nn_core.training.trainer import Trainer

MLP = NetworkConfig(layers=PRESETS["mlp"])
CNN = NetworkConfig(layers=PRESETS["cnn"])
BATCH = 128
# The recipes timed to a target accuracy: Adam with a cosine schedule.
FAST_MLP = TrainConfig(optimizer="adam", learning_rate=0.001, epochs=8, lr_schedule="cosine")
FAST_CNN = TrainConfig(optimizer="adam", learning_rate=0.002, epochs=4, lr_schedule="cosine")
# Multiply-adds per training sample (forward, weight gradients, input gradients but the first layer's).
MLP_FLOPS = 2 * (3 * (784 * 256 + 256 * 128 + 128 * 10) - 784 * 256)
CNN_FLOPS = 2 * (2 * 28 * 28 * 25 * 16 + 3 * 14 * 14 * 25 * 16 * 32 + 3 * 1568 * 10)


def mlp_pass_products(n: int) -> tuple[tuple[int, int, int], ...]:
    """The (rows, inner, columns) of every matrix product of one MLP training pass over n images."""
    return ((n, 784, 256), (n, 256, 128), (n, 128, 10),  # forward
            (784, n, 256), (256, n, 128), (128, n, 10),  # weight gradients
            (n, 10, 128), (n, 128, 256))  # input gradients


def cnn_pass_products(n: int) -> tuple[tuple[int, int, int], ...]:
    """The same for the CNN preset, in the shapes nn_core.model.conv gives its products."""
    return ((n * 784, 25, 16), (25, n * 784, 16),  # conv 1→16: forward, weights
            (n * 196, 400, 32), (400, n * 196, 32),  # conv 16→32: forward, weights
            # its input gradient: rows of 5 gradient pixels (32 channels each) of the padded 18×14 rows
            (n * 18 * 14, 5 * 32, 5 * 16),
            (n, 1568, 10), (1568, n, 10), (n, 10, 1568))  # dense


def epoch_seconds(data: MnistData, epochs: int) -> list[float]:
    trainer = Trainer(Network(MLP), data.train_images, data.train_labels, TrainConfig(epochs=epochs))
    times = []
    while not trainer.done:
        started = time.perf_counter()
        while not trainer.step(100).epoch_finished:
            pass
        times.append(time.perf_counter() - started)
    return times


def seconds_to_accuracy(data: MnistData, network: NetworkConfig, recipe: TrainConfig,
                        target: float, batches_between_checks: int) -> tuple[float | None, float]:
    """Training seconds (evaluation excluded) until test accuracy first reaches ``target``."""
    trainer = Trainer(Network(network), data.train_images, data.train_labels, recipe,
                      data.test_images, data.test_labels)
    while not trainer.done:
        trainer.step(batches_between_checks)
        if trainer.evaluate() >= target:
            return trainer.elapsed, trainer.history.eval_accuracy[-1]
    return None, max(trainer.history.eval_accuracy)


def cli_peak_rss_mb(data_dir: str | None) -> float:
    """Peak resident memory of a one-epoch `python -m nn_core train` run."""
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "nn_core", "train", "--epochs", "1",
                   "--out", os.path.join(folder, "bench.npz")]
        if data_dir:
            command += ["--data-dir", data_dir]
        subprocess.run(command, cwd=CHECKOUT, check=True, capture_output=True)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def predict_milliseconds(data: MnistData) -> tuple[str, float]:
    """Median time to preprocess a 280×280 RGBA canvas drawing and classify it."""
    network = load_network(DEFAULT_NETWORK)[0] if DEFAULT_NETWORK.exists() else Network(MLP)
    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[..., 3] = 255
    digit = np.kron(data.test_images[0].reshape(28, 28), np.ones((8, 8), np.uint8))
    canvas[30:254, 40:264, :3] = digit[..., None]
    times = []
    for _ in range(200):
        started = time.perf_counter()
        network.predict_proba(preprocess(canvas).vector)
        times.append(time.perf_counter() - started)
    return network.describe(), statistics.median(times) * 1000


def gemm_peak_gflops(size: int = 2048, repeats: int = 5) -> float:
    """float32 matmul of large square matrices: the machine's practical ceiling."""
    a = np.random.default_rng(0).random((size, size), dtype=np.float32)
    b = a.T.copy()
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


# -- side by side with PyTorch -----------------------------------------------------------
def nn_core_rate(data: MnistData, config: NetworkConfig, batches: int) -> float:
    trainer = Trainer(Network(config), data.train_images, data.train_labels,
                      TrainConfig(optimizer="momentum", learning_rate=0.01, batch_size=BATCH))
    trainer.step(2)  # warm-up: buffers allocated, BLAS threads started
    return trainer.step(batches).samples_per_second


def products_only_rate(products: Callable[[int], tuple[tuple[int, int, int], ...]], passes: list[slice],
                       steps: int) -> float:
    """Samples/s of a step that did nothing but its matrix products, on operands already in
    cache, run as nn_core runs them: one pass (BLAS's own threads), or several spread over
    the pass threads with BLAS on one thread each. ``products(n)`` gives a pass's products
    for n images. The ceiling for any engine that turns layers into BLAS calls this way."""
    rng = np.random.default_rng(0)
    # By thread, as each pass thread has its own scratch, and by pass size (a batch's last
    # pass may be shorter).
    operands: dict[tuple[int, int], list] = {}

    def run_pass(part: slice) -> None:
        key = (threading.get_ident(), part.stop - part.start)
        mine = operands.get(key)
        if mine is None:
            mine = operands[key] = [
                (rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32),
                 np.empty((m, n), np.float32)) for m, k, n in products(key[1])]
        for a, b, out in mine:
            np.matmul(a, b, out=out)

    def train_steps(count: int) -> None:
        for _ in range(count):
            map_passes(run_pass, passes)

    train_steps(2)
    return steps * BATCH / _timed(lambda: train_steps(steps))


def torch_model(torch, config: NetworkConfig):
    nn = torch.nn
    if config is MLP:
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128),
                             nn.ReLU(), nn.Linear(128, 10))
    return nn.Sequential(nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(1568, 10))


def torch_rate(torch, data: MnistData, config: NetworkConfig, batches: int) -> float:
    """The same network, optimizer, batch size and uint8 in-memory data, in PyTorch."""
    model = torch_model(torch, config)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images = torch.from_numpy(np.array(data.train_images))
    labels = torch.from_numpy(data.train_labels.astype(np.int64))
    loss_fn = torch.nn.CrossEntropyLoss()
    shape = (-1, 784) if config is MLP else (-1, 1, 28, 28)
    order = torch.randperm(len(images))

    def train_batches(count: int, offset: int) -> None:
        for b in range(offset, offset + count):
            index = order[b * BATCH:(b + 1) * BATCH]
            batch = images[index].float().mul_(1 / 255).reshape(shape)
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(batch), labels[index]).backward()
            optimizer.step()

    train_batches(2, 0)
    return batches * BATCH / _timed(lambda: train_batches(batches, 2))


def blas_kernels() -> str:
    """numpy's BLAS library and the kernels it runs, as threadpoolctl reports them."""
    from threadpoolctl import threadpool_info

    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    if not blas:
        return "unknown BLAS"
    pool = blas[0]
    return f"{pool['internal_api']} {pool['version']}, {pool.get('architecture') or 'default'} kernels"


def compare_with_torch(data: MnistData, threads: int) -> None:
    try:
        import torch
    except ImportError:
        print("--compare-torch: PyTorch is not installed here; create the benchmark venv:\n"
              "  python -m venv --system-site-packages .venv-bench && "
              ".venv-bench/bin/pip install torch==2.13.0")
        return
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    print(f"numpy: {blas_kernels()}; PyTorch {torch.__version__}: "
          f"{torch.backends.cpu.get_cpu_capability()} kernels")
    peak = gemm_peak_gflops()
    print(f"float32 GEMM peak (numpy, 2048², {threads} threads): {peak:.0f} GFLOP/s")
    # Most of an epoch per MLP figure (a step ends at an epoch's end): over 200 batches,
    # a fifth of a second, figures wandered by ±20% between rounds.
    for name, config, batches, flops, products in (
            ("MLP 784-256-128-10", MLP, 450, MLP_FLOPS, mlp_pass_products),
            ("CNN c16k5-p2-c32k5-p2-d10", CNN, 40, CNN_FLOPS, cnn_pass_products)):
        passes = pass_slices(BATCH, FastPasses(Network(config)).images_per_training_pass)
        ours, theirs, ceiling = [], [], []
        with threadpool_limits(threads):
            for round_number in range(1, 4):  # interleaved so drift in machine speed hits both alike
                ours.append(nn_core_rate(data, config, batches))
                theirs.append(torch_rate(torch, data, config, batches))
                ceiling.append(products_only_rate(products, passes, batches))
                print(f"  {name}, round {round_number}: nn_core {ours[-1]:,.0f}, PyTorch {theirs[-1]:,.0f}, "
                      f"products alone {ceiling[-1]:,.0f} samples/s")
        best_ours, best_theirs = max(ours), max(theirs)
        median_ratio = statistics.median(mine / other for mine, other in zip(ours, theirs))
        print(f"{name}, batch {BATCH}, {threads} threads: nn_core {best_ours:,.0f} samples/s, "
              f"PyTorch {torch.__version__} {best_theirs:,.0f} samples/s, ratio {best_ours / best_theirs:.2f}x "
              f"(median of rounds {median_ratio:.2f}x); "
              f"nn_core {best_ours * flops / 1e9:.0f} GFLOP/s = {best_ours * flops / 1e9 / peak:.0%} of peak")
        run_as = ("one pass" if len(passes) == 1 else
                  f"{len(passes)} passes of {passes[0].stop} images over {min(threads, len(passes))} threads, "
                  f"BLAS on one each")
        print(f"  its matrix products alone, in cache, run as nn_core runs them ({run_as}): "
              f"{max(ceiling):,.0f} samples/s = {max(ceiling) / best_theirs:.2f}x PyTorch "
              f"(the ceiling for an im2col + BLAS engine); nn_core reaches {best_ours / max(ceiling):.0%} of it")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="MNIST folder (default: $MNIST_DIR, data/mnist)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs to time")
    parser.add_argument("--compare-torch", action="store_true",
                        help="also train the same MLP and CNN in PyTorch, side by side")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="threads for both libraries in --compare-torch")
    args = parser.parse_args()
    data = load_mnist(args.data_dir, default_dir=MNIST_DIR)

    times = epoch_seconds(data, args.epochs)
    best, median = min(times), statistics.median(times)
    print(f"epoch time, MLP 784-256-128-10 batch {BATCH}: best {best:.3f} s, median {median:.3f} s "
          f"({len(data.train_images) / best:,.0f} samples/s)   target ≤ 1.0 s")
    seconds, accuracy = seconds_to_accuracy(data, MLP, FAST_MLP, 0.98, 469)
    reached = f"{seconds:.1f} s" if seconds is not None else f"not reached (best {accuracy:.2%})"
    print(f"time to 98% test accuracy, MLP (Adam, cosine): {reached}   target ≤ 10 s")
    print(f"peak RSS of CLI training (1 epoch): {cli_peak_rss_mb(args.data_dir):.0f} MB   target ≤ 300 MB")
    described, milliseconds = predict_milliseconds(data)
    print(f"single-image predict (preprocess + forward, {described}): {milliseconds:.2f} ms   "
          f"target ≤ 5 ms (MLP), ≤ 10 ms (CNN)")
    seconds, accuracy = seconds_to_accuracy(data, CNN, FAST_CNN, 0.99, 100)
    reached = f"{seconds:.1f} s" if seconds is not None else f"not reached (best {accuracy:.2%})"
    print(f"time to 99% test accuracy, CNN (Adam, cosine): {reached}   target < 180 s")
    if args.compare_torch:
        compare_with_torch(data, args.threads)


if __name__ == "__main__":
    main()
