"""A reload of the tab keeps the session's things, says what it kept, and keeps them from anyone else.

Screenshots go to tests/screenshots/ (git-ignored).
"""

from __future__ import annotations

import pytest

from nn_core.config import NetworkConfig
from nn_core.model.network import Network
from nn_core.storage.network_file import Metadata, network_to_bytes
from browser_driver.harness import (METRIC_VALUE, draw, ellipse, go_to, ink_pixels, metric_number, new_context,
                                   open_page, prediction, screenshot, vertical_stroke, wait_until_idle)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120), pytest.mark.flaky(reruns=2, reruns_delay=1)]
SIDEBAR = '[data-testid="stSidebar"]'
RESTORED = ".st-key-restored_notice"
BRUSH = '.st-key-brush_width input[type="range"]'


def label_a_drawing(page, digit: str) -> None:
    draw(page, vertical_stroke())
    prediction(page)
    wait_until_idle(page)
    page.locator(".st-key-right_digit").get_by_role("radio", name=digit, exact=True).click()
    wait_until_idle(page)
    page.get_by_role("button", name="Keep this drawing with its label").click()
    page.get_by_text("1 labelled drawing(s) in this session").wait_for()
    wait_until_idle(page)


def make_an_uploaded_network_active(page, path) -> None:
    go_to(page, "Networks", "Networks")
    page.locator('.st-key-network_upload input[type="file"]').set_input_files(str(path))
    page.get_by_text(f"{path.name} is a valid network").wait_for(timeout=15_000)
    wait_until_idle(page)
    page.get_by_role("button", name="Make it the active network").click()
    page.locator(SIDEBAR).get_by_text("784-20-10 relu").wait_for(timeout=15_000)
    wait_until_idle(page)


def test_a_reload_keeps_the_network_and_the_drawings_of_that_tab_only(browser_context, app_url, tmp_path):
    tiny = tmp_path / "tiny.npz"
    tiny.write_bytes(network_to_bytes(Network(NetworkConfig(layers=(784, 20, 10))), Metadata.new("tiny")))
    page = open_page(browser_context, app_url)
    label_a_drawing(page, "7")
    draw(page, ellipse())
    prediction(page)
    wait_until_idle(page)
    page.locator(BRUSH).focus()
    page.keyboard.press("ArrowRight")  # a setting: 22 → 23
    wait_until_idle(page)
    make_an_uploaded_network_active(page, tiny)
    go_to(page, "Draw", "Draw a digit")
    drawn = ink_pixels(page)
    assert drawn > 0

    page.reload()
    notice = page.locator(RESTORED)
    notice.wait_for(timeout=20_000)
    wait_until_idle(page)
    assert "the active network tiny (unsaved)" in notice.inner_text()
    assert "1 labelled drawing" in notice.inner_text() and "your drawing" in notice.inner_text()
    sidebar = page.locator(SIDEBAR)
    assert sidebar.get_by_text("784-20-10 relu").is_visible()
    page.get_by_text("1 labelled drawing(s) in this session").wait_for()
    card = page.locator(".st-key-probabilities_card")
    card.get_by_text("tiny (unsaved)").wait_for(timeout=15_000)  # the drawing, classified by the restored network
    page.wait_for_timeout(500)  # the canvas redraws the kept strokes once it has loaded
    assert ink_pixels(page) == pytest.approx(drawn, rel=0.02)
    assert page.locator(BRUSH).get_attribute("aria-valuetext") == "23"
    screenshot(page, "reload_restored")
    notice.get_by_role("button", name="OK", exact=True).click()
    notice.wait_for(state="detached")

    # Another person (another browser context) sees none of it, before or after the reload.
    other_context = new_context(browser_context.browser)
    try:
        other = open_page(other_context, app_url)
        other.reload()
        wait_until_idle(other, settle=1.0)
        assert other.locator(SIDEBAR).get_by_text("784-20-10 relu").count() == 0
        assert other.get_by_text("labelled drawing(s) in this session").count() == 0
        assert other.locator(METRIC_VALUE).count() == 0 and ink_pixels(other) == 0
        assert other.locator(RESTORED).count() == 0
    finally:
        other_context.close()
    # Nor does another tab of the same browser.
    second_tab = open_page(browser_context, app_url)
    wait_until_idle(second_tab, settle=1.0)
    assert second_tab.locator(RESTORED).count() == 0
    assert second_tab.get_by_text("labelled drawing(s) in this session").count() == 0
    second_tab.close()
    page.close()


def test_a_reload_says_what_the_stopped_run_had_reached_and_keeps_its_result(browser_context, app_url):
    page = open_page(browser_context, app_url, "train")
    page.get_by_role("button", name="Step one batch").click()
    page.get_by_role("heading", name="Keep the result").wait_for(timeout=60_000)
    wait_until_idle(page)
    assert metric_number(page, "Batches") == 1

    page.reload()
    notice = page.locator(".st-key-previous_run")
    notice.wait_for(timeout=20_000)
    wait_until_idle(page)
    text = notice.inner_text()
    assert "The training run from before the reload" in text
    assert "stopped with the reload" in text and "(1 batch)" in text
    assert "what it had learned is kept" in text
    page.get_by_role("heading", name="Keep the result").wait_for()  # the paused run's network can still be kept
    assert page.locator(RESTORED).get_by_text("the training run").count() == 1
    screenshot(page, "reload_train")
    page.get_by_role("button", name="Dismiss").click()
    notice.wait_for(state="detached")
    page.close()
