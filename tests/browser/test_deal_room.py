"""The deal room in a real Chromium: playbook, org chart, a refused move, an inline edit, the buyer's link."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridgehead.auth.models import User
from bridgehead.config import Settings
from bridgehead.crm.models import Opportunity
from bridgehead.db import make_engine
from bridgehead.deals.models import ActionPlan, Stakeholder
from tests.browser.conftest import LiveServer, screenshot, sign_in

pytestmark = pytest.mark.browser


def _showcase_deal(server: LiveServer) -> tuple[str, int]:
    """The showcase rep and their open deal with the most stakeholders that has an action plan."""
    rep_email = next(login.email for login in server.logins.values() if login.role == "rep")
    with Session(make_engine(Settings(), url=server.database_url)) as db:
        rep_id = db.scalars(select(User.id).where(User.email == rep_email)).one()
        people = func.count(Stakeholder.id)
        deal_id = db.scalars(
            select(Opportunity.id)
            .join(ActionPlan, ActionPlan.opportunity_id == Opportunity.id)
            .join(Stakeholder, Stakeholder.opportunity_id == Opportunity.id)
            .where(Opportunity.owner_id == rep_id, Opportunity.is_closed.is_(False))
            .group_by(Opportunity.id)
            .order_by(people.desc(), Opportunity.id)
            .limit(1)
        ).first()
        if deal_id is None:
            deal_id = db.scalars(
                select(Opportunity.id)
                .where(Opportunity.owner_id == rep_id, Opportunity.is_closed.is_(False))
                .limit(1)
            ).one()
    return rep_email, int(deal_id)


def test_deal_room_refused_move_inline_edit_and_buyer_link(
    page: Page, browser: Browser, live_server: LiveServer
) -> None:
    rep_email, deal_id = _showcase_deal(live_server)
    sign_in(page, live_server, rep_email)
    page.goto(f"{live_server.base_url}/opportunities/{deal_id}")
    page.get_by_test_id("deal-room-link").click()
    expect(page).to_have_url(re.compile(rf"/deals/{deal_id}$"))
    expect(page.get_by_test_id("deal-header")).to_be_visible()
    expect(page.get_by_test_id("playbook")).to_be_visible()
    expect(page.get_by_test_id("orgchart")).to_be_visible()
    screenshot(page, "deal-room")

    # An inline qualification edit through htmx replaces only the panel.
    panel = page.get_by_test_id("qualification")
    panel.get_by_label("Evidence for Metrics").fill("Cut onboarding from 30 to 10 days (their CFO's number)")
    panel.get_by_label("Status of Metrics").select_option("validated")
    panel.get_by_test_id("dimension-metrics").get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("dimension-metrics").get_by_label("Status of Metrics")).to_have_value(
        "validated"
    )

    # Jumping to Closed Won is refused with the list of what is missing.
    page.get_by_label("Move to stage").select_option("Closed Won")
    page.get_by_role("button", name="Move", exact=True).click()
    expect(page.get_by_test_id("missing-list")).to_be_visible()
    assert page.get_by_test_id("missing-list").locator("li").count() > 0

    # Share the plan; the buyer opens it without a login.
    page.get_by_role("button", name="Share with the buyer").click()
    link = page.get_by_test_id("share-link").locator("a").get_attribute("href")
    assert link is not None
    buyer = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    buyer.goto(live_server.base_url + link)
    expect(buyer.get_by_test_id("steps")).to_be_visible()
    expect(buyer.locator("nav.sidenav")).to_have_count(0)
    screenshot(buyer, "deal-room-buyer-view")
    buyer.goto(live_server.base_url + link[:-4] + "AAAA")
    expect(buyer.locator("body")).to_contain_text("not valid")
    expect(buyer.get_by_test_id("steps")).to_have_count(0)
    buyer.context.close()


def test_account_plan_and_handoffs_pages(page: Page, live_server: LiveServer) -> None:
    manager_email = next(
        login.email
        for login in live_server.logins.values()
        if login.role == "manager" and "manager of" in login.note
    )
    with Session(make_engine(Settings(), url=live_server.database_url)) as db:
        manager_id = db.scalars(select(User.id).where(User.email == manager_email)).one()
        account_id = db.scalars(
            select(Opportunity.account_id)
            .join(User, User.id == Opportunity.owner_id)
            .where(User.manager_id == manager_id, Opportunity.account_id.is_not(None))
            .order_by(Opportunity.id)
            .limit(1)
        ).one()
    sign_in(page, live_server, manager_email)
    page.goto(f"{live_server.base_url}/accounts/{account_id}/plan")
    page.get_by_label("Kind").select_option("objective")
    page.get_by_label("Text").fill("Consolidate three analytics tools onto our platform by Q3")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("body")).to_contain_text("Consolidate three analytics tools")
    screenshot(page, "account-plan")
    page.goto(f"{live_server.base_url}/handoffs")
    expect(page.locator("h1")).to_contain_text("Handoffs")
    screenshot(page, "handoffs")
