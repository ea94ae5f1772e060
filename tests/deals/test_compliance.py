"""Stage compliance flags against the per-requirement definition they replaced, on varied deals.

The reference below is the earlier implementation (one ``INSERT … SELECT`` per stage requirement),
kept here as the definition: the step must write the same flags, in the same order per deal.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, func, insert, literal, select, true
from sqlalchemy.orm import Session, aliased

from bridgehead.common.types import UTCDateTime, utcnow
from bridgehead.crm.models import Opportunity
from bridgehead.deals.compliance import _sort_into_stages, check_stage_compliance
from bridgehead.deals.models import (
    ExitCriterionCheck,
    QualificationEntry,
    QualificationStatus,
    StageComplianceFlag,
    Stakeholder,
    StakeholderRole,
)
from bridgehead.deals.process import REQUIRED_FIELD_LABELS, processes
from bridgehead.deals.qualification import STATUS_RANK, framework_dimensions
from bridgehead.deals.stakeholders import ENGAGEMENT_WINDOW_DAYS, engaged_condition
from tests.factories import make_account, make_activity, make_contact, make_opportunity, make_user


def reference_flags(session: Session, scope: ColumnElement[bool]) -> None:
    """The earlier definition: for every checked stage and requirement, flag its deals that miss it."""
    contexts = processes(session)
    session.execute(
        delete(StageComplianceFlag).where(
            StageComplianceFlag.opportunity_id.in_(select(Opportunity.id).where(scope))
        )
    )
    now = utcnow()
    cutoff = now - dt.timedelta(days=ENGAGEMENT_WINDOW_DAYS)
    deal_stage = _sort_into_stages(session, contexts, scope)
    for context in contexts:
        dimensions = {d.key: d for d in framework_dimensions(session, context.framework.id)}
        for stage in context.stages:
            if stage.is_closed and not stage.is_won:
                continue
            unmet: list[tuple[str, str, str, ColumnElement[bool]]] = []
            for earlier in context.stages:
                if earlier.position >= stage.position or earlier.is_closed:
                    continue
                for index, criterion in enumerate(earlier.exit_criteria):
                    ticked = exists().where(
                        ExitCriterionCheck.opportunity_id == Opportunity.id,
                        ExitCriterionCheck.stage_id == earlier.id,
                        ExitCriterionCheck.criterion_index == index,
                    )
                    unmet.append(("exit_criterion", f"{earlier.name}#{index}", criterion, ~ticked))
            for name in stage.required_fields:
                column = getattr(Opportunity, name, None)
                if column is not None:
                    label = REQUIRED_FIELD_LABELS.get(name, name)
                    unmet.append(("field", name, f"{label} is not filled in", column.is_(None)))
            good = [s.value for s, rank in STATUS_RANK.items() if rank >= STATUS_RANK[stage.minimum_status]]
            for key in stage.required_dimensions:
                dimension = dimensions.get(key)
                if dimension is None:
                    continue
                met = exists().where(
                    QualificationEntry.opportunity_id == Opportunity.id,
                    QualificationEntry.dimension_id == dimension.id,
                    QualificationEntry.status.in_(good),
                )
                unmet.append(
                    ("qualification", key, f"{dimension.name} must be {stage.minimum_status.value}", ~met)
                )
            if stage.min_engaged_stakeholders:
                person = aliased(Stakeholder)
                engaged_count = (
                    select(func.count())
                    .select_from(person)
                    .where(person.opportunity_id == Opportunity.id, engaged_condition(person, cutoff))
                    .scalar_subquery()
                )
                message = f"{stage.min_engaged_stakeholders} engaged stakeholders needed"
                unmet.append(
                    ("stakeholders", "engaged", message, engaged_count < stage.min_engaged_stakeholders)
                )
            if stage.requires_economic_buyer:
                buyer = aliased(Stakeholder)
                engaged_buyer = exists().where(
                    buyer.opportunity_id == Opportunity.id,
                    buyer.role == StakeholderRole.ECONOMIC_BUYER,
                    engaged_condition(buyer, cutoff),
                )
                unmet.append(
                    ("stakeholders", "economic_buyer", "the economic buyer is not engaged", ~engaged_buyer)
                )
            for kind, key, message, condition in unmet:
                rows = (
                    select(
                        Opportunity.id,
                        literal(stage.id),
                        literal(kind),
                        literal(key[:80]),
                        literal(message[:300]),
                        literal(now, UTCDateTime()),
                    )
                    .select_from(deal_stage)
                    .join(Opportunity, Opportunity.id == deal_stage.c.opportunity_id)
                    .where(deal_stage.c.stage_id == stage.id, condition)
                    .order_by(deal_stage.c.opportunity_id)
                )
                session.execute(
                    insert(StageComplianceFlag).from_select(
                        ["opportunity_id", "stage_id", "kind", "key", "message", "detected_at"], rows
                    )
                )
    deal_stage.drop(session.connection())
    session.flush()


def flags(session: Session) -> dict[int, list[tuple[Any, ...]]]:
    """Every flag by deal, in the order it was written (by id)."""
    by_deal: dict[int, list[tuple[Any, ...]]] = {}
    rows = session.execute(
        select(
            StageComplianceFlag.opportunity_id,
            StageComplianceFlag.stage_id,
            StageComplianceFlag.kind,
            StageComplianceFlag.key,
            StageComplianceFlag.message,
        ).order_by(StageComplianceFlag.id)
    )
    for row in rows:
        by_deal.setdefault(row[0], []).append(tuple(row[1:]))
    return by_deal


STAGE_NAMES = [
    "Prospecting",
    "qualification ",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Solution",
    "Proposal/Price Quote",
    "PROPOSAL",
    "Negotiation/Review",
    "Negotiation",
    "Closed Won",
    "Closed Lost",
    "Somewhere else",
]
TYPES = [
    "New Business",
    "Expansion",
    " existing business - upgrade",
    "Existing Business - Renewal",
    None,
    "Odd",
]


def varied_deals(session: Session, seed: int, count: int) -> list[Opportunity]:
    """Deals across processes and stages with some fields, qualification, ticks and stakeholders."""
    rng = random.Random(seed)
    contexts = processes(session)
    # Pin every required-field kind and a deal type two processes claim (a deal in two stages).
    by_key = {context.process.key: context for context in contexts}
    by_key["new_business"].stages[2].required_fields = list(REQUIRED_FIELD_LABELS)
    by_key["expansion"].process.opportunity_types = [
        *by_key["expansion"].process.opportunity_types,
        "Odd",
    ]
    by_key["new_business"].process.opportunity_types = [
        *by_key["new_business"].process.opportunity_types,
        "Odd",
    ]
    session.flush()
    owner = make_user(session)
    account = make_account(session, owner_id=owner.id)
    contacts = [make_contact(session, account_id=account.id) for _ in range(8)]
    now = dt.datetime.now(dt.UTC)
    for contact in contacts:
        for _ in range(rng.randrange(3)):
            days = rng.choice([1, 30, 89, 91, 200, 400])
            make_activity(
                session,
                contact_id=contact.id,
                account_id=account.id,
                owner_id=owner.id,
                occurred_at=now - dt.timedelta(days=days),
            )
    statuses = list(QualificationStatus)
    deals = []
    for _ in range(count):
        stage = rng.choice(STAGE_NAMES)
        closed = stage.startswith("Closed") or rng.random() < 0.1
        deal = make_opportunity(
            session,
            owner_id=owner.id,
            account_id=account.id if rng.random() < 0.8 else None,
            stage=stage,
            type=rng.choice(TYPES),
            is_closed=closed,
            is_won=stage == "Closed Won",
            amount=Decimal("5000") if rng.random() < 0.7 else None,
            close_date=dt.date.today() if rng.random() < 0.7 else None,
            product="Core" if rng.random() < 0.5 else None,
            primary_competitor="Acme" if rng.random() < 0.5 else None,
            lead_source="Web" if rng.random() < 0.5 else None,
        )
        deals.append(deal)
    session.flush()
    for deal in deals:
        for context in contexts:
            for dimension in framework_dimensions(session, context.framework.id):
                if rng.random() < 0.4:
                    session.add(
                        QualificationEntry(
                            opportunity_id=deal.id, dimension_id=dimension.id, status=rng.choice(statuses)
                        )
                    )
            for stage in context.stages:
                for index in range(len(stage.exit_criteria)):
                    if rng.random() < 0.5:
                        session.add(
                            ExitCriterionCheck(
                                opportunity_id=deal.id, stage_id=stage.id, criterion_index=index
                            )
                        )
        for contact in rng.sample(contacts, rng.randrange(5)):
            session.add(
                Stakeholder(
                    opportunity_id=deal.id, contact_id=contact.id, role=rng.choice(list(StakeholderRole))
                )
            )
    session.flush()
    return deals


def test_flags_equal_the_per_requirement_definition_on_varied_deals(db_session: Session) -> None:
    deals = varied_deals(db_session, seed=7, count=80)

    written = check_stage_compliance(db_session)
    ours = flags(db_session)
    reference_flags(db_session, true())
    expected = flags(db_session)

    assert written == sum(len(items) for items in expected.values())
    assert ours == expected
    kinds = {item[1] for items in expected.values() for item in items}
    assert kinds == {"exit_criterion", "field", "qualification", "stakeholders"}
    fields = {item[2] for items in expected.values() for item in items if item[1] == "field"}
    assert fields == set(REQUIRED_FIELD_LABELS)
    assert any(len({item[0] for item in items}) > 1 for items in expected.values())
    assert len(expected) < len(deals)


def test_a_scoped_check_rewrites_only_its_deals_flags(db_session: Session) -> None:
    deals = varied_deals(db_session, seed=11, count=40)
    check_stage_compliance(db_session)
    before = flags(db_session)
    some = [deal.id for deal in deals[::3]]
    db_session.execute(delete(ExitCriterionCheck))
    db_session.execute(delete(QualificationEntry))
    db_session.flush()

    check_stage_compliance(db_session, scope=Opportunity.id.in_(some))
    ours = flags(db_session)
    reference_flags(db_session, Opportunity.id.in_(some))

    assert ours == flags(db_session)
    assert {deal: items for deal, items in ours.items() if deal not in some} == {
        deal: items for deal, items in before.items() if deal not in some
    }
    assert any(ours.get(deal) != before.get(deal) for deal in some)
