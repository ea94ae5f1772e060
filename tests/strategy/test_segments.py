"""Segments: set-wise evaluation checked against pandas on the Maven accounts, rights, bad input, audit."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridgehead.audit.service import history_of
from bridgehead.auth.models import Role
from bridgehead.common.pagination import PageRequest
from bridgehead.crm.models import Account
from bridgehead.errors import Conflict, PermissionDenied, ValidationFailed
from bridgehead.strategy import segments
from bridgehead.strategy.models import Segment, SegmentMember, SegmentStance
from bridgehead.strategy.segment_schemas import SegmentCreate, SegmentUpdate
from tests.connectors.support import MAVEN_DIR
from tests.factories import make_account, make_opportunity, make_user
from tests.strategy.maven_reference import import_maven, maven_accounts

# Each rule with the same question asked of the raw CSV in pandas.
MAVEN_RULES: list[tuple[str, dict[str, Any], Any]] = [
    (
        "sector in (case-insensitive)",
        {"all": [{"field": "industry", "op": "in", "value": ["TECHNOLOGY", "medical"]}]},
        lambda df: df["sector"].str.lower().isin(["technology", "medical"]),
    ),
    (
        "employees >= 5000",
        {"all": [{"field": "employees", "op": "gte", "value": 5000}]},
        lambda df: df["employees"] >= 5000,
    ),
    (
        "revenue between",
        {"all": [{"field": "annual_revenue", "op": "between", "value": [500_000_000, 2_000_000_000.5]}]},
        lambda df: df["revenue_dollars"].map(lambda v: Decimal("500000000") <= v <= Decimal("2000000000.5")),
    ),
    (
        "country eq",
        {"all": [{"field": "country", "op": "eq", "value": "united states"}]},
        lambda df: df["office_location"].str.lower() == "united states",
    ),
    (
        "custom field numeric",
        {"all": [{"field": "custom.year_established", "op": "lt", "value": 1990}]},
        lambda df: df["year_established"].fillna(9999) < 1990,
    ),
    (
        "any with not",
        {
            "any": [
                {"field": "industry", "op": "eq", "value": "Retail"},
                {"not": {"field": "country", "op": "in", "value": ["United States"]}},
            ]
        },
        lambda df: (
            (df["sector"].str.lower() == "retail") | ~(df["office_location"].str.lower() == "united states")
        ),
    ),
    (
        "parent present and name prefix",
        {
            "all": [
                {"field": "parent_account", "op": "is_not_empty"},
                {"field": "name", "op": "starts_with", "value": "b"},
            ]
        },
        lambda df: df["subsidiary_of"].notna() & df["account"].str.lower().str.startswith("b"),
    ),
    (
        "ne and not lt",
        {
            "all": [
                {"field": "industry", "op": "ne", "value": "software"},
                {"not": {"field": "employees", "op": "lt", "value": 1000}},
                {"field": "custom.year_established", "op": "between", "value": [1980, 2005]},
            ]
        },
        lambda df: (
            (df["sector"].str.lower() != "software")
            & ~(df["employees"] < 1000)
            & df["year_established"].between(1980, 2005)
        ),
    ),
]


def _member_names(session: Session, segment_id: int) -> set[str]:
    return set(
        session.scalars(
            select(Account.name)
            .join(SegmentMember, SegmentMember.account_id == Account.id)
            .where(SegmentMember.segment_id == segment_id)
        )
    )


def test_evaluation_matches_pandas_on_maven_accounts(db_session: Session) -> None:
    planner = make_user(db_session, role=Role.PLANNER)
    import_maven(db_session)
    frame = maven_accounts()
    created = [
        segments.create_segment(
            db_session,
            actor=planner,
            data=SegmentCreate(name=label, stance=SegmentStance.MAINTAIN, rule=rule),
        )
        for label, rule, _ in MAVEN_RULES
    ]
    counts = segments.evaluate_segments(db_session)
    for (label, _, expected), segment in zip(MAVEN_RULES, created, strict=True):
        mask = expected(frame)
        wanted = set(frame.loc[mask.fillna(False).astype(bool), "account"])
        assert _member_names(db_session, segment.id) == wanted, label
        assert counts[segment.id] == len(wanted), label
        stored = db_session.get(Segment, segment.id)
        assert stored is not None
        assert stored.member_count == len(wanted)
        assert stored.evaluated_at is not None
    # The rules must discriminate: neither all nor none of the accounts.
    sizes = {counts[segment.id] for segment in created}
    assert 0 not in sizes
    assert len(frame) not in sizes


def test_import_re_evaluates_segments(db_session: Session, tmp_path: Path) -> None:
    planner = make_user(db_session, role=Role.PLANNER)
    big = segments.create_segment(
        db_session,
        actor=planner,
        data=SegmentCreate(
            name="Big Maven accounts",
            stance=SegmentStance.INVEST,
            rule={"all": [{"field": "employees", "op": "gte", "value": 5000}]},
        ),
    )
    assert big.member_count == 0
    import_maven(db_session)
    frame = maven_accounts()
    expected = set(frame.loc[frame["employees"] >= 5000, "account"])
    assert _member_names(db_session, big.id) == expected

    # The same export again, with one big account shrunk: the import alone moves it out.
    changed_dir = tmp_path / "maven"
    shutil.copytree(MAVEN_DIR, changed_dir)
    shrunk = sorted(expected)[0]
    edited = pd.read_csv(changed_dir / "accounts.csv", dtype=str, keep_default_na=False)
    edited.loc[edited["account"] == shrunk, "employees"] = "12"
    edited.to_csv(changed_dir / "accounts.csv", index=False)
    import_maven(db_session, changed_dir)
    assert _member_names(db_session, big.id) == expected - {shrunk}
    stored = db_session.get(Segment, big.id)
    assert stored is not None
    assert stored.member_count == len(expected) - 1


def _fs_rule() -> dict[str, Any]:
    return {"all": [{"field": "industry", "op": "eq", "value": "Banking"}]}


@pytest.mark.parametrize("role", [Role.REP, Role.MANAGER, Role.EXECUTIVE, Role.CONTROLLER])
def test_only_planners_and_admins_change_segments(db_session: Session, role: Role) -> None:
    planner = make_user(db_session, role=Role.PLANNER)
    other = make_user(db_session, role=role)
    existing = segments.create_segment(
        db_session,
        actor=planner,
        data=SegmentCreate(name="Banks", stance=SegmentStance.INVEST, rule=_fs_rule()),
    )
    with pytest.raises(PermissionDenied):
        segments.create_segment(
            db_session,
            actor=other,
            data=SegmentCreate(name="Mine", stance=SegmentStance.INVEST, rule=_fs_rule()),
        )
    with pytest.raises(PermissionDenied):
        segments.update_segment(
            db_session, actor=other, segment_id=existing.id, data=SegmentUpdate(name="Renamed")
        )
    with pytest.raises(PermissionDenied):
        segments.delete_segment(db_session, actor=other, segment_id=existing.id)
    assert db_session.scalar(select(func.count()).select_from(Segment)) == 1
    assert segments.read_segment(db_session, segment_id=existing.id).name == "Banks"


def test_bad_rule_changes_nothing(db_session: Session) -> None:
    admin = make_user(db_session, role=Role.ADMIN)
    make_account(db_session, industry="Banking")
    segment = segments.create_segment(
        db_session,
        actor=admin,
        data=SegmentCreate(name="Banks", stance=SegmentStance.INVEST, rule=_fs_rule()),
    )
    bad_rules = [
        {"all": [{"field": "shoe_size", "op": "eq", "value": 3}]},
        {"all": [{"field": "employees", "op": "gte", "value": "lots"}]},
        {"all": [{"field": "employees", "op": "between", "value": [10]}]},
    ]
    for rule in bad_rules:
        with pytest.raises(ValidationFailed) as caught:
            segments.update_segment(
                db_session, actor=admin, segment_id=segment.id, data=SegmentUpdate(name="Changed", rule=rule)
            )
        assert caught.value.context["field"].startswith("rule.all[0].")
        with pytest.raises(ValidationFailed):
            segments.create_segment(
                db_session,
                actor=admin,
                data=SegmentCreate(name="New", stance=SegmentStance.INVEST, rule=rule),
            )
    stored = segments.read_segment(db_session, segment_id=segment.id)
    assert stored.name == "Banks"
    assert stored.rule == _fs_rule()
    assert db_session.scalar(select(func.count()).select_from(Segment)) == 1


def test_changes_are_audited_and_re_evaluated(db_session: Session) -> None:
    planner = make_user(db_session, role=Role.PLANNER)
    bank = make_account(db_session, industry="Banking", employees=50)
    shop = make_account(db_session, industry="Retail", employees=50)
    segment = segments.create_segment(
        db_session,
        actor=planner,
        data=SegmentCreate(name="Banks", stance=SegmentStance.INVEST, rule=_fs_rule()),
    )
    members = set(
        db_session.scalars(select(SegmentMember.account_id).where(SegmentMember.segment_id == segment.id))
    )
    assert bank.id in members
    assert shop.id not in members
    updated = segments.update_segment(
        db_session,
        actor=planner,
        segment_id=segment.id,
        data=SegmentUpdate(rule={"all": [{"field": "industry", "op": "in", "value": ["retail"]}]}),
    )
    members = set(
        db_session.scalars(select(SegmentMember.account_id).where(SegmentMember.segment_id == segment.id))
    )
    assert shop.id in members
    assert bank.id not in members
    assert updated.member_count == len(members)
    segments.delete_segment(db_session, actor=planner, segment_id=segment.id)
    actions = [entry.action for entry in history_of(db_session, object_type="segment", object_id=segment.id)]
    assert actions == ["create", "update", "delete"]
    assert all(
        entry.actor_id == planner.id
        for entry in history_of(db_session, object_type="segment", object_id=segment.id)
    )
    assert (
        db_session.scalar(
            select(func.count()).select_from(SegmentMember).where(SegmentMember.segment_id == segment.id)
        )
        == 0
    )


def test_duplicate_name_and_unknown_priority_are_refused(db_session: Session) -> None:
    planner = make_user(db_session, role=Role.PLANNER)
    segments.create_segment(
        db_session,
        actor=planner,
        data=SegmentCreate(name="Banks", stance=SegmentStance.INVEST, rule=_fs_rule()),
    )
    with pytest.raises(Conflict):
        segments.create_segment(
            db_session,
            actor=planner,
            data=SegmentCreate(name="banks", stance=SegmentStance.MAINTAIN, rule=_fs_rule()),
        )
    with pytest.raises(ValidationFailed) as caught:
        segments.create_segment(
            db_session,
            actor=planner,
            data=SegmentCreate(
                name="Linked", stance=SegmentStance.INVEST, rule=_fs_rule(), priority_ids=[987654]
            ),
        )
    assert caught.value.context["field"] == "priority_ids"


def test_preview_counts_without_storing(db_session: Session) -> None:
    planner = make_user(db_session, role=Role.PLANNER)
    bank = make_account(db_session, industry="Banking", employees=3000)
    make_account(db_session, industry="Retail", employees=3000)
    make_opportunity(db_session, account_id=bank.id, owner_id=planner.id)
    stored = segments.create_segment(
        db_session,
        actor=planner,
        data=SegmentCreate(
            name="Large",
            stance=SegmentStance.MAINTAIN,
            rule={"all": [{"field": "employees", "op": "gte", "value": 2000}]},
        ),
    )
    before = db_session.scalar(select(func.count()).select_from(SegmentMember))
    preview = segments.preview_rule(db_session, viewer=planner, rule=_fs_rule())
    expected_matches = db_session.scalar(
        select(func.count()).select_from(Account).where(func.lower(Account.industry) == "banking")
    )
    assert preview.matched_accounts == expected_matches
    assert preview.open_count == 1
    assert preview.open_amount > 0
    overlap = {item.segment_id: item.shared_accounts for item in preview.overlaps}
    shared = db_session.scalar(
        select(func.count())
        .select_from(SegmentMember)
        .join(Account, Account.id == SegmentMember.account_id)
        .where(SegmentMember.segment_id == stored.id, func.lower(Account.industry) == "banking")
    )
    assert overlap[stored.id] == shared
    assert bank.id in {item.id for item in preview.sample}
    assert db_session.scalar(select(func.count()).select_from(SegmentMember)) == before


def test_members_respect_visibility(db_session: Session) -> None:
    planner = make_user(db_session, role=Role.PLANNER)
    rep = make_user(db_session, role=Role.REP)
    colleague = make_user(db_session, role=Role.REP)
    mine = make_account(db_session, industry="Banking", owner_id=rep.id)
    theirs = make_account(db_session, industry="Banking", owner_id=colleague.id)
    segment = segments.create_segment(
        db_session,
        actor=planner,
        data=SegmentCreate(name="Banks", stance=SegmentStance.INVEST, rule=_fs_rule()),
    )
    page = PageRequest(page=1, page_size=500)
    rep_view = {
        item.id
        for item in segments.list_members(db_session, viewer=rep, segment_id=segment.id, page=page).items
    }
    planner_view = {
        item.id
        for item in segments.list_members(db_session, viewer=planner, segment_id=segment.id, page=page).items
    }
    assert mine.id in rep_view
    assert theirs.id not in rep_view
    assert {mine.id, theirs.id} <= planner_view


def test_won_deals_field_finds_the_installed_base(db_session: Session) -> None:
    customer = make_account(db_session)
    prospect = make_account(db_session)
    make_opportunity(db_session, account_id=customer.id, is_closed=True, is_won=True, stage="Closed Won")
    make_opportunity(db_session, account_id=prospect.id)
    condition = segments.matching_account_ids({"all": [{"field": "won_deals", "op": "gte", "value": 1}]})
    matched = set(db_session.scalars(condition.where(Account.id.in_([customer.id, prospect.id]))))
    assert matched == {customer.id}
