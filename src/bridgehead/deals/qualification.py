"""Qualification: a deal's status and evidence per dimension of its process's framework."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, delete, exists, func, insert, literal, select
from sqlalchemy.orm import Session

from bridgehead.audit.service import record_change
from bridgehead.auth.models import User
from bridgehead.common.types import utcnow
from bridgehead.crm.models import Opportunity
from bridgehead.deals.access import check_text, deal_for_edit
from bridgehead.deals.models import (
    QualificationDimension,
    QualificationEntry,
    QualificationFramework,
    QualificationStatus,
)
from bridgehead.deals.schemas import MAX_EVIDENCE_LENGTH
from bridgehead.errors import ValidationFailed

STATUS_RANK = {
    QualificationStatus.UNKNOWN: 0,
    QualificationStatus.IDENTIFIED: 1,
    QualificationStatus.VALIDATED: 2,
}


def check_status(status: str) -> QualificationStatus:
    """Parse a qualification status or raise ``ValidationFailed`` naming the valid ones."""
    try:
        return QualificationStatus(status.strip().lower())
    except ValueError:
        valid = ", ".join(member.value for member in QualificationStatus)
        raise ValidationFailed(f"unknown status; use one of {valid}", field="status", value=status) from None


def check_evidence(evidence: str) -> str:
    """Evidence is free text up to 10,000 characters."""
    if len(evidence) > MAX_EVIDENCE_LENGTH:
        raise ValidationFailed(
            f"evidence must have at most {MAX_EVIDENCE_LENGTH:,} characters (got {len(evidence):,})",
            field="evidence",
            value=f"{len(evidence)} characters",
        )
    return check_text(evidence, field="evidence", max_length=MAX_EVIDENCE_LENGTH)


def framework_dimensions(session: Session, framework_id: int) -> Sequence[QualificationDimension]:
    """The framework's dimensions in order."""
    return session.scalars(
        select(QualificationDimension)
        .where(QualificationDimension.framework_id == framework_id)
        .order_by(QualificationDimension.position)
    ).all()


def framework_by_key(session: Session, key: str) -> QualificationFramework:
    """A framework by its key, or ``ValidationFailed`` naming the ones there are."""
    framework = session.scalar(select(QualificationFramework).where(QualificationFramework.key == key))
    if framework is None:
        valid = ", ".join(
            session.scalars(select(QualificationFramework.key).order_by(QualificationFramework.key))
        )
        raise ValidationFailed(f"unknown framework; use one of {valid}", field="framework_key", value=key)
    return framework


@dataclass(frozen=True)
class EntryView:
    """A stored entry with its dimension key and who set it."""

    dimension_key: str
    status: QualificationStatus
    evidence: str
    updated_by_id: int | None
    updated_by_name: str | None
    updated_at: dt.datetime


def entries_for(session: Session, *, opportunity_id: int, framework_id: int) -> dict[str, EntryView]:
    """The deal's entries on the framework's dimensions, by dimension key."""
    rows = session.execute(
        select(QualificationDimension.key, QualificationEntry, User.full_name)
        .join(QualificationEntry, QualificationEntry.dimension_id == QualificationDimension.id)
        .outerjoin(User, User.id == QualificationEntry.updated_by_id)
        .where(
            QualificationDimension.framework_id == framework_id,
            QualificationEntry.opportunity_id == opportunity_id,
        )
    ).all()
    return {
        key: EntryView(key, entry.status, entry.evidence, entry.updated_by_id, name, entry.updated_at)
        for key, entry, name in rows
    }


def completeness(statuses: Sequence[QualificationStatus]) -> int:
    """Per cent of the possible qualification reached: validated counts fully, identified half."""
    if not statuses:
        return 0
    points = sum(STATUS_RANK[status] for status in statuses)
    return round(100 * points / (2 * len(statuses)))


def set_qualification(
    session: Session,
    *,
    viewer: User,
    opportunity_id: int,
    framework_id: int,
    dimension_key: str,
    status: str,
    evidence: str,
) -> QualificationEntry:
    """Record a deal's status and evidence on one dimension (owner or their manager; audited)."""
    opportunity = deal_for_edit(session, viewer=viewer, opportunity_id=opportunity_id)
    parsed = check_status(status)
    cleaned = check_evidence(evidence)
    dimension_key = check_text(dimension_key, field="dimension", max_length=40)
    dimension = session.scalar(
        select(QualificationDimension).where(
            QualificationDimension.framework_id == framework_id, QualificationDimension.key == dimension_key
        )
    )
    if dimension is None:
        valid = ", ".join(dimension.key for dimension in framework_dimensions(session, framework_id))
        raise ValidationFailed(
            f"unknown dimension for this deal's framework; use one of {valid}",
            field="dimension",
            value=dimension_key,
        )
    entry = session.scalar(
        select(QualificationEntry).where(
            QualificationEntry.opportunity_id == opportunity.id,
            QualificationEntry.dimension_id == dimension.id,
        )
    )
    before = None if entry is None else {"status": entry.status.value, "evidence": entry.evidence}
    if entry is None:
        entry = QualificationEntry(opportunity_id=opportunity.id, dimension_id=dimension.id, status=parsed)
        session.add(entry)
    entry.status = parsed
    entry.evidence = cleaned
    entry.updated_by_id = viewer.id
    entry.updated_at = utcnow()
    entry.source = "manual"
    session.flush()
    record_change(
        session,
        actor_id=viewer.id,
        action="create" if before is None else "update",
        object_type="qualification",
        object_id=f"{opportunity.id}:{dimension.key}",
        before=before,
        after={"status": parsed.value, "evidence": cleaned},
    )
    return entry


# --- qualification from imported attributes ----------------------------------------------------


@dataclass(frozen=True)
class FieldRule:
    """Maps values of one custom field of imported deals to a status of one dimension."""

    field: str
    dimension: str
    values: dict[str, QualificationStatus]


def parse_field_rules(raw: dict[str, object]) -> tuple[str, list[FieldRule]]:
    """Read a qualification mapping (``framework`` and ``[[rules]]`` with field, dimension, values)."""
    framework = raw.get("framework", "meddpicc")
    rules_raw = raw.get("rules")
    if not isinstance(framework, str) or not isinstance(rules_raw, list) or not rules_raw:
        raise ValidationFailed(
            "a qualification mapping needs 'framework' and a non-empty [[rules]] list", field="rules"
        )
    rules: list[FieldRule] = []
    for number, rule in enumerate(rules_raw, start=1):
        if not isinstance(rule, dict):
            raise ValidationFailed("each rule must be a table", field=f"rules[{number}]")
        field_name, dimension, values = rule.get("field"), rule.get("dimension"), rule.get("values")
        if not isinstance(field_name, str) or not isinstance(dimension, str) or not isinstance(values, dict):
            raise ValidationFailed("a rule needs field, dimension and values", field=f"rules[{number}]")
        rules.append(
            FieldRule(
                field_name, dimension, {str(key): check_status(str(value)) for key, value in values.items()}
            )
        )
    return framework, rules


def qualify_from_fields(
    session: Session, *, framework_key: str, rules: Sequence[FieldRule], actor_id: int | None = None
) -> int:
    """Derive qualification entries from deals' custom fields, set-wise (one INSERT … SELECT per value).

    Entries a person wrote (source "manual") are kept; earlier derived entries are replaced. The
    evidence names the field and its value. Returns how many entries were written.
    """
    framework = framework_by_key(session, framework_key)
    dimensions = {dimension.key: dimension.id for dimension in framework_dimensions(session, framework.id)}
    unknown = sorted({rule.dimension for rule in rules} - set(dimensions))
    if unknown:
        raise ValidationFailed(
            f"the mapping names dimensions not in {framework.name}",
            field="dimension",
            value=", ".join(unknown),
        )
    now = utcnow()
    before = session.scalar(select(func.count()).select_from(QualificationEntry)) or 0
    for rule in rules:
        dimension_id = dimensions[rule.dimension]
        session.execute(
            delete(QualificationEntry).where(
                QualificationEntry.dimension_id == dimension_id, QualificationEntry.source == "crm-fields"
            )
        )
        value = Opportunity.custom_fields[rule.field].as_string()
        for raw_value, status in rule.values.items():
            already = exists().where(
                QualificationEntry.opportunity_id == Opportunity.id,
                QualificationEntry.dimension_id == dimension_id,
            )
            source_rows = select(
                Opportunity.id,
                literal(dimension_id),
                literal(status.value),
                literal(f"{rule.field}: {raw_value}"),
                literal(now, QualificationEntry.updated_at.type),
                literal("crm-fields"),
            ).where(and_(value == raw_value, ~already))
            session.execute(
                insert(QualificationEntry).from_select(
                    ["opportunity_id", "dimension_id", "status", "evidence", "updated_at", "source"],
                    source_rows,
                )
            )
    session.flush()
    # Counted after the deletes and inserts: drivers disagree on INSERT … SELECT row counts.
    written = (session.scalar(select(func.count()).select_from(QualificationEntry)) or 0) - before
    record_change(
        session,
        actor_id=actor_id,
        action="derive",
        object_type="qualification",
        object_id=f"fields:{framework_key}",
        before=None,
        after={"rules": [rule.field for rule in rules], "entries": written},
        source="deals",
    )
    return written


def qualified_win_rates(
    session: Session,
    *,
    framework_key: str,
    requirements: dict[str, QualificationStatus],
    condition: ColumnElement[bool] | None = None,
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Won and closed counts of deals meeting every ``requirement`` (dimension at least at status) and of the rest.

    ``condition`` (a SQL condition over Opportunity) narrows the deals compared. Returns
    ``((won, closed) meeting, (won, closed) not meeting)``.
    """
    framework = framework_by_key(session, framework_key)
    dimensions = {dimension.key: dimension.id for dimension in framework_dimensions(session, framework.id)}
    clauses = []
    for key, minimum in requirements.items():
        if key not in dimensions:
            raise ValidationFailed("unknown dimension", field="dimension", value=key)
        good = [status.value for status, rank in STATUS_RANK.items() if rank >= STATUS_RANK[minimum]]
        clauses.append(
            exists().where(
                QualificationEntry.opportunity_id == Opportunity.id,
                QualificationEntry.dimension_id == dimensions[key],
                QualificationEntry.status.in_(good),
            )
        )
    meets = and_(*clauses)
    rows = session.execute(
        select(
            func.count().filter(meets, Opportunity.is_won.is_(True)),
            func.count().filter(meets),
            func.count().filter(~meets, Opportunity.is_won.is_(True)),
            func.count().filter(~meets),
        ).where(Opportunity.is_closed.is_(True), *([condition] if condition is not None else []))
    ).one()
    return (int(rows[0]), int(rows[1])), (int(rows[2]), int(rows[3]))
