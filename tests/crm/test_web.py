"""CRM pages: home, lists with filters and htmx fragments, details, errors."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from bridgehead.auth.models import Role, User
from bridgehead.common.types import Period
from tests.factories import make_account, make_history, make_opportunity, make_user
from tests.helpers import sign_in


@pytest.fixture
def rep(db_session: Session) -> User:
    return make_user(db_session, full_name="Rita Rep")


@pytest.fixture
def book(db_session: Session, rep: User) -> dict[str, object]:
    """Two deals of the rep at their account, and a colleague's deal at the colleague's account."""
    colleague = make_user(db_session, full_name="Carl Colleague")
    mine = make_account(db_session, name="Globex", owner_id=rep.id, industry="Energy", country="Canada")
    theirs = make_account(db_session, name="Initech", owner_id=colleague.id, industry="Software")
    proposal = make_opportunity(
        db_session,
        owner_id=rep.id,
        account_id=mine.id,
        name="Globex expansion",
        stage="Proposal",
        amount=Decimal("120000"),
    )
    discovery = make_opportunity(
        db_session,
        owner_id=rep.id,
        account_id=mine.id,
        name="Globex pilot",
        stage="Discovery",
        amount=Decimal("5000"),
    )
    hidden = make_opportunity(
        db_session, owner_id=colleague.id, account_id=theirs.id, name="Initech renewal", stage="Proposal"
    )
    return {"mine": mine, "theirs": theirs, "proposal": proposal, "discovery": discovery, "hidden": hidden}


def _result_names(html: str) -> list[str]:
    """The names in the first column of a results table (deal names, or account names)."""
    return re.findall(r'<tr>\s*<td><a href="/(?:opportunities|accounts)/\d+">([^<]+)</a></td>', html)


def test_opportunities_page_shows_only_the_reps_deals(
    client: TestClient, db_session: Session, rep: User, book: dict[str, object]
) -> None:
    sign_in(client, db_session, rep)
    response = client.get("/opportunities")
    assert response.status_code == 200
    assert "<title>Opportunities" in response.text
    assert sorted(_result_names(response.text)) == ["Globex expansion", "Globex pilot"]
    assert "Initech" not in response.text
    assert "Carl Colleague" not in response.text  # not even in the owner picker
    assert "$120,000" in response.text
    assert '<label for="f-stage">Stage</label>' in response.text


def test_opportunity_filters_come_from_the_query_string(
    client: TestClient, db_session: Session, rep: User, book: dict[str, object]
) -> None:
    sign_in(client, db_session, rep)
    response = client.get("/opportunities?stage=Proposal&sort=-amount")
    assert response.status_code == 200
    assert _result_names(response.text) == ["Globex expansion"]
    assert "<option selected>Proposal</option>" in response.text  # the form shows the filter in force
    amount = client.get("/opportunities?amount_max=10000")
    assert _result_names(amount.text) == ["Globex pilot"]
    none = client.get("/opportunities?q=no+such+deal")
    assert _result_names(none.text) == []
    assert 'data-testid="empty-state"' in none.text


def test_htmx_request_gets_only_the_results_fragment(
    client: TestClient, db_session: Session, rep: User, book: dict[str, object]
) -> None:
    sign_in(client, db_session, rep)
    fragment = client.get("/opportunities?stage=Discovery", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert "<form" not in fragment.text
    assert 'data-testid="opportunity-table"' in fragment.text
    assert _result_names(fragment.text) == ["Globex pilot"]
    accounts = client.get("/accounts", headers={"HX-Request": "true"})
    assert "<html" not in accounts.text
    assert 'data-testid="account-table"' in accounts.text
    # A boosted navigation is a whole page again.
    boosted = client.get("/opportunities", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "<html" in boosted.text


def test_accounts_page_lists_visible_accounts_with_filters(
    client: TestClient, db_session: Session, rep: User, book: dict[str, object]
) -> None:
    sign_in(client, db_session, rep)
    response = client.get("/accounts")
    assert response.status_code == 200
    assert _result_names(response.text) == ["Globex"]
    assert "Initech" not in response.text
    assert _result_names(client.get("/accounts?industry=Software").text) == []
    assert _result_names(client.get("/accounts?industry=Energy&country=Canada").text) == ["Globex"]


def test_pagination_links_keep_the_filters(client: TestClient, db_session: Session, rep: User) -> None:
    for n in range(3):
        make_opportunity(db_session, owner_id=rep.id, name=f"Deal {n}", stage="Proposal")
    sign_in(client, db_session, rep)
    response = client.get("/opportunities?stage=Proposal&page_size=2")
    assert "3 results · page 1 of 2" in response.text
    assert 'href="?stage=Proposal&amp;page_size=2&amp;page=2" rel="next"' in response.text
    second = client.get("/opportunities?stage=Proposal&page_size=2&page=2")
    assert len(_result_names(second.text)) == 1


def test_opportunity_page_shows_the_stage_history_timeline(
    client: TestClient, db_session: Session, rep: User, book: dict[str, object]
) -> None:
    deal = book["proposal"]
    start = dt.datetime(2026, 2, 1, 9, 30, tzinfo=dt.UTC)
    make_history(db_session, deal, changed_at=start, stage="Discovery", amount=Decimal("100000"))
    make_history(
        db_session,
        deal,
        changed_at=start + dt.timedelta(days=7),
        stage="Proposal",
        amount=Decimal("100000"),
        changed_by_id=rep.id,
    )
    make_history(
        db_session, deal, changed_at=start + dt.timedelta(days=9), stage="Proposal", amount=Decimal("120000")
    )
    sign_in(client, db_session, rep)
    response = client.get(f"/opportunities/{deal.id}")  # type: ignore[attr-defined]
    assert response.status_code == 200
    assert "<title>Globex expansion" in response.text
    timeline = response.text.split('data-testid="stage-history"', 1)[1].split("</ol>", 1)[0]
    assert timeline.count('class="timeline-item"') == 3
    assert "Created in <strong>Discovery</strong>" in timeline
    assert "Stage → <strong>Proposal</strong>" in timeline
    assert "Amount → $120,000" in timeline
    assert "by Rita Rep" in timeline
    assert "2026-02-01 09:30 UTC" in timeline
    assert timeline.index("Discovery") < timeline.index("Stage → <strong>Proposal")


def test_invisible_deal_and_account_are_404_pages(
    client: TestClient, db_session: Session, rep: User, book: dict[str, object]
) -> None:
    sign_in(client, db_session, rep)
    for path in [f"/opportunities/{book['hidden'].id}", f"/accounts/{book['theirs'].id}"]:  # type: ignore[attr-defined]
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
        assert 'data-testid="error-page"' in response.text
        assert "Initech" not in response.text
    # The rep's own account opens, with only the rep's deals on it.
    mine = client.get(f"/accounts/{book['mine'].id}")  # type: ignore[attr-defined]
    assert mine.status_code == 200
    assert "Globex expansion" in mine.text


def test_rep_opens_an_account_they_see_through_a_deal(
    client: TestClient, db_session: Session, rep: User
) -> None:
    other = make_user(db_session, full_name="Olga Owner")
    account = make_account(db_session, name="Shared Corp", owner_id=other.id)
    make_opportunity(db_session, owner_id=rep.id, account_id=account.id, name="My deal there")
    make_opportunity(db_session, owner_id=other.id, account_id=account.id, name="Olgas deal there")
    sign_in(client, db_session, rep)
    response = client.get(f"/accounts/{account.id}")
    assert response.status_code == 200
    assert "My deal there" in response.text
    assert "Olgas deal there" not in response.text


@pytest.mark.parametrize(
    "query",
    [
        "close_quarter=2026-Q5",
        "page=0",
        "amount_min=abc",
        "sort=bogus",
        "amount_min=10&amount_max=5",
        "foo=1",
    ],
)
def test_bad_filter_is_422(client: TestClient, db_session: Session, rep: User, query: str) -> None:
    sign_in(client, db_session, rep)
    assert client.get(f"/opportunities?{query}").status_code == 422


@pytest.mark.parametrize("path", ["/opportunities/0", "/accounts/abc", f"/opportunities/{2**63}"])
def test_bad_ids_on_pages_are_not_server_errors(
    client: TestClient, db_session: Session, rep: User, path: str
) -> None:
    sign_in(client, db_session, rep)
    assert client.get(path).status_code == 422


def test_manager_pages_show_the_team(client: TestClient, db_session: Session) -> None:
    manager = make_user(db_session, role=Role.MANAGER, full_name="Mona Manager")
    member = make_user(db_session, manager_id=manager.id, full_name="Tim Team")
    make_opportunity(db_session, owner_id=member.id, name="Team deal")
    make_opportunity(db_session, owner_id=make_user(db_session).id, name="Other team deal")
    sign_in(client, db_session, manager)
    response = client.get("/opportunities")
    assert _result_names(response.text) == ["Team deal"]
    assert "Tim Team" in response.text


def test_home_shows_this_quarters_pipeline(client: TestClient, db_session: Session, rep: User) -> None:
    quarter = Period.containing(dt.date.today())
    make_opportunity(
        db_session, owner_id=rep.id, name="Closing soon", close_date=quarter.start, amount=Decimal("1000000")
    )
    make_opportunity(
        db_session,
        owner_id=rep.id,
        name="Also closing",
        close_date=quarter.end - dt.timedelta(days=1),
        amount=Decimal("500000"),
    )
    make_opportunity(
        db_session, owner_id=rep.id, name="Next quarter", close_date=quarter.end, amount=Decimal("7000000")
    )
    make_opportunity(
        db_session, owner_id=make_user(db_session).id, close_date=quarter.start, amount=Decimal("9000000")
    )
    sign_in(client, db_session, rep)
    response = client.get("/")
    assert response.status_code == 200
    assert "Good to see you, Rita" in response.text
    assert '<p class="kpi-value" data-testid="kpi-open-amount">$1.5M</p>' in response.text
    assert "2 deals" in response.text
    assert "Closing soon" in response.text
    assert "Next quarter" not in response.text
