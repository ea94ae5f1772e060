"""First evaluations of many segments share one scan of the accounts (a bit per rule) and a first
load into an empty member table goes in before the table's account index (on PostgreSQL also its
foreign keys and primary key; on SQLite segment by segment, in primary-key order). The members
must be exactly those each rule's own ``SELECT`` finds (what the per-segment evaluation stores), on
varied rules and data, in more than one pass."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, inspect, select
from sqlalchemy.orm import Session

from bridgehead.crm.models import Account
from bridgehead.strategy import segments
from bridgehead.strategy.models import Segment, SegmentMember, SegmentStance
from bridgehead.strategy.rules import check_rule, compile_rule
from tests.factories import make_account, make_opportunity, make_user
from tests.strategy.maven_reference import import_maven

_TIERS = ("SMB", "growth", "KEY", "Strategic")


def _condition(field: str, op: str, value: Any = None) -> dict[str, Any]:
    condition: dict[str, Any] = {"field": field, "op": op}
    if value is not None:
        condition["value"] = value
    return condition


# More than one pass (30 rules each) of account-row rules, plus rules on won deals and owners,
# which the shared scan leaves to the per-segment statement.
RULES: list[dict[str, Any]] = [
    {"all": [_condition("industry", "in", ["technology", "MEDICAL", "Retail"])]},
    {"all": [_condition("industry", "not_in", ["technology", "Retail"])]},
    {"all": [_condition("industry", "ne", "Retail")]},
    {"all": [_condition("industry", "is_empty")]},
    {"all": [_condition("industry", "is_not_empty")]},
    {"all": [_condition("industry", "contains", "ec")]},
    {"all": [_condition("name", "starts_with", "a")]},
    {"all": [_condition("name", "contains", "%")]},
    {"all": [_condition("state", "is_empty")]},
    {"all": [_condition("country", "eq", "united states")]},
    {"all": [_condition("country", "ne", "United States")]},
    {"all": [_condition("employees", "gte", 5000)]},
    {"all": [_condition("employees", "lt", 100)]},
    {"all": [_condition("employees", "between", [100, 4999])]},
    {"all": [_condition("employees", "in", [0, 1000, 2500])]},
    {"all": [_condition("employees", "is_empty")]},
    {"all": [_condition("annual_revenue", "between", [500_000_000, 2_000_000_000.5])]},
    {"all": [_condition("annual_revenue", "lte", 100_000_000)]},
    {"all": [_condition("annual_revenue", "ne", 50_000_000)]},
    {"all": [_condition("parent_account", "is_not_empty")]},
    {"all": [_condition("custom.year_established", "lt", 1990)]},
    {"all": [_condition("custom.year_established", "between", [1980, 2000])]},
    {"all": [_condition("custom.year_established", "eq", 1999)]},
    {"all": [_condition("custom.year_established", "ne", 1999)]},
    {"all": [_condition("custom.year_established", "is_empty")]},
    {"all": [_condition("custom.tier", "eq", "strategic")]},
    {"all": [_condition("custom.tier", "in", ["key", "Strategic"])]},
    {"all": [_condition("custom.tier", "not_in", ["smb"])]},
    {"all": [_condition("custom.tier", "starts_with", "g")]},
    {"all": [_condition("custom.code", "eq", 7)]},
    {"all": [_condition("custom.code", "gt", 3)]},
    {
        "any": [
            _condition("industry", "eq", "Retail"),
            {"not": _condition("country", "in", ["United States"])},
        ]
    },
    {"not": {"all": [_condition("employees", "gte", 1000), _condition("custom.tier", "eq", "KEY")]}},
    {
        "all": [
            {"not": _condition("industry", "eq", "technology")},
            {"not": _condition("custom.code", "lt", 5)},
        ]
    },
    {"all": []},
    {"any": []},
    {"all": [_condition("won_deals", "gte", 1)]},
    {"all": [_condition("won_deals", "lt", 2), _condition("employees", "gte", 100)]},
    {"all": [_condition("owner", "is_not_empty")]},
]


def _book(session: Session) -> None:
    """The Maven accounts plus accounts with the awkward values: missing, empty, mixed case, text
    where a number is expected, a parent, an owner, won deals."""
    import_maven(session)
    owner = make_user(session)
    parent = make_account(session, name="Parent Holdings")
    odd_values: list[dict[str, Any]] = [
        {"industry": None, "employees": None, "annual_revenue_amount": None, "country": None, "state": None},
        {"industry": "", "state": "", "custom_fields": {"tier": "", "code": "seven"}},
        {"industry": "TECHNOLOGY", "name": "a%b", "custom_fields": {"code": "7", "tier": "key"}},
        {"industry": "Medical", "custom_fields": {"code": "12.5", "year_established": "1999"}},
        {"custom_fields": {"code": "-3", "year_established": "not a year"}},
        {"custom_fields": {"code": ".5", "tier": "Growth"}, "parent_account_id": parent.id},
        {"annual_revenue_amount": Decimal("50000000"), "owner_id": owner.id, "employees": 0},
        {"annual_revenue_amount": Decimal("2000000000.50"), "employees": 2500, "country": "united STATES"},
    ]
    for index, fields in enumerate(odd_values):
        fields.setdefault("custom_fields", {"tier": _TIERS[index % len(_TIERS)]})
        make_account(session, **fields)
    for account_id in session.scalars(select(Account.id).order_by(Account.id).limit(12)):
        make_opportunity(session, account_id=account_id, is_closed=True, is_won=True, stage="Closed Won")
    first = session.scalar(select(Account.id).order_by(Account.id))
    make_opportunity(session, account_id=first, is_closed=True, is_won=True, stage="Closed Won")


def _add_segments(session: Session) -> list[Segment]:
    """The rules as active segments without members (a first evaluation of each is due)."""
    added = [
        Segment(name=f"Rule {index}", stance=SegmentStance.MAINTAIN, rule=check_rule(rule), is_active=True)
        for index, rule in enumerate(RULES)
    ]
    session.add_all(added)
    session.flush()
    return added


def _expected(session: Session, added: list[Segment]) -> dict[int, set[int]]:
    """What each rule's own SELECT finds (the statement a per-segment evaluation inserts)."""
    return {
        segment.id: set(session.scalars(select(Account.id).where(compile_rule(segment.rule))))
        for segment in added
    }


def _stored(session: Session, added: list[Segment]) -> dict[int, set[int]]:
    stored: dict[int, set[int]] = {segment.id: set() for segment in added}
    for segment_id, account_id in session.execute(select(SegmentMember.segment_id, SegmentMember.account_id)):
        stored[segment_id].add(account_id)
    return stored


def test_first_evaluation_in_one_pass_stores_what_each_rule_selects(
    db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    _book(db_session)
    added = _add_segments(db_session)
    expected = _expected(db_session, added)
    # Rules must discriminate, or equal sets would prove little.
    sizes = {len(members) for members in expected.values()}
    assert len(sizes) > 15
    together: list[int] = []
    real_together = segments._first_members_together

    def spy(session: Session, batch: Any, **options: Any) -> dict[int, int]:
        together.extend(segment.id for segment in batch)
        return real_together(session, batch, **options)

    monkeypatch.setattr(segments, "_first_members_together", spy)
    monkeypatch.setattr(segments, "BULK_LOAD_MIN_ACCOUNTS", 10**9)  # not a bulk load here
    counts = segments.evaluate_segments(db_session)
    # Every account-row rule went through the shared scan (two passes), the others did not.
    assert len(together) == len(RULES) - 3 > segments._PASS_SEGMENTS
    assert _stored(db_session, added) == expected
    for segment in added:
        assert counts[segment.id] == len(expected[segment.id])
        assert segment.member_count == len(expected[segment.id])
        assert segment.evaluated_at is not None
    # A second (warm) evaluation finds nothing to change.
    assert segments.evaluate_segments(db_session) == counts
    assert _stored(db_session, added) == expected


def test_one_segment_at_a_time_gives_the_same_members(db_session: Session) -> None:
    _book(db_session)
    added = _add_segments(db_session)
    one_by_one = {
        segment.id: segments.evaluate_segments(db_session, segment_ids=[segment.id]) for segment in added
    }
    stored = _stored(db_session, added)
    db_session.execute(delete(SegmentMember))
    together = segments.evaluate_segments(db_session)
    assert _stored(db_session, added) == stored
    assert together == {segment_id: counts[segment_id] for segment_id, counts in one_by_one.items()}


def test_bulk_load_into_an_empty_member_table_keeps_the_constraints(
    db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    _book(db_session)
    added = _add_segments(db_session)
    expected = _expected(db_session, added)
    before = _constraints(db_session)
    monkeypatch.setattr(segments, "BULK_LOAD_MIN_ACCOUNTS", 1)
    assert segments._is_bulk_load(db_session) is True
    in_key_order: list[bool] = []
    real_together = segments._first_members_together

    def spy(session: Session, batch: Any, **options: Any) -> dict[int, int]:
        in_key_order.append(options.get("in_key_order", False))
        return real_together(session, batch, **options)

    monkeypatch.setattr(segments, "_first_members_together", spy)
    counts = segments.evaluate_segments(db_session)
    # SQLite writes the shared scan's members segment by segment, PostgreSQL account by account.
    assert in_key_order == [db_session.get_bind().dialect.name == "sqlite"]
    assert _stored(db_session, added) == expected
    assert counts == {segment.id: len(expected[segment.id]) for segment in added}
    # The foreign keys (PostgreSQL) and the account index are back, as the migrations made them ...
    assert _constraints(db_session) == before
    # ... and deleting an account or a segment still removes its memberships (on SQLite through
    # the triggers that stand in for ON DELETE CASCADE).
    every_account = added[RULES.index({"all": []})].id
    member_account = max(expected[every_account])  # the last account made: no deals, no children
    assert len(_stored(db_session, added)[every_account]) > 1
    db_session.execute(delete(Account).where(Account.id == member_account))
    remaining = db_session.scalars(
        select(SegmentMember.segment_id).where(SegmentMember.account_id == member_account)
    )
    assert list(remaining) == []
    db_session.execute(delete(Segment).where(Segment.id == every_account))
    left = db_session.scalar(
        select(SegmentMember.account_id).where(SegmentMember.segment_id == every_account)
    )
    assert left is None
    # Once members are stored it is no longer a bulk load.
    assert segments._is_bulk_load(db_session) is False


def _constraints(session: Session) -> tuple[Any, ...]:
    inspector = inspect(session.connection())
    foreign_keys = sorted(
        (
            key["name"],
            tuple(key["constrained_columns"]),
            key["referred_table"],
            key["options"].get("ondelete"),
        )
        for key in inspector.get_foreign_keys("segment_member")
    )
    indexes = sorted(
        (index["name"], tuple(index["column_names"])) for index in inspector.get_indexes("segment_member")
    )
    return tuple(foreign_keys), tuple(indexes)
