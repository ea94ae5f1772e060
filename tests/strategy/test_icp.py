"""ICP fit: scores and reasons checked against pandas on the Maven accounts; rights; bad input."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridgehead.audit.service import history_of
from bridgehead.auth.models import Role
from bridgehead.common.pagination import PageRequest
from bridgehead.crm.models import Account
from bridgehead.errors import NotFound, PermissionDenied, ValidationFailed
from bridgehead.strategy import icp
from bridgehead.strategy.models import AccountFit, IcpCriterion
from bridgehead.strategy.segment_schemas import IcpCriterionCreate, IcpCriterionUpdate
from tests.factories import make_account, make_user
from tests.strategy.maven_reference import import_maven, maven_accounts

CRITERIA: list[tuple[str, dict[str, Any], int, Any]] = [
    (
        "Tech or software",
        {"field": "industry", "op": "in", "value": ["Technology", "software"]},
        40,
        lambda df: df["sector"].str.lower().isin(["technology", "software"]),
    ),
    (
        "2,000+ employees",
        {"field": "employees", "op": "gte", "value": 2000},
        25,
        lambda df: df["employees"] >= 2000,
    ),
    (
        "Revenue of $1B+",
        {"field": "annual_revenue", "op": "gte", "value": 1_000_000_000},
        20,
        lambda df: df["revenue_dollars"] >= Decimal(1_000_000_000),
    ),
    (
        "Established before 1995",
        {"field": "custom.year_established", "op": "lt", "value": 1995},
        10,
        lambda df: df["year_established"].fillna(9999) < 1995,
    ),
    (
        "US office",
        {"field": "country", "op": "eq", "value": "United States"},
        7,
        lambda df: df["office_location"] == "United States",
    ),
]


def test_scores_match_pandas_on_maven_accounts(db_session: Session) -> None:
    planner = make_user(db_session, role=Role.PLANNER)
    import_maven(db_session)
    created = [
        icp.create_criterion(
            db_session, actor=planner, data=IcpCriterionCreate(label=label, rule=rule, weight=weight)
        )
        for label, rule, weight, _ in CRITERIA
    ]
    frame = maven_accounts()
    total = sum(weight for _, _, weight, _ in CRITERIA)
    met_weight = sum(expected(frame).astype(int) * weight for _, _, weight, expected in CRITERIA)
    # round(100 * met / total), halves up, in integers.
    expected_scores = ((met_weight * 200 + total) // (2 * total)).to_dict()
    expected_met = {
        name: {
            criterion.id
            for criterion, (*_, expected) in zip(created, CRITERIA, strict=True)
            if expected(frame)[name]
        }
        for name in frame.index
    }
    rows = db_session.execute(
        select(Account.name, AccountFit.score, AccountFit.met_criteria).join(
            AccountFit, AccountFit.account_id == Account.id
        )
    ).all()
    assert {name: score for name, score, _ in rows} == expected_scores
    assert {name: set(met) for name, _, met in rows} == expected_met
    assert len(set(expected_scores.values())) > 3  # the criteria discriminate

    distribution = icp.score_distribution(db_session)
    assert sum(bucket.accounts for bucket in distribution) == len(frame)
    top = icp.list_fits(db_session, viewer=planner, order="top", page=PageRequest(page=1, page_size=5))
    bottom = icp.list_fits(db_session, viewer=planner, order="bottom", page=PageRequest(page=1, page_size=5))
    assert top.items[0].score == max(expected_scores.values())
    assert bottom.items[0].score == min(expected_scores.values())
    assert [item.score for item in top.items] == sorted((item.score for item in top.items), reverse=True)

    counts = icp.criterion_match_counts(db_session)
    for criterion, (*_, expected) in zip(created, CRITERIA, strict=True):
        assert counts[criterion.id] == int(expected(frame).sum())


def test_account_fit_gives_reasons_and_respects_visibility(db_session: Session) -> None:
    planner = make_user(db_session, role=Role.PLANNER)
    rep = make_user(db_session, role=Role.REP)
    account = make_account(db_session, industry="Banking", employees=50, owner_id=planner.id)
    industry = icp.create_criterion(
        db_session,
        actor=planner,
        data=IcpCriterionCreate(
            label="Banks", rule={"field": "industry", "op": "eq", "value": "banking"}, weight=3
        ),
    )
    size = icp.create_criterion(
        db_session,
        actor=planner,
        data=IcpCriterionCreate(
            label="Big", rule={"field": "employees", "op": "gte", "value": 1000}, weight=1
        ),
    )
    fit = icp.account_fit(db_session, viewer=planner, account_id=account.id)
    assert fit.score == round(100 * industry.weight / (industry.weight + size.weight))
    assert {reason.id: reason.met for reason in fit.reasons} == {industry.id: True, size.id: False}
    with pytest.raises(NotFound):
        icp.account_fit(db_session, viewer=rep, account_id=account.id)

    icp.update_criterion(db_session, actor=planner, criterion_id=size.id, data=IcpCriterionUpdate(weight=3))
    assert icp.account_fit(db_session, viewer=planner, account_id=account.id).score == 50
    icp.delete_criterion(db_session, actor=planner, criterion_id=industry.id)
    assert icp.account_fit(db_session, viewer=planner, account_id=account.id).score == 0
    icp.delete_criterion(db_session, actor=planner, criterion_id=size.id)
    assert icp.account_fit(db_session, viewer=planner, account_id=account.id).score is None
    actions = [
        entry.action for entry in history_of(db_session, object_type="icp_criterion", object_id=size.id)
    ]
    assert actions == ["create", "update", "delete"]


def test_only_editors_change_criteria_and_bad_rules_store_nothing(db_session: Session) -> None:
    rep = make_user(db_session, role=Role.REP)
    admin = make_user(db_session, role=Role.ADMIN)
    rule = {"field": "industry", "op": "eq", "value": "Banking"}
    with pytest.raises(PermissionDenied):
        icp.create_criterion(db_session, actor=rep, data=IcpCriterionCreate(label="x", rule=rule, weight=1))
    with pytest.raises(ValidationFailed) as caught:
        icp.create_criterion(
            db_session,
            actor=admin,
            data=IcpCriterionCreate(
                label="x", rule={"field": "employees", "op": "between", "value": [5]}, weight=1
            ),
        )
    assert caught.value.context["field"] == "rule.value"
    assert db_session.scalar(select(func.count()).select_from(IcpCriterion)) == 0
    assert db_session.scalar(select(func.count()).select_from(AccountFit)) == 0
