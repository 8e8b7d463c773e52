"""Two app servers on one network library, as behind a proxy with sticky sessions: sessions on
both save into one folder at once, and each may change only what it saved itself."""

from __future__ import annotations

import re

import pytest

from browser_driver.harness import (fill_save_name, go_to, open_page, running_dashboard, save_active_network,
                                   scratch_library, screenshot, wait_until_idle)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

SAVE_REFUSED = re.compile("already exists|saved by another session")


@pytest.fixture
def shared_folder(library, tmp_path):
    """A networks folder of its own (the session-wide one is the other tests' server's)."""
    return scratch_library(tmp_path / "shared", library / "default.npz")


def networks_page_with_new_network(context, url: str, network_name: str):
    """A new session on the Networks page whose active network is a new, unsaved one."""
    page = open_page(context, url, "networks")
    page.locator('[data-testid="stForm"]').get_by_label("Name").fill(network_name)
    page.get_by_role("button", name="Create and make active").click()
    page.locator('[data-testid="stSidebar"]').get_by_text(f"{network_name} (unsaved)").wait_for(timeout=30_000)
    wait_until_idle(page)
    return page


def choose(page, file_name: str) -> None:
    """Pick ``file_name`` among the saved networks (listing them afresh first)."""
    go_to(page, "Draw", "Draw a digit")
    go_to(page, "Networks", "Networks")
    page.locator(".st-key-networks_chosen").click()
    page.get_by_role("option", name=file_name).click()
    wait_until_idle(page)


def delete_chosen(page) -> None:
    page.get_by_role("button", name="Delete…").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete", exact=True).click()
    page.get_by_role("dialog").wait_for(state="detached", timeout=15_000)
    wait_until_idle(page)


def test_sessions_on_two_servers_save_into_one_folder_and_change_only_their_own(browser_context, shared_folder):
    with running_dashboard(shared_folder) as first_server, running_dashboard(shared_folder) as second_server:
        pages = [networks_page_with_new_network(browser_context, first_server.url, "first-net"),
                 networks_page_with_new_network(browser_context, second_server.url, "second-net")]
        # Both sessions save under one name at the same moment: one file, one owner.
        for page in pages:
            fill_save_name(page, "shared")
        for page in pages:
            page.locator(".st-key-active_save_save button").click()
        outcomes = []
        for page in pages:
            saved, refused = page.get_by_text("Saved shared.npz"), page.get_by_text(SAVE_REFUSED).first
            saved.or_(refused).wait_for(timeout=60_000)
            outcomes.append(saved.is_visible())
        assert sorted(outcomes) == [False, True], "exactly one of the two sessions saved shared.npz"
        winner, loser = pages if outcomes[0] else pages[::-1]
        wait_until_idle(loser)
        save_active_network(loser, "loser-own")
        assert sorted(path.name for path in shared_folder.glob("*.npz")) == ["default.npz", "loser-own.npz",
                                                                              "shared.npz"]
        # Each session sees the other server's session's file as read-only...
        for page, others in ((loser, "shared.npz"), (winner, "loser-own.npz")):
            choose(page, others)
            assert page.get_by_role("button", name="Delete…").is_disabled()
            assert page.get_by_role("button", name="Rename…").is_disabled()
            page.get_by_text(f"{others} was saved by another session").wait_for()
        screenshot(loser, "networks_other_servers_file")
        assert (shared_folder / "shared.npz").exists() and (shared_folder / "loser-own.npz").exists()
        # ...and deletes its own.
        for page, own in ((winner, "shared.npz"), (loser, "loser-own.npz")):
            choose(page, own)
            delete_chosen(page)
        assert sorted(path.name for path in shared_folder.glob("*.npz")) == ["default.npz"]
        assert not list(shared_folder.glob("*.owner")) and not list(shared_folder.glob("*.tmp"))
