"""Writing to and reading the audit log. Services call ``record_change`` for every change they make."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridgehead.audit.models import AuditEntry
from bridgehead.common.types import utcnow


def _json_safe(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def snapshot(obj: Any, fields: list[str]) -> dict[str, Any]:
    """The named attributes of an object as JSON-safe values, for ``before``/``after``."""
    return {name: _json_safe(getattr(obj, name)) for name in fields}


def change_entry(
    *,
    actor_id: int | None,
    action: str,
    object_type: str,
    object_id: int | str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    source: str = "service",
) -> AuditEntry | None:
    """The entry for one change, not yet added to a session; ``None`` when before and after are equal."""
    if before is not None and after is not None:
        before = _json_safe(before)
        after = _json_safe(after)
        changed = {key for key in set(before) | set(after) if before.get(key) != after.get(key)}
        if not changed:
            return None
        # Keep only what changed so the log reads as a diff.
        before = {key: before.get(key) for key in sorted(changed)}
        after = {key: after.get(key) for key in sorted(changed)}
    return AuditEntry(
        occurred_at=utcnow(),
        actor_id=actor_id,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        source=source,
        before=_json_safe(before),
        after=_json_safe(after),
    )


def record_change(
    session: Session,
    *,
    actor_id: int | None,
    action: str,
    object_type: str,
    object_id: int | str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    source: str = "service",
) -> AuditEntry | None:
    """Append one entry; a change whose before and after are equal is not recorded."""
    entry = change_entry(
        actor_id=actor_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
        source=source,
    )
    if entry is None:
        return None
    session.add(entry)
    session.flush()
    return entry


def history_of(session: Session, *, object_type: str, object_id: int | str) -> list[AuditEntry]:
    """Every audit entry for one object, oldest first."""
    statement = (
        select(AuditEntry)
        .where(AuditEntry.object_type == object_type, AuditEntry.object_id == str(object_id))
        .order_by(AuditEntry.occurred_at, AuditEntry.id)
    )
    return list(session.scalars(statement))
