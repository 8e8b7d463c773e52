"""What watching a network learn costs: the learning strip and the hidden-space map.

Prints, for the MLP and CNN presets:
- the time training ticks took and the time the watch (LiveWatch looking on its
  clock after each tick, as the worker process does) added, timed in the same
  loop, and the added share; target: at most 10%;
- the server CPU a Train-page refresh spends on the strip and the map: the strip's
  rows and HTML, and the map figure (rebuilt only for a new map) serialised as
  Streamlit sends it; target: at most 30 ms.

Run from the checkout: ``python benchmarks/learning_watch_cost.py [--data-dir DIR]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import plotly.io as pio
from threadpoolctl import threadpool_limits

from checkout import MNIST_DIR
from nn_core.config import PRESETS, NetworkConfig, TrainConfig
from nn_core.storage.mnist import load_mnist
from nn_core.model.network import Network

from dashboard.arrays import png_data_url
from dashboard.charts import hidden_map_chart
from dashboard.learning_watch import (MAP_DIGITS, LiveWatch, PredictionWatch, WatchSpec, hidden_map, strip_rows,
                                      watched_images)
from dashboard.training import TrainingRun

TICK_SECONDS = 0.5  # the worker's tick budget


def watch_share(config: NetworkConfig, data, ticks: int) -> tuple[float, float]:
    """Training seconds and watching seconds over ``ticks`` ticks, each followed by a look, as in
    a worker: the two are timed in the same loop, so a busy machine slows both alike."""
    network = Network(config)
    run = TrainingRun.create(network, data.train_images[:20_000], data.train_labels[:20_000],
                             TrainConfig(epochs=100), data.test_images[:1000], data.test_labels[:1000], "new", "b")
    images, names, labels = watched_images(data.test_images, data.test_labels, None, [])
    live = LiveWatch(WatchSpec(PredictionWatch(images, names, labels), data.test_images[:MAP_DIGITS],
                               data.test_labels[:MAP_DIGITS], data.test_images[0].reshape(28, 28) / 255))
    training = watching = 0.0
    for _ in range(ticks):
        started = time.perf_counter()
        run.tick(TICK_SECONDS)
        looked = time.perf_counter()
        live.look(run.network, run.trainer.step_count)
        training, watching = training + looked - started, watching + time.perf_counter() - looked
    return training, watching


def refresh_cpu_ms(config: NetworkConfig, data, repeats: int) -> tuple[float, float]:
    """Server CPU (ms) of one refresh's strip and map: (median with the cached map figure,
    median when a new map arrived and the figure is rebuilt)."""
    network = Network(config)
    images, names, labels = watched_images(data.test_images, data.test_labels, None, [])
    watch = PredictionWatch(images, names, labels)
    for batch in range(0, 60, 10):
        watch.record(network, batch)
    urls = [png_data_url(image) for image in images]  # made once per run
    mapped = hidden_map(network, data.test_images[:MAP_DIGITS], data.test_images[0].reshape(28, 28) / 255)
    figure = hidden_map_chart(mapped.points, data.test_labels[:MAP_DIGITS], mapped.star)
    cached, rebuilt = [], []
    for _ in range(repeats):
        started = time.process_time()
        rows = strip_rows(watch, urls)
        "".join(map(str, rows.values()))  # the strip's HTML is a join of these
        pio.to_json(figure, validate=False)
        cached.append(time.process_time() - started)
        started = time.process_time()
        pio.to_json(hidden_map_chart(mapped.points, data.test_labels[:MAP_DIGITS], mapped.star), validate=False)
        rebuilt.append(time.process_time() - started)
    return 1000 * statistics.median(cached), 1000 * statistics.median(rebuilt)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("MNIST_DIR") or MNIST_DIR)
    parser.add_argument("--ticks", type=int, default=120, help="training ticks (of half a second) per network")
    args = parser.parse_args()
    data = load_mnist(args.data_dir, download=False)
    threadpool_limits(limits=1, user_api="blas")  # as in a training worker
    print(f"{'network':<8} {'training s':>10} {'watching s':>10} {'added':>7}   "
          f"refresh CPU for the strip and map (cached map / new map)")
    for name in ("mlp", "cnn"):
        config = NetworkConfig(layers=PRESETS[name])
        training, watching = watch_share(config, data, args.ticks)
        cached_ms, rebuilt_ms = refresh_cpu_ms(config, data, repeats=20)
        print(f"{name:<8} {training:>10.1f} {watching:>10.2f} {watching / training:>7.1%}   "
              f"{cached_ms:.1f} ms / {rebuilt_ms:.1f} ms")
    print("targets: the watch adds at most 10% to training time; a refresh spends at most 30 ms on it")


if __name__ == "__main__":
    main()
