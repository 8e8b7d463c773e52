"""The dashboard in real headless Chromium: drawing, training, debugging, managing networks.

Each test saves a screenshot of its page to tests/screenshots/ (git-ignored).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from PIL import Image

from dashboard.widgets import FRAME_GREY
from nn_core.config import NetworkConfig
from nn_core.model.network import Network
from nn_core.storage.network_file import Metadata, load_network, network_to_bytes
from browser_driver.harness import (draw, ellipse, go_to, metric_number, open_page, prediction, save_active_network,
                                   screenshot, top_bar, vertical_stroke, wait_until_idle)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60), pytest.mark.flaky(reruns=2, reruns_delay=1)]
DRAW_A_DIGIT = '[data-testid="stAlert"]:has-text("Draw a digit")'


def plotly_last_x(page, chart_key: str) -> int:
    """The x (batch number) of the last point of a Plotly chart's first trace as drawn.

    It keeps growing while training streams even once the chart is downsampled to
    its point cap. Numpy data arrives base64-packed, so read plotly.js's decoded
    copy, ``_fullData``. While a rerun replaces a chart the old copy can linger
    hidden beside the new one: take the larger."""
    return page.evaluate(
        """key => Math.max(0, ...[...document.querySelectorAll(`.st-key-${key} .js-plotly-plot`)]
            .map(plot => plot._fullData && plot._fullData[0] && plot._fullData[0].x
                         && plot._fullData[0].x.length ? plot._fullData[0].x[plot._fullData[0].x.length - 1] : 0))""",
        chart_key)


def live_charts(page) -> dict[str, tuple[int, int, list[float]]]:
    """For each Train page chart: how many copies are shown, how many plots they hold, and each
    shown copy's opacity as seen (its own times its ancestors')."""
    return page.evaluate(
        """() => Object.fromEntries(['loss_chart', 'accuracy_chart', 'lr_chart'].map(key => {
            const shown = [...document.querySelectorAll(`.st-key-${key}`)].filter(el => el.offsetParent !== null);
            const opacities = shown.map(el => {
                let opacity = 1;
                for (let node = el; node; node = node.parentElement) opacity *= parseFloat(getComputedStyle(node).opacity);
                return opacity;
            });
            const plots = shown.reduce((n, el) => n + el.querySelectorAll('.js-plotly-plot').length, 0);
            return [key, [shown.length, plots, opacities]];
        }))""")


def wait_for_growth(read, above: int, timeout: float = 20.0) -> int:
    """Poll ``read()`` until it exceeds ``above`` (never wait for an exact value on a live page)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = read()
        if value > above:
            return value
        time.sleep(0.2)
    raise AssertionError(f"value stayed at {read()} (needed more than {above}) for {timeout} s")


def wait_for_prediction(page, digit: str) -> None:
    page.wait_for_function(
        """digit => [...document.querySelectorAll('[data-testid="stMetricValue"]')]
                    .some(value => value.innerText.trim() === digit)""", arg=digit, timeout=15_000)
    wait_until_idle(page)


def test_draw_undo_clear_and_draw_again(page):
    page.locator(DRAW_A_DIGIT).wait_for()
    draw(page, vertical_stroke())
    assert prediction(page) == "1"
    wait_until_idle(page)
    draw(page, top_bar())  # the bar on top turns the 1 into a 7
    wait_for_prediction(page, "7")
    page.get_by_role("button", name="Undo stroke").click()
    wait_for_prediction(page, "1")
    page.get_by_role("button", name="Clear").click()
    page.locator(DRAW_A_DIGIT).wait_for()
    wait_until_idle(page)
    draw(page, ellipse())
    wait_for_prediction(page, "0")
    assert prediction(page) == "0"
    assert page.locator('[data-testid="stImage"] img').first.evaluate("img => img.naturalWidth") == 168
    # .streamlit/config.toml shows people the app, not Streamlit's Deploy button.
    assert page.locator('[data-testid="stAppDeployButton"]').count() == 0
    screenshot(page, "draw")


def test_upload_a_photo_of_a_digit_and_a_broken_file(page, tmp_path):
    photo = np.full((300, 200), 235, np.uint8)  # grey paper, dark ink: the other polarity
    photo[40:260, 90:115] = 20
    Image.fromarray(photo).save(tmp_path / "one.png")
    (tmp_path / "broken.png").write_bytes(b"not really a png")
    page.locator(".st-key-draw_source").get_by_role("radio", name="Upload an image").click()
    uploader = page.locator('.st-key-digit_upload input[type="file"]')
    uploader.wait_for(state="attached")
    uploader.set_input_files(str(tmp_path / "broken.png"))
    page.get_by_text("Could not read broken.png").wait_for(timeout=15_000)
    uploader.set_input_files(str(tmp_path / "one.png"))
    assert prediction(page) == "1"
    wait_until_idle(page)
    screenshot(page, "draw_upload")


def test_label_a_drawing_and_download_the_dataset(page):
    draw(page, vertical_stroke())
    prediction(page)
    wait_until_idle(page)
    page.locator(".st-key-right_digit").get_by_role("radio", name="7", exact=True).click()
    wait_until_idle(page)
    page.get_by_role("button", name="Keep this drawing with its label").click()
    page.get_by_text("1 labelled drawing(s) in this session").wait_for()
    page.get_by_text("closing the tab loses them").wait_for()  # said, with the download
    page.locator(DRAW_A_DIGIT).wait_for()  # keeping a drawing clears the canvas for the next one
    wait_until_idle(page)
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download as .npz").click()
    with np.load(download_info.value.path()) as data:
        assert data["images"].shape == (1, 28, 28) and list(data["labels"]) == [7]
    screenshot(page, "draw_labelled")


def wait_for_static_loss_chart(page, static: bool) -> None:
    """Wait until the loss chart is drawn and is (or is not) a static picture (plotly's staticPlot)."""
    page.wait_for_function("""static => {
        const plots = [...document.querySelectorAll('.st-key-loss_chart .js-plotly-plot')].filter(p => p._context);
        return plots.length > 0 && plots.every(p => Boolean(p._context.staticPlot) === static);
    }""", arg=static, timeout=15_000)


def test_training_streams_charts_and_pauses(page):
    go_to(page, "Train", "Train a network")
    screenshot(page, "train_idle")
    page.get_by_label("Epochs").fill("50")  # 5 epochs can be over in seconds: keep it running until Pause
    page.get_by_label("Epochs").press("Enter")
    wait_until_idle(page)
    page.get_by_role("button", name="Start").click()
    first = wait_for_growth(lambda: plotly_last_x(page, "loss_chart"), 0)
    wait_for_growth(lambda: plotly_last_x(page, "loss_chart"), first)  # the chart keeps streaming
    # While it streams, each chart updates in place: never two copies on the page, never faded.
    drawn = 0
    for _ in range(40):
        charts = live_charts(page)
        for key, (copies, plots, opacities) in charts.items():
            assert copies <= 1, f"{copies} copies of {key} on the page"
            assert min(opacities, default=1) > 0.99, f"{key} faded to {min(opacities)}"
        drawn += all(plots == 1 for _, plots, _ in charts.values())
        time.sleep(0.1)
    assert drawn > 0  # (between a chart's arrival and plotly drawing it, its box is briefly empty)
    # Static while it refreshes (a zoom would not outlive the next redraw), interactive once paused.
    wait_for_static_loss_chart(page, True)
    page.get_by_text("Loss on a log scale").click()  # while it trains
    page.wait_for_function("""() => [...document.querySelectorAll('.st-key-loss_chart .js-plotly-plot')]
        .some(plot => plot._fullLayout && plot._fullLayout.yaxis.type === 'log')""", timeout=15_000)
    page.get_by_role("button", name="Pause").click()
    page.get_by_role("button", name="Resume").wait_for(timeout=5_000)
    wait_until_idle(page)
    paused = metric_number(page, "Samples seen")
    time.sleep(1.0)  # longer than a training tick: a running fragment would have moved on
    assert metric_number(page, "Samples seen") == paused
    wait_for_static_loss_chart(page, False)
    screenshot(page, "train_paused")


def strip_rows(page) -> list[str]:
    """The learning strip's rows as text: what each digit is, what it reads as, how sure, what changed."""
    return page.evaluate("""() => [...document.querySelectorAll('.learning-strip tbody tr')]
        .map(row => row.innerText.replace(/\\s+/g, ' ').trim())""")


@pytest.mark.timeout(120)
def test_training_shows_the_drawing_and_test_digits_learning_and_the_map(page):
    draw(page, ellipse())
    prediction(page)
    wait_until_idle(page)
    go_to(page, "Train", "Train a network")
    page.get_by_label("Epochs").fill("50")
    page.get_by_label("Epochs").press("Enter")
    wait_until_idle(page)
    page.get_by_role("button", name="Start").click()
    page.locator(".learning-strip tbody tr").first.wait_for(timeout=60_000)
    first = strip_rows(page)
    assert first[0].startswith("your drawing") and len(first) == 9 and first[-1].startswith("hard test digit")
    # While it trains the strip's numbers move on (what a digit reads as, how sure it is).
    page.wait_for_function("""(first) => {
        const rows = [...document.querySelectorAll('.learning-strip tbody tr')]
            .map(row => row.innerText.replace(/\\s+/g, ' ').trim());
        return rows.length === first.length && rows.some((row, i) => row !== first[i]);
    }""", arg=first, timeout=30_000)
    page.locator(".st-key-train_hidden_map .js-plotly-plot").first.wait_for(timeout=60_000)
    traces = page.evaluate("""() => document.querySelector('.st-key-train_hidden_map .js-plotly-plot')._fullData
        .map(trace => ({points: trace.x.length, symbol: trace.marker.symbol}))""")
    assert traces[0]["points"] == 2000 and traces[-1] == {"points": 1, "symbol": "star"}
    screenshot(page, "train_learning")
    page.get_by_role("button", name="Pause").click()
    page.get_by_role("button", name="Resume").wait_for(timeout=10_000)
    page.get_by_text("When did it get each digit?").wait_for(timeout=30_000)


def test_build_a_cnn_and_train_one_batch(page):
    go_to(page, "Train", "Train a network")
    page.locator(".st-key-train_kind").get_by_text("CNN", exact=True).click()
    page.get_by_text("c16k5-p2-c32k5-p2-d10 relu").first.wait_for(timeout=15_000)  # the preset
    wait_until_idle(page)
    page.get_by_role("button", name="Step one batch").click()
    page.get_by_text("Current run: train a new network").wait_for(timeout=30_000)
    wait_until_idle(page)
    assert metric_number(page, "Batches") == 1 and metric_number(page, "Samples seen") == 128
    # An epoch of the CNN takes many seconds: it streams like Start, and Pause stops it part-way.
    page.get_by_role("button", name="Step one epoch").click()
    page.get_by_text("pausing when this epoch ends").wait_for(timeout=15_000)
    wait_for_growth(lambda: plotly_last_x(page, "loss_chart"), 1)
    screenshot(page, "train_cnn")
    page.get_by_role("button", name="Pause").click()
    page.get_by_role("button", name="Resume").wait_for(timeout=5_000)
    wait_until_idle(page)
    assert 1 < metric_number(page, "Batches") < 60_000 // 128
    assert page.get_by_text("pausing when this epoch ends").count() == 0


def test_debug_shows_the_confusion_matrix(page):
    draw(page, ellipse())
    prediction(page)
    wait_until_idle(page)
    go_to(page, "Debug", "Look inside the network")
    page.locator(".st-key-confusion .js-plotly-plot").first.wait_for(timeout=30_000)
    wait_until_idle(page)
    cells = page.evaluate("() => document.querySelector('.st-key-confusion .js-plotly-plot')._fullData[0].z.length")
    assert cells == 10
    assert page.get_by_role("heading", name="Preprocessing, stage by stage").is_visible()  # the drawing came along
    # The cropped stage's ink reaches its sides: a grey frame keeps it apart from the white page.
    left_middle = page.evaluate("""() => {
        const image = document.querySelectorAll('[data-testid="stImage"] img')[1];
        const canvas = Object.assign(document.createElement('canvas'),
                                     {width: image.naturalWidth, height: image.naturalHeight});
        const context = canvas.getContext('2d');
        context.drawImage(image, 0, 0);
        return Array.from(context.getImageData(0, image.naturalHeight >> 1, 1, 1).data.slice(0, 3));
    }""")
    # Grey, not the ink's or the page's white (a stage shrunk to fit blends the frame a little).
    assert len(set(left_middle)) == 1 and abs(left_middle[0] - FRAME_GREY) < 40
    screenshot(page, "debug")


@pytest.mark.timeout(150)  # the bundled CNN maps 2,000 test digits and scores 10,000 on this page
def test_debug_maps_the_hidden_layer_and_shows_a_clicked_digit(page):
    draw(page, ellipse())
    prediction(page)
    wait_until_idle(page)
    go_to(page, "Debug", "Look inside the network")
    chart = page.locator(".st-key-hidden_map .js-plotly-plot").first
    chart.wait_for(timeout=60_000)
    wait_until_idle(page)
    traces = page.evaluate("""() => document.querySelector('.st-key-hidden_map .js-plotly-plot')._fullData
        .map(trace => ({name: trace.name, points: trace.x.length, symbol: trace.marker.symbol}))""")
    assert traces[0]["points"] == 2000
    assert traces[-1] == {"name": "your drawing", "points": 1, "symbol": "star"}
    assert page.get_by_text("Nearest test digits to the star").is_visible()
    chart.scroll_into_view_if_needed()
    screenshot(page, "debug_hidden_map")
    # Click the point of test digit 0 (a 7; neighbours may overlap it, but they are 7s too):
    # the page shows the clicked digit with its label and prediction.
    position = page.evaluate("""() => {
        const plot = document.querySelector('.st-key-hidden_map .js-plotly-plot');
        const trace = plot._fullData[0], index = 0;
        const xaxis = plot._fullLayout.xaxis, yaxis = plot._fullLayout.yaxis;
        const box = plot.querySelector('.nsewdrag').getBoundingClientRect();
        return {x: box.left + xaxis.l2p(trace.x[index]), y: box.top + yaxis.l2p(trace.y[index])};
    }""")
    page.mouse.click(position["x"], position["y"])
    page.get_by_text(re.compile(r"Test digit #\d+: a 7, read as \d")).wait_for(timeout=30_000)


def test_networks_upload_download_and_delete(page, tmp_path, library):
    copied = library / "copied.npz"  # put there by hand: nobody's, so read-only to every session
    copied.write_bytes((library / "default.npz").read_bytes())
    spare = library / "spare.npz"
    go_to(page, "Networks", "Networks")
    # A bad upload says what is wrong and changes nothing; a good one can become active.
    uploader = page.locator('.st-key-network_upload input[type="file"]')
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"this is not a network")
    uploader.set_input_files(str(bad))
    page.get_by_text("broken.npz is not a valid network file").wait_for(timeout=15_000)
    good = tmp_path / "tiny.npz"
    good.write_bytes(network_to_bytes(Network(NetworkConfig(layers=(784, 20, 10))), Metadata.new("tiny")))
    uploader.set_input_files(str(good))
    page.get_by_text("tiny.npz is a valid network").wait_for(timeout=15_000)
    wait_until_idle(page)
    screenshot(page, "networks_upload")
    page.get_by_role("button", name="Make it the active network").click()
    page.locator('[data-testid="stSidebar"]').get_by_text("784-20-10 relu").wait_for(timeout=15_000)
    wait_until_idle(page)
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download the active network").click()
    network, metadata = load_network(download_info.value.path())
    assert metadata.name == "tiny" and network.describe() == "784-20-10 relu"
    assert sorted(path.name for path in library.glob("*.npz")) == ["copied.npz", "default.npz"]  # none saved
    # A network this session saves is its own to delete; one it did not save is read-only.
    assert page.locator(".st-key-upload_save_name").count() == 0  # one save form: the active network's
    save_active_network(page, "spare")
    for name in ("default.npz", "copied.npz"):  # the first choice reruns the page, which lists spare.npz
        page.locator(".st-key-networks_chosen").click()
        page.get_by_role("option", name=name).click()
        wait_until_idle(page)
    assert page.get_by_role("button", name="Delete…").is_disabled()
    page.get_by_text("copied.npz was saved by another session").wait_for()
    # Deleting asks first.
    page.locator(".st-key-networks_chosen").click()
    page.get_by_role("option", name="spare.npz").click()
    wait_until_idle(page)
    page.get_by_role("button", name="Delete…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("for good?").wait_for()
    assert spare.exists()
    screenshot(page, "networks_delete_dialog")
    dialog.get_by_role("button", name="Delete", exact=True).click()
    dialog.wait_for(state="detached", timeout=15_000)
    assert not spare.exists() and (library / "default.npz").exists()


def test_rename_says_the_new_file_name_first_and_the_name_follows(page, library):
    go_to(page, "Networks", "Networks")
    page.locator('[data-testid="stForm"]').get_by_label("Name").fill("to-rename")
    page.get_by_role("button", name="Create and make active").click()
    save_active_network(page, "to-rename")
    go_to(page, "Draw", "Draw a digit")  # back on Networks, its list holds the new file
    go_to(page, "Networks", "Networks")
    page.locator(".st-key-networks_chosen").click()
    page.get_by_role("option", name="to-rename.npz").click()
    wait_until_idle(page)
    page.get_by_role("button", name="Rename…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("New name").fill("a/b\\c:d*?")
    dialog.get_by_label("New name").press("Enter")
    dialog.get_by_text("Will be renamed to a-b-c-d.npz").wait_for(timeout=15_000)
    screenshot(page, "networks_rename_dialog")
    dialog.get_by_role("button", name="Rename", exact=True).click()
    dialog.wait_for(state="detached", timeout=15_000)
    wait_until_idle(page)
    assert load_network(library / "a-b-c-d.npz")[1].name == "a-b-c-d" and not (library / "to-rename.npz").exists()
    page.locator('[data-testid="stSidebar"]').get_by_text("a-b-c-d", exact=True).wait_for(timeout=15_000)
    page.get_by_role("button", name="Delete…").click()  # leave the shared folder as it was
    page.get_by_role("dialog").get_by_role("button", name="Delete", exact=True).click()
    page.get_by_role("dialog").wait_for(state="detached", timeout=15_000)


def test_no_request_leaves_the_machine(browser_context, app_url):
    """An offline classroom: every page loads all it needs from the app's own server."""
    outside: list[str] = []

    def record(request) -> None:
        host = urlparse(request.url).hostname
        if request.url.startswith("http") and host not in ("127.0.0.1", "localhost"):
            outside.append(request.url)

    browser_context.on("request", record)
    try:
        page = open_page(browser_context, app_url)
        page.locator(DRAW_A_DIGIT).wait_for()
        for link, heading in (("Train", "Train a network"), ("Debug", "Look inside the network"),
                              ("Networks", "Networks"), ("Draw", "Draw a digit")):
            go_to(page, link, heading)
        page.close()
    finally:
        browser_context.remove_listener("request", record)
    assert not outside, f"requests left the machine: {outside}"


def test_closing_a_training_tab_stops_its_worker(browser_context, app_url):
    """No orphans: the trainer process of a tab that is closed mid-run ends within seconds."""
    server = server_pid(app_url)
    page = open_page(browser_context, app_url, "train")
    before = trainer_pids(server)
    page.get_by_role("button", name="Start").click()
    wait_for_growth(lambda: metric_number(page, "Samples seen"), 0)
    workers = trainer_pids(server) - before
    assert len(workers) == 1, "not one new trainer process under the server"
    page.close()
    deadline = time.monotonic() + 20
    while workers & trainer_pids(server) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not workers & trainer_pids(server), "the closed tab's trainer is still running"


def server_pid(app_url: str) -> int:
    """The pid of the Streamlit server listening at ``app_url``."""
    port = app_url.rsplit(":", 1)[1]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"streamlit" in b" ".join(command) and port.encode() in command:
                return int(entry.name)
    raise AssertionError(f"no streamlit server on port {port}")


def trainer_pids(server: int) -> set[int]:
    """The server's live trainer processes (spawned workers, not multiprocessing's resource tracker)."""
    trainers = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                state, ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
                command = (entry / "cmdline").read_bytes()
            except (OSError, ValueError):
                continue
            if int(ppid) == server and state != "Z" and b"spawn_main" in command:
                trainers.add(int(entry.name))
    return trainers
