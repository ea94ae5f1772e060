"""The quota sheet page: quotas with attainment, a total, and (for planners, admins and executives)
forms to set, change and remove quotas and to load a sheet.

Forms post back here and run the same service functions the API uses, inside a savepoint, so a
refused change stores nothing and the page says why with the status the API would give.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from bridgehead.auth.models import Role, User
from bridgehead.auth.service import visible_user_names
from bridgehead.common.types import MAX_ID, Period
from bridgehead.connectors.export import quota_export
from bridgehead.connectors.schemas import ExportFormat
from bridgehead.connectors.web import StreamingSessionDep, check_form_csrf, export_response, form_flag
from bridgehead.crm.models import OrgUnit
from bridgehead.errors import BridgeheadError, ValidationFailed
from bridgehead.planning import service, sheet
from bridgehead.planning.api import filters_of
from bridgehead.planning.models import QuotaBasis
from bridgehead.planning.schemas import QuotaCreate, QuotaQuery, QuotaSheetResult, QuotaUpdate
from bridgehead.planning.sheet_upload import received_sheet
from bridgehead.strategy.models import Segment
from bridgehead.web.deps import CsrfProtected, PageUser, SessionDep
from bridgehead.web.forms import optional_id, validation_failure
from bridgehead.web.templating import render

router = APIRouter(include_in_schema=False)
QuotaId = Annotated[int, Path(ge=1, le=MAX_ID)]
BASIS_LABELS = {QuotaBasis.BOOKINGS: "Bookings (won)", QuotaBasis.PIPELINE_CREATED: "Pipeline created"}


def _amount(text: str, field: str) -> Decimal:
    """An amount as the sheet reads one (``$250,000``, ``250.000,00``), or ``ValidationFailed``."""
    try:
        amount = sheet.parse_sheet_amount(text)
    except ValueError as exc:
        raise ValidationFailed(f"must be an amount such as 250000 ({exc})", field=field, value=text) from None
    if amount is None:
        raise ValidationFailed("a quota needs an amount", field=field, value=text)
    return amount


def _whole(text: str, field: str, default: int) -> int:
    cleaned = text.strip().rstrip("%")
    if not cleaned:
        return default
    if not cleaned.isdigit():
        raise ValidationFailed("must be a whole percentage from 0 to 100", field=field, value=text)
    return int(cleaned)


def _query(request: Request, query: QuotaQuery) -> QuotaQuery:
    """The page's query; without any ``period`` parameter the page opens on this quarter."""
    if "period" not in request.query_params:
        return query.model_copy(update={"period": Period.containing(dt.date.today()).label})
    return query


def _choices(session: Session, user: User) -> dict[str, Any]:
    return {
        "people": visible_user_names(session, viewer=user),
        "units": session.execute(select(OrgUnit.id, OrgUnit.name).order_by(OrgUnit.name)).all(),
        "segments": session.execute(select(Segment.id, Segment.name).order_by(Segment.name)).all(),
        "bases": BASIS_LABELS,
        "period_choices": _period_choices(),
    }


def _period_choices(today: dt.date | None = None) -> list[str]:
    """This year and next as years, then their quarters: what a planner sets quotas for."""
    year = (today or dt.date.today()).year
    return [str(year), str(year + 1)] + [f"{y}-Q{q}" for y in (year, year + 1) for q in range(1, 5)]


def _page(
    request: Request,
    session: Session,
    user: User,
    query: QuotaQuery,
    *,
    error: BridgeheadError | None = None,
    form: dict[str, str] | None = None,
    sheet_result: QuotaSheetResult | None = None,
    sheet_name: str | None = None,
    problems: list[dict[str, Any]] | None = None,
    problem_count: int = 0,
) -> Response:
    filters = filters_of(query)
    context = {
        "query": query,
        "results": service.list_quotas(session, viewer=user, filters=filters, page=query),
        "summary": service.summarise(session, viewer=user, filters=filters),
        "can_edit": service.may_edit_quotas(user),
        "can_export_salesforce": user.role in (Role.PLANNER, Role.ADMIN),
        "error": None if error is None else error.message,
        "form": form or {},
        "sheet_result": sheet_result,
        "sheet_name": sheet_name,
        "problems": problems or [],
        "problem_count": problem_count,
        **_choices(session, user),
    }
    return render(
        request, "planning/quotas.html", context, status_code=error.http_status if error is not None else 200
    )


@router.get("/plan/quotas")
def quotas_page(
    request: Request, query: Annotated[QuotaQuery, Query()], user: PageUser, session: SessionDep
) -> Response:
    """The quota sheet: each quota, the quota after ramp, attained, attainment, and the total."""
    chosen = _query(request, query)
    try:
        filters_of(chosen)
    except BridgeheadError as exc:
        return _page(request, session, user, chosen.model_copy(update={"period": None}), error=exc)
    return _page(request, session, user, chosen)


@router.get("/plan/quotas/export.{export_format}")
def export_quotas(
    export_format: ExportFormat,
    query: Annotated[QuotaQuery, Query()],
    user: PageUser,
    session: StreamingSessionDep,
) -> Response:
    """The quota list with the page's filters, every page, as CSV or XLSX."""
    table = quota_export(session, viewer=user, filters=filters_of(query))
    return export_response(table, export_format)


@router.post("/plan/quotas", dependencies=[CsrfProtected])
def set_quota(
    request: Request,
    user: PageUser,
    session: SessionDep,
    owner_id: Annotated[str, Form(max_length=20)] = "",
    period: Annotated[str, Form(max_length=20)] = "",
    basis: Annotated[str, Form(max_length=30)] = "bookings",
    quota_amount: Annotated[str, Form(max_length=40)] = "",
    ramp_percent: Annotated[str, Form(max_length=10)] = "",
    segment_id: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form(max_length=2_000)] = "",
) -> Response:
    """Set one quota and return to the sheet on its period; a refusal shows the form again with why."""
    form = {
        "owner_id": owner_id,
        "period": period,
        "basis": basis,
        "quota_amount": quota_amount,
        "ramp_percent": ramp_percent,
        "segment_id": segment_id,
        "note": note,
    }
    try:
        with session.begin_nested():
            data = QuotaCreate(
                owner_id=optional_id(owner_id, "owner_id") or 0,
                period=period.strip(),
                basis=basis or QuotaBasis.BOOKINGS,
                quota_amount=_amount(quota_amount, "quota_amount"),
                ramp_percent=_whole(ramp_percent, "ramp_percent", 100),
                segment_id=optional_id(segment_id, "segment_id"),
                note=note,
            )
            quota, _outcome = service.set_quota(session, actor=user, data=data)
    except (ValidationError, BridgeheadError) as exc:
        error = validation_failure(exc) if isinstance(exc, ValidationError) else exc
        return _page(request, session, user, QuotaQuery(period=None), error=error, form=form)
    return RedirectResponse(f"/plan/quotas?period={quota.period}#quota-{quota.id}", status_code=303)


@router.post("/plan/quotas/{quota_id}/edit", dependencies=[CsrfProtected])
def edit_quota(
    request: Request,
    quota_id: QuotaId,
    user: PageUser,
    session: SessionDep,
    quota_amount: Annotated[str, Form(max_length=40)] = "",
    ramp_percent: Annotated[str, Form(max_length=10)] = "",
    note: Annotated[str, Form(max_length=2_000)] = "",
) -> Response:
    """Change a quota's amount, ramp and note."""
    try:
        with session.begin_nested():
            changes = QuotaUpdate(
                quota_amount=_amount(quota_amount, "quota_amount"),
                ramp_percent=_whole(ramp_percent, "ramp_percent", 100),
                note=note,
            )
            quota = service.update_quota(session, actor=user, quota_id=quota_id, changes=changes)
    except (ValidationError, BridgeheadError) as exc:
        error = validation_failure(exc) if isinstance(exc, ValidationError) else exc
        return _page(request, session, user, QuotaQuery(period=None), error=error)
    return RedirectResponse(f"/plan/quotas?period={quota.period}#quota-{quota.id}", status_code=303)


@router.post("/plan/quotas/{quota_id}/delete", dependencies=[CsrfProtected])
def delete_quota(request: Request, quota_id: QuotaId, user: PageUser, session: SessionDep) -> Response:
    """Remove a quota and return to the sheet."""
    try:
        with session.begin_nested():
            quota = service.get_quota(session, viewer=user, quota_id=quota_id)
            period = quota.period
            service.delete_quota(session, actor=user, quota_id=quota_id)
    except BridgeheadError as exc:
        return _page(request, session, user, QuotaQuery(period=None), error=exc)
    return RedirectResponse(f"/plan/quotas?period={period}", status_code=303)


@router.post("/plan/quotas/sheet")
async def load_sheet(request: Request, user: PageUser, session: SessionDep) -> Response:
    """Load a quota sheet (CSV or XLSX), all or nothing; the page lists every problem if refused."""
    service.check_may_edit_quotas(user)
    everything = QuotaQuery(period=None)
    try:
        async with received_sheet(request) as received:
            check_form_csrf(request, received.form)
            dry_run = form_flag(received.form, "dry_run")
            result = await run_in_threadpool(
                sheet.load_quota_sheet,
                session,
                actor=user,
                path=received.path,
                dry_run=dry_run,
                file_name=received.name,
            )
    except sheet.QuotaSheetRejected as exc:
        return await run_in_threadpool(
            _page,
            request,
            session,
            user,
            everything,
            error=exc,
            problems=list(exc.context.get("problems", [])),
            problem_count=int(exc.context.get("problem_count", 0)),
            sheet_name=str(exc.context.get("value") or ""),
        )
    except BridgeheadError as exc:
        return await run_in_threadpool(_page, request, session, user, everything, error=exc)
    return await run_in_threadpool(
        _page, request, session, user, everything, sheet_result=result, sheet_name=received.name
    )
