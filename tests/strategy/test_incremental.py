"""After an import, segments and ICP fit are re-evaluated for what the import changed only, and the
result is identical to a full evaluation: accounts edited, a deal won, a won deal moved to another
account (which changes the count of an account the import never touched)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bridgehead.auth.models import Role
from bridgehead.crm.models import Account
from bridgehead.strategy import icp, segments
from bridgehead.strategy.models import AccountFit, Segment, SegmentMember, SegmentStance
from bridgehead.strategy.segment_schemas import IcpCriterionCreate, SegmentCreate
from tests.connectors.support import MAVEN_DIR
from tests.factories import make_user
from tests.strategy.maven_reference import import_maven, maven_accounts


def _won_counts(directory: Path) -> pd.Series:
    pipeline = pd.read_csv(directory / "sales_pipeline.csv", dtype=str, keep_default_na=False)
    return pipeline.loc[pipeline["deal_stage"] == "Won"].groupby("account").size()


def _memberships(session: Session) -> set[tuple[int, int]]:
    return {
        (segment_id, account_id)
        for segment_id, account_id in session.execute(
            select(SegmentMember.segment_id, SegmentMember.account_id)
        )
    }


def _fits(session: Session) -> dict[int, tuple[int, frozenset[int]]]:
    return {
        account_id: (score, frozenset(met))
        for account_id, score, met in session.execute(
            select(AccountFit.account_id, AccountFit.score, AccountFit.met_criteria)
        )
    }


def _names(session: Session, segment_id: int) -> set[str]:
    return set(
        session.scalars(
            select(Account.name)
            .join(SegmentMember, SegmentMember.account_id == Account.id)
            .where(SegmentMember.segment_id == segment_id)
        )
    )


def _create(session: Session, actor: Any, name: str, rule: dict[str, Any]) -> int:
    data = SegmentCreate(name=name, stance=SegmentStance.MAINTAIN, rule=rule)
    return segments.create_segment(session, actor=actor, data=data).id


def test_incremental_after_import_equals_a_full_evaluation(db_session: Session, tmp_path: Path) -> None:
    planner = make_user(db_session, role=Role.PLANNER)
    import_maven(db_session)
    frame = maven_accounts()
    won = _won_counts(MAVEN_DIR)
    # Three accounts: one to shrink, one that wins one more deal, one that loses a won deal to it.
    shrunk = sorted(frame.loc[frame["employees"] >= 5000, "account"])[0]
    ranked = won.drop(labels=[shrunk], errors="ignore").sort_values(kind="stable")
    winner, loser = str(ranked.index[0]), str(ranked.index[-1])
    big = _create(db_session, planner, "Big", {"all": [{"field": "employees", "op": "gte", "value": 5000}]})
    old = _create(
        db_session, planner, "Old", {"all": [{"field": "custom.year_established", "op": "lt", "value": 1990}]}
    )
    # Thresholds that the winner crosses upward and the loser crosses downward.
    gains = _create(
        db_session,
        planner,
        "Gains",
        {"all": [{"field": "won_deals", "op": "gte", "value": int(won[winner]) + 1}]},
    )
    keeps = _create(
        db_session, planner, "Keeps", {"all": [{"field": "won_deals", "op": "gte", "value": int(won[loser])}]}
    )
    for label, rule, weight in [
        ("Big", {"field": "employees", "op": "gte", "value": 2000}, 3),
        ("Old", {"field": "custom.year_established", "op": "lt", "value": 1995}, 1),
    ]:
        icp.create_criterion(
            db_session, actor=planner, data=IcpCriterionCreate(label=label, rule=rule, weight=weight)
        )
    assert winner not in _names(db_session, gains)
    assert loser in _names(db_session, keeps)

    changed = tmp_path / "maven"
    shutil.copytree(MAVEN_DIR, changed)
    accounts = pd.read_csv(changed / "accounts.csv", dtype=str, keep_default_na=False)
    accounts.loc[accounts["account"] == shrunk, "employees"] = "12"
    accounts.loc[accounts["account"] == shrunk, "year_established"] = "1900"
    accounts.to_csv(changed / "accounts.csv", index=False)
    pipeline = pd.read_csv(changed / "sales_pipeline.csv", dtype=str, keep_default_na=False)
    moved = pipeline.index[(pipeline["account"] == loser) & (pipeline["deal_stage"] == "Won")][0]
    pipeline.loc[moved, "account"] = winner
    pipeline.to_csv(changed / "sales_pipeline.csv", index=False)
    import_maven(db_session, changed)

    assert shrunk not in _names(db_session, big)
    assert shrunk in _names(db_session, old)
    assert winner in _names(db_session, gains)
    assert loser not in _names(db_session, keeps)
    incremental_members, incremental_fits = _memberships(db_session), _fits(db_session)
    incremental_counts = {segment.id: segment.member_count for segment in db_session.scalars(select(Segment))}

    full_counts = segments.evaluate_segments(db_session)
    icp.score_accounts(db_session)
    assert _memberships(db_session) == incremental_members
    assert _fits(db_session) == incremental_fits
    assert full_counts == incremental_counts
    assert len(incremental_fits) == len(frame)


def test_after_import_looks_only_at_accounts_the_import_changed(db_session: Session) -> None:
    planner = make_user(db_session, role=Role.PLANNER)
    import_maven(db_session)
    rule = {"field": "state", "op": "is_not_empty"}
    with_state = _create(db_session, planner, "With a state", {"all": [rule]})
    icp.create_criterion(
        db_session, actor=planner, data=IcpCriterionCreate(label="State", rule=rule, weight=1)
    )
    assert _names(db_session, with_state) == set()
    # The Maven mapping has no state: a state set outside any import is not the import's change, so
    # re-importing the same files re-evaluates nothing (a full evaluation would pick it up).
    edited = sorted(maven_accounts()["account"])[0]
    db_session.execute(update(Account).where(Account.name == edited).values(state="Nevada"))
    import_maven(db_session)
    assert _names(db_session, with_state) == set()
    assert set(_fits(db_session).values()) == {(0, frozenset())}
    segments.evaluate_segments(db_session)
    icp.score_accounts(db_session)
    assert _names(db_session, with_state) == {edited}
