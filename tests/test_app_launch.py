"""The README's run command on a machine that has never run Streamlit: it must serve the app.

Streamlit's first run on a desktop stops at a terminal prompt for an email address
unless the project's .streamlit/config.toml turns it off, so a new user's
`streamlit run dashboard/app.py` would sit waiting for input.
"""

from __future__ import annotations

import subprocess
import sys
import time
import tomllib

from nn_core.storage.network_file import MAX_FILE_BYTES
from browser_driver.harness import REPO_ROOT, checkout_env, free_port, is_serving

STARTUP_SECONDS = 60


def test_first_run_on_a_desktop_serves_the_app_without_asking_anything(tmp_path):
    port = free_port()
    env = checkout_env(
        HOME=str(tmp_path),  # no ~/.streamlit/credentials.toml: Streamlit's first run
        DISPLAY=":0",  # a desktop session, so Streamlit is not headless by default
        BROWSER="true")  # the browser it opens is a no-op command
    # As typed in the README, from the repository root; only the port differs.
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard/app.py",
                               "--server.port", str(port)], cwd=REPO_ROOT, env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not is_serving(f"http://127.0.0.1:{port}"):
            assert server.poll() is None, f"streamlit exited before serving:\n{server.stdout.read()}"
            assert time.monotonic() < deadline, f"streamlit did not serve within {STARTUP_SECONDS} s"
            time.sleep(0.2)
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=15)
    assert "Email" not in output
    assert not (tmp_path / ".streamlit" / "credentials.toml").exists()


from nn_core.storage.network_file import MAX_FILE_BYTES
def test_the_app_runs_from_any_folder(tmp_path):
    """Nothing puts the checkout on sys.path but the installed project (here: PYTHONPATH):
    the app's own file finds its pages, and its pages import the packages."""
    probe = ("from streamlit.testing.v1 import AppTest\n"
             f"app = AppTest.from_file({str(REPO_ROOT / 'dashboard' / 'app.py')!r}, default_timeout=120).run()\n"
             "print('exceptions:', [e.message for e in app.exception])\n"
             "print('title:', app.title[0].value if app.title else None)")
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                            env=checkout_env(DIGITS_NETWORKS_DIR=str(tmp_path)), timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "exceptions: []" in result.stdout, result.stdout[-2000:]
    assert "title: Draw a digit" in result.stdout
