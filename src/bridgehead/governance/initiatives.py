"""Initiatives, their milestones and KPIs: creation, edits and the checks on what is entered.

Rights: executives, admins and planners create initiatives; the owner (or an admin) edits them and
their plan. Stage changes, approvals and value confirmation live in ``governance.gates``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridgehead.audit.service import record_change, snapshot
from bridgehead.auth.models import Role, User
from bridgehead.common.pagination import Page, PageRequest
from bridgehead.common.types import MAX_AMOUNT, MAX_ID, utcnow
from bridgehead.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from bridgehead.governance.models import Initiative, InitiativeKpi, InitiativeStage, Milestone
from bridgehead.governance.schemas import (
    InitiativeCreate,
    InitiativeRead,
    InitiativeUpdate,
    KpiCreate,
    MilestoneCreate,
)
from bridgehead.strategy.models import Priority, Segment

AUDIT_TYPE = "initiative"
CREATOR_ROLES = frozenset({Role.EXECUTIVE, Role.ADMIN, Role.PLANNER})
OPEN_STAGES = (
    InitiativeStage.IDENTIFIED,
    InitiativeStage.DETAILED,
    InitiativeStage.DECIDED,
    InitiativeStage.IMPLEMENTED,
)
# Once the sponsor has decided on a business case, changing the claim would change what was approved.
FROZEN_AFTER_DECISION = frozenset(
    {
        "value_kind",
        "expected_value_amount",
        "cost_amount",
        "start_date",
        "end_date",
        "priority_id",
        "segment_id",
    }
)
EARLIEST_DATE = dt.date(2000, 1, 1)
LATEST_DATE = dt.date(2100, 12, 31)
MAX_KPI_VALUE = Decimal("1e15")
AUDIT_FIELDS = [
    "title",
    "description",
    "priority_id",
    "segment_id",
    "owner_id",
    "sponsor_id",
    "controller_id",
    "stage",
    "value_kind",
    "expected_value_amount",
    "cost_amount",
    "business_case",
    "start_date",
    "end_date",
    "next_gate_due_date",
    "cancellation_reason",
]
_MILESTONE_FIELDS = ["title", "start_date", "due_date", "done_at"]
_KPI_FIELDS = ["name", "unit", "baseline_value", "target_value", "current_value"]


# --- checks ------------------------------------------------------------------------------------


def check_amount(value: Decimal | None, *, field: str) -> Decimal | None:
    """A money amount that is a finite number between 0 and ``MAX_AMOUNT``, to the cent."""
    if value is None:
        return None
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValidationFailed("must be a finite amount", field=field, value=value)
    if value < 0:
        raise ValidationFailed("must not be negative", field=field, value=value)
    if value > MAX_AMOUNT:
        raise ValidationFailed(
            f"is absurdly large; the most accepted is {MAX_AMOUNT:,}", field=field, value=value
        )
    if value != value.quantize(Decimal("0.01")):
        raise ValidationFailed("must have at most two decimal places", field=field, value=value)
    return value


def check_date(value: dt.date | None, *, field: str) -> dt.date | None:
    """A date between 2000 and 2100 (anything else is a typo, not a plan)."""
    if value is not None and not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValidationFailed(
            f"must be between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}",
            field=field,
            value=value,
        )
    return value


def check_kpi_number(value: Decimal | None, *, field: str) -> Decimal | None:
    """A KPI figure: a finite number of sensible size."""
    if value is None:
        return None
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValidationFailed("must be a number", field=field, value=value)
    if abs(value) >= MAX_KPI_VALUE:
        raise ValidationFailed("is out of range", field=field, value=value)
    return value


def check_text(value: str, *, field: str, required: bool = False) -> str:
    """Trimmed text; NUL characters refused; empty refused when required."""
    if "\x00" in value:
        raise ValidationFailed("must not contain NUL characters", field=field, value=value[:50])
    cleaned = value.strip()
    if required and not cleaned:
        raise ValidationFailed("must not be empty", field=field, value=value)
    return cleaned


def _check_user(session: Session, user_id: int | None, *, field: str) -> User | None:
    if user_id is None:
        return None
    user = session.get(User, user_id) if 1 <= user_id <= MAX_ID else None
    if user is None or not user.is_active:
        raise ValidationFailed("no such active user", field=field, value=user_id)
    return user


def _check_links(session: Session, values: dict[str, Any]) -> None:
    """The users, priority and segment an initiative points at exist, and the controller is a controller."""
    _check_user(session, values.get("owner_id"), field="owner_id")
    _check_user(session, values.get("sponsor_id"), field="sponsor_id")
    controller = _check_user(session, values.get("controller_id"), field="controller_id")
    if controller is not None and controller.role != Role.CONTROLLER:
        raise ValidationFailed(
            "the controller must have the controller role",
            field="controller_id",
            value=values.get("controller_id"),
        )
    priority_id = values.get("priority_id")
    if priority_id is not None and session.get(Priority, priority_id) is None:
        raise ValidationFailed("no such priority", field="priority_id", value=priority_id)
    segment_id = values.get("segment_id")
    if segment_id is not None and session.get(Segment, segment_id) is None:
        raise ValidationFailed("no such segment", field="segment_id", value=segment_id)


def _check_business_case(values: dict[str, Any]) -> None:
    check_amount(values.get("expected_value_amount"), field="expected_value_amount")
    check_amount(values.get("cost_amount"), field="cost_amount")
    for field in ("start_date", "end_date", "next_gate_due_date"):
        check_date(values.get(field), field=field)
    start, end = values.get("start_date"), values.get("end_date")
    if start is not None and end is not None and start >= end:
        raise ValidationFailed(
            f"the end date must come after the start date {start.isoformat()}", field="end_date", value=end
        )


# --- reading -----------------------------------------------------------------------------------


def get_initiative(session: Session, *, initiative_id: int) -> Initiative:
    """The initiative with this id, or ``NotFound``. Every signed-in role may read every initiative."""
    initiative = session.get(Initiative, initiative_id) if 1 <= initiative_id <= MAX_ID else None
    if initiative is None:
        raise NotFound("no such initiative", field="initiative_id", value=initiative_id)
    return initiative


def list_initiatives(
    session: Session,
    *,
    stage: InitiativeStage | None = None,
    priority_id: int | None = None,
    page: PageRequest | None = None,
) -> Page[InitiativeRead]:
    """Initiatives, newest first, optionally of one stage or one priority."""
    page = page or PageRequest()
    statement = select(Initiative)
    if stage is not None:
        statement = statement.where(Initiative.stage == stage)
    if priority_id is not None:
        statement = statement.where(Initiative.priority_id == priority_id)
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = session.scalars(
        statement.order_by(Initiative.id.desc()).offset(page.offset).limit(page.page_size)
    ).all()
    return Page[InitiativeRead](
        items=[InitiativeRead.model_validate(row) for row in rows],
        total=total,
        page=page.page,
        page_size=page.page_size,
    )


def milestones_of(session: Session, *, initiative_id: int) -> Sequence[Milestone]:
    """An initiative's milestones by due date."""
    return session.scalars(
        select(Milestone)
        .where(Milestone.initiative_id == initiative_id)
        .order_by(Milestone.due_date, Milestone.id)
    ).all()


def kpis_of(session: Session, *, initiative_id: int) -> Sequence[InitiativeKpi]:
    """An initiative's KPIs in the order they were added."""
    return session.scalars(
        select(InitiativeKpi).where(InitiativeKpi.initiative_id == initiative_id).order_by(InitiativeKpi.id)
    ).all()


# --- rights ------------------------------------------------------------------------------------


def may_create(user: User) -> bool:
    """Executives, admins and planners create initiatives."""
    return user.role in CREATOR_ROLES


def may_edit(user: User, initiative: Initiative) -> bool:
    """The owner edits an initiative; an admin may too."""
    return user.id == initiative.owner_id or user.role == Role.ADMIN


def _require_editor(user: User, initiative: Initiative) -> None:
    if not may_edit(user, initiative):
        raise PermissionDenied(
            "only the initiative's owner (or an admin) may change it", role=user.role.value
        )
    if initiative.stage not in OPEN_STAGES:
        raise Conflict(
            f"a {initiative.stage.value} initiative cannot be changed", stage=initiative.stage.value
        )


def audit_initiative(
    session: Session,
    *,
    actor: User | None,
    initiative_id: int,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """Audit a change to an initiative or its plan under the initiative itself, so its history reads in one place."""
    record_change(
        session,
        actor_id=actor.id if actor else None,
        action=action,
        object_type=AUDIT_TYPE,
        object_id=initiative_id,
        before=before,
        after=after,
    )


# --- writing -----------------------------------------------------------------------------------


def create_initiative(session: Session, *, actor: User, data: InitiativeCreate) -> Initiative:
    """Create an initiative in stage Identified (executives, admins and planners only)."""
    if not may_create(actor):
        raise PermissionDenied(
            "only executives, admins and planners create initiatives", role=actor.role.value
        )
    values = data.model_dump()
    values["title"] = check_text(values["title"], field="title", required=True)
    values["description"] = check_text(values["description"], field="description")
    values["business_case"] = check_text(values["business_case"], field="business_case")
    _check_business_case(values)
    _check_links(session, values)
    now = utcnow()
    initiative = Initiative(
        **values,
        stage=InitiativeStage.IDENTIFIED,
        created_by_id=actor.id,
        stage_changed_at=now,
        created_at=now,
    )
    session.add(initiative)
    session.flush()
    audit_initiative(
        session,
        actor=actor,
        initiative_id=initiative.id,
        action="create",
        before=None,
        after=snapshot(initiative, AUDIT_FIELDS),
    )
    return initiative


def update_initiative(
    session: Session, *, actor: User, initiative_id: int, changes: InitiativeUpdate
) -> Initiative:
    """Change the fields sent (the owner or an admin); the business case is frozen once Decided."""
    initiative = get_initiative(session, initiative_id=initiative_id)
    _require_editor(actor, initiative)
    sent = changes.model_dump(exclude_unset=True)
    for required in ("title", "owner_id", "sponsor_id"):
        if required in sent and sent[required] is None:
            raise ValidationFailed("must not be empty", field=required, value=None)
    for field in ("title", "description", "business_case"):
        if sent.get(field) is not None:
            sent[field] = check_text(sent[field], field=field, required=field == "title")
    if initiative.stage not in (InitiativeStage.IDENTIFIED, InitiativeStage.DETAILED):
        frozen = sorted(
            field for field in FROZEN_AFTER_DECISION & set(sent) if sent[field] != getattr(initiative, field)
        )
        if frozen:
            raise Conflict(
                "the business case was decided; it can no longer change",
                field=frozen[0],
                stage=initiative.stage.value,
            )
    merged = {field: sent.get(field, getattr(initiative, field)) for field in AUDIT_FIELDS}
    _check_business_case(merged)
    _check_links(session, {field: sent[field] for field in sent if field.endswith("_id")})
    _check_milestones_fit(
        session, initiative_id=initiative.id, start=merged["start_date"], end=merged["end_date"]
    )
    before = snapshot(initiative, AUDIT_FIELDS)
    for field, value in sent.items():
        setattr(initiative, field, value)
    session.flush()
    audit_initiative(
        session,
        actor=actor,
        initiative_id=initiative.id,
        action="update",
        before=before,
        after=snapshot(initiative, AUDIT_FIELDS),
    )
    return initiative


def _check_milestones_fit(
    session: Session, *, initiative_id: int, start: dt.date | None, end: dt.date | None
) -> None:
    """A new window must still hold every milestone already planned."""
    for milestone in milestones_of(session, initiative_id=initiative_id):
        if (start is not None and (milestone.start_date or milestone.due_date) < start) or (
            end is not None and milestone.due_date > end
        ):
            raise ValidationFailed(
                f"milestone {milestone.title!r} ({milestone.due_date.isoformat()}) would fall outside the window",
                field="start_date" if start is not None and milestone.due_date >= start else "end_date",
                value=(start or end),
            )


def _check_milestone_dates(initiative: Initiative, data: MilestoneCreate) -> None:
    check_date(data.start_date, field="start_date")
    check_date(data.due_date, field="due_date")
    if data.start_date is not None and data.start_date > data.due_date:
        raise ValidationFailed(
            f"the due date comes before the start date {data.start_date.isoformat()}",
            field="due_date",
            value=data.due_date,
        )
    if initiative.start_date is None or initiative.end_date is None:
        raise ValidationFailed(
            "set the initiative's start and end dates before planning milestones",
            field="start_date",
            value=None,
        )
    for field, day in (("start_date", data.start_date), ("due_date", data.due_date)):
        if day is not None and not initiative.start_date <= day <= initiative.end_date:
            raise ValidationFailed(
                f"must lie inside the initiative's window {initiative.start_date.isoformat()} → "
                f"{initiative.end_date.isoformat()}",
                field=field,
                value=day,
            )


def add_milestone(session: Session, *, actor: User, initiative_id: int, data: MilestoneCreate) -> Milestone:
    """Plan a milestone (the owner or an admin; not once Implemented)."""
    initiative = get_initiative(session, initiative_id=initiative_id)
    _require_editor(actor, initiative)
    if initiative.stage == InitiativeStage.IMPLEMENTED:
        raise Conflict("an implemented initiative's plan is complete; it takes no new milestones")
    title = check_text(data.title, field="title", required=True)
    _check_milestone_dates(initiative, data)
    milestone = Milestone(
        initiative_id=initiative.id, title=title, start_date=data.start_date, due_date=data.due_date
    )
    session.add(milestone)
    session.flush()
    audit_initiative(
        session,
        actor=actor,
        initiative_id=initiative.id,
        action="milestone_add",
        before=None,
        after={"milestone_id": milestone.id, **snapshot(milestone, _MILESTONE_FIELDS)},
    )
    return milestone


def complete_milestone(session: Session, *, actor: User, initiative_id: int, milestone_id: int) -> Milestone:
    """Mark a milestone done (the owner or an admin); doing it twice is a conflict."""
    initiative = get_initiative(session, initiative_id=initiative_id)
    _require_editor(actor, initiative)
    milestone = session.get(Milestone, milestone_id) if 1 <= milestone_id <= MAX_ID else None
    if milestone is None or milestone.initiative_id != initiative.id:
        raise NotFound("no such milestone on this initiative", field="milestone_id", value=milestone_id)
    if milestone.done_at is not None:
        raise Conflict("this milestone is already done", field="milestone_id", value=milestone_id)
    before = {"milestone_id": milestone.id, **snapshot(milestone, _MILESTONE_FIELDS)}
    milestone.done_at = utcnow()
    milestone.done_by_id = actor.id
    session.flush()
    audit_initiative(
        session,
        actor=actor,
        initiative_id=initiative.id,
        action="milestone_done",
        before=before,
        after={"milestone_id": milestone.id, **snapshot(milestone, _MILESTONE_FIELDS)},
    )
    return milestone


def add_kpi(session: Session, *, actor: User, initiative_id: int, data: KpiCreate) -> InitiativeKpi:
    """Add a KPI with its baseline and target (the owner or an admin)."""
    initiative = get_initiative(session, initiative_id=initiative_id)
    _require_editor(actor, initiative)
    kpi = InitiativeKpi(
        initiative_id=initiative.id,
        name=check_text(data.name, field="name", required=True),
        unit=check_text(data.unit, field="unit"),
        baseline_value=check_kpi_number(data.baseline_value, field="baseline_value"),
        target_value=check_kpi_number(data.target_value, field="target_value"),
        current_value=check_kpi_number(data.current_value, field="current_value"),
    )
    session.add(kpi)
    session.flush()
    audit_initiative(
        session,
        actor=actor,
        initiative_id=initiative.id,
        action="kpi_add",
        before=None,
        after={"kpi_id": kpi.id, **snapshot(kpi, _KPI_FIELDS)},
    )
    return kpi


def record_kpi_reading(
    session: Session, *, actor: User, initiative_id: int, kpi_id: int, current_value: Decimal | None
) -> InitiativeKpi:
    """Record a KPI's latest reading (the owner or an admin); None clears it."""
    initiative = get_initiative(session, initiative_id=initiative_id)
    _require_editor(actor, initiative)
    kpi = session.get(InitiativeKpi, kpi_id) if 1 <= kpi_id <= MAX_ID else None
    if kpi is None or kpi.initiative_id != initiative.id:
        raise NotFound("no such KPI on this initiative", field="kpi_id", value=kpi_id)
    reading = check_kpi_number(current_value, field="current_value")
    before = {"kpi_id": kpi.id, **snapshot(kpi, _KPI_FIELDS)}
    kpi.current_value = reading
    session.flush()
    audit_initiative(
        session,
        actor=actor,
        initiative_id=initiative.id,
        action="kpi_reading",
        before=before,
        after={"kpi_id": kpi.id, **snapshot(kpi, _KPI_FIELDS)},
    )
    return kpi
