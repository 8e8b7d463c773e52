"""Draw page latency: from mouse-up on the canvas to the new prediction on screen.

Starts the dashboard and headless Chromium (see tests/browser/harness.py),
then for each stroke: clear the canvas, draw, and time in the browser's own
clock from the mouse-up event to the first frame showing the "Prediction"
metric. Prints every latency and the median; the target is ≤ 500 ms.

    MNIST_DIR=/path/to/mnist python -m benchmarks.draw_latency [--strokes 9]

Part of the latency is the canvas component itself: it waits 200 ms after
mouse-up before sending the drawing (a debounce in streamlit-drawable-canvas).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path


from tests.browser import harness

TARGET_MS = 500
STROKES = [harness.vertical_stroke, harness.ellipse, harness.diagonal_stroke]

def clear_canvas(page) -> None:
    clear = page.get_by_role("button", name="Clear")
    if clear.is_enabled():
        clear.click()
    page.locator('[data-testid="stAlert"]:has-text("Draw a digit")').wait_for(timeout=15_000)
    harness.wait_until_idle(page)


def stroke_latency_ms(page, stroke) -> float:
    clear_canvas(page)
    page.evaluate(harness.STROKE_TIMER_SCRIPT)
    harness.draw(page, stroke())
    shown_at = page.evaluate("() => window.__predictionShown")
    return shown_at - page.evaluate("() => window.__mouseUpAt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strokes", type=int, default=9, help="strokes to time (default 9)")
    args = parser.parse_args()
    missing = harness.missing_requirement()
    network = harness.trained_network_file()
    if missing or network is None:
        sys.exit(f"cannot run: {missing or 'no trained network (saved_networks/default.npz)'}")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as scratch, \
            harness.running_app(harness.scratch_library(Path(scratch), network)) as url, \
            sync_playwright() as playwright:
        browser = harness.launch_chromium(playwright)
        page = harness.open_page(harness.new_context(browser), url)
        stroke_latency_ms(page, harness.vertical_stroke)  # warm-up: first run loads Plotly
        latencies = []
        for index in range(args.strokes):
            stroke = STROKES[index % len(STROKES)]
            latencies.append(stroke_latency_ms(page, stroke))
            print(f"stroke {index + 1:2d} ({stroke.__name__:16s}): {latencies[-1]:6.0f} ms", flush=True)
        browser.close()
    median = statistics.median(latencies)
    verdict = "met" if median <= TARGET_MS else "NOT met"
    print(f"median mouse-up → prediction: {median:.0f} ms (min {min(latencies):.0f}, "
          f"max {max(latencies):.0f}); target ≤ {TARGET_MS} ms {verdict}")


if __name__ == "__main__":
    main()
