"""Training and prediction speed of nn_core, printed (targets in the comments).

    python benchmarks/train_speed.py [--data-dir D] [--epochs 3]

Figures (2-core machine targets): one epoch of 784-256-128-10 at batch 128 in
≤ 1.0 s; 98% test accuracy within ≤ 10 s of training; peak RSS of CLI training
≤ 300 MB; single-image predict (preprocess + forward) ≤ 5 ms. When PyTorch is
installed, the same MLP is trained with the same batch size, optimizer and
thread count, and the ratio is printed.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from nn_core.config import NetworkConfig, TrainConfig  # noqa: E402
from nn_core.mnist import MnistData, load_mnist  # noqa: E402
from nn_core.network import Network  # noqa: E402
from nn_core.network_file import DEFAULT_NETWORK, load_network  # noqa: E402
from nn_core.preprocess import preprocess  # noqa: E402
from nn_core.trainer import Trainer  # noqa: E402

MLP = NetworkConfig(layers=(784, 256, 128, 10))
# The recipe timed to 98%: Adam with a cosine schedule over 8 epochs.
FAST_RECIPE = TrainConfig(optimizer="adam", learning_rate=0.001, epochs=8, lr_schedule="cosine")


def epoch_seconds(data: MnistData, epochs: int) -> list[float]:
    trainer = Trainer(Network(MLP), data.train_images, data.train_labels, TrainConfig(epochs=epochs))
    times = []
    while not trainer.done:
        started = time.perf_counter()
        while not trainer.step(100).epoch_finished:
            pass
        times.append(time.perf_counter() - started)
    return times


def seconds_to_accuracy(data: MnistData, target: float) -> tuple[float | None, float]:
    """Training seconds (evaluation excluded) until test accuracy first reaches ``target``."""
    trainer = Trainer(Network(MLP), data.train_images, data.train_labels, FAST_RECIPE,
                      data.test_images, data.test_labels)
    while not trainer.done:
        if trainer.step(100).epoch_finished and trainer.evaluate() >= target:
            return trainer.elapsed, trainer.history.eval_accuracy[-1]
    return None, trainer.history.eval_accuracy[-1]


def cli_peak_rss_mb(data_dir: str | None) -> float:
    """Peak resident memory of a one-epoch `python -m nn_core train` run."""
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "nn_core", "train", "--epochs", "1",
                   "--out", os.path.join(folder, "bench.npz")]
        if data_dir:
            command += ["--data-dir", data_dir]
        subprocess.run(command, cwd=REPO_ROOT, check=True, capture_output=True)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def predict_milliseconds(data: MnistData) -> float:
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
    return statistics.median(times) * 1000


def torch_samples_per_second(data: MnistData, threads: int, epochs: int = 2) -> float | None:
    """The same MLP in PyTorch (SGD momentum, batch 128, uint8 data in memory), if installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128),
                                torch.nn.ReLU(), torch.nn.Linear(128, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    images = torch.from_numpy(np.array(data.train_images))
    labels = torch.from_numpy(data.train_labels.astype(np.int64))
    loss_fn = torch.nn.CrossEntropyLoss()
    best = 0.0
    for _ in range(epochs):
        order = torch.randperm(len(images))
        started = time.perf_counter()
        for start in range(0, len(images), 128):
            index = order[start:start + 128]
            batch = images[index].float().mul_(1 / 255)
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(batch), labels[index]).backward()
            optimizer.step()
        best = max(best, len(images) / (time.perf_counter() - started))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="MNIST folder (default: $MNIST_DIR, data/mnist)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs to time")
    args = parser.parse_args()
    data = load_mnist(args.data_dir)
    threads = os.cpu_count() or 1

    times = epoch_seconds(data, args.epochs)
    best, median = min(times), statistics.median(times)
    print(f"epoch time, {MLP.layers} batch 128: best {best:.3f} s, median {median:.3f} s "
          f"({len(data.train_images) / best:,.0f} samples/s)   target ≤ 1.0 s")
    seconds, accuracy = seconds_to_accuracy(data, 0.98)
    reached = f"{seconds:.1f} s" if seconds is not None else f"not reached (best {accuracy:.2%})"
    print(f"time to 98% test accuracy (Adam, cosine): {reached}   target ≤ 10 s")
    print(f"peak RSS of CLI training (1 epoch): {cli_peak_rss_mb(args.data_dir):.0f} MB   target ≤ 300 MB")
    print(f"single-image predict (preprocess + forward): {predict_milliseconds(data):.2f} ms   "
          f"target ≤ 5 ms")
    torch_rate = torch_samples_per_second(data, threads)
    if torch_rate is None:
        print("PyTorch not installed: no side-by-side figure")
    else:
        ours = len(data.train_images) / best
        print(f"PyTorch same MLP, {threads} threads: {torch_rate:,.0f} samples/s; "
              f"nn_core/PyTorch = {ours / torch_rate:.2f}x")


if __name__ == "__main__":
    main()
