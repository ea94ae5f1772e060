"""The strategy pages in a real Chromium: state a priority, back-brief it, return, revise, accept; rights; trace."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from bridgehead.auth.models import User
from bridgehead.config import Settings
from bridgehead.crm.models import Account
from bridgehead.db import make_engine
from bridgehead.strategy.models import BackBrief, BackBriefStatus
from tests.browser.conftest import LiveServer, screenshot, sign_in

pytestmark = pytest.mark.browser

CRO_NOTE = "Chief Revenue Officer, top of the manager line"
VP_NOTE = "regional VP, North America"


def _login(server: LiveServer, note: str) -> str:
    return server.logins[note].email


def _rep_email(server: LiveServer) -> str:
    return next(login.email for login in server.logins.values() if login.role == "rep")


def test_priority_back_brief_walk_through_the_pages(page: Page, live_server: LiveServer) -> None:
    base = live_server.base_url
    sign_in(page, live_server, _login(live_server, CRO_NOTE))
    page.goto(base + "/strategy")
    expect(page).to_have_title(re.compile("Priorities"))
    expect(page.get_by_test_id("priority-tree")).to_contain_text(
        "Move upmarket into enterprise financial services"
    )
    screenshot(page, "strategy-tree")

    page.get_by_role("button", name="New company priority").click()
    page.get_by_label("Title").fill("Win the public sector")
    page.get_by_label("What we will achieve").fill("Three framework agreements with national agencies")
    page.get_by_label("Why it matters").fill("Public budgets are rising and nobody serves them well")
    page.get_by_label("Target metric").select_option("new_logos")
    page.get_by_label("Target value").fill("12.5")
    page.get_by_label("Target period").fill("2026")
    page.get_by_role("button", name="State priority").click()
    expect(page.get_by_test_id("form-error")).to_contain_text("whole number")
    page.get_by_label("Target value").fill("12")
    page.get_by_role("button", name="State priority").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Win the public sector")
    priority_url = page.url
    priority_id = int(priority_url.rsplit("/", 1)[1])

    # The regional VP back-briefs for North America and submits.
    page.context.clear_cookies()
    sign_in(page, live_server, _login(live_server, VP_NOTE))
    page.goto(priority_url)
    page.locator("article.bb-card", has_text="North America").get_by_role(
        "link", name="Write the back-brief"
    ).click()
    page.get_by_label("Plan: how we will achieve it").fill("Two agencies in Washington")
    page.get_by_role("button", name="Save and submit").click()
    expect(
        page.locator("article.bb-card", has_text="North America").get_by_test_id("bb-status")
    ).to_have_text("submitted")

    # The CRO finds it waiting on the strategy page and returns it with comments.
    page.context.clear_cookies()
    sign_in(page, live_server, _login(live_server, CRO_NOTE))
    page.goto(base + "/strategy")
    expect(page.get_by_test_id("work")).to_contain_text(
        "Decide the back-brief of North America for Win the public sector"
    )
    page.goto(priority_url)
    card = page.locator("article.bb-card", has_text="North America")
    card.get_by_label(re.compile("Comments for North America")).fill("Which agencies, and by when?")
    card.get_by_role("button", name="Return with comments").click()
    expect(
        page.locator("article.bb-card", has_text="North America").get_by_test_id("bb-status")
    ).to_have_text("returned")

    # The VP revises and resubmits; the CRO accepts.
    page.context.clear_cookies()
    sign_in(page, live_server, _login(live_server, VP_NOTE))
    page.goto(priority_url)
    page.locator("article.bb-card", has_text="North America").get_by_role(
        "link", name="Revise the back-brief"
    ).click()
    expect(page.locator(".banner.warn")).to_contain_text("Which agencies, and by when?")
    page.get_by_label("Plan: how we will achieve it").fill("GSA and the VA, pilots by Q3")
    screenshot(page, "strategy-back-brief-form")
    page.get_by_role("button", name="Save and submit").click()
    page.context.clear_cookies()
    sign_in(page, live_server, _login(live_server, CRO_NOTE))
    page.goto(priority_url)
    page.locator("article.bb-card", has_text="North America").get_by_role("button", name="Accept").click()
    card = page.locator("article.bb-card", has_text="North America")
    expect(card.get_by_test_id("bb-status")).to_have_text("accepted")
    expect(card).to_contain_text("revision 2")
    screenshot(page, "strategy-priority")

    with Session(make_engine(Settings(), url=live_server.database_url)) as db:
        brief = db.scalars(select(BackBrief).where(BackBrief.priority_id == priority_id)).one()
        assert brief.status == BackBriefStatus.ACCEPTED
        assert brief.plan == "GSA and the VA, pilots by Q3"

    # A rep reads the priority but may not edit it.
    page.context.clear_cookies()
    sign_in(page, live_server, _rep_email(live_server))
    page.goto(priority_url)
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    response = page.goto(priority_url + "/edit")
    assert response is not None
    assert response.status == 403


def test_demo_priority_page_shows_versions_and_drift(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server, _login(live_server, CRO_NOTE))
    page.goto(live_server.base_url + "/strategy")
    page.get_by_test_id("priority-tree").get_by_role(
        "link", name="Move upmarket into enterprise financial services"
    ).click()
    expect(page.get_by_test_id("version-2")).to_contain_text("Raised after a strong first half")
    expect(page.get_by_test_id("version-2")).to_contain_text("Target value")
    expect(page.locator("#back-briefs")).to_contain_text("returned")
    expect(page.locator("#back-briefs")).to_contain_text("missing")
    screenshot(page, "strategy-demo-priority")


def test_account_trace_page_is_linked_from_the_account(page: Page, live_server: LiveServer) -> None:
    rep_email = _rep_email(live_server)
    sign_in(page, live_server, rep_email)
    with Session(make_engine(Settings(), url=live_server.database_url)) as db:
        rep = db.scalars(select(User).where(User.email == rep_email)).one()
        account_id = db.scalars(
            select(Account.id).where(Account.owner_id == rep.id).order_by(Account.id)
        ).first()
    assert account_id is not None
    page.goto(f"{live_server.base_url}/accounts/{account_id}")
    page.get_by_test_id("trace-link").click()
    expect(page).to_have_url(re.compile(f"/trace/account/{account_id}$"))
    expect(page.get_by_test_id("trace-summary")).to_contain_text(re.compile("Serves"))
    screenshot(page, "strategy-account-trace")
