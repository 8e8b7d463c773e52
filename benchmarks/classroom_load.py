"""A class on one server: N sessions drawing while M train, against one dashboard server.

Priorities as on a real class server, where the browsers run on the students'
own machines: the dashboard server runs at this process's priority (run it
without ``nice``); then this process, and so the headless Chromium it
launches, goes 5 lower (below the server, so the browsers take nothing from
it; see chromium_kept_below for why that needs care as root); the server's
trainer workers run at the lowest priority (nice 19, or SCHED_IDLE with
--trainer-priority idle), so they take nothing from the browsers either. Then
for each scenario it opens N drawing and M training sessions at once:

- a drawer clears the canvas, draws a digit, waits for its prediction, pauses
  like a person (1-3 s), and repeats; mouse-up to prediction is timed in the
  page's own clock, and the server's share of it (the stroke's message sent to
  the last reply arrived) in the browser's network clock, which a busy page
  does not hold up: on one machine the headless browsers share its cores, and
  the rest of the time is theirs, not the server's;
- a trainer starts a run (MLP, 50 epochs) and reads "Samples seen" every 5 s.

Prints per scenario: mouse-up→prediction p50/p95/max, each trainer's samples/s
(beside one trainer alone), the server's CPU (its own and its trainer
workers', from /proc), the errors in the server log and on the pages, and
whether every trainer's "Samples seen" grew between every two readings. At the
end every session checks it sees only its own run and the bundled network.
Each "drawers + trainers" scenario is printed beside the same drawers alone.
With --trainers-away the trainers' tabs show the Networks page while their runs
train (read before and after): the runs' load without their live charts'.

    MNIST_DIR=/path/to/mnist python -m benchmarks.classroom_load [--seconds 40] [--scenarios 4+2,8+2]

Not a timed test: figures depend on the machine and on what else runs on it
(the load average is printed before and after).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from dashboard.training_worker import PRIORITIES, TRAINER_PRIORITY_ENV
from browser_driver import harness

BROWSER_NICENESS = 5  # added to the server's: below it, above the trainer workers (lowest)
READING_SECONDS = 5.0  # between two readings of a trainer's "Samples seen"
# The page's most: a run must outlast any scenario, and an MLP alone trains 50 epochs in a minute.
TRAINER_EPOCHS = 1000
PAUSE_SECONDS = (1.0, 3.0)  # a person looks at the prediction before drawing again
TARGET_P95_MS = 1000
TARGET_RATIO = 1.5  # drawers + trainers within this of the same drawers alone (p95)
STROKES = [harness.vertical_stroke, harness.ellipse, harness.diagonal_stroke, harness.top_bar]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

SAMPLES_SEEN = '[data-testid="stMetric"]:has-text("Samples seen") [data-testid="stMetricValue"]'
DRAW_A_DIGIT = '[data-testid="stAlert"]:has-text("Draw a digit")'


@dataclass
class Scenario:
    drawers: int
    trainers: int
    trainers_away: bool = False  # the trainers' tabs leave the Train page while their runs go on
    latencies_ms: list[float] = field(default_factory=list)
    server_shares_ms: list[float] = field(default_factory=list)  # per stroke: message sent → last reply
    readings: list[list[tuple[float, int]]] = field(default_factory=list)  # per trainer: (time, samples seen)
    page_errors: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    server_cpu_seconds: float = 0.0  # the server's and its trainer workers'
    server_own_cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    worker_scheduling: list[str] = field(default_factory=list)  # of the trainer workers, at the end

    @property
    def name(self) -> str:
        away = " (their tabs on the Networks page)" if self.trainers_away else ""
        return f"{self.drawers} drawers + {self.trainers} trainers{away}"

    def rates(self) -> list[float]:
        """Each trainer's samples/s between its first and last reading."""
        return [(readings[-1][1] - readings[0][1]) / (readings[-1][0] - readings[0][0])
                for readings in self.readings if len(readings) >= 2]

    def stalls(self) -> list[str]:
        """Each time a trainer's "Samples seen" did not grow between two readings."""
        return [f"trainer {index + 1} stayed at {earlier[1]:,} from {earlier[0] - readings[0][0]:.0f} s "
                f"to {later[0] - readings[0][0]:.0f} s" for index, readings in enumerate(self.readings)
                for earlier, later in zip(readings, readings[1:]) if later[1] <= earlier[1]]


# -- the server and its CPU ------------------------------------------------------------------------
def process_cpu_seconds(pid: int, with_reaped_children: bool = True) -> float:
    """utime + stime of ``pid`` (and, unless told not to, of its children it has waited for),
    in seconds; 0 if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11:15 if with_reaped_children else 13]) / CLOCK_TICKS


def children_of(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    children.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return children


class ServerCpu:
    """CPU seconds of the server and its trainer workers, counting workers that ended in between."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.last_seen: dict[int, float] = {}

    def total(self) -> float:
        for child in children_of(self.server_pid):
            self.last_seen[child] = process_cpu_seconds(child) or self.last_seen.get(child, 0.0)
        # A worker the server has reaped is counted in the server's cutime/cstime: keep only live ones.
        live = set(children_of(self.server_pid))
        return process_cpu_seconds(self.server_pid) + sum(self.last_seen[c] for c in live if c in self.last_seen)

    def own(self) -> float:
        """The server process's own CPU seconds, without any worker's."""
        return process_cpu_seconds(self.server_pid, with_reaped_children=False)


def trainer_scheduling(server_pid: int) -> list[str]:
    """How the kernel schedules each of the server's trainer workers, e.g. "SCHED_IDLE, nice 19"
    (spawned processes only, not multiprocessing's resource tracker)."""
    policies = {0: "SCHED_OTHER", 3: "SCHED_BATCH", 5: "SCHED_IDLE"}
    scheduling = []
    for pid in children_of(server_pid):
        try:
            if b"spawn_main" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        scheduling.append(f"{policies.get(int(fields[38]), f'policy {fields[38]}')}, nice {fields[16]}")
    return scheduling


def chromium_kept_below(scratch: Path) -> Path:
    """Chromium that cannot raise its own priority above this process's.

    Chromium sets its threads' niceness itself (-8 for the ones that draw, 0 for
    a visible tab's renderer), which only a process allowed to raise priorities
    can do: root, through CAP_SYS_NICE. Run as root, it would so undo the nice
    given to the browsers and compete with the server. Launched through setpriv
    without that capability, it stays at this process's niceness or lower.
    """
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0:
        return harness.CHROMIUM  # it cannot raise its priority anyway
    if setpriv is None:
        sys.exit("running as root needs setpriv (util-linux) to keep Chromium below the server")
    launcher = scratch / "chromium-below"
    launcher.write_text(f'#!/bin/sh\nexec {setpriv} --bounding-set -sys_nice --inh-caps -sys_nice '
                        f'{harness.CHROMIUM} "$@"\n')
    launcher.chmod(0o755)
    return launcher


def start_server(library: Path, log: Path, trainer_priority: str) -> subprocess.Popen:
    env = harness.checkout_env(DIGITS_NETWORKS_DIR=str(library), DIGITS_DEFAULT_NETWORK=str(library / "default.npz"),
                               **{TRAINER_PRIORITY_ENV: trainer_priority})
    port = harness.free_port()
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.headless", "true",
                               "--server.port", str(port)], cwd=harness.REPO_ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    server.url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while not harness.is_serving(server.url):
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    return server


# -- sessions ---------------------------------------------------------------------------------------------
async def wait_until_idle(page) -> None:
    await page.wait_for_selector(harness.IDLE_APP, timeout=60_000)
    await asyncio.sleep(0.35)
    await page.wait_for_selector(harness.IDLE_APP, timeout=60_000)


class SocketClock:
    """When the page's websocket messages left and arrived, from the browser's network
    events (Chrome DevTools Protocol), whose clock a page busy drawing does not hold up."""

    def __init__(self) -> None:
        self.sent: list[float] = []
        self.received: list[float] = []

    @classmethod
    async def attach(cls, context, page) -> SocketClock:
        clock = cls()
        session = await context.new_cdp_session(page)
        session.on("Network.webSocketFrameSent", lambda event: clock.sent.append(event["timestamp"]))
        session.on("Network.webSocketFrameReceived", lambda event: clock.received.append(event["timestamp"]))
        await session.send("Network.enable")
        return clock

    def mark(self) -> tuple[int, int]:
        return len(self.sent), len(self.received)

    def reply_ms(self, since: tuple[int, int]) -> float | None:
        """From the first message sent after ``since`` to the last reply since: a rerun's
        whole answer, when the page has sent and been sent nothing else meanwhile."""
        sent, received = self.sent[since[0]:], self.received[since[1]:]
        if not sent or not received or received[-1] < sent[0]:
            return None
        return 1000 * (received[-1] - sent[0])


async def open_session(browser, url: str, path: str, errors: list[str]):
    """A page in a browser context of its own: a student's own browser, with its own cookies
    and its own window (in one window Chromium draws only the page in front)."""
    context = await browser.new_context(viewport=harness.VIEWPORT)
    page = await context.new_page()
    page.socket_clock = await SocketClock.attach(context, page)
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    await page.goto(f"{url}/{path}")
    await wait_until_idle(page)
    return page


async def draw(page, points: list[tuple[float, float]]) -> None:
    box = await page.locator(harness.CANVAS).bounding_box()
    absolute = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    await page.mouse.move(*absolute[0])
    await page.mouse.down()
    for x, y in absolute[1:]:
        await page.mouse.move(x, y, steps=3)
    await page.mouse.up()


async def drawer(page, deadline: float, scenario: Scenario, rng: random.Random) -> None:
    while time.monotonic() < deadline:
        clear = page.get_by_role("button", name="Clear")
        if await clear.is_enabled():
            await clear.click()
        await page.locator(DRAW_A_DIGIT).wait_for(timeout=60_000)
        await wait_until_idle(page)
        await page.evaluate(harness.STROKE_TIMER_SCRIPT)
        before_stroke = page.socket_clock.mark()
        await draw(page, rng.choice(STROKES)())
        shown_at = await page.evaluate("() => window.__predictionShown")
        scenario.latencies_ms.append(shown_at - await page.evaluate("() => window.__mouseUpAt"))
        pause_until = time.monotonic() + rng.uniform(*PAUSE_SECONDS)
        await wait_until_idle(page)  # the rerun's last message has arrived
        reply = page.socket_clock.reply_ms(before_stroke)
        if reply is not None:
            scenario.server_shares_ms.append(reply)
        await asyncio.sleep(max(0.0, pause_until - time.monotonic()))


async def samples_seen(page) -> int:
    return int((await page.locator(SAMPLES_SEEN).inner_text()).replace(",", "").strip())


async def start_trainer(page) -> None:
    await page.get_by_label("Epochs").fill(str(TRAINER_EPOCHS))
    await page.get_by_label("Epochs").press("Enter")
    await wait_until_idle(page)
    await page.get_by_role("button", name="Start").click()
    await page.get_by_role("button", name="Pause").wait_for(timeout=60_000)
    await page.locator(SAMPLES_SEEN).wait_for(timeout=60_000)


async def trainer(page, deadline: float, readings: list[tuple[float, int]]) -> None:
    while time.monotonic() < deadline:
        readings.append((time.monotonic(), await samples_seen(page)))
        await asyncio.sleep(READING_SECONDS)


async def trainer_away(page, deadline: float, readings: list[tuple[float, int]]) -> None:
    """A trainer whose tab shows another page while its run goes on: read before and after."""
    readings.append((time.monotonic(), await samples_seen(page)))
    await page.get_by_role("link", name="Networks").click()
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))
    await page.get_by_role("link", name="Train").click()
    await page.locator(SAMPLES_SEEN).wait_for(timeout=60_000)
    readings.append((time.monotonic(), await samples_seen(page)))


async def page_exceptions(page) -> list[str]:
    return [text[:300] for text in await page.locator(harness.EXCEPTION).all_inner_texts()]


async def run_scenario(browser, url: str, scenario: Scenario, seconds: float, cpu: ServerCpu, log: Path) -> None:
    drawers = [await open_session(browser, url, "", scenario.page_errors) for _ in range(scenario.drawers)]
    trainers = [await open_session(browser, url, "train", scenario.page_errors) for _ in range(scenario.trainers)]
    await asyncio.gather(*(start_trainer(page) for page in trainers))
    await asyncio.sleep(READING_SECONDS)  # past the workers' start
    log_start = log.stat().st_size
    scenario.readings = [[] for _ in trainers]
    cpu_start, own_start, wall_start = cpu.total(), cpu.own(), time.monotonic()
    deadline = wall_start + seconds
    rngs = [random.Random(index) for index in range(len(drawers))]
    await asyncio.gather(*(drawer(page, deadline, scenario, rng) for page, rng in zip(drawers, rngs)),
                         *((trainer_away if scenario.trainers_away else trainer)(page, deadline, readings)
                           for page, readings in zip(trainers, scenario.readings)))
    scenario.server_cpu_seconds = cpu.total() - cpu_start
    scenario.server_own_cpu_seconds = cpu.own() - own_start
    scenario.wall_seconds = time.monotonic() - wall_start
    scenario.worker_scheduling = trainer_scheduling(cpu.server_pid)
    for page in drawers + trainers:
        scenario.page_errors += await page_exceptions(page)
    with log.open("rb") as server_log:
        server_log.seek(log_start)
        scenario.server_errors = [line for line in server_log.read().decode(errors="replace").splitlines()
                                  if "Traceback" in line or "Error" in line or "Exception" in line]
    scenario.page_errors += await sessions_kept_apart(drawers, trainers)
    for page in drawers + trainers:
        await page.context.close()


async def sessions_kept_apart(drawers: list, trainers: list) -> list[str]:
    """Problems seen: a drawing session that sees a run, a training session that does not see its own."""
    problems = []
    for page in drawers:
        await page.get_by_role("link", name="Train").click()
        await page.get_by_role("heading", name="Train a network", exact=True).wait_for(timeout=60_000)
        await wait_until_idle(page)
        if await page.get_by_text("Current run:").count():
            problems.append("a drawing session sees a training run it never started")
    for page in trainers:
        if not await page.get_by_text("Current run: train a new network").count():
            problems.append("a training session does not see its own run")
    return problems


# -- printing -----------------------------------------------------------------------------------------------
def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def latency_line(values: list[float]) -> str:
    if not values:
        return "no strokes"
    return (f"{len(values):3d} strokes  p50 {statistics.median(values):6.0f} ms  p95 {percentile(values, 0.95):6.0f} ms"
            f"  max {max(values):6.0f} ms")


def report(scenario: Scenario, alone_rate: float | None, drawers_alone: Scenario | None) -> None:
    print(f"\n== {scenario.name} ({scenario.wall_seconds:.0f} s)")
    if scenario.drawers:
        print(f"   mouse-up → prediction: {latency_line(scenario.latencies_ms)}")
        print(f"     of which the server:  {latency_line(scenario.server_shares_ms)}  (stroke sent → last reply)")
        if drawers_alone is not None and scenario.trainers:
            print(f"   same drawers alone:    {latency_line(drawers_alone.latencies_ms)}")
            print(f"     of which the server:  {latency_line(drawers_alone.server_shares_ms)}")
            if scenario.latencies_ms and drawers_alone.latencies_ms:
                p95, alone_p95 = percentile(scenario.latencies_ms, 0.95), percentile(drawers_alone.latencies_ms, 0.95)
                print(f"   p95 {p95:.0f} ms is {p95 / alone_p95:.2f}× the drawers alone "
                      f"(targets: ≤ {TARGET_P95_MS} ms, ≤ {TARGET_RATIO}×)")
            if scenario.server_shares_ms and drawers_alone.server_shares_ms:
                share, alone_share = (percentile(values, 0.95) for values in
                                      (scenario.server_shares_ms, drawers_alone.server_shares_ms))
                print(f"   the server's share: p95 {share:.0f} ms, {share / alone_share:.2f}× the drawers alone")
    for index, rate in enumerate(scenario.rates()):
        beside = f" (one trainer alone: {alone_rate:,.0f})" if alone_rate else ""
        print(f"   trainer {index + 1}: {rate:,.0f} samples/s{beside}")
    if scenario.trainers:
        when = "while the tabs were away" if scenario.trainers_away else \
            f"between every two readings {READING_SECONDS:.0f} s apart"
        stalls = scenario.stalls()
        print(f"   'Samples seen' grew {when}: {'NO: ' + '; '.join(stalls) if stalls else 'yes'}")
    print(f"   server CPU (server + trainer workers): {scenario.server_cpu_seconds:.1f} s over "
          f"{scenario.wall_seconds:.0f} s = {scenario.server_cpu_seconds / scenario.wall_seconds:.0%} of one core, "
          f"of which the server itself {scenario.server_own_cpu_seconds / scenario.wall_seconds:.0%}")
    errors = scenario.server_errors + scenario.page_errors
    print(f"   errors: {len(scenario.server_errors)} in the server log, {len(scenario.page_errors)} on the pages")
    for error in errors[:5]:
        print(f"     {error}")


def parse_scenarios(text: str) -> list[tuple[int, int]]:
    return [tuple(int(part) for part in item.split("+")) for item in text.split(",")]


async def main_async(args: argparse.Namespace) -> None:
    from playwright.async_api import async_playwright

    trained = harness.trained_network_file()
    with tempfile.TemporaryDirectory() as scratch:
        library = harness.scratch_library(Path(scratch) / "networks", trained)
        log = Path(scratch) / "server.log"
        server = start_server(library, log, args.trainer_priority)
        server_niceness = os.nice(0)
        os.nice(args.browser_nice)  # after the server started: only the browsers run below it
        print(f"server pid {server.pid} at nice {server_niceness}; browsers at nice {os.nice(0)}; "
              f"trainer workers asked to run at {args.trainer_priority!r}; {os.cpu_count()} cores; "
              f"load average before: {os.getloadavg()[0]:.1f}")
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=str(chromium_kept_below(Path(scratch))),
                                                           args=harness.LAUNCH_ARGS)
                cpu = ServerCpu(server.pid)
                alone = Scenario(0, 1)
                await run_scenario(browser, server.url, alone, args.seconds, cpu, log)
                alone_rate = alone.rates()[0] if alone.rates() else None
                report(alone, None, None)
                print(f"   trainer workers ran at: {', '.join(sorted(set(alone.worker_scheduling))) or 'unknown'}")
                drawers_alone: dict[int, Scenario] = {}
                for drawers, trainers in parse_scenarios(args.scenarios):
                    if trainers and drawers not in drawers_alone:
                        drawers_alone[drawers] = Scenario(drawers, 0)
                        await run_scenario(browser, server.url, drawers_alone[drawers], args.seconds, cpu, log)
                        report(drawers_alone[drawers], None, None)
                    if not trainers and drawers in drawers_alone:
                        continue
                    scenario = Scenario(drawers, trainers, trainers_away=args.trainers_away)
                    await run_scenario(browser, server.url, scenario, args.seconds, cpu, log)
                    if not trainers:
                        drawers_alone[drawers] = scenario
                    report(scenario, alone_rate, drawers_alone.get(drawers))
                await browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
        print(f"\nload average after: {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=40, help="measured seconds per scenario")
    parser.add_argument("--scenarios", default="4+2,8+2",
                        help="drawers+trainers, comma-separated; each with trainers is run beside the same "
                             "drawers alone")
    parser.add_argument("--browser-nice", type=int, default=BROWSER_NICENESS,
                        help="how much lower than the server the browsers run")
    parser.add_argument("--trainers-away", action="store_true",
                        help="the trainers' tabs show the Networks page while their runs train: the load of "
                             "the runs without that of their live charts")
    parser.add_argument("--trainer-priority", choices=PRIORITIES, default=PRIORITIES[0],
                        help=f"the trainer workers' priority (${TRAINER_PRIORITY_ENV} of the server)")
    args = parser.parse_args()
    missing = harness.missing_requirement()
    if missing:
        sys.exit(f"needs Chromium and Playwright: {missing}")
    if harness.trained_network_file() is None:
        sys.exit("needs saved_networks/default.npz (or $DIGITS_DEFAULT_NETWORK)")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
