"""Driving the real dashboard in headless Chromium: shared by the browser tests and benchmarks.

Starts ``streamlit run dashboard/app.py`` on a free port (networks folder
pointed at a scratch copy, so nothing in the repository changes), launches
Debian's Chromium through Playwright, waits the way Streamlit needs, draws on
the canvas. See /work/shared/BROWSER_TESTING.md for why each step is so.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 1600}
CANVAS = ".st-key-draw_canvas canvas"
METRIC_VALUE = '[data-testid="stMetricValue"]'
IDLE_APP = '[data-testid="stApp"][data-test-script-state="notRunning"]'
EXCEPTION = '[data-testid="stException"]'  # how Streamlit shows an uncaught Python exception
SCREENSHOTS = REPO_ROOT / "tests" / "screenshots"
# Run before drawing a stroke to time it in the page's own clock: window.__mouseUpAt (the
# mouse-up, in the capture phase, before the canvas sees it) and the promise
# window.__predictionShown (when a prediction enters the page). Watched by a MutationObserver,
# not by polling on animation frames: Chromium draws frames for one page of a browser at a
# time, and runs the others' frame callbacks about once a second, which would time every page
# but one at a second, whatever the app did. It gives up (rejects) 30 s after it was set.
STROKE_TIMER_SCRIPT = """() => {
    window.__mouseUpAt = null;
    document.addEventListener('mouseup', () => { window.__mouseUpAt = performance.now(); },
                              {capture: true, once: true});
    const shown = () => document.querySelector('[data-testid="stMetricValue"]');
    window.__predictionShown = new Promise((resolve, reject) => {
        if (shown()) return resolve(performance.now());
        const observer = new MutationObserver(() => {
            if (shown()) { observer.disconnect(); resolve(performance.now()); }
        });
        observer.observe(document.body, {childList: true, subtree: true});
        setTimeout(() => { observer.disconnect(); reject(new Error('no prediction 30 s after the stroke')); },
                   30000);
    });
}"""


def missing_requirement() -> str | None:
    """Why the browser cannot run here, or None when it can."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is missing (pip install playwright)"
    return None


def trained_network_file() -> Path | None:
    """A trained network for drawing tests: $DIGITS_DEFAULT_NETWORK, else the bundled default."""
    candidate = Path(os.environ.get("DIGITS_DEFAULT_NETWORK") or REPO_ROOT / "saved_networks" / "default.npz")
    return candidate if candidate.is_file() else None


def scratch_library(directory: Path, default_network: Path) -> Path:
    """A networks folder for the app with a copy of ``default_network`` as default.npz."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(default_network, directory / "default.npz")
    return directory


def checkout_env(**variables: str) -> dict[str, str]:
    """The environment for a process that must run this checkout's code: its root first on
    PYTHONPATH, so another checkout installed in editable mode (or a plain install) never
    stands in for it."""
    paths = [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), **variables}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def is_serving(url: str) -> bool:
    """Whether a Streamlit server answers its health check at ``url``."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@dataclass(frozen=True)
class Server:
    """A Streamlit server this harness started: where it answers and its process id."""
    url: str
    pid: int


@contextmanager
def running_server(script: Path | str, cwd: Path, env: dict[str, str],
                   startup_timeout: float = 60) -> Iterator[Server]:
    """``streamlit run script`` from ``cwd`` on a free port; stopped when the block ends."""
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
               "--server.port", str(port)]
    server = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout
        while not is_serving(url):
            if server.poll() is not None:
                raise RuntimeError(f"streamlit exited early: {server.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"streamlit did not answer on {url} within {startup_timeout} s")
            time.sleep(0.2)
        yield Server(url, server.pid)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@contextmanager
def running_dashboard(library: Path) -> Iterator[Server]:
    """The dashboard served from the repo root, its networks folder pointed at ``library``."""
    env = checkout_env(DIGITS_NETWORKS_DIR=str(library), DIGITS_DEFAULT_NETWORK=str(library / "default.npz"))
    with running_server("dashboard/app.py", REPO_ROOT, env) as server:
        yield server


@contextmanager
def running_app(library: Path) -> Iterator[str]:
    """The dashboard's URL (see ``running_dashboard``)."""
    with running_dashboard(library) as server:
        yield server.url


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)


def wait_until_idle(page, settle: float = 0.35, timeout_ms: int = 30_000) -> None:
    """Wait until no script runs and none starts for ``settle`` s (the canvas triggers a second run)."""
    page.wait_for_selector(IDLE_APP, timeout=timeout_ms)
    time.sleep(settle)
    page.wait_for_selector(IDLE_APP, timeout=timeout_ms)


def new_context(browser):
    """A browser context: pages opened in it share the HTTP cache (faster loads) but each
    page still has its own websocket, hence its own Streamlit session."""
    return browser.new_context(viewport=VIEWPORT)


def open_page(context, url: str, path: str = ""):
    """A new page, and so a new Streamlit session, on ``url/path``, ready to use."""
    page = context.new_page()
    page.goto(f"{url}/{path}")
    wait_until_idle(page)
    return page


def go_to(page, link: str, heading: str) -> None:
    """Switch page through the sidebar (staying in the same session) and wait for its heading."""
    page.get_by_role("link", name=link).click()
    page.get_by_role("heading", name=heading, exact=True).wait_for(timeout=30_000)
    wait_until_idle(page)


def draw(page, points: list[tuple[float, float]], canvas: str = CANVAS) -> None:
    """One stroke through ``points`` given as fractions (0-1) of the ``canvas`` (a CSS selector)."""
    box = page.locator(canvas).bounding_box()
    absolute = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*absolute[0])
    page.mouse.down()
    for x, y in absolute[1:]:
        page.mouse.move(x, y, steps=3)
    page.mouse.up()


def diagonal_stroke() -> list[tuple[float, float]]:
    """A "/" stroke, slanted like a hand-written 1 or the leg of a 7."""
    return [(0.62 - 0.25 * step / 20, 0.18 + 0.64 * step / 20) for step in range(21)]


def vertical_stroke() -> list[tuple[float, float]]:
    """A "1": straight down the middle."""
    return [(0.5, 0.18 + 0.64 * step / 20) for step in range(21)]


def top_bar() -> list[tuple[float, float]]:
    """A horizontal bar across the top: with a vertical stroke below it, the network reads a 7."""
    return [(0.2 + 0.6 * step / 20, 0.2) for step in range(21)]


def ellipse() -> list[tuple[float, float]]:
    """A "0": an upright ellipse, closed."""
    return [(0.5 + 0.2 * math.sin(2 * math.pi * step / 40), 0.5 - 0.32 * math.cos(2 * math.pi * step / 40))
            for step in range(42)]


def ink_pixels(page) -> int:
    """White pixels on the canvas."""
    return page.locator(CANVAS).evaluate("""canvas => {
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let ink = 0;
        for (let i = 0; i < data.length; i += 4) ink += data[i] > 128;
        return ink;
    }""")


def prediction(page, timeout_ms: int = 15_000) -> str:
    """The "Prediction" metric's value once it shows."""
    locator = page.locator('[data-testid="stMetric"]', has_text="Prediction").locator(METRIC_VALUE)
    locator.wait_for(timeout=timeout_ms)
    return locator.inner_text().strip()


def save_active_network(page, name: str) -> None:
    """Save the (unsaved) active network through the Networks page's form as ``name``."""
    fill_save_name(page, name)
    page.locator(".st-key-active_save_save button").click()
    page.get_by_text(f"Saved {name}.npz").wait_for(timeout=30_000)
    wait_until_idle(page)


def fill_save_name(page, name: str) -> None:
    """Type ``name`` into the Networks page's form for saving the active network."""
    page.locator(".st-key-active_save_name input").fill(name)
    page.locator(".st-key-active_save_name input").press("Enter")
    wait_until_idle(page)


def metric_number(page, label: str) -> int:
    """A metric shown as a whole number with thousands separators, e.g. "Samples seen"."""
    text = page.locator('[data-testid="stMetric"]', has_text=label).locator(METRIC_VALUE).inner_text()
    return int(text.replace(",", "").strip())


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
