"""JSON endpoints of planning: the quota sheet (list, set, change, remove, load a file, totals)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from bridgehead.common.pagination import Page
from bridgehead.common.types import MAX_ID
from bridgehead.connectors.web import form_flag
from bridgehead.planning import service, sheet
from bridgehead.planning.schemas import (
    AttainmentSummary,
    QuotaCreate,
    QuotaQuery,
    QuotaRead,
    QuotaSheetResult,
    QuotaUpdate,
)
from bridgehead.planning.service import QuotaFilters
from bridgehead.planning.sheet_upload import received_sheet
from bridgehead.web.deps import ApiUser, SessionDep

router = APIRouter(tags=["planning"])
QuotaId = Annotated[int, Path(ge=1, le=MAX_ID)]


def filters_of(query: QuotaQuery) -> QuotaFilters:
    """The service's filters from a query string (the period parsed, naming the parameter if bad)."""
    return QuotaFilters(
        period=service.quota_period(query.period) if query.period else None,
        owner_id=query.owner_id,
        org_unit_id=query.org_unit_id,
        segment_id=query.segment_id,
        basis=query.basis,
    )


@router.get("/quotas")
def list_quotas(query: Annotated[QuotaQuery, Query()], user: ApiUser, session: SessionDep) -> Page[QuotaRead]:
    """Quotas the caller may see (a rep their own, a manager their line), with attainment; filter by
    a period (quotas inside it), person, org unit (and below), segment and basis."""
    return service.list_quotas(session, viewer=user, filters=filters_of(query), page=query)


@router.get("/quotas/summary")
def summarise_quotas(
    query: Annotated[QuotaQuery, Query()], user: ApiUser, session: SessionDep
) -> AttainmentSummary:
    """The listed quotas added up: people, effective quota, attained, attainment."""
    return service.summarise(session, viewer=user, filters=filters_of(query))


@router.post("/quotas", status_code=201, responses={200: {"description": "An existing quota was updated"}})
def set_quota(data: QuotaCreate, user: ApiUser, session: SessionDep) -> Response:
    """Set a quota (planners, admins, executives): 201 when new, 200 when it replaced the figures of
    the same person, basis and period. A period overlapping another of theirs is refused (409)."""
    quota, outcome = service.set_quota(session, actor=user, data=data)
    row = service.quota_rows(session, [quota])[0]
    return JSONResponse(row.model_dump(mode="json"), status_code=201 if outcome == "created" else 200)


@router.get("/quotas/{quota_id}")
def read_quota(quota_id: QuotaId, user: ApiUser, session: SessionDep) -> QuotaRead:
    """One quota with its attainment."""
    quota = service.get_quota(session, viewer=user, quota_id=quota_id)
    return service.quota_rows(session, [quota])[0]


@router.patch("/quotas/{quota_id}")
def update_quota(quota_id: QuotaId, changes: QuotaUpdate, user: ApiUser, session: SessionDep) -> QuotaRead:
    """Change a quota's amount, ramp, segment or note (the fields sent)."""
    quota = service.update_quota(session, actor=user, quota_id=quota_id, changes=changes)
    return service.quota_rows(session, [quota])[0]


@router.delete("/quotas/{quota_id}", status_code=204)
def delete_quota(quota_id: QuotaId, user: ApiUser, session: SessionDep) -> Response:
    """Remove a quota."""
    service.delete_quota(session, actor=user, quota_id=quota_id)
    return Response(status_code=204)


@router.post(
    "/quotas/sheet",
    status_code=201,
    response_model=QuotaSheetResult,
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "dry_run": {"type": "boolean"},
                        },
                    }
                }
            },
            "required": True,
        }
    },
    responses={
        200: {"description": "Dry run: what would happen; nothing was stored", "model": QuotaSheetResult},
        422: {"description": "Refused: every problem with its line, column and value; nothing was stored"},
    },
)
async def load_sheet(request: Request, user: ApiUser, session: SessionDep) -> Response:
    """Set every quota of a CSV or XLSX sheet, all or nothing (columns: owner, period, quota_amount,
    and optionally basis, ramp_percent, segment, note, external_id)."""
    service.check_may_edit_quotas(user)
    async with received_sheet(request) as received:
        dry_run = form_flag(received.form, "dry_run")
        result = await run_in_threadpool(
            sheet.load_quota_sheet,
            session,
            actor=user,
            path=received.path,
            dry_run=dry_run,
            file_name=received.name,
        )
    return JSONResponse(result.model_dump(mode="json"), status_code=200 if dry_run else 201)
