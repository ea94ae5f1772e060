"""The gap inbox: signals a person may see, filtered and ordered by money at risk; acknowledge and snooze.

Visibility is the one everywhere (``auth.service.visibility_for`` over the signal's owner); a signal
outside it is "not found". Only the owner, or someone up the owner's reporting line, may
acknowledge or snooze, always with a reason, and every such change is audited.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, literal, or_, select
from sqlalchemy.orm import Session

from bridgehead.audit.service import record_change, snapshot
from bridgehead.auth.models import User
from bridgehead.auth.service import reporting_line_ids, visibility_for
from bridgehead.common.pagination import Page, PageRequest
from bridgehead.common.types import Period, utcnow
from bridgehead.crm.models import Account, Opportunity
from bridgehead.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from bridgehead.intelligence.gaps.explain import explain, with_elapsed
from bridgehead.intelligence.gaps.models import GapKind, GapKindScan, GapSignal
from bridgehead.intelligence.gaps.rules import RULE_SPECS
from bridgehead.intelligence.gaps.schemas import (
    MAX_REASON_LENGTH,
    InboxView,
    SignalFilters,
    SignalRead,
    SignalState,
)
from bridgehead.intelligence.metrics.scope import MetricFilters, resolve_scope
from bridgehead.strategy.orgtree import subtree_ids

MAX_SNOOZE_DAYS = 365
_AUDIT_FIELDS = ["acknowledged_at", "acknowledge_reason", "snoozed_until", "snooze_reason"]


def state_condition(state: SignalState | None, now: dt.datetime) -> ColumnElement[bool]:
    """SQL for a state; ``None`` is the inbox: unresolved and not snoozed (open or acknowledged)."""
    unresolved = GapSignal.resolved_at.is_(None)
    awake = or_(GapSignal.snoozed_until.is_(None), GapSignal.snoozed_until <= now)
    if state is None:
        return and_(unresolved, awake)
    if state == SignalState.RESOLVED:
        return GapSignal.resolved_at.is_not(None)
    if state == SignalState.SNOOZED:
        return and_(unresolved, GapSignal.snoozed_until > now)
    acknowledged = GapSignal.acknowledged_at.is_not(None)
    return and_(unresolved, awake, acknowledged if state == SignalState.ACKNOWLEDGED else ~acknowledged)


def state_of(signal: GapSignal, now: dt.datetime) -> SignalState:
    """The state of one loaded signal (the same rules as ``state_condition``)."""
    if signal.resolved_at is not None:
        return SignalState.RESOLVED
    if signal.snoozed_until is not None and signal.snoozed_until > now:
        return SignalState.SNOOZED
    return SignalState.ACKNOWLEDGED if signal.acknowledged_at is not None else SignalState.OPEN


def _deal_slice(session: Session, filters: SignalFilters) -> list[ColumnElement[bool]]:
    """Org unit and priority as the metrics engine slices them (checked: an unknown id is a 422)."""
    conditions: list[ColumnElement[bool]] = []
    if filters.org_unit_id is not None:
        resolve_scope(
            session, viewer=None, filters=MetricFilters(period=_any_period(), org_unit_id=filters.org_unit_id)
        )
        members = select(User.id).where(User.org_unit_id.in_(subtree_ids(filters.org_unit_id)))
        conditions.append(GapSignal.owner_id.in_(members))
    if filters.priority_id is not None:
        scope = resolve_scope(
            session, viewer=None, filters=MetricFilters(period=_any_period(), priority_id=filters.priority_id)
        )
        conditions.append(GapSignal.opportunity_id.in_(select(Opportunity.id).where(*scope.opportunity)))
    return conditions


def _any_period() -> Period:
    # Deal conditions of the metrics scope do not depend on the period; one is required all the same.
    return Period.containing(dt.date.today())


def signal_conditions(
    session: Session, *, viewer: User, filters: SignalFilters, now: dt.datetime
) -> list[ColumnElement[bool]]:
    """Every WHERE condition of an inbox query: visibility, view, filters and state."""
    conditions = [
        visibility_for(viewer).owned_by_visible(GapSignal.owner_id),
        state_condition(filters.state, now),
    ]
    if filters.view == InboxView.MINE:
        conditions.append(GapSignal.owner_id == viewer.id)
    if filters.kind is not None:
        conditions.append(GapSignal.kind == filters.kind)
    if filters.severity is not None:
        conditions.append(GapSignal.severity == filters.severity)
    if filters.owner_id is not None:
        conditions.append(GapSignal.owner_id == filters.owner_id)
    if filters.opportunity_id is not None:
        conditions.append(GapSignal.opportunity_id == filters.opportunity_id)
    conditions.extend(_deal_slice(session, filters))
    return conditions


def _rows(conditions: list[ColumnElement[bool]]) -> Select[GapSignal, str, str, int, str, str]:
    return (
        select(GapSignal, Opportunity.name, Opportunity.stage, Account.id, Account.name, User.full_name)
        .outerjoin(Opportunity, Opportunity.id == GapSignal.opportunity_id)
        # An account's own signal names it; a deal's signal reaches the account through the deal.
        .outerjoin(Account, Account.id == func.coalesce(GapSignal.account_id, Opportunity.account_id))
        .outerjoin(User, User.id == GapSignal.owner_id)
        .where(*conditions)
    )


def full_scan_times(session: Session) -> dict[str, dt.datetime]:
    """When each kind was last scanned over every deal (``GapKindScan``), by kind."""
    return dict(session.execute(select(GapKindScan.kind, GapKindScan.full_scan_at)).all())


def last_seen(signal: GapSignal, full_scans: dict[str, dt.datetime]) -> dt.datetime:
    """When a scan last found the signal's gap: an open signal was seen by every full scan of its
    kind since it was raised, which stamps the kind rather than each signal."""
    seen = signal.last_seen_at
    full = full_scans.get(GapKind(signal.kind).value)
    if signal.resolved_at is None and full is not None and full > seen:
        return full
    return seen


def _read(row: Any, now: dt.datetime, full_scans: dict[str, dt.datetime]) -> SignalRead:
    signal, opportunity_name, stage, account_id, account_name, owner_name = row
    seen = last_seen(signal, full_scans)
    return SignalRead(
        id=signal.id,
        kind=signal.kind,
        kind_label=RULE_SPECS[signal.kind].title,
        severity=signal.severity,
        state=state_of(signal, now),
        subject_key=signal.subject_key,
        opportunity_id=signal.opportunity_id,
        opportunity_name=opportunity_name,
        stage=stage,
        account_id=account_id,
        account_name=account_name,
        owner_id=signal.owner_id,
        owner_name=owner_name,
        amount_at_risk=signal.amount_at_risk,
        # Idle days, days past and hours waiting counted to the last sighting.
        explanation=explain(signal.kind, signal.evidence, seen),
        evidence=with_elapsed(signal.kind, signal.evidence, seen),
        raised_at=signal.raised_at,
        last_seen_at=seen,
        resolved_at=signal.resolved_at,
        acknowledged_at=signal.acknowledged_at,
        acknowledge_reason=signal.acknowledge_reason,
        snoozed_until=signal.snoozed_until,
        snooze_reason=signal.snooze_reason,
    )


def list_signals(
    session: Session,
    *,
    viewer: User,
    filters: SignalFilters,
    page: PageRequest,
    now: dt.datetime | None = None,
) -> Page[SignalRead]:
    """One page of the inbox, largest money at risk first (then severity, then oldest)."""
    now = now or utcnow()
    conditions = signal_conditions(session, viewer=viewer, filters=filters, now=now)
    total = session.scalar(select(func.count()).select_from(GapSignal).where(*conditions)) or 0
    rows = session.execute(
        _rows(conditions)
        .order_by(GapSignal.amount_at_risk.desc().nulls_last(), GapSignal.raised_at, GapSignal.id)
        .offset(page.offset)
        .limit(page.page_size)
    ).all()
    full_scans = full_scan_times(session) if rows else {}
    return Page(
        items=[_read(row, now, full_scans) for row in rows],
        total=total,
        page=page.page,
        page_size=page.page_size,
    )


def get_signal(
    session: Session, *, viewer: User, signal_id: int, now: dt.datetime | None = None
) -> SignalRead:
    """One signal the viewer may see, or ``NotFound``."""
    row = session.execute(
        _rows([GapSignal.id == signal_id, visibility_for(viewer).owned_by_visible(GapSignal.owner_id)])
    ).first()
    if row is None:
        raise NotFound("no such gap signal", field="signal_id", value=signal_id)
    return _read(row, now or utcnow(), full_scan_times(session))


def _editable(session: Session, viewer: User, signal_id: int) -> GapSignal:
    """The signal if the viewer may act on it: 404 outside visibility, 403 unless owner or up the line."""
    signal = session.get(GapSignal, signal_id)
    if signal is None or not visibility_for(viewer).may_see_owner(session, signal.owner_id):
        raise NotFound("no such gap signal", field="signal_id", value=signal_id)
    if signal.owner_id != viewer.id:
        owner_in_line = select(literal(True)).where(
            literal(signal.owner_id).in_(reporting_line_ids(viewer.id))
        )
        if signal.owner_id is None or session.scalar(owner_in_line) is not True:
            raise PermissionDenied(
                "only the owner or their manager may act on this signal", signal_id=signal_id
            )
    if signal.resolved_at is not None:
        raise Conflict("the signal is already resolved", signal_id=signal_id)
    return signal


def _check_reason(reason: str) -> str:
    cleaned = reason.strip()
    if not cleaned:
        raise ValidationFailed("a reason is required", field="reason", value=reason)
    if len(cleaned) > MAX_REASON_LENGTH:
        raise ValidationFailed(
            f"the reason must have at most {MAX_REASON_LENGTH} characters", field="reason", value=len(cleaned)
        )
    return cleaned


def _audited(session: Session, viewer: User, signal: GapSignal, action: str, before: dict[str, Any]) -> None:
    session.flush()
    record_change(
        session,
        actor_id=viewer.id,
        action=action,
        object_type="gap_signal",
        object_id=signal.id,
        before=before,
        after=snapshot(signal, _AUDIT_FIELDS),
    )


def acknowledge(session: Session, *, viewer: User, signal_id: int, reason: str) -> SignalRead:
    """Mark a signal as seen and accepted for now, with a reason (owner or their manager; audited)."""
    cleaned = _check_reason(reason)
    signal = _editable(session, viewer, signal_id)
    before = snapshot(signal, _AUDIT_FIELDS)
    signal.acknowledged_at = utcnow()
    signal.acknowledged_by_id = viewer.id
    signal.acknowledge_reason = cleaned
    _audited(session, viewer, signal, "acknowledge", before)
    return get_signal(session, viewer=viewer, signal_id=signal_id)


def snooze(session: Session, *, viewer: User, signal_id: int, until: dt.date, reason: str) -> SignalRead:
    """Hide a signal from the inbox until a date (tomorrow at the earliest), with a reason; audited."""
    cleaned = _check_reason(reason)
    today = utcnow().date()
    if until <= today:
        raise ValidationFailed("snooze until a later date than today", field="until", value=until.isoformat())
    if until > today + dt.timedelta(days=MAX_SNOOZE_DAYS):
        raise ValidationFailed(
            f"snooze for at most {MAX_SNOOZE_DAYS} days", field="until", value=until.isoformat()
        )
    signal = _editable(session, viewer, signal_id)
    before = snapshot(signal, _AUDIT_FIELDS)
    signal.snoozed_until = dt.datetime.combine(until, dt.time(), dt.UTC)
    signal.snoozed_by_id = viewer.id
    signal.snooze_reason = cleaned
    _audited(session, viewer, signal, "snooze", before)
    return get_signal(session, viewer=viewer, signal_id=signal_id)


def open_signals_for_deal(session: Session, *, viewer: User, opportunity_id: int) -> list[SignalRead]:
    """A deal's unresolved, awake signals (for the deal room), largest risk first."""
    page = list_signals(
        session,
        viewer=viewer,
        filters=SignalFilters(opportunity_id=opportunity_id),
        page=PageRequest(page=1, page_size=50),
    )
    return page.items
