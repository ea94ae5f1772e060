"""The web pages in a real Chromium: sign-in, visibility by role, filters, detail pages, tokens."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridgehead.auth.models import Role, User
from bridgehead.auth.service import reporting_line_ids
from bridgehead.config import Settings
from bridgehead.crm.models import Opportunity
from bridgehead.db import make_engine
from tests.browser.conftest import LiveServer, screenshot, sign_in

pytestmark = pytest.mark.browser


def _query_db(server: LiveServer) -> Session:
    return Session(make_engine(Settings(), url=server.database_url))


def _login_by_role(server: LiveServer, role: str) -> str:
    return next(login.email for login in server.logins.values() if login.role == role)


def _owner_names(page: Page) -> set[str]:
    return {text.strip() for text in page.get_by_test_id("owner").all_inner_texts()}


def _result_total(page: Page) -> int:
    match = re.search(r"([\d,]+) results?", page.locator(".pager").inner_text())
    assert match, "the list shows how many results it has"
    return int(match.group(1).replace(",", ""))


def test_rep_sees_only_own_deals_and_manager_sees_the_team(page: Page, live_server: LiveServer) -> None:
    rep_email = _login_by_role(live_server, "rep")
    with _query_db(live_server) as db:
        rep = db.scalars(select(User).where(User.email == rep_email)).one()
        manager = db.get(User, rep.manager_id)
        assert manager is not None
        assert manager.role == Role.MANAGER
        rep_deals = db.scalar(
            select(func.count()).select_from(Opportunity).where(Opportunity.owner_id == rep.id)
        )
        line = set(db.scalars(reporting_line_ids(manager.id)))
        owners_in_line = set(
            db.scalars(
                select(User.full_name).where(User.id.in_(line), User.id.in_(select(Opportunity.owner_id)))
            )
        )
        team_deals = db.scalar(
            select(func.count()).select_from(Opportunity).where(Opportunity.owner_id.in_(line))
        )
        everyone = db.scalar(select(func.count()).select_from(Opportunity))

    sign_in(page, live_server, rep_email)
    page.goto(live_server.base_url + "/opportunities?page_size=500&sort=-amount")
    expect(page).to_have_title(re.compile("Opportunities"))
    assert _owner_names(page) == {rep.full_name}
    assert _result_total(page) == rep_deals
    screenshot(page, "opportunities-as-rep")

    page.get_by_test_id("user-menu").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile("/login"))

    sign_in(page, live_server, manager.email)
    page.goto(live_server.base_url + "/opportunities?page_size=500")
    owners = _owner_names(page)
    assert rep.full_name in owners
    assert owners <= owners_in_line, "the manager sees nobody outside the reporting line"
    assert len(owners) >= 2, "the demo team has more than one rep with deals"
    assert _result_total(page) == team_deals
    assert team_deals < everyone
    screenshot(page, "opportunities-as-manager")


def test_wrong_password_keeps_you_on_the_login_page_with_an_error(
    page: Page, live_server: LiveServer
) -> None:
    page.goto(live_server.base_url + "/login")
    page.get_by_label("E-mail").fill(_login_by_role(live_server, "rep"))
    page.get_by_label("Password").fill("not-the-password")
    with page.expect_response(
        lambda response: response.url.endswith("/login") and response.request.method == "POST"
    ) as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 401
    expect(page.get_by_test_id("login-error")).to_contain_text("wrong e-mail or password", ignore_case=True)
    screenshot(page, "login-error")


def test_filters_update_the_table_in_place(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server, _login_by_role(live_server, "executive"))
    page.goto(live_server.base_url + "/opportunities")
    before = _result_total(page)
    page.get_by_label("Status").select_option("won")
    expect(page).to_have_url(re.compile("status=won"))
    page.wait_for_load_state("networkidle")
    after = _result_total(page)
    assert 0 < after < before
    assert page.locator(".badge.lost").count() == 0
    assert page.locator(".badge.open").count() == 0
    page.get_by_role("link", name=re.compile("^Amount")).click()
    expect(page).to_have_url(re.compile("sort=amount"))


def test_main_pages_render_for_an_executive(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server, _login_by_role(live_server, "executive"))
    expect(page).to_have_title(re.compile("Three-gap board"))  # an executive's home is the board
    expect(page.get_by_test_id("organisation")).to_have_text("Meridian Cloud")
    screenshot(page, "home-as-executive")

    page.goto(live_server.base_url + "/accounts?sort=-annual_revenue")
    expect(page.get_by_test_id("account-table")).to_be_visible()
    screenshot(page, "accounts")
    page.get_by_test_id("account-table").locator("tbody a").first.click()
    expect(page.get_by_role("heading", name="Facts")).to_be_visible()
    screenshot(page, "account-detail")

    page.goto(live_server.base_url + "/opportunities?status=won&sort=-amount")
    page.get_by_test_id("opportunity-table").locator("tbody td:first-child a").first.click()
    timeline = page.get_by_test_id("stage-history")
    expect(timeline).to_be_visible()
    assert timeline.locator("li").count() >= 2, "a won deal has moved through stages"
    expect(timeline).to_contain_text("Closed Won")
    screenshot(page, "opportunity-detail")

    page.goto(live_server.base_url + "/no-such-page")
    expect(page.get_by_test_id("error-page")).to_contain_text("Not found")
    screenshot(page, "not-found")


def test_navigation_depends_on_role(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server, _login_by_role(live_server, "admin"))
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Users")).to_be_visible()
    page.goto(live_server.base_url + "/admin/users")
    expect(page.locator("table")).to_contain_text("cro@meridian.example")
    screenshot(page, "admin-users")
    page.context.clear_cookies()

    sign_in(page, live_server, _login_by_role(live_server, "rep"))
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Users")).to_have_count(0)
    page.goto(live_server.base_url + "/admin/users")
    expect(page.get_by_test_id("error-page")).to_contain_text("403")


def test_a_token_made_on_the_page_opens_the_api_as_that_user(page: Page, live_server: LiveServer) -> None:
    rep_email = _login_by_role(live_server, "rep")
    sign_in(page, live_server, rep_email)
    page.goto(live_server.base_url + "/settings/tokens")
    page.get_by_label("Name").fill("browser test")
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_test_id("issued-token").locator("code").inner_text().strip()
    assert secret.startswith("bh_")
    screenshot(page, "api-tokens")

    headers = {"Authorization": f"Bearer {secret}"}
    me = httpx.get(live_server.base_url + "/api/v1/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["email"] == rep_email
    deals = httpx.get(live_server.base_url + "/api/v1/opportunities?page_size=500", headers=headers).json()
    assert deals["total"] > 0
    assert {item["owner"]["id"] for item in deals["items"]} == {me.json()["id"]}

    page.get_by_role("button", name="Revoke").first.click()
    assert httpx.get(live_server.base_url + "/api/v1/me", headers=headers).status_code == 401
