"""Fixtures for the browser tests: one dashboard server and one Chromium for the whole session.

Each test opens its own page, hence its own Streamlit session. Skipped, with
the reason, when Chromium or Playwright is missing; CI installs both.
"""

from __future__ import annotations

import pytest

from browser_driver import harness


@pytest.fixture(scope="session")
def library(tmp_path_factory):
    """A scratch networks folder with a trained default, so tests never touch saved_networks/."""
    missing = harness.missing_requirement()
    if missing:
        pytest.skip(f"browser tests need Chromium and Playwright: {missing}")
    trained = harness.trained_network_file()
    if trained is None:
        pytest.skip("no trained network: saved_networks/default.npz (or $DIGITS_DEFAULT_NETWORK) is missing")
    return harness.scratch_library(tmp_path_factory.mktemp("networks"), trained)


@pytest.fixture(scope="session")
def app_url(library):
    with harness.running_app(library) as url:
        yield url


@pytest.fixture(scope="session")
def browser_context(library):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = harness.launch_chromium(playwright)
        yield harness.new_context(chromium)
        chromium.close()


@pytest.fixture
def page(browser_context, app_url):
    """A fresh Streamlit session on the Draw page; at the end of the test the page must
    show no Python exception (Streamlit draws an uncaught one on the page itself)."""
    page = harness.open_page(browser_context, app_url)
    yield page
    exceptions = page.locator(harness.EXCEPTION).all_inner_texts()
    page.close()
    assert not exceptions, f"the page shows an exception: {exceptions[0][:500]}"
