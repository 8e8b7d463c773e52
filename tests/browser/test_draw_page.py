"""The Draw page in headless Chromium: what a stroke reruns, the layout at laptop widths,
a drawing kept across pages, one set of canvas controls, strokes and taps on the canvas.

Screenshots go to tests/screenshots/ (git-ignored).
"""

from __future__ import annotations

import pytest

from nn_core.config import NetworkConfig
from nn_core.model.network import Network
from nn_core.storage.network_file import Metadata, network_to_bytes
from browser_driver.harness import (CANVAS, METRIC_VALUE, draw, ellipse, go_to, ink_pixels, open_page, prediction,
                                   screenshot, top_bar, vertical_stroke, wait_until_idle)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90), pytest.mark.flaky(reruns=2, reruns_delay=1)]

# Counts the script runs the page asks for (a fragment's own too): each one turns the
# app's script state to "running".
COUNT_RUNS = """() => {
    window.__runs = 0;
    const app = document.querySelector('[data-testid="stApp"]');
    new MutationObserver(() => { if (app.dataset.testScriptState === 'running') window.__runs++; })
        .observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""

# How much of the canvas can be seen: its box cut by every ancestor that clips
# (crossing the component's shadow root) and by the window.
VISIBLE_CANVAS_WIDTH = """canvas => {
    let {left, right} = canvas.getBoundingClientRect();
    right = Math.min(right, window.innerWidth);
    for (let node = canvas.parentNode; node; node = node.parentNode || node.host) {
        if (!(node instanceof Element)) continue;
        if (getComputedStyle(node).overflowX !== 'visible') {
            const box = node.getBoundingClientRect();
            left = Math.max(left, box.left);
            right = Math.min(right, box.right);
        }
    }
    return right - left;
}"""

# Texts cut short: any element inside buttons or metrics whose content is wider than its box.
TRUNCATED_TEXTS = """() => [...document.querySelectorAll(
        '[data-testid="stMain"] button, [data-testid="stMetric"]')]
    .filter(element => [element, ...element.querySelectorAll('*')]
        .some(node => node.scrollWidth > node.clientWidth + 1 && getComputedStyle(node).overflowX !== 'visible'))
    .map(element => element.innerText.trim())"""


def runs_after(page, action) -> int:
    """How many script runs ``action`` causes, counted until the app has been idle a while."""
    page.evaluate("() => { window.__runs = 0; }")
    action()
    wait_until_idle(page, settle=1.0)
    return page.evaluate("() => window.__runs")


def test_a_stroke_reruns_only_the_drawing_fragment_once_and_clear_costs_one_rerun(browser_context, app_url):
    page = browser_context.new_page()
    received: list[bytes] = []
    page.on("websocket", lambda socket: socket.on(
        "framereceived", lambda payload: received.append(payload if isinstance(payload, bytes) else payload.encode())))
    page.goto(app_url)
    wait_until_idle(page)
    page.evaluate(COUNT_RUNS)
    received.clear()

    def stroke() -> None:
        draw(page, vertical_stroke())
        prediction(page)

    assert runs_after(page, stroke) == 1
    # Only the fragment was sent again: not the sidebar, nor the title above the fragment.
    assert received and not any(b"Active network" in frame or b"Draw a digit" in frame for frame in received)
    assert runs_after(page, lambda: draw(page, top_bar())) == 1
    assert runs_after(page, lambda: page.get_by_role("button", name="Clear").click()) == 1
    assert page.locator(METRIC_VALUE).count() == 0
    page.close()


@pytest.mark.parametrize("width", [800, 1024, 1280, 1400])
def test_the_whole_canvas_and_full_labels_at_laptop_widths(browser_context, app_url, width):
    page = open_page(browser_context, app_url)
    page.set_viewport_size({"width": width, "height": 1000})
    wait_until_idle(page)
    draw(page, ellipse())
    prediction(page)
    wait_until_idle(page)
    assert page.locator('[data-testid="stSidebar"]').is_visible()  # the narrowest width keeps the sidebar open
    assert page.locator(CANVAS).evaluate(VISIBLE_CANVAS_WIDTH) >= 279
    assert page.locator(CANVAS).bounding_box()["x"] >= 0
    assert page.evaluate(TRUNCATED_TEXTS) == []
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scrolling
    screenshot(page, f"draw_{width}px")
    page.close()


def open_debug(page) -> None:
    """The Debug page, once its test-set analysis (minutes on a busy machine the first time) is done."""
    page.get_by_role("link", name="Debug").click()
    page.get_by_role("heading", name="Look inside the network").wait_for(timeout=30_000)
    wait_until_idle(page, timeout_ms=150_000)


@pytest.mark.timeout(300)
def test_the_drawing_stays_across_pages_until_cleared(page):
    draw(page, ellipse())
    assert prediction(page) == "0"
    wait_until_idle(page)
    drawn = ink_pixels(page)
    open_debug(page)
    assert page.get_by_role("heading", name="Preprocessing, stage by stage").is_visible()
    go_to(page, "Draw", "Draw a digit")
    assert prediction(page) == "0"
    page.wait_for_timeout(500)  # the canvas redraws the kept strokes once it has loaded
    assert ink_pixels(page) == pytest.approx(drawn, rel=0.02)
    # The upload and back: the drawing is still there.
    page.locator(".st-key-draw_source").get_by_role("radio", name="Upload an image").click()
    page.locator('.st-key-digit_upload input[type="file"]').wait_for(state="attached")
    wait_until_idle(page)
    page.locator(".st-key-draw_source").get_by_role("radio", name="Draw").click()
    assert prediction(page) == "0"
    wait_until_idle(page)
    page.get_by_role("button", name="Clear").click()
    page.locator('[data-testid="stAlert"]:has-text("Draw a digit")').wait_for()
    wait_until_idle(page)
    open_debug(page)
    page.get_by_text("Nothing drawn yet").wait_for()


def test_one_set_of_canvas_controls(page):
    """The page's Undo and Clear are the only ones: the canvas adds no toolbar of its own."""
    page.locator(CANVAS).hover()
    page.wait_for_timeout(400)
    assert page.locator(".st-key-draw_canvas button").count() == 0
    assert page.get_by_role("button", name="Undo stroke").count() == page.get_by_role("button", name="Clear").count() == 1
    screenshot(page, "draw_hover")


def test_a_second_network_predicts_the_same_drawing_beside_the_first(page):
    page.get_by_label("Compare with a second network").click()
    page.get_by_role("option", name="An untrained MLP (random weights)").click()
    wait_until_idle(page)
    draw(page, vertical_stroke())
    cards = [page.locator(f".st-key-{key}_card") for key in ("probabilities", "second_probabilities")]
    for card in cards:
        card.locator(METRIC_VALUE).first.wait_for(timeout=15_000)
    wait_until_idle(page)
    assert cards[0].get_by_text("default", exact=True).is_visible()
    assert cards[1].get_by_text("An untrained MLP (random weights)").is_visible()
    predictions = [card.locator('[data-testid="stMetric"]', has_text="Prediction").locator(METRIC_VALUE).inner_text()
                   for card in cards]
    assert predictions[0] == "1" and predictions[1] in {str(digit) for digit in range(10)}
    for card in cards:
        card.locator(".probability-bars").first.wait_for(timeout=15_000)
    first, second = (card.bounding_box() for card in cards)
    assert abs(first["y"] - second["y"]) < 5 and second["x"] > first["x"] + first["width"] - 1  # side by side
    screenshot(page, "draw_two_networks")



def test_the_kept_drawing_is_classified_again_by_a_newly_active_network(page, tmp_path):
    draw(page, vertical_stroke())
    assert prediction(page) == "1"
    wait_until_idle(page)
    go_to(page, "Networks", "Networks")
    untrained = tmp_path / "tiny.npz"
    untrained.write_bytes(network_to_bytes(Network(NetworkConfig(layers=(784, 20, 10))), Metadata.new("tiny")))
    page.locator('.st-key-network_upload input[type="file"]').set_input_files(str(untrained))
    page.get_by_text("tiny.npz is a valid network").wait_for(timeout=15_000)
    wait_until_idle(page)
    page.get_by_role("button", name="Make it the active network").click()
    page.locator('[data-testid="stSidebar"]').get_by_text("784-20-10 relu").wait_for(timeout=15_000)
    wait_until_idle(page)
    go_to(page, "Draw", "Draw a digit")
    card = page.locator(".st-key-probabilities_card")
    card.get_by_text("tiny (unsaved)").wait_for(timeout=15_000)
    confidence = card.locator('[data-testid="stMetric"]', has_text="Confidence").locator(METRIC_VALUE).inner_text()
    assert confidence != "100%"  # the untrained network's, not the trained one's kept from before


def test_a_tap_leaves_one_round_dot_the_brush_width_across(page):
    box = page.locator(CANVAS).bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.locator('button:not([disabled]):has-text("Undo stroke")').wait_for()  # the dot was sent
    wait_until_idle(page)
    brush_width = 22  # the slider's starting value
    assert ink_pixels(page) == pytest.approx(3.1416 * (brush_width / 2) ** 2, rel=0.15)
