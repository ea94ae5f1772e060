"""JSON endpoints of the gap inbox under ``/api/v1/gaps``: signals, acknowledge, snooze, rules, scan."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from bridgehead.auth.models import Role
from bridgehead.auth.service import require_role
from bridgehead.common.pagination import Page
from bridgehead.common.types import MAX_ID
from bridgehead.intelligence import tables
from bridgehead.intelligence.gaps import rules, scan, service
from bridgehead.intelligence.gaps.schemas import (
    AcknowledgeRequest,
    KindResultRead,
    RuleRead,
    RuleUpdate,
    ScanRead,
    ScanRequest,
    SignalQuery,
    SignalRead,
    SnoozeRequest,
)
from bridgehead.intelligence.schemas import OutputFormat
from bridgehead.web.deps import ApiUser, SessionDep

router = APIRouter(prefix="/gaps", tags=["gaps"])
SignalId = Annotated[int, Path(ge=1, le=MAX_ID)]
CSV_COLUMNS = [
    "id",
    "kind",
    "severity",
    "state",
    "opportunity_id",
    "opportunity_name",
    "account_name",
    "owner_name",
    "amount_at_risk",
    "explanation",
    "raised_at",
    "resolved_at",
    "acknowledge_reason",
    "snoozed_until",
]
MAX_CSV_ROWS = 100_000


@router.get("/signals", response_model=Page[SignalRead], responses={200: {"content": {"text/csv": {}}}})
def list_signals(query: Annotated[SignalQuery, Query()], user: ApiUser, session: SessionDep) -> Any:
    """The inbox: signals the caller may see, largest money at risk first; ``format=csv`` for every row."""
    if query.format == OutputFormat.JSON:
        return service.list_signals(session, viewer=user, filters=query, page=query)
    everything = query.model_copy(update={"page": 1, "page_size": MAX_CSV_ROWS})
    page = service.list_signals(session, viewer=user, filters=query, page=everything)
    rows = [item.model_dump(mode="json", include=set(CSV_COLUMNS)) for item in page.items]
    return Response(
        tables.to_csv(CSV_COLUMNS, rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="gap-signals.csv"'},
    )


@router.get("/signals/{signal_id}")
def get_signal(signal_id: SignalId, user: ApiUser, session: SessionDep) -> SignalRead:
    """One signal with its evidence (404 outside what the caller may see)."""
    return service.get_signal(session, viewer=user, signal_id=signal_id)


@router.post("/signals/{signal_id}/acknowledge")
def acknowledge(
    signal_id: SignalId, body: AcknowledgeRequest, user: ApiUser, session: SessionDep
) -> SignalRead:
    """Acknowledge with a reason (the owner or their manager); the signal stays in the inbox, marked."""
    return service.acknowledge(session, viewer=user, signal_id=signal_id, reason=body.reason)


@router.post("/signals/{signal_id}/snooze")
def snooze(signal_id: SignalId, body: SnoozeRequest, user: ApiUser, session: SessionDep) -> SignalRead:
    """Snooze until a date with a reason; the signal leaves the inbox until then."""
    return service.snooze(session, viewer=user, signal_id=signal_id, until=body.until, reason=body.reason)


@router.get("/rules")
def list_rules(user: ApiUser, session: SessionDep) -> list[RuleRead]:
    """The playbook's detector rules with their thresholds."""
    return rules.read_rules(session)


@router.patch("/rules/{kind}")
def update_rule(
    kind: Annotated[str, Path(max_length=40)], body: RuleUpdate, user: ApiUser, session: SessionDep
) -> RuleRead:
    """Change a rule (admins and planners); a bad threshold is a 422 naming the field and value."""
    changed = rules.update_rule(
        session,
        actor=user,
        kind=kind,
        enabled=body.enabled,
        severity=body.severity,
        thresholds=body.thresholds,
    )
    return next(rule for rule in rules.read_rules(session) if rule.kind == changed.kind)


@router.post("/scan")
def run_scan(body: ScanRequest, user: ApiUser, session: SessionDep) -> ScanRead:
    """Run the detectors now (admins and planners)."""
    require_role(user, Role.ADMIN, Role.PLANNER)
    kinds = [rules.check_kind(kind) for kind in body.kinds] or None
    return scan_read(scan.scan(session, kinds=kinds))


def scan_read(result: scan.ScanResult) -> ScanRead:
    """A scan's result as the API shows it."""
    return ScanRead(
        kinds=[
            KindResultRead(
                kind=item.kind,
                enabled=item.enabled,
                raised=item.raised,
                still_open=item.still_open,
                resolved=item.resolved,
            )
            for item in result.kinds
        ],
        raised=result.raised,
        still_open=result.still_open,
        resolved=result.resolved,
    )
