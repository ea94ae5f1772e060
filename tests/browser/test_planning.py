"""The quota sheet in a real Chromium: a planner reads attainment, sets a quota and is told what a bad sheet lacks."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, screenshot, sign_in

pytestmark = pytest.mark.browser


def _login(server: LiveServer, role: str) -> str:
    return next(login.email for login in server.logins.values() if login.role == role)


def test_planner_sets_a_quota_and_sees_a_bad_sheet_refused(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server, _login(live_server, "planner"))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Quotas").click()
    expect(page).to_have_title(re.compile("Quotas"))
    # The demo gives every rep a bookings quota for this quarter.
    expect(page.get_by_test_id("quota-row").first).to_be_visible()
    expect(page.get_by_test_id("total-attainment")).to_have_text(re.compile(r"\d+%"))
    screenshot(page, "plan-quotas")

    form = page.get_by_test_id("set-quota")
    form.get_by_label("Person").select_option(index=1)
    person = form.get_by_label("Person").locator("option:checked").inner_text()
    form.get_by_label("Period").fill("2030-Q1")
    form.get_by_label("Full quota (USD)").fill("250,000")
    form.get_by_label("Ramp %").fill("50")
    form.get_by_role("button", name="Set quota").click()
    expect(page).to_have_url(re.compile(r"period=2030-Q1"))
    row = page.get_by_test_id("quota-row").filter(has_text=person)
    expect(row).to_contain_text("$250,000")
    expect(row).to_contain_text("$125,000")

    rep = _login(live_server, "rep")
    sheet = f"owner,period,quota_amount\n{rep},2030-Q2,1000\nghost@nowhere.example,2030-Q2,lots\n".encode()
    upload = page.get_by_test_id("load-sheet")
    upload.get_by_label("Quota sheet").set_input_files(
        files=[{"name": "team.csv", "mimeType": "text/csv", "buffer": sheet}]
    )
    upload.get_by_role("button", name="Load sheet").click()
    problems = page.get_by_test_id("sheet-problems")
    expect(problems).to_contain_text("2 problems in team.csv")
    expect(problems).to_contain_text("no user has this e-mail")
    expect(problems).to_contain_text("not a number")
    screenshot(page, "plan-quotas-sheet-refused")
    page.goto(live_server.base_url + "/plan/quotas?period=2030-Q2")
    expect(page.get_by_test_id("empty-state")).to_be_visible()
