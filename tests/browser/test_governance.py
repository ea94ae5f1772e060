"""Initiative governance in a real Chromium: one initiative walked from Identified to Closed by its roles."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from bridgehead.auth.models import Role, User
from bridgehead.config import Settings
from bridgehead.db import make_engine
from bridgehead.governance.models import Initiative, InitiativeStage
from tests.browser.conftest import LiveServer, screenshot, sign_in

pytestmark = pytest.mark.browser


def _user(server: LiveServer, email: str) -> User:
    engine = make_engine(Settings(), url=server.database_url)
    try:
        with Session(engine) as db:
            user = db.scalars(select(User).where(User.email == email)).one()
            db.expunge(user)
            return user
    finally:
        engine.dispose()


def _initiative(server: LiveServer, title: str) -> Initiative:
    engine = make_engine(Settings(), url=server.database_url)
    try:
        with Session(engine) as db:
            initiative = db.scalars(select(Initiative).where(Initiative.title == title)).one()
            db.expunge(initiative)
            return initiative
    finally:
        engine.dispose()


def _login(server: LiveServer, role: str) -> str:
    return next(login.email for login in server.logins.values() if login.role == role)


def _as(page: Page, server: LiveServer, email: str) -> None:
    page.context.clear_cookies()
    sign_in(page, server, email)


def _stage(page: Page) -> str:
    return page.locator("h1 [data-testid=stage-badge]").inner_text().strip()


def test_board_shows_the_demo_portfolio(page: Page, live_server: LiveServer) -> None:
    _as(page, live_server, _login(live_server, "executive"))
    page.goto(live_server.base_url + "/governance")
    expect(page).to_have_title(re.compile("Initiatives"))
    for stage in ("identified", "detailed", "decided", "implemented", "closed", "cancelled"):
        assert page.get_by_test_id(f"column-{stage}").get_by_test_id("card").count() >= 1, stage
    expect(page.get_by_test_id("overdue")).to_be_visible()
    expect(page.get_by_test_id("motion")).to_be_visible()
    screenshot(page, "governance-board")


def test_walk_one_initiative_from_identified_to_closed(page: Page, live_server: LiveServer) -> None:
    cro_email = _login(live_server, "executive")
    controller_email = _login(live_server, "controller")
    owner_email = next(
        login.email for login in live_server.logins.values() if login.note.startswith("manager of")
    )
    owner = _user(live_server, owner_email)
    cro = _user(live_server, cro_email)
    controller = _user(live_server, controller_email)
    assert owner.role == Role.MANAGER
    title = "Browser walk: enterprise FS webinar series"
    start = dt.date.today() - dt.timedelta(days=90)
    end = dt.date.today() + dt.timedelta(days=90)

    # The CRO creates the initiative with its business case.
    _as(page, live_server, cro_email)
    page.goto(live_server.base_url + "/governance")
    page.get_by_role("button", name="New initiative").click()
    expect(page).to_have_title(re.compile("New initiative"))
    page.get_by_label("Title").fill(title)
    page.get_by_label("Owner").select_option(str(owner.id))
    page.get_by_label("Sponsor").select_option(str(cro.id))
    page.get_by_label("Controller").select_option(str(controller.id))
    page.get_by_label("Priority it serves").select_option(index=1)
    page.get_by_label("Target segment").select_option(label="Enterprise financial services")
    page.get_by_label("Value kind").select_option("revenue_uplift")
    page.get_by_label("Expected value over the window (USD)").fill("-5")
    page.get_by_label("Start date").fill(start.isoformat())
    page.get_by_label("End date").fill(end.isoformat())
    page.get_by_label("Business case summary").fill("Monthly webinars for FS compliance leaders.")
    page.get_by_role("button", name="Create initiative").click()
    expect(page.get_by_test_id("form-error")).to_contain_text("must not be negative")
    page.get_by_label("Expected value over the window (USD)").fill("750000")
    page.get_by_role("button", name="Create initiative").click()
    expect(page).to_have_title(re.compile(title))
    assert _stage(page) == "identified"
    expect(page.get_by_test_id("missing")).to_contain_text("at least one milestone")

    # The owner plans a milestone and passes the Detailed gate.
    _as(page, live_server, owner_email)
    initiative_url = f"{live_server.base_url}/governance/initiatives/{_initiative(live_server, title).id}"
    page.goto(initiative_url)
    page.get_by_label("Milestone title").fill("First three webinars held")
    page.get_by_label("Due date").fill((dt.date.today() + dt.timedelta(days=30)).isoformat())
    page.get_by_role("button", name="Add milestone").click()
    page.get_by_role("button", name="Move to Detailed").click()
    assert _stage(page) == "detailed"
    expect(page.get_by_test_id("missing")).to_contain_text("the sponsor's approval")
    expect(page.get_by_role("button", name="Move to Decided")).to_be_visible()
    page.get_by_role("button", name="Move to Decided").click()
    expect(page.get_by_test_id("action-error")).to_contain_text("the sponsor's approval")
    assert _stage(page) == "detailed"

    # The sponsor approves.
    _as(page, live_server, cro_email)
    page.goto(initiative_url)
    page.get_by_label("Comment").fill("Go: fits the FS push")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_test_id("approvals")).to_contain_text("approved")

    # The owner passes Decided, marks the milestone done in place, passes Implemented; the owner cannot close.
    _as(page, live_server, owner_email)
    page.goto(initiative_url)
    page.get_by_role("button", name="Move to Decided").click()
    assert _stage(page) == "decided"
    page.get_by_role("button", name="Mark done").click()
    expect(page.get_by_test_id("milestones")).to_contain_text("✓ done")
    page.get_by_role("button", name="Move to Implemented").click()
    assert _stage(page) == "implemented"
    expect(page.get_by_test_id("confirm-form")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Move to Closed"))).to_have_count(0)

    # The controller sees claimed beside measured, confirms with evidence and closes.
    _as(page, live_server, controller_email)
    page.goto(initiative_url)
    expect(page.get_by_test_id("confirm-form")).to_contain_text("Claimed $750.0k, measured")
    page.get_by_label("Realised value (USD)").fill("410000")
    page.get_by_label("Evidence", exact=True).fill("Webinar-sourced FS bookings, CRM report of 2026-11-20")
    page.get_by_role("button", name="Confirm value and close").click()
    assert _stage(page) == "closed"
    expect(page.get_by_test_id("confirmed-value")).to_have_text("$410,000")
    expect(page.get_by_test_id("gate-history")).to_contain_text("implemented → closed")
    screenshot(page, "governance-initiative-closed")

    stored = _initiative(live_server, title)
    assert stored.stage == InitiativeStage.CLOSED


def test_the_unconfirmed_claim_shows_measured_beside_claimed(page: Page, live_server: LiveServer) -> None:
    _as(page, live_server, _login(live_server, "controller"))
    initiative = _initiative(live_server, "Launch a partner channel for small business")
    page.goto(f"{live_server.base_url}/governance/initiatives/{initiative.id}")
    expect(page.get_by_test_id("confirm-form")).to_contain_text("Claimed")
    expect(page.get_by_test_id("measured-value")).to_be_visible()
    expect(page.get_by_test_id("value-evidence")).to_be_visible()
    screenshot(page, "governance-initiative-unconfirmed")
