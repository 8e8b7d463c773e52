"""Training speed on the dashboard's Train page versus a plain Trainer loop (the CLI's).

1. Plain loop: ``Trainer.step(50)`` over and over, as ``Trainer.run`` (the CLI)
   does, twice: with the BLAS library's default threads (as the CLI runs) and
   with one BLAS thread (as the dashboard server runs, see
   ``dashboard.server_threads.configure_threads``; a CNN's passes still spread over
   every core there).
2. Dashboard: the real app in headless Chromium, Train page, Start; samples/s is
   read from the page's "Samples seen" metric over wall-clock time, so it
   includes everything the page does between batches (charts, evaluation,
   reruns, the browser drawing on the same CPU).
3. Both plain loops again; each pair is averaged so a change in the machine's
   load during the measurement hits all sides alike.

Same network (784-256-128-10 relu, or with ``--network cnn`` the Train page's
CNN preset) and settings (momentum, lr 0.05, batch 128) on the same 55,000 MNIST
training images. Prints both figures and the ratio (target: the dashboard
reaches at least 70 % of the plain loop).

    MNIST_DIR=/path/to/mnist python -m benchmarks.dashboard_train_speed [--seconds 15] [--network cnn]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


from dashboard.server_threads import PASS_THREADS
from nn_core.config import PRESETS, NetworkConfig, TrainConfig
from nn_core.storage.mnist import load_mnist
from nn_core.model.network import Network
from nn_core.storage.network_file import Metadata, save_network
from nn_core.speed.threads import set_pass_threads
from nn_core.training.trainer import Trainer
from threadpoolctl import threadpool_limits
from browser_driver import harness

TARGET_RATIO = 0.7
WARM_UP_SECONDS = 3.0
# The Train page's defaults (but more epochs), so both sides do the same work per sample:
# its MLP, and its CNN preset when its architecture is switched to CNN.
NETWORKS = {"mlp": NetworkConfig(layers=(784, 256, 128, 10), activation="relu"),
            "cnn": NetworkConfig(layers=PRESETS["cnn"], activation="relu")}
TRAINING = TrainConfig(optimizer="momentum", learning_rate=0.05, batch_size=128, epochs=100)


def plain_loop_rate(network: str, seconds: float, blas_threads: int | None,
                    pass_threads: int | None = None) -> float:
    """Samples/s of the CLI's loop: step(50) repeatedly, evaluating at each epoch's end."""
    train_x, train_y, val_x, val_y = load_mnist(default_dir=harness.REPO_ROOT / "data" / "mnist").validation_split()
    trainer = Trainer(Network(NETWORKS[network]), train_x, train_y, TRAINING, val_x, val_y)
    set_pass_threads(pass_threads)
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        trainer.step(5)  # warm-up
        samples, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            result = trainer.step(50)
            samples += result.samples
            if result.epoch_finished:
                trainer.evaluate()
        return samples / (time.perf_counter() - started)


def plain_loop_rates(network: str, seconds: float) -> dict[str, float]:
    rates = {"default BLAS threads (the CLI)": plain_loop_rate(network, seconds, None),
             "one BLAS thread (as the dashboard)": plain_loop_rate(network, seconds, 1, PASS_THREADS)}
    for name, rate in rates.items():
        print(f"plain Trainer loop, {name:34s} {rate:8,.0f} samples/s", flush=True)
    return rates


def dashboard_rate(network: str, seconds: float) -> float:
    """Samples/s the Train page's fragment achieves in a real browser session."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as scratch:
        default = harness.trained_network_file()
        if default is None:  # the Train page does not need a trained one
            default = save_network(Path(scratch) / "untrained.npz", Network(NETWORKS["mlp"]),
                                   Metadata.new("untrained"))
        library = harness.scratch_library(Path(scratch) / "networks", default)
        with harness.running_app(library) as url, sync_playwright() as playwright:
            browser = harness.launch_chromium(playwright)
            page = harness.open_page(harness.new_context(browser), url, "train")
            if network == "cnn":
                page.locator(".st-key-train_kind").get_by_text("CNN", exact=True).click()
                page.get_by_text(f"{NETWORKS['cnn'].describe()}").first.wait_for(timeout=15_000)
            page.get_by_label("Epochs").fill(str(TRAINING.epochs))  # so training outlasts the measurement
            page.get_by_label("Epochs").press("Enter")
            harness.wait_until_idle(page)
            page.get_by_role("button", name="Start").click()
            page.locator('[data-testid="stMetric"]', has_text="Samples seen").wait_for(timeout=30_000)
            time.sleep(WARM_UP_SECONDS)
            first, first_at = harness.metric_number(page, "Samples seen"), time.perf_counter()
            time.sleep(seconds)
            last, last_at = harness.metric_number(page, "Samples seen"), time.perf_counter()
            page.get_by_role("button", name="Pause").click()
            browser.close()
    return (last - first) / (last_at - first_at)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="measuring time per part (default 15)")
    parser.add_argument("--network", choices=sorted(NETWORKS), default="mlp",
                        help="the Train page's default MLP, or its CNN preset")
    args = parser.parse_args()
    missing = harness.missing_requirement()
    if missing:
        sys.exit(f"cannot run the browser part: {missing}")
    print(f"network: {NETWORKS[args.network].describe()}")
    before = plain_loop_rates(args.network, args.seconds)
    dashboard = dashboard_rate(args.network, args.seconds)
    print(f"dashboard Train page (in Chromium){'':21s} {dashboard:8,.0f} samples/s", flush=True)
    after = plain_loop_rates(args.network, args.seconds)
    for name in before:
        ratio = dashboard / ((before[name] + after[name]) / 2)
        verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
        print(f"dashboard / plain loop with {name}: {ratio:.0%} (target ≥ {TARGET_RATIO:.0%}: {verdict})")


if __name__ == "__main__":
    main()
