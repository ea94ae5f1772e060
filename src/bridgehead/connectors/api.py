"""JSON endpoints of the connectors domain: imports (upload, report, past runs) and list exports."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from bridgehead.common.pagination import Page, PageRequest
from bridgehead.common.types import MAX_ID
from bridgehead.connectors import export, imports, uploads
from bridgehead.connectors.engine import ImportFailed, ImportReport
from bridgehead.connectors.jobs import ImportJob, job_summary
from bridgehead.connectors.schemas import (
    AccountExportQuery,
    AccountOwnerExportQuery,
    ExportFormat,
    ImportJobRead,
    ImportReportRead,
    ImportRunDetail,
    ImportRunRead,
    OpportunityExportQuery,
)
from bridgehead.connectors.service import check_may_import
from bridgehead.connectors.web import (
    StreamingSessionDep,
    csv_response,
    export_response,
    form_files,
    form_flag,
    form_text,
    import_jobs,
    incoming,
    receive_form,
    upload_limits,
    workspace_root,
)
from bridgehead.crm.schemas import AccountFilters, OpportunityFilters
from bridgehead.errors import ValidationFailed
from bridgehead.web.deps import ApiUser, SessionDep

router = APIRouter(tags=["connectors"])
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]

_UPLOAD_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["kind", "files"],
                "properties": {
                    "kind": {"type": "string", "enum": list(uploads.IMPORT_KINDS)},
                    "files": {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                        "description": "CSV/XLSX files or one .zip (a Salesforce or HubSpot export folder)",
                    },
                    "mapping": {
                        "type": "string",
                        "format": "binary",
                        "description": "TOML mapping (required for kind=csv)",
                    },
                    "dry_run": {"type": "boolean", "default": False},
                    "quarantine": {
                        "type": "boolean",
                        "default": False,
                        "description": "Import the good rows and set the bad ones aside (default: all or nothing)",
                    },
                    "background": {
                        "type": "boolean",
                        "default": False,
                        "description": "Answer 202 at once with a job to follow at /api/v1/imports/jobs/{id}",
                    },
                },
            }
        }
    },
}
_REPORT_SCHEMA = {"$ref": "#/components/schemas/ImportReportRead"}


def _report_json(report: ImportReport) -> dict[str, Any]:
    return imports.report_read(report).model_dump(mode="json")


@router.post(
    "/imports",
    status_code=201,
    response_model=ImportReportRead,
    openapi_extra={"requestBody": _UPLOAD_BODY},
    responses={
        200: {"description": "Dry run: what would happen; nothing was written", "model": ImportReportRead},
        201: {"description": "Imported"},
        202: {
            "description": "background=true: the import runs as a job (see Location)",
            "model": ImportJobRead,
        },
        413: {"description": "The upload is too large"},
        422: {"description": "Refused: a bad file, or rows rejected under all-or-nothing (detail.report)"},
    },
)
async def create_import(request: Request, user: ApiUser, session: SessionDep) -> Response:
    """Import uploaded files: a Salesforce or HubSpot export (.zip or files), or CSV/XLSX with a TOML
    mapping. Returns the report: 201 when committed, 200 for a dry run, 422 with the report when
    all-or-nothing refused it (nothing was written). With ``background=true`` it answers 202 at once
    with a job to follow (``Location``), for exports that take minutes. Planners and admins only."""
    check_may_import(user)
    limits = upload_limits(request)
    try:
        form = await receive_form(request, limits)
    except StarletteHTTPException as exc:
        raise ValidationFailed(f"the upload could not be read: {exc.detail}", field="files") from exc
    upload: uploads.Upload | None = None
    try:
        kind = form_text(form, "kind")
        files = form_files(form, "files", "file")
        mapping = form_files(form, "mapping")
        if not files:
            raise ValidationFailed("send the data as one or more 'files' parts", field="files")
        upload = await run_in_threadpool(
            uploads.create_upload,
            workspace_root(request),
            actor_id=user.id,
            kind=kind,
            files=[incoming(file) for file in files],
            mapping=incoming(mapping[0]) if mapping else None,
            limits=limits,
        )
        dry_run = form_flag(form, "dry_run")
        if form_flag(form, "background"):
            job = await run_in_threadpool(
                import_jobs(request).submit,
                actor=user,
                upload=upload,
                dry_run=dry_run,
                quarantine=form_flag(form, "quarantine"),
                discard_upload=True,
                session=session,
            )
            # The job owns the upload now, and removes it when it ends.
            upload = None
            location = f"/api/v1/imports/jobs/{job.id}"
            return JSONResponse(_job_json(job), status_code=202, headers={"Location": location})
        try:
            report = await run_in_threadpool(
                imports.run_upload,
                session,
                actor=user,
                upload=upload,
                dry_run=dry_run,
                quarantine=form_flag(form, "quarantine"),
            )
        except ImportFailed as exc:
            return JSONResponse(
                {"detail": {"message": exc.message, "report": _report_json(exc.report)}}, status_code=422
            )
        return JSONResponse(_report_json(report), status_code=200 if dry_run else 201)
    finally:
        await form.close()
        if upload is not None:
            uploads.discard_upload(upload)


@router.get("/imports/jobs/{job_id}")
def read_import_job(
    job_id: Annotated[str, Path(min_length=1, max_length=32)], request: Request, user: ApiUser
) -> ImportJobRead:
    """A background import: status (queued, running, done, refused, failed), step, rows so far, and
    once finished its run id and report. Jobs are kept while the server runs; the run history lasts."""
    check_may_import(user)
    return ImportJobRead.model_validate(_job_json(import_jobs(request).get(job_id, viewer=user)))


def _job_json(job: ImportJob) -> dict[str, Any]:
    summary = job_summary(job)
    summary["report"] = _report_json(job.report) if job.report is not None and job.finished else None
    return summary


@router.get("/imports")
def list_imports(
    user: ApiUser,
    session: SessionDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[ImportRunRead]:
    """Past imports, newest first. Planners and admins only."""
    return imports.list_import_runs(session, actor=user, page=PageRequest(page=page, page_size=page_size))


@router.get("/imports/{run_id}")
def read_import(run_id: ObjectId, user: ApiUser, session: SessionDep) -> ImportRunDetail:
    """One past import with the rows it set aside or refused (up to 1,000; all in errors.csv)."""
    return imports.import_run_detail(session, actor=user, run_id=run_id)


@router.get("/imports/{run_id}/errors.csv", response_class=Response)
def read_import_errors(run_id: ObjectId, user: ApiUser, session: StreamingSessionDep) -> Response:
    """Every row the import set aside or refused, as CSV."""
    table = imports.rejected_rows_table(session, actor=user, run_id=run_id)
    return export_response(table, ExportFormat.CSV)


_FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file",
        "content": {"text/csv": {}, export.MEDIA_TYPES[ExportFormat.XLSX]: {}},
    }
}


@router.get("/opportunities/export", response_class=Response, responses=_FILE_RESPONSES)
def export_opportunities(
    query: Annotated[OpportunityExportQuery, Query()], user: ApiUser, session: StreamingSessionDep
) -> Response:
    """Every opportunity the caller sees that matches the list's filters, as CSV or XLSX."""
    filters = OpportunityFilters.model_validate(query.model_dump(exclude={"format"}))
    return export_response(export.opportunity_export(session, viewer=user, filters=filters), query.format)


@router.get("/accounts/export", response_class=Response, responses=_FILE_RESPONSES)
def export_accounts(
    query: Annotated[AccountExportQuery, Query()], user: ApiUser, session: StreamingSessionDep
) -> Response:
    """Every account the caller sees that matches the list's filters, as CSV or XLSX."""
    filters = AccountFilters.model_validate(query.model_dump(exclude={"format"}))
    return export_response(export.account_export(session, viewer=user, filters=filters), query.format)


@router.get("/exports/account-owners", response_class=Response, responses=_FILE_RESPONSES)
def export_account_owners(
    query: Annotated[AccountOwnerExportQuery, Query()], user: ApiUser, session: StreamingSessionDep
) -> Response:
    """Account owners as a Salesforce Data Loader update CSV (``Id,OwnerId``). Planners and admins."""
    table = export.account_owner_export(session, actor=user, since=query.since)
    # Data Loader reads the header literally: no byte-order mark before "Id".
    return csv_response(table, f"{table.name}.csv", bom=False)
