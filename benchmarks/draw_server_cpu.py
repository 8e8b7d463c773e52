"""Draw page: server CPU per stroke beside a minimal one-page app, and mouse-up → prediction latency.

Starts the dashboard and benchmarks/minimal_draw_app.py (the same canvas,
preprocessing, forward pass, metric, image and Plotly bar chart in one plain
script, run with Streamlit's defaults), opens each in headless Chromium and
alternates strokes between them. For every stroke: clear, read the server's
CPU time from /proc/PID/stat, draw, wait for the prediction and for the
server to go idle, read it again. The latency is timed in the browser's own
clock, from the mouse-up event to the "Prediction" metric entering the page
(browser_driver.harness.STROKE_TIMER_SCRIPT). Prints both apps' CPU per stroke, their ratio and latency p50/p95.

    MNIST_DIR=/path/to/mnist nice -n 5 python -m benchmarks.draw_server_cpu [--strokes 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from browser_driver import harness

MINIMAL_APP = Path(__file__).resolve().parent / "minimal_draw_app.py"
MINIMAL_CANVAS = "[class*=\"st-key-canvas_\"] canvas"  # its key changes on Clear
RATIO_GOAL, RATIO_LIMIT = 0.3, 0.5
STROKES = [harness.vertical_stroke, harness.ellipse, harness.diagonal_stroke]
WARM_UP_STROKES = 2  # the first strokes load Plotly and fill caches

NO_PREDICTION = "() => !document.querySelector('[data-testid=\"stMetricValue\"]')"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process (all its threads) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    user_ticks, system_ticks = int(fields[11]), int(fields[12])  # utime, stime
    return (user_ticks + system_ticks) / os.sysconf("SC_CLK_TCK")


@dataclass
class AppUnderTest:
    name: str
    page: object
    pid: int
    canvas: str
    cpu_per_stroke: list[float] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)

    def clear(self) -> None:
        clear = self.page.get_by_role("button", name="Clear")
        if clear.is_enabled():
            clear.click()
        self.page.wait_for_function(NO_PREDICTION, timeout=15_000)
        harness.wait_until_idle(self.page)

    def stroke(self, points: list[tuple[float, float]]) -> tuple[float, float]:
        """(server CPU seconds, mouse-up → prediction ms) of one stroke on a cleared canvas."""
        self.page.bring_to_front()  # a tab in the background gets no animation frames
        self.clear()
        before = cpu_seconds(self.pid)
        self.page.evaluate(harness.STROKE_TIMER_SCRIPT)
        harness.draw(self.page, points, self.canvas)
        shown_at = self.page.evaluate("() => window.__predictionShown")
        latency = shown_at - self.page.evaluate("() => window.__mouseUpAt")
        harness.wait_until_idle(self.page)
        return cpu_seconds(self.pid) - before, latency

    def measure(self, points: list[tuple[float, float]]) -> None:
        cpu, latency = self.stroke(points)
        self.cpu_per_stroke.append(cpu)
        self.latencies_ms.append(latency)

    def summary(self) -> str:
        cpu_ms = 1000 * statistics.fmean(self.cpu_per_stroke)
        quantiles = statistics.quantiles(self.latencies_ms, n=20, method="inclusive")
        return (f"{self.name:22s} server CPU {cpu_ms:6.1f} ms per stroke; mouse-up → prediction "
                f"p50 {statistics.median(self.latencies_ms):4.0f} ms, p95 {quantiles[18]:4.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strokes", type=int, default=15, help="strokes measured in each app (default 15)")
    args = parser.parse_args()
    missing = harness.missing_requirement()
    network = harness.trained_network_file()
    if missing or network is None:
        sys.exit(f"cannot run: {missing or 'no trained network (saved_networks/default.npz)'}")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as scratch:
        library = harness.scratch_library(Path(scratch) / "networks", network)
        # From an empty folder, so no project config applies to the yardstick: Streamlit's defaults.
        minimal_env = harness.checkout_env(DIGITS_DEFAULT_NETWORK=str(library / "default.npz"))
        with harness.running_dashboard(library) as dashboard, \
                harness.running_server(MINIMAL_APP, Path(scratch), minimal_env) as minimal, \
                sync_playwright() as playwright:
            browser = harness.launch_chromium(playwright)
            context = harness.new_context(browser)
            apps = [AppUnderTest("dashboard Draw page", harness.open_page(context, dashboard.url), dashboard.pid,
                                 harness.CANVAS),
                    AppUnderTest("minimal one-page app", harness.open_page(context, minimal.url), minimal.pid,
                                 MINIMAL_CANVAS)]
            for app in apps:
                for index in range(WARM_UP_STROKES):
                    app.stroke(STROKES[index % len(STROKES)]())
            for index in range(args.strokes):  # alternating, so both see the same load on the machine
                for app in apps:
                    app.measure(STROKES[index % len(STROKES)]())
            browser.close()
    for app in apps:
        print(app.summary())
    ratio = statistics.fmean(apps[0].cpu_per_stroke) / statistics.fmean(apps[1].cpu_per_stroke)
    verdict = "goal met" if ratio <= RATIO_GOAL else "limit met" if ratio <= RATIO_LIMIT else "NOT met"
    print(f"CPU ratio dashboard / minimal: {ratio:.2f} over {args.strokes} strokes each "
          f"(goal ≤ {RATIO_GOAL}, limit ≤ {RATIO_LIMIT}: {verdict})")


if __name__ == "__main__":
    main()
