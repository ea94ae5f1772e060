"""Bad input to initiatives: each refused with the field and value named, and nothing stored changes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridgehead.audit.models import AuditEntry
from bridgehead.audit.service import snapshot
from bridgehead.common.types import MAX_AMOUNT
from bridgehead.errors import PermissionDenied, ValidationFailed
from bridgehead.governance import initiatives
from bridgehead.governance.initiatives import AUDIT_FIELDS
from bridgehead.governance.models import InitiativeKpi, Milestone
from bridgehead.governance.schemas import InitiativeCreate, InitiativeUpdate, KpiCreate, MilestoneCreate
from tests.governance.support import WINDOW_END, WINDOW_START, Cast, full_initiative, make_cast


@pytest.fixture
def cast(db_session: Session) -> Cast:
    """Everyone an initiative involves."""
    return make_cast(db_session)


def _counts(session: Session) -> tuple[int, int, int]:
    return (
        session.scalar(select(func.count()).select_from(AuditEntry)) or 0,
        session.scalar(select(func.count()).select_from(Milestone)) or 0,
        session.scalar(select(func.count()).select_from(InitiativeKpi)) or 0,
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"expected_value_amount": Decimal("-1")}, "expected_value_amount"),
        ({"expected_value_amount": MAX_AMOUNT + 1}, "expected_value_amount"),
        ({"cost_amount": Decimal("-0.01")}, "cost_amount"),
        ({"expected_value_amount": Decimal("10.001")}, "expected_value_amount"),
        ({"end_date": WINDOW_START}, "end_date"),
        ({"start_date": dt.date(1900, 1, 1)}, "start_date"),
        ({"controller_id": -1}, None),
    ],
)
def test_bad_business_case_changes_nothing(
    db_session: Session, cast: Cast, changes: dict[str, Any], field: str | None
) -> None:
    initiative = full_initiative(db_session, cast)
    before = snapshot(initiative, AUDIT_FIELDS)
    counts = _counts(db_session)
    with pytest.raises((ValidationFailed, ValueError)) as refused:
        initiatives.update_initiative(
            db_session, actor=cast.owner, initiative_id=initiative.id, changes=InitiativeUpdate(**changes)
        )
    if field is not None:
        assert isinstance(refused.value, ValidationFailed)
        assert refused.value.context["field"] == field
    assert snapshot(initiative, AUDIT_FIELDS) == before
    assert _counts(db_session) == counts


def test_the_controller_must_have_the_controller_role(db_session: Session, cast: Cast) -> None:
    with pytest.raises(ValidationFailed) as refused:
        initiatives.create_initiative(
            db_session,
            actor=cast.executive,
            data=InitiativeCreate(
                title="x", owner_id=cast.owner.id, sponsor_id=cast.sponsor.id, controller_id=cast.manager.id
            ),
        )
    assert refused.value.context["field"] == "controller_id"


def test_a_negative_expected_value_is_refused_at_creation(db_session: Session, cast: Cast) -> None:
    counts = _counts(db_session)
    with pytest.raises(ValidationFailed) as refused:
        initiatives.create_initiative(
            db_session,
            actor=cast.executive,
            data=InitiativeCreate(
                title="x",
                owner_id=cast.owner.id,
                sponsor_id=cast.sponsor.id,
                expected_value_amount=Decimal("-250000"),
            ),
        )
    assert refused.value.context == {"field": "expected_value_amount", "value": "-250000"}
    assert _counts(db_session) == counts


@pytest.mark.parametrize(
    ("start", "due", "field"),
    [
        (WINDOW_START + dt.timedelta(days=20), WINDOW_START + dt.timedelta(days=10), "due_date"),
        (None, WINDOW_END + dt.timedelta(days=1), "due_date"),
        (WINDOW_START - dt.timedelta(days=1), WINDOW_START + dt.timedelta(days=5), "start_date"),
    ],
)
def test_milestone_dates_out_of_order_or_outside_the_window(
    db_session: Session, cast: Cast, start: dt.date | None, due: dt.date, field: str
) -> None:
    initiative = full_initiative(db_session, cast)
    counts = _counts(db_session)
    with pytest.raises(ValidationFailed) as refused:
        initiatives.add_milestone(
            db_session,
            actor=cast.owner,
            initiative_id=initiative.id,
            data=MilestoneCreate(title="Bad dates", start_date=start, due_date=due),
        )
    assert refused.value.context["field"] == field
    assert _counts(db_session) == counts


def test_a_window_that_would_strand_a_milestone_is_refused(db_session: Session, cast: Cast) -> None:
    initiative = full_initiative(db_session, cast)
    with pytest.raises(ValidationFailed):
        initiatives.update_initiative(
            db_session,
            actor=cast.owner,
            initiative_id=initiative.id,
            changes=InitiativeUpdate(start_date=WINDOW_START + dt.timedelta(days=60)),
        )
    assert initiative.start_date == WINDOW_START


def test_a_kpi_baseline_must_be_a_number(db_session: Session, cast: Cast) -> None:
    initiative = full_initiative(db_session, cast)
    counts = _counts(db_session)
    with pytest.raises(ValidationFailed) as refused:
        initiatives.add_kpi(
            db_session,
            actor=cast.owner,
            initiative_id=initiative.id,
            data=KpiCreate.model_construct(
                name="Win rate", unit="%", baseline_value=Decimal("NaN"), target_value=Decimal("30")
            ),
        )
    assert refused.value.context["field"] == "baseline_value"
    assert _counts(db_session) == counts


def test_only_the_owner_edits(db_session: Session, cast: Cast) -> None:
    initiative = full_initiative(db_session, cast)
    with pytest.raises(PermissionDenied):
        initiatives.update_initiative(
            db_session,
            actor=cast.sponsor,
            initiative_id=initiative.id,
            changes=InitiativeUpdate(title="Mine now"),
        )
    assert initiative.title == "Enter enterprise FS"
