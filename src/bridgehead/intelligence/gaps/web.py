"""Pages of the gap inbox: ``/gaps`` (mine and team, filters in the query string) and ``/gaps/rules``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from bridgehead.auth.models import Role, User
from bridgehead.common.pagination import PageRequest
from bridgehead.common.types import MAX_ID
from bridgehead.errors import BridgeheadError, ValidationFailed
from bridgehead.intelligence import analysis
from bridgehead.intelligence.gaps import rules, service
from bridgehead.intelligence.gaps.models import GapKind, Severity
from bridgehead.intelligence.gaps.schemas import MAX_REASON_LENGTH, InboxView, SignalFilters, SignalState
from bridgehead.web.deps import CsrfProtected, PageUser, SessionDep, require_roles
from bridgehead.web.templating import is_htmx, render

router = APIRouter(prefix="/gaps", include_in_schema=False)
SignalId = Annotated[int, Path(ge=1, le=MAX_ID)]
Reason = Annotated[str, Form(max_length=MAX_REASON_LENGTH)]
RULE_EDITORS = (Role.ADMIN, Role.PLANNER)


class InboxQuery(SignalFilters, PageRequest):
    """The inbox page's query string; the view defaults by role (reps: mine, others: team)."""

    view: InboxView | None = None  # type: ignore[assignment]


def _context(session: SessionDep, user: User, query: InboxQuery) -> dict[str, Any]:
    view = query.view or (InboxView.MINE if user.role == Role.REP else InboxView.TEAM)
    filters = SignalFilters(**{**query.model_dump(exclude={"page", "page_size"}), "view": view})
    return {
        "query": query,
        "view": view,
        "results": service.list_signals(session, viewer=user, filters=filters, page=query),
        "options": analysis.filter_options(session, viewer=user),
        "kinds": [(kind.value, rules.RULE_SPECS[kind].title) for kind in GapKind],
        "severities": [level.value for level in Severity],
        "states": [state.value for state in SignalState],
        "tomorrow": dt.date.today() + dt.timedelta(days=1),
        "error": None,
    }


@router.get("")
def inbox_page(
    request: Request, query: Annotated[InboxQuery, Query()], user: PageUser, session: SessionDep
) -> Response:
    """The gap inbox: largest money at risk first, acknowledge and snooze inline."""
    try:
        context = _context(session, user, query)
    except ValidationFailed as exc:
        empty = InboxQuery()
        context = _context(session, user, empty)
        context["error"] = f"{exc.message} ({exc.context.get('field')}: {exc.context.get('value')})"
        return render(request, "gaps/inbox.html", context, status_code=422)
    return render(request, "gaps/inbox.html", context)


def _after_action(
    request: Request, session: SessionDep, user: User, signal_id: int, *, gone: bool
) -> Response:
    """htmx: the row again (or nothing when it left the inbox); a plain form: back to the inbox."""
    if not is_htmx(request):
        return RedirectResponse(request.headers.get("referer") or "/gaps", status_code=303)
    if gone:
        return Response("", media_type="text/html")
    signal = service.get_signal(session, viewer=user, signal_id=signal_id)
    return render(
        request,
        "gaps/_row.html",
        {"signal": signal, "tomorrow": dt.date.today() + dt.timedelta(days=1), "flash": "Acknowledged"},
    )


def _failed(request: Request, exc: BridgeheadError) -> Response:
    message = exc.message
    if is_htmx(request):
        return Response(
            f'<p class="form-error" role="alert">{_escape(message)}</p>', status_code=exc.http_status
        )
    raise exc


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@router.post("/signals/{signal_id}/acknowledge", dependencies=[CsrfProtected])
def acknowledge(
    request: Request, signal_id: SignalId, user: PageUser, session: SessionDep, reason: Reason = ""
) -> Response:
    """Acknowledge with a reason; the row stays, marked."""
    try:
        service.acknowledge(session, viewer=user, signal_id=signal_id, reason=reason)
    except ValidationFailed as exc:
        return _failed(request, exc)
    return _after_action(request, session, user, signal_id, gone=False)


@router.post("/signals/{signal_id}/snooze", dependencies=[CsrfProtected])
def snooze(
    request: Request,
    signal_id: SignalId,
    user: PageUser,
    session: SessionDep,
    until: Annotated[dt.date, Form()],
    reason: Reason = "",
) -> Response:
    """Snooze until a date with a reason; the row leaves the inbox."""
    try:
        service.snooze(session, viewer=user, signal_id=signal_id, until=until, reason=reason)
    except ValidationFailed as exc:
        return _failed(request, exc)
    return _after_action(request, session, user, signal_id, gone=True)


@router.get("/rules")
def rules_page(request: Request, user: PageUser, session: SessionDep) -> Response:
    """The playbook's detector settings; admins and planners may change them."""
    return _rules_page(request, session, user)


def _rules_page(
    request: Request, session: SessionDep, user: User, *, error: str | None = None, saved: str | None = None
) -> Response:
    return render(
        request,
        "gaps/rules.html",
        {
            "rules": rules.read_rules(session),
            "severities": [level.value for level in Severity],
            "may_edit": user.role in RULE_EDITORS,
            "error": error,
            "saved": saved,
        },
        status_code=422 if error else 200,
    )


def _segment_minimums(text: str) -> dict[str, Any]:
    """``Enterprise FS=4; Mid-market=3`` into a mapping (values checked by the rule service)."""
    minimums: dict[str, Any] = {}
    for item in text.replace("\n", ";").split(";"):
        if not item.strip():
            continue
        name, separator, value = item.partition("=")
        if not separator or not name.strip():
            raise ValidationFailed(
                "write segment minimums as Name=number, separated by ;", field="segment_minimums", value=item
            )
        minimums[name.strip()] = value.strip()
    return minimums


@router.post("/rules/{kind}", dependencies=[CsrfProtected, require_roles(*RULE_EDITORS)])
async def save_rule(
    request: Request, kind: Annotated[str, Path(max_length=40)], user: PageUser, session: SessionDep
) -> Response:
    """Save one rule from the playbook form; a bad value re-renders the page with the field named (422)."""
    form = await request.form()
    thresholds: dict[str, Any] = {
        str(name).removeprefix("threshold."): value
        for name, value in form.items()
        if str(name).startswith("threshold.")
    }
    try:
        if "segment_minimums" in form:
            thresholds["segment_minimums"] = _segment_minimums(str(form["segment_minimums"]))
        rules.update_rule(
            session,
            actor=user,
            kind=kind,
            enabled=form.get("enabled") == "on",
            severity=str(form.get("severity") or "") or None,
            thresholds=thresholds,
        )
    except ValidationFailed as exc:
        return _rules_page(
            request,
            session,
            user,
            error=f"{exc.message} ({exc.context.get('field')}: {exc.context.get('value')})",
        )
    return _rules_page(request, session, user, saved=rules.check_kind(kind).value)


@router.get("/deals/{opportunity_id}")
def deal_signals(request: Request, opportunity_id: SignalId, user: PageUser, session: SessionDep) -> Response:
    """The deal room's panel of the deal's open signals (loaded by htmx; empty when there are none)."""
    signals = service.open_signals_for_deal(session, viewer=user, opportunity_id=opportunity_id)
    return render(request, "gaps/_deal_signals.html", {"signals": signals, "opportunity_id": opportunity_id})
