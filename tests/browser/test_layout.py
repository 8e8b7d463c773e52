"""The Train and Debug pages at laptop widths: every label and value whole, charts that do not crowd.

Screenshots go to tests/screenshots/ (git-ignored).
"""

from __future__ import annotations

import re

import pytest

from browser_driver.harness import (SCREENSHOTS, draw, ellipse, metric_number, open_page, prediction, screenshot,
                                   wait_until_idle)

pytestmark = [pytest.mark.browser, pytest.mark.flaky(reruns=2, reruns_delay=1)]
WIDTHS = [1024, 1280]

# Texts cut short in the main area: a widget label, a button or a metric
# whose content is wider than its box (and hidden, not shown overflowing).
CLIPPED_TEXTS = """() => [...document.querySelectorAll(
        '[data-testid="stMain"] :is([data-testid="stWidgetLabel"], button, [data-testid="stMetric"])')]
    .filter(element => element.offsetParent !== null)
    .filter(element => [element, ...element.querySelectorAll('*')]
        .some(node => node.scrollWidth > node.clientWidth + 1 && getComputedStyle(node).overflowX !== 'visible'))
    .map(element => element.innerText.trim() || element.outerHTML.slice(0, 80))"""

# Inputs (a select's chosen value, a number) whose text is wider than the box showing it.
CLIPPED_INPUTS = """() => [...document.querySelectorAll('[data-testid="stMain"] input:not([type="range"])')]
    .filter(input => input.offsetParent !== null && input.scrollWidth > input.clientWidth + 1)
    .map(input => input.getAttribute('aria-label') + ': ' + input.value)"""

# Labels broken inside a word (e.g. "Activati / on"): a label's words each on one line.
WORDS_BROKEN = """() => [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stWidgetLabel"] p')]
    .filter(label => label.offsetParent !== null)
    .filter(label => {
        const node = label.firstChild;
        if (!node || node.nodeType !== Node.TEXT_NODE) return false;
        const text = node.textContent;
        let start = 0;
        for (let index = 0; index <= text.length; index++) {
            if (index < text.length && text[index] !== ' ') continue;
            if (index > start) {
                const range = document.createRange();
                range.setStart(node, start);
                range.setEnd(node, index);
                if (new Set([...range.getClientRects()].map(rect => Math.round(rect.top))).size > 1) return true;
            }
            start = index + 1;
        }
        return false;
    })
    .map(label => label.innerText)"""


def assert_all_text_whole(page) -> None:
    assert page.evaluate(CLIPPED_TEXTS) == []
    assert page.evaluate(CLIPPED_INPUTS) == []
    assert page.evaluate(WORDS_BROKEN) == []
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scrolling


@pytest.mark.timeout(120)
@pytest.mark.parametrize("width", WIDTHS)
def test_every_train_setting_and_control_reads_whole(browser_context, app_url, width):
    page = open_page(browser_context, app_url, "train")
    page.set_viewport_size({"width": width, "height": 1000})
    wait_until_idle(page)
    assert page.locator('[data-testid="stSidebar"]').is_visible()
    for label, value in (("Optimizer", "momentum"), ("Schedule", "constant"), ("Activation", "relu")):
        assert page.get_by_role("combobox", name=label).input_value() == value  # shown whole: see below
    assert page.locator(".st-key-train_settings").get_by_text("Augment").is_visible()
    assert_all_text_whole(page)
    screenshot(page, f"train_{width}px")
    page.get_by_role("button", name="Step one batch").click()
    page.get_by_role("heading", name="Keep the result").wait_for(timeout=60_000)
    wait_until_idle(page)
    assert metric_number(page, "Batches") == 1
    assert_all_text_whole(page)
    screenshot(page, f"train_stepped_{width}px")
    page.close()


# Each plotly text's box, by its class, in one chart.
TEXT_BOXES = """key => [...document.querySelectorAll(`.st-key-${key} .main-svg text`)].map(text => {
    const box = text.getBoundingClientRect();
    return {kind: text.getAttribute('class') || text.parentNode.getAttribute('class') || '', text: text.textContent,
            left: box.left, right: box.right, top: box.top, bottom: box.bottom};
})"""

# For each gallery caption: how many lines each of its items spans (an item ends at a breakable space).
CAPTION_ITEM_LINES = """() => [...document.querySelectorAll('[data-testid="stImageCaption"] p')]
    .filter(caption => caption.innerText.startsWith('#'))
    .map(caption => {
        const node = caption.firstChild, text = node.textContent, lines = [];
        let start = 0;
        for (let index = 0; index <= text.length; index++) {
            if (index < text.length && text[index] !== ' ') continue;
            const range = document.createRange();
            range.setStart(node, start);
            range.setEnd(node, index);
            lines.push(new Set([...range.getClientRects()].map(rect => Math.round(rect.top))).size);
            start = index + 1;
        }
        return lines;
    })"""

# Each preprocessing stage caption with the shown image's own width and height.
STAGE_CAPTIONS = """() => [...document.querySelectorAll('[data-testid="stImage"]')]
    .filter(image => image.querySelector('[data-testid="stImageCaption"]'))
    .map(image => ({caption: image.querySelector('[data-testid="stImageCaption"]').innerText,
                    width: image.querySelector('img').naturalWidth,
                    height: image.querySelector('img').naturalHeight}))"""


# Chart titles running past their chart's edge (plotly cuts them off there).
CUT_CHART_TITLES = """() => [...document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot')]
    .flatMap(plot => [...plot.querySelectorAll('.gtitle')].filter(title =>
        title.getBoundingClientRect().right > plot.getBoundingClientRect().right + 1))
    .map(title => title.textContent)"""


def overlaps(first: dict, second: dict) -> bool:
    return (first["left"] < second["right"] and second["left"] < first["right"]
            and first["top"] < second["bottom"] and second["top"] < first["bottom"])


def assert_apart(boxes: list[dict]) -> None:
    """No two of Playwright's bounding boxes overlap."""
    edges = [{"left": box["x"], "right": box["x"] + box["width"],
              "top": box["y"], "bottom": box["y"] + box["height"]} for box in boxes]
    assert len(edges) >= 2
    assert not any(overlaps(first, second) for index, first in enumerate(edges) for second in edges[index + 1:])


@pytest.mark.timeout(300)  # the first visit scores the 10,000 test images
@pytest.mark.parametrize("width", WIDTHS)
def test_debug_charts_and_captions_read_cleanly(browser_context, app_url, width):
    page = open_page(browser_context, app_url)
    page.set_viewport_size({"width": width, "height": 1000})
    wait_until_idle(page)
    draw(page, ellipse())  # taller than wide: a caption giving rows×cols would swap the two
    prediction(page)
    wait_until_idle(page)
    page.get_by_role("link", name="Debug").click()
    page.locator(".st-key-per_class .js-plotly-plot").wait_for(timeout=240_000)
    page.locator('[data-testid="stImageCaption"]', has_text=re.compile(r"^#")).first.wait_for(timeout=60_000)
    wait_until_idle(page, timeout_ms=60_000)

    # The per-digit accuracy axis stops at 100%.
    ticks = [text["text"] for text in page.evaluate(TEXT_BOXES, "per_class") if "ytick" in text["kind"]]
    percents = [float(tick.rstrip("%")) for tick in ticks if tick.endswith("%")]
    assert percents and max(percents) == 100

    # The confusion matrix's title, its top axis's title and its tick labels keep apart.
    boxes = page.evaluate(TEXT_BOXES, "confusion")
    title = next(box for box in boxes if "gtitle" in box["kind"])
    axis_title = next(box for box in boxes if "xtitle" in box["kind"])
    top_ticks = [box for box in boxes if "xtick" in box["kind"]]
    assert len(top_ticks) == 10
    assert not overlaps(title, axis_title) and title["bottom"] <= axis_title["top"]
    assert not any(overlaps(box, tick) for box in (title, axis_title) for tick in top_ticks)
    cells = page.locator(".st-key-confusion .nsewdrag").first.bounding_box()
    assert 0 <= cells["y"] - max(tick["bottom"] for tick in top_ticks) < 20  # the digits sit on the matrix

    # Gallery digits side by side, none over its neighbour.
    gallery = page.locator('[data-testid="stImage"]', has=page.locator('[data-testid="stImageCaption"]',
                                                                        has_text=re.compile(r"^#")))
    assert_apart([gallery.nth(index).bounding_box() for index in range(gallery.count())])
    # Gallery captions wrap between their items, never inside one.
    lines = page.evaluate(CAPTION_ITEM_LINES)
    assert lines and all(count == 1 for caption in lines for count in caption)

    # Image sizes read width×height everywhere, and the size is said once.
    stages = page.evaluate(STAGE_CAPTIONS)
    sized = [stage for stage in stages if re.search(r"\d+×\d+ px", stage["caption"])]
    assert len(sized) >= 3
    for stage in sized:
        shown_width, shown_height = map(int, re.search(r"(\d+)×(\d+) px", stage["caption"]).groups())
        # The shown image is the stage enlarged (and framed): its proportions are the stage's.
        assert shown_width / shown_height == pytest.approx(stage["width"] / stage["height"], rel=0.1)
    assert not any(re.search(r"28×28.*28×28", stage["caption"]) for stage in stages)
    shown = page.locator('.st-key-preprocessing_stages [data-testid="stImage"]')
    assert shown.count() == 4
    assert_apart([shown.nth(index).bounding_box() for index in range(4)])  # each stage whole, none over another
    assert_all_text_whole(page)
    assert page.evaluate(CUT_CHART_TITLES) == []
    screenshot(page, f"debug_{width}px")
    page.locator(".st-key-confusion").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / f"debug_charts_{width}px.png"))  # the charts, as a person sees them
    page.close()
