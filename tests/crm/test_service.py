"""CRM rules: lists, visibility, details, history, updates and sums, against both databases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from bridgehead.audit.models import AuditEntry
from bridgehead.audit.service import history_of, record_change
from bridgehead.auth.models import Role, User
from bridgehead.common.pagination import PageRequest
from bridgehead.common.types import Period
from bridgehead.crm import service
from bridgehead.crm.models import ActivityKind, ForecastCategory, Opportunity, OpportunityHistory
from bridgehead.crm.schemas import (
    AccountFilters,
    AccountSort,
    OpportunityFilters,
    OpportunitySort,
    OpportunityStatus,
)
from bridgehead.errors import NotFound, ValidationFailed
from tests.factories import (
    make_account,
    make_activity,
    make_contact,
    make_contact_role,
    make_history,
    make_opportunity,
    make_user,
)

Q2 = Period.parse_quarter("2026-Q2")
ALL = PageRequest(page=1, page_size=500)


def _names(session: Session, viewer: User, **filters: Any) -> list[str]:
    page = service.list_opportunities(session, viewer=viewer, filters=OpportunityFilters(**filters), page=ALL)
    return [item.name for item in page.items]


@pytest.fixture
def rep(db_session: Session) -> User:
    return make_user(db_session, full_name="Rita Rep")


# --- opportunity filters ----------------------------------------------------------------------


def test_owner_and_account_filters(db_session: Session) -> None:
    admin = make_user(db_session, role=Role.ADMIN)
    alice = make_user(db_session)
    bob = make_user(db_session)
    acme = make_account(db_session)
    make_opportunity(db_session, name="Alice Acme", owner_id=alice.id, account_id=acme.id)
    make_opportunity(db_session, name="Alice Other", owner_id=alice.id)
    make_opportunity(db_session, name="Bob Acme", owner_id=bob.id, account_id=acme.id)
    assert sorted(_names(db_session, admin, owner_id=alice.id)) == ["Alice Acme", "Alice Other"]
    assert sorted(_names(db_session, admin, account_id=acme.id)) == ["Alice Acme", "Bob Acme"]
    assert _names(db_session, admin, owner_id=bob.id, account_id=acme.id) == ["Bob Acme"]
    # Filtering by someone outside the viewer's book gives nothing, not their deals.
    assert _names(db_session, alice, owner_id=bob.id) == []


def test_stage_and_status_filters(db_session: Session, rep: User) -> None:
    make_opportunity(db_session, name="Open", owner_id=rep.id, stage="Proposal")
    make_opportunity(db_session, name="Won", owner_id=rep.id, stage="Closed Won", is_closed=True, is_won=True)
    make_opportunity(db_session, name="Lost", owner_id=rep.id, stage="Closed Lost", is_closed=True)
    assert _names(db_session, rep, status=OpportunityStatus.OPEN) == ["Open"]
    assert _names(db_session, rep, status=OpportunityStatus.WON) == ["Won"]
    assert _names(db_session, rep, status=OpportunityStatus.LOST) == ["Lost"]
    assert _names(db_session, rep, stage="Proposal") == ["Open"]
    assert _names(db_session, rep, stage="  ") == _names(db_session, rep)  # blank means no filter
    assert len(_names(db_session, rep)) == 3


def test_close_quarter_is_half_open(db_session: Session, rep: User) -> None:
    for name, day in [
        ("Last day of Q1", dt.date(2026, 3, 31)),
        ("First day of Q2", dt.date(2026, 4, 1)),
        ("Last day of Q2", dt.date(2026, 6, 30)),
        ("First day of Q3", dt.date(2026, 7, 1)),
    ]:
        make_opportunity(db_session, name=name, owner_id=rep.id, close_date=day)
    make_opportunity(db_session, name="No close date", owner_id=rep.id, close_date=None)
    assert sorted(_names(db_session, rep, close_quarter="2026-Q2")) == ["First day of Q2", "Last day of Q2"]
    assert _names(db_session, rep, close_quarter="2026q3") == ["First day of Q3"]


def test_amount_bounds_are_inclusive(db_session: Session, rep: User) -> None:
    for amount in ["999.99", "1000.00", "1500.50", "2000.00", "2000.01"]:
        make_opportunity(db_session, name=amount, owner_id=rep.id, amount=Decimal(amount))
    make_opportunity(db_session, name="no amount", owner_id=rep.id, amount=None)
    names = _names(db_session, rep, amount_min=Decimal("1000"), amount_max=Decimal("2000"))
    assert sorted(names) == ["1000.00", "1500.50", "2000.00"]
    assert sorted(_names(db_session, rep, amount_min=Decimal("2000.01"))) == ["2000.01"]
    assert sorted(_names(db_session, rep, amount_max=Decimal("999.99"))) == ["999.99"]


def test_amount_min_above_max_is_refused() -> None:
    with pytest.raises(ValueError, match="amount_min"):
        OpportunityFilters(amount_min=Decimal(10), amount_max=Decimal(5))


def test_search_is_case_insensitive_and_escapes_like_wildcards(db_session: Session, rep: User) -> None:
    for name in ["50% off renewal", "500 seats", "Data_Lake", "DataXLake", "Back\\slash deal"]:
        make_opportunity(db_session, name=name, owner_id=rep.id)
    assert _names(db_session, rep, q="%") == ["50% off renewal"]
    assert _names(db_session, rep, q="50%") == ["50% off renewal"]
    assert _names(db_session, rep, q="_") == ["Data_Lake"]
    assert _names(db_session, rep, q="data_lake") == ["Data_Lake"]
    assert _names(db_session, rep, q="\\") == ["Back\\slash deal"]
    assert sorted(_names(db_session, rep, q="LAKE")) == ["DataXLake", "Data_Lake"]
    assert _names(db_session, rep, q="nothing like it") == []


# --- opportunity sorting ----------------------------------------------------------------------


@pytest.fixture
def sortable(db_session: Session, rep: User) -> list[Opportunity]:
    """Deals with ties and NULLs in every nullable sort column."""
    created = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rows = [
        ("Bravo", Decimal("500"), 30, dt.date(2026, 5, 1), "Proposal", created),
        ("Alpha", None, None, None, "Discovery", created + dt.timedelta(days=1)),
        ("Delta", Decimal("500"), 30, dt.date(2026, 5, 1), "Proposal", created),
        ("Charlie", Decimal("100"), 10, dt.date(2026, 4, 1), "Negotiation", created + dt.timedelta(days=2)),
        ("Bravo", Decimal("900"), None, dt.date(2026, 6, 1), "Discovery", created + dt.timedelta(days=3)),
        ("Echo", None, 90, None, "Proposal", created + dt.timedelta(days=1)),
    ]
    return [
        make_opportunity(
            db_session,
            owner_id=rep.id,
            name=name,
            amount=amount,
            probability=probability,
            close_date=close,
            stage=stage,
            created_at=created_at,
        )
        for name, amount, probability, close, stage, created_at in rows
    ]


def _expected_order(opportunities: list[Opportunity], sort: OpportunitySort) -> list[int]:
    field = sort.value.lstrip("-")
    descending = sort.value.startswith("-")
    present = [opp for opp in opportunities if getattr(opp, field) is not None]
    missing = [opp for opp in opportunities if getattr(opp, field) is None]
    # Tie-break by id in the sort's direction (so one index walk serves both).
    present.sort(key=lambda opp: (getattr(opp, field), opp.id), reverse=descending)
    missing.sort(key=lambda opp: opp.id, reverse=descending)
    return [opp.id for opp in present + missing]


@pytest.mark.parametrize("sort", list(OpportunitySort))
def test_every_sort_orders_with_nulls_last_and_a_stable_tie_break(
    db_session: Session, rep: User, sortable: list[Opportunity], sort: OpportunitySort
) -> None:
    page = service.list_opportunities(db_session, viewer=rep, filters=OpportunityFilters(sort=sort), page=ALL)
    assert [item.id for item in page.items] == _expected_order(sortable, sort)


def test_default_sort_is_latest_close_date_first(
    db_session: Session, rep: User, sortable: list[Opportunity]
) -> None:
    page = service.list_opportunities(db_session, viewer=rep, filters=OpportunityFilters(), page=ALL)
    assert [item.id for item in page.items] == _expected_order(sortable, OpportunitySort.CLOSE_DATE_DESC)


def test_pages_split_the_list_without_gaps_or_repeats(db_session: Session, rep: User) -> None:
    for n in range(7):
        make_opportunity(db_session, owner_id=rep.id, name=f"Deal {n}", amount=Decimal(100))  # all tied
    filters = OpportunityFilters(sort=OpportunitySort.AMOUNT)
    seen: list[int] = []
    for number in (1, 2, 3):
        page = service.list_opportunities(
            db_session, viewer=rep, filters=filters, page=PageRequest(page=number, page_size=3)
        )
        assert (page.total, page.pages, page.page, page.page_size) == (7, 3, number, 3)
        assert page.has_next == (number < 3)
        seen.extend(item.id for item in page.items)
    assert len(seen) == len(set(seen)) == 7
    everything = service.list_opportunities(db_session, viewer=rep, filters=filters, page=ALL)
    assert seen == [item.id for item in everything.items]
    beyond = service.list_opportunities(
        db_session, viewer=rep, filters=filters, page=PageRequest(page=4, page_size=3)
    )
    assert beyond.items == []
    assert beyond.total == 7


def test_list_items_carry_account_and_owner_names(db_session: Session, rep: User) -> None:
    acme = make_account(db_session, name="Acme Corp")
    make_opportunity(db_session, owner_id=rep.id, account_id=acme.id, amount=Decimal("1234.5"))
    [item] = service.list_opportunities(db_session, viewer=rep, filters=OpportunityFilters(), page=ALL).items
    assert item.account_name == "Acme Corp"
    assert item.owner is not None
    assert (item.owner.id, item.owner.full_name) == (rep.id, "Rita Rep")
    assert item.amount == Decimal("1234.50")
    assert str(item.amount) == "1234.50"
    assert item.created_at.tzinfo is not None
    assert item.forecast_category == "pipeline"


# --- accounts ---------------------------------------------------------------------------------


def _account_names(session: Session, viewer: User, **filters: Any) -> list[str]:
    page = service.list_accounts(session, viewer=viewer, filters=AccountFilters(**filters), page=ALL)
    return [item.name for item in page.items]


def test_account_filters(db_session: Session) -> None:
    admin = make_user(db_session, role=Role.ADMIN)
    owner = make_user(db_session)
    make_account(db_session, name="Globex", industry="Energy", country="Canada", owner_id=owner.id)
    make_account(db_session, name="Initech", industry="Software", country="Canada")
    make_account(db_session, name="Umbrella_Co", industry="Energy", country="France")
    assert _account_names(db_session, admin, industry="Energy") == ["Globex", "Umbrella_Co"]
    assert _account_names(db_session, admin, country="Canada") == ["Globex", "Initech"]
    assert _account_names(db_session, admin, owner_id=owner.id) == ["Globex"]
    assert _account_names(db_session, admin, q="_") == ["Umbrella_Co"]
    assert _account_names(db_session, admin, q="INI") == ["Initech"]
    assert _account_names(db_session, admin, industry="Energy", country="France") == ["Umbrella_Co"]


@pytest.mark.parametrize("sort", list(AccountSort))
def test_every_account_sort_has_nulls_last(db_session: Session, sort: AccountSort) -> None:
    admin = make_user(db_session, role=Role.ADMIN)
    accounts = [
        make_account(
            db_session,
            name="Bravo",
            industry="Energy",
            employees=50,
            annual_revenue_amount=Decimal(5),
            country="France",
        ),
        make_account(
            db_session, name="Alpha", industry=None, employees=None, annual_revenue_amount=None, country=None
        ),
        make_account(
            db_session,
            name="Charlie",
            industry="Retail",
            employees=900,
            annual_revenue_amount=Decimal(9),
            country="Canada",
        ),
        make_account(
            db_session,
            name="Bravo",
            industry="Energy",
            employees=50,
            annual_revenue_amount=Decimal(5),
            country="France",
        ),
    ]
    field = {"annual_revenue": "annual_revenue_amount"}.get(sort.value.lstrip("-"), sort.value.lstrip("-"))
    descending = sort.value.startswith("-")
    # Ties break by id in the sort's direction.
    present = sorted(
        (a for a in accounts if getattr(a, field) is not None),
        key=lambda a: (getattr(a, field), a.id),
        reverse=descending,
    )
    missing = sorted(
        (a for a in accounts if getattr(a, field) is None), key=lambda a: a.id, reverse=descending
    )
    page = service.list_accounts(db_session, viewer=admin, filters=AccountFilters(sort=sort), page=ALL)
    assert [item.id for item in page.items] == [a.id for a in present + missing]


def test_rep_sees_own_accounts_and_accounts_where_they_own_a_deal(db_session: Session, rep: User) -> None:
    other = make_user(db_session)
    make_account(db_session, name="Owned", owner_id=rep.id)
    deal_here = make_account(db_session, name="Deal here", owner_id=other.id)
    make_opportunity(db_session, owner_id=rep.id, account_id=deal_here.id)
    hidden = make_account(db_session, name="Hidden", owner_id=other.id)
    make_opportunity(db_session, owner_id=other.id, account_id=hidden.id)
    make_account(db_session, name="Unowned")
    page = service.list_accounts(db_session, viewer=rep, filters=AccountFilters(), page=ALL)
    assert [item.name for item in page.items] == ["Deal here", "Owned"]
    assert page.total == 2
    assert service.get_account(db_session, viewer=rep, account_id=deal_here.id) is deal_here
    with pytest.raises(NotFound):
        service.get_account(db_session, viewer=rep, account_id=hidden.id)
    with pytest.raises(NotFound):
        service.account_detail(db_session, viewer=rep, account_id=hidden.id)
    with pytest.raises(NotFound):
        service.get_account(db_session, viewer=rep, account_id=hidden.id + 10_000)


def test_account_detail_shows_only_visible_deals_and_sums_them(db_session: Session, rep: User) -> None:
    other = make_user(db_session)
    parent = make_account(db_session, name="Parent Holdings", owner_id=rep.id)
    account = make_account(db_session, name="Acme", owner_id=rep.id, parent_account_id=parent.id)
    make_contact(db_session, account_id=account.id, last_name="Zimmer")
    make_contact(db_session, account_id=account.id, last_name="Adams")
    make_opportunity(
        db_session, owner_id=rep.id, account_id=account.id, name="Mine open", amount=Decimal("100.10")
    )
    make_opportunity(
        db_session,
        owner_id=rep.id,
        account_id=account.id,
        name="Mine won",
        amount=Decimal("50.05"),
        stage="Closed Won",
        is_closed=True,
        is_won=True,
    )
    make_opportunity(
        db_session, owner_id=other.id, account_id=account.id, name="Theirs", amount=Decimal("999")
    )
    detail = service.account_detail(db_session, viewer=rep, account_id=account.id)
    assert detail.parent_account_name == "Parent Holdings"
    assert [contact.last_name for contact in detail.contacts] == ["Adams", "Zimmer"]
    assert sorted(opp.name for opp in detail.opportunities) == ["Mine open", "Mine won"]
    assert detail.summary.open_count == 1
    assert detail.summary.open_amount == Decimal("100.10")
    assert detail.summary.won_count == 1
    assert detail.summary.won_amount == Decimal("50.05")
    assert detail.summary.lost_count == 0


def test_distinct_values_for_pickers(db_session: Session, rep: User) -> None:
    make_account(db_session, owner_id=rep.id, industry="Retail", country="France")
    make_account(db_session, owner_id=rep.id, industry="Energy", country="France")
    make_account(db_session, owner_id=rep.id, industry=None, country="")
    make_account(db_session, industry="Hidden industry")  # not visible to the rep
    assert service.distinct_values(db_session, viewer=rep, column="industry") == ["Energy", "Retail"]
    assert service.distinct_values(db_session, viewer=rep, column="country") == ["France"]
    with pytest.raises(ValidationFailed):
        service.distinct_values(db_session, viewer=rep, column="owner_id")


# --- single opportunities ---------------------------------------------------------------------


def test_invisible_or_missing_opportunity_is_not_found(db_session: Session, rep: User) -> None:
    theirs = make_opportunity(db_session, owner_id=make_user(db_session).id)
    for opportunity_id in (theirs.id, theirs.id + 10_000):
        with pytest.raises(NotFound) as caught:
            service.get_opportunity(db_session, viewer=rep, opportunity_id=opportunity_id)
        assert caught.value.message == "no such opportunity"
        with pytest.raises(NotFound):
            service.opportunity_detail(db_session, viewer=rep, opportunity_id=opportunity_id)


def test_manager_can_open_a_team_members_deal(db_session: Session) -> None:
    manager = make_user(db_session, role=Role.MANAGER)
    member = make_user(db_session, manager_id=manager.id)
    deal = make_opportunity(db_session, owner_id=member.id)
    assert service.get_opportunity(db_session, viewer=manager, opportunity_id=deal.id) is deal
    with pytest.raises(NotFound):
        service.get_opportunity(
            db_session, viewer=member, opportunity_id=make_opportunity(db_session, owner_id=manager.id).id
        )


def test_opportunity_detail_history_names_the_changed_fields(db_session: Session, rep: User) -> None:
    deal = make_opportunity(
        db_session,
        owner_id=rep.id,
        stage="Qualification",
        amount=Decimal(1000),
        probability=20,
        close_date=dt.date(2026, 6, 30),
    )
    start = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)
    make_history(db_session, deal, changed_at=start)
    make_history(
        db_session, deal, changed_at=start + dt.timedelta(days=1), stage="Proposal", changed_by_id=rep.id
    )
    make_history(
        db_session,
        deal,
        changed_at=start + dt.timedelta(days=2),
        stage="Proposal",
        amount=Decimal(1500),
        close_date=dt.date(2026, 7, 31),
    )
    make_history(
        db_session,
        deal,
        changed_at=start + dt.timedelta(days=3),
        stage="Proposal",
        amount=Decimal(1500),
        close_date=dt.date(2026, 7, 31),
        forecast_category=ForecastCategory.COMMIT,
    )
    contact = make_contact(db_session, first_name="Eve", last_name="Buyer", title="CFO")
    make_contact_role(db_session, opportunity_id=deal.id, contact_id=contact.id, is_primary=True)
    make_activity(
        db_session, opportunity_id=deal.id, owner_id=rep.id, contact_id=contact.id, kind=ActivityKind.MEETING
    )
    make_activity(db_session, opportunity_id=deal.id, occurred_at=start)

    detail = service.opportunity_detail(db_session, viewer=rep, opportunity_id=deal.id)
    assert [change.changed_fields for change in detail.history] == [
        ["stage", "amount", "close_date", "probability", "forecast_category"],
        ["stage"],
        ["amount", "close_date"],
        ["forecast_category"],
    ]
    assert [change.stage for change in detail.history] == [
        "Qualification",
        "Proposal",
        "Proposal",
        "Proposal",
    ]
    assert detail.history[1].changed_by is not None
    assert detail.history[1].changed_by.full_name == "Rita Rep"
    assert detail.history[0].changed_by is None
    assert detail.history[0].changed_at == start
    assert [(role.contact.full_name, role.role, role.is_primary) for role in detail.contact_roles] == [
        ("Eve Buyer", "Economic Buyer", True)
    ]
    assert detail.activity_count == 2
    assert detail.recent_activities[0].kind == "meeting"  # newest first
    assert detail.recent_activities[0].contact_name == "Eve Buyer"
    assert detail.recent_activities[1].occurred_at == start
    assert service.stage_history(db_session, opportunity_id=deal.id) == detail.history


# --- updates ----------------------------------------------------------------------------------


def _stored(session: Session, opportunity: Opportunity) -> Opportunity:
    """Flush, forget and reload: the deal as a later request reads it (amounts with two places)."""
    session.flush()
    session.expire_all()
    stored = session.get(Opportunity, opportunity.id)
    assert stored is not None
    return stored


def _counts(session: Session, opportunity_id: int) -> tuple[int, int]:
    history = session.scalar(
        select(func.count())
        .select_from(OpportunityHistory)
        .where(OpportunityHistory.opportunity_id == opportunity_id)
    )
    audit = session.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.object_type == "opportunity", AuditEntry.object_id == str(opportunity_id))
    )
    return history or 0, audit or 0


def test_update_appends_one_history_row_and_one_audit_row_with_only_the_changes(
    db_session: Session, rep: User
) -> None:
    deal = make_opportunity(
        db_session, owner_id=rep.id, stage="Qualification", amount=Decimal(1000), probability=20
    )
    deal = _stored(db_session, deal)
    service.update_opportunity(
        db_session,
        viewer=rep,
        opportunity_id=deal.id,
        stage="Proposal",
        amount=Decimal("1000.00"),
        probability=20,
    )
    assert _counts(db_session, deal.id) == (1, 1)
    [entry] = history_of(db_session, object_type="opportunity", object_id=deal.id)
    assert entry.actor_id == rep.id
    assert entry.action == "update"
    assert entry.before == {"stage": "Qualification"}
    assert entry.after == {"stage": "Proposal"}
    row = db_session.scalars(
        select(OpportunityHistory).where(OpportunityHistory.opportunity_id == deal.id)
    ).one()
    assert (row.stage, row.amount, row.probability, row.changed_by_id) == (
        "Proposal",
        Decimal("1000.00"),
        20,
        rep.id,
    )


def test_update_to_closed_won_sets_the_flags(db_session: Session, rep: User) -> None:
    deal = make_opportunity(db_session, owner_id=rep.id, stage="Negotiation", amount=Decimal(800))
    deal = _stored(db_session, deal)
    service.update_opportunity(
        db_session, viewer=rep, opportunity_id=deal.id, stage=" Closed Won ", amount=Decimal(900)
    )
    db_session.expire_all()
    stored = db_session.get(Opportunity, deal.id)
    assert stored is not None
    assert (stored.stage, stored.is_closed, stored.is_won, stored.amount) == (
        "Closed Won",
        True,
        True,
        Decimal("900.00"),
    )
    [entry] = history_of(db_session, object_type="opportunity", object_id=deal.id)
    assert entry.before == {"stage": "Negotiation", "amount": "800.00", "is_closed": False, "is_won": False}
    assert entry.after == {"stage": "Closed Won", "amount": "900.00", "is_closed": True, "is_won": True}
    service.update_opportunity(db_session, viewer=rep, opportunity_id=deal.id, stage="Closed Lost")
    assert (stored.is_closed, stored.is_won) == (True, False)


def test_update_records_the_amount_as_stored(db_session: Session, rep: User) -> None:
    deal = make_opportunity(db_session, owner_id=rep.id, amount=Decimal("1000.00"))
    deal = _stored(db_session, deal)
    service.update_opportunity(db_session, viewer=rep, opportunity_id=deal.id, amount=Decimal("1000.001"))
    # Rounded to cents this is no change at all: nothing to record.
    assert _counts(db_session, deal.id) == (0, 0)
    service.update_opportunity(db_session, viewer=rep, opportunity_id=deal.id, amount=Decimal("12345.678"))
    db_session.expire_all()
    stored = db_session.get(Opportunity, deal.id)
    assert stored is not None
    assert stored.amount == Decimal("12345.68")
    [entry] = history_of(db_session, object_type="opportunity", object_id=deal.id)
    assert entry.after == {"amount": "12345.68"}


def test_update_without_a_change_writes_nothing(db_session: Session, rep: User) -> None:
    deal = make_opportunity(
        db_session,
        owner_id=rep.id,
        stage="Proposal",
        amount=Decimal(1000),
        probability=40,
        close_date=dt.date(2026, 5, 5),
    )
    deal = _stored(db_session, deal)
    service.update_opportunity(db_session, viewer=rep, opportunity_id=deal.id)
    service.update_opportunity(
        db_session,
        viewer=rep,
        opportunity_id=deal.id,
        stage="Proposal",
        amount=Decimal("1000.00"),
        probability=40,
        close_date=dt.date(2026, 5, 5),
    )
    assert _counts(db_session, deal.id) == (0, 0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": Decimal("-0.01")}, "amount"),
        ({"amount": Decimal("1000000000000.01")}, "amount"),
        ({"amount": Decimal("NaN")}, "amount"),
        ({"amount": Decimal("Infinity")}, "amount"),
        ({"probability": 101}, "probability"),
        ({"probability": -1}, "probability"),
        ({"stage": ""}, "stage"),
        ({"stage": "   "}, "stage"),
    ],
)
def test_update_refuses_bad_values_and_changes_nothing(
    db_session: Session, rep: User, change: dict[str, Any], field: str
) -> None:
    deal = make_opportunity(
        db_session, owner_id=rep.id, stage="Proposal", amount=Decimal(1000), probability=40
    )
    db_session.commit()
    with pytest.raises(ValidationFailed) as caught:
        # A valid change alongside the bad one must not be applied either.
        service.update_opportunity(
            db_session, viewer=rep, opportunity_id=deal.id, close_date=dt.date(2030, 1, 1), **change
        )
    assert caught.value.context["field"] == field
    db_session.expire_all()
    stored = db_session.get(Opportunity, deal.id)
    assert stored is not None
    assert (stored.stage, stored.amount, stored.probability) == ("Proposal", Decimal("1000.00"), 40)
    assert stored.close_date != dt.date(2030, 1, 1)
    assert _counts(db_session, deal.id) == (0, 0)


def test_update_of_an_invisible_deal_is_not_found(db_session: Session, rep: User) -> None:
    deal = make_opportunity(db_session, owner_id=make_user(db_session).id, stage="Proposal")
    with pytest.raises(NotFound):
        service.update_opportunity(db_session, viewer=rep, opportunity_id=deal.id, stage="Closed Won")
    assert deal.stage == "Proposal"
    assert _counts(db_session, deal.id) == (0, 0)


# --- pipeline summary -------------------------------------------------------------------------


def test_pipeline_summary_sums_exactly_within_the_period_and_visibility(
    db_session: Session, rep: User
) -> None:
    other = make_user(db_session)
    in_q2 = dt.date(2026, 5, 15)
    for amount in ("0.10", "0.20", "0.70", "1000000000.01"):
        make_opportunity(db_session, owner_id=rep.id, amount=Decimal(amount), close_date=in_q2)
    make_opportunity(db_session, owner_id=rep.id, amount=None, close_date=in_q2)  # counted, adds nothing
    make_opportunity(
        db_session,
        owner_id=rep.id,
        amount=Decimal("0.05"),
        close_date=in_q2,
        stage="Closed Won",
        is_closed=True,
        is_won=True,
    )
    make_opportunity(
        db_session,
        owner_id=rep.id,
        amount=Decimal("7"),
        close_date=in_q2,
        stage="Closed Lost",
        is_closed=True,
    )
    make_opportunity(db_session, owner_id=rep.id, amount=Decimal("5"), close_date=dt.date(2026, 7, 1))  # Q3
    make_opportunity(db_session, owner_id=rep.id, amount=Decimal("5"), close_date=None)
    make_opportunity(db_session, owner_id=other.id, amount=Decimal("5"), close_date=in_q2)  # not visible
    summary = service.pipeline_summary(db_session, viewer=rep, period=Q2)
    assert summary.open_count == 5
    assert summary.open_amount == Decimal("1000000001.01")
    assert summary.won_count == 1
    assert summary.won_amount == Decimal("0.05")
    assert summary.lost_count == 1
    # Two decimals whatever the sum, so it serialises like every other amount.
    assert summary.model_dump(mode="json")["open_amount"] == "1000000001.01"
    assert summary.model_dump(mode="json")["won_amount"] == "0.05"


def test_pipeline_summary_of_nothing_is_zero(db_session: Session, rep: User) -> None:
    summary = service.pipeline_summary(db_session, viewer=rep, period=Q2)
    assert (summary.open_count, summary.won_count, summary.lost_count) == (0, 0, 0)
    assert summary.model_dump(mode="json")["open_amount"] == "0.00"


def test_opportunity_stages_in_ladder_order(db_session: Session, rep: User) -> None:
    make_opportunity(db_session, owner_id=rep.id, stage="Closed Lost", probability=0, is_closed=True)
    make_opportunity(db_session, owner_id=rep.id, stage="Proposal", probability=60)
    make_opportunity(db_session, owner_id=rep.id, stage="Discovery", probability=20)
    make_opportunity(
        db_session, owner_id=rep.id, stage="Closed Won", probability=100, is_closed=True, is_won=True
    )
    make_opportunity(db_session, owner_id=make_user(db_session).id, stage="Hidden stage", probability=50)
    assert service.opportunity_stages(db_session, viewer=rep) == [
        "Discovery",
        "Proposal",
        "Closed Won",
        "Closed Lost",
    ]


# --- stored values and the audit log ----------------------------------------------------------


def test_money_and_times_survive_the_round_trip(db_session: Session, rep: User) -> None:
    local = dt.datetime(2026, 3, 4, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    deal = make_opportunity(db_session, owner_id=rep.id, amount=Decimal("999999999999.99"), created_at=local)
    db_session.expire_all()
    stored = db_session.get(Opportunity, deal.id)
    assert stored is not None
    assert stored.amount == Decimal("999999999999.99")
    assert stored.created_at == local
    assert stored.created_at.tzinfo is dt.UTC
    assert stored.created_at.hour == 17
    cents = db_session.scalar(text("SELECT amount FROM opportunity WHERE id = :id"), {"id": deal.id})
    assert int(cents) == 99999999999999


def test_database_refuses_a_negative_amount(db_session: Session, rep: User) -> None:
    with pytest.raises(DBAPIError), db_session.begin_nested():
        make_opportunity(db_session, owner_id=rep.id, amount=Decimal("-1"))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET action = 'tampered'",
        "DELETE FROM audit_log",
        "UPDATE audit_log SET after = NULL",
    ],
)
def test_audit_log_refuses_updates_and_deletes(db_session: Session, rep: User, statement: str) -> None:
    entry = record_change(
        db_session,
        actor_id=rep.id,
        action="create",
        object_type="thing",
        object_id=1,
        before=None,
        after={"a": 1},
    )
    assert entry is not None
    with pytest.raises(DBAPIError, match="append-only"), db_session.begin_nested():
        db_session.execute(text(statement))
    db_session.expire_all()
    kept = db_session.get(AuditEntry, entry.id)
    assert kept is not None
    assert (kept.action, kept.after) == ("create", {"a": 1})


def test_record_change_keeps_only_the_difference_and_skips_no_change(db_session: Session) -> None:
    same = record_change(
        db_session,
        actor_id=None,
        action="update",
        object_type="x",
        object_id=1,
        before={"a": 1, "b": Decimal("2.00")},
        after={"a": 1, "b": Decimal("2.00")},
    )
    assert same is None
    entry = record_change(
        db_session,
        actor_id=None,
        action="update",
        object_type="x",
        object_id=1,
        before={"a": 1, "b": 2, "when": dt.date(2026, 1, 1)},
        after={"a": 1, "b": 3, "when": dt.date(2026, 1, 1)},
    )
    assert entry is not None
    assert (entry.before, entry.after) == ({"b": 2}, {"b": 3})
    assert db_session.scalar(select(func.count()).select_from(AuditEntry)) == 1
