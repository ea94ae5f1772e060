"""The gap inbox in a real Chromium: a manager sees the team's signals and snoozes one with a reason."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, screenshot, sign_in

pytestmark = pytest.mark.browser


def test_manager_snoozes_a_team_signal_and_it_leaves_the_inbox(page: Page, live_server: LiveServer) -> None:
    manager = next(
        login
        for login in live_server.logins.values()
        if login.role == "manager" and login.note.startswith("manager of")
    )
    sign_in(page, live_server, manager.email)
    page.get_by_role("link", name="Gap inbox").click()
    expect(page).to_have_title("Gap inbox · Meridian Cloud")
    expect(page.get_by_test_id("view-team")).to_have_attribute("aria-current", "page")
    rows = page.get_by_test_id("signal-row")
    expect(rows.first).to_be_visible()
    screenshot(page, "gap-inbox-team")
    # Each filter's default choice shows in full: its select is wider than the text plus its padding
    # (which holds the chevron) and the dozen pixels Chromium keeps free inside a select.
    for select_id in ("f-state", "f-owner", "f-unit"):
        select = page.locator(f"#{select_id}")
        fits = select.evaluate(
            """element => {
                const probe = document.createElement("span");
                probe.style.font = getComputedStyle(element).font;
                probe.style.whiteSpace = "pre";
                probe.textContent = element.options[element.selectedIndex].text;
                document.body.append(probe);
                const style = getComputedStyle(element);
                const needed = probe.offsetWidth + parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
                probe.remove();
                return element.clientWidth >= needed + 12;
            }"""
        )
        assert fits, select_id
    first = rows.first
    row_id = first.get_attribute("id")
    assert row_id is not None
    first.locator("summary").click()
    first.get_by_label("Reason to snooze").fill("Buyer's procurement is closed until the new year")
    first.get_by_role("button", name="Snooze").click()
    expect(page.locator(f"#{row_id}")).to_have_count(0)
    page.reload()
    expect(page.locator(f"#{row_id}")).to_have_count(0)
    page.goto(live_server.base_url + "/gaps?state=snoozed&view=team")
    expect(page.locator(f"#{row_id}")).to_have_count(1)
    screenshot(page, "gap-inbox-snoozed")
