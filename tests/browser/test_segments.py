"""The segment pages in a real Chromium: list, rule editor with live preview, ICP, pipeline definitions."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridgehead.config import Settings
from bridgehead.crm.models import Account
from bridgehead.db import make_engine
from bridgehead.strategy.models import AccountFit
from tests.browser.conftest import LiveServer, screenshot, sign_in

pytestmark = pytest.mark.browser
# The preview waits 400 ms after typing, then asks the server; a busy machine needs longer.
PREVIEW_WAIT_MS = 20_000


def _login(server: LiveServer, role: str) -> str:
    return next(login.email for login in server.logins.values() if login.role == role)


def _count(server: LiveServer, *conditions: object) -> int:
    with Session(make_engine(Settings(), url=server.database_url)) as db:
        return db.scalar(select(func.count()).select_from(Account).where(*conditions)) or 0  # type: ignore[arg-type]


def _shown_number(text: str) -> int:
    return int(re.sub(r"[^\d]", "", text))


def test_editor_live_preview_counts_as_you_type(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server, _login(live_server, "planner"))
    page.goto(live_server.base_url + "/strategy/segments")
    expect(page.get_by_test_id("segment-table")).to_contain_text("Enterprise financial services")
    expect(page.get_by_test_id("overlap-table")).to_be_visible()
    screenshot(page, "strategy-segments")

    page.get_by_role("button", name="New segment").click()
    expect(page).to_have_title(re.compile("New segment"))
    page.get_by_label("Field of condition 1").select_option("employees")
    # Changing the field re-renders the row with the operators employees accepts.
    expect(page.get_by_label("Operator of condition 1").locator("option[value=between]")).to_have_count(
        1, timeout=PREVIEW_WAIT_MS
    )
    page.get_by_label("Operator of condition 1").select_option("gte")
    page.get_by_label("Value of condition 1").fill("5000")
    expected = _count(live_server, Account.employees >= 5000)
    expect(page.get_by_test_id("rule-text")).to_have_text("employees ≥ 5,000", timeout=PREVIEW_WAIT_MS)
    expect(page.get_by_test_id("preview-matched")).to_have_text(f"{expected:,}", timeout=PREVIEW_WAIT_MS)

    page.get_by_label("Value of condition 1").fill("500")
    wider = _count(live_server, Account.employees >= 500)
    assert wider != expected
    expect(page.get_by_test_id("preview-matched")).to_have_text(f"{wider:,}", timeout=PREVIEW_WAIT_MS)

    page.get_by_test_id("add-condition").click()
    expect(page.get_by_test_id("condition-row")).to_have_count(2, timeout=PREVIEW_WAIT_MS)
    page.get_by_label("Field of condition 2").select_option("industry")
    # The row comes back from the server with the operators text accepts; wait for it before typing.
    expect(page.get_by_label("Operator of condition 2").locator("option[value=between]")).to_have_count(
        0, timeout=PREVIEW_WAIT_MS
    )
    page.get_by_label("Operator of condition 2").select_option("in")
    page.get_by_label("Value of condition 2").fill("banking, insurance")
    both = _count(
        live_server, Account.employees >= 500, func.lower(Account.industry).in_(["banking", "insurance"])
    )
    expect(page.get_by_test_id("preview-matched")).to_have_text(f"{both:,}", timeout=PREVIEW_WAIT_MS)
    expect(page.get_by_test_id("preview-overlaps")).to_contain_text("Small business", timeout=PREVIEW_WAIT_MS)

    page.get_by_label("Value of condition 1").fill("lots")
    expect(page.get_by_test_id("preview-error")).to_contain_text("all[0].value", timeout=PREVIEW_WAIT_MS)
    page.get_by_label("Value of condition 1").fill("500")
    expect(page.get_by_test_id("preview-matched")).to_have_text(f"{both:,}", timeout=PREVIEW_WAIT_MS)
    page.get_by_label("Name", exact=True).fill("Mid-size banks and insurers")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "strategy-segment-editor")
    page.get_by_role("button", name="Create segment").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Mid-size banks and insurers")
    expect(page.get_by_text(f"({both:,} of")).to_be_visible()


def test_icp_pipelines_and_account_fit(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server, _login(live_server, "planner"))
    page.goto(live_server.base_url + "/strategy/icp")
    expect(page.get_by_test_id("criteria-table")).to_contain_text("Financial services")
    scored = _count(live_server, Account.id.in_(select(AccountFit.account_id)))
    total = sum(
        _shown_number(cell)
        for cell in page.get_by_test_id("score-distribution").locator("tbody td.num").all_inner_texts()
    )
    assert total == scored
    screenshot(page, "strategy-icp")

    page.goto(live_server.base_url + "/strategy/pipelines")
    expect(page).to_have_title(re.compile("Pipeline definitions"))
    screenshot(page, "strategy-pipelines")

    page.goto(live_server.base_url + "/strategy/icp")
    page.get_by_test_id("fit-top").get_by_role("link").first.click()
    expect(page.get_by_test_id("fit-score")).to_be_visible()
    expect(page.get_by_test_id("fit-reasons")).to_contain_text("Financial services")


def test_rep_reads_without_edit_controls(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server, _login(live_server, "rep"))
    page.goto(live_server.base_url + "/strategy/segments")
    expect(page.get_by_test_id("segment-table")).to_be_visible()
    expect(page.get_by_role("button", name="New segment")).to_have_count(0)
    page.get_by_role("link", name="Small business").click()
    expect(page.get_by_role("button", name="Save and evaluate")).to_have_count(0)
    expect(page.get_by_test_id("preview-matched")).to_be_visible()
