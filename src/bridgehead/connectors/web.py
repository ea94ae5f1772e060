"""Pages of the connectors domain: the import wizard, past import runs, and list exports.

The wizard: choose the kind and upload → preview → map columns (one CSV/XLSX) → validation report
(a dry run, rolled back) → confirm. Uploaded files wait in a server-side folder keyed by a random
token between the steps.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Message, Receive

from bridgehead.auth.models import User
from bridgehead.common.pagination import PageRequest
from bridgehead.common.periods import parse_period
from bridgehead.common.types import MAX_ID
from bridgehead.connectors import export, imports, suggest, uploads
from bridgehead.connectors.engine import ImportReport
from bridgehead.connectors.jobs import ImportJob, ImportJobs
from bridgehead.connectors.schemas import AccountOwnerExportQuery, ExportFormat, QuotaSalesforceExportQuery
from bridgehead.connectors.service import check_may_import
from bridgehead.connectors.uploads import DEFAULT_LIMITS, IncomingFile, Upload, UploadLimits, UploadTooLarge
from bridgehead.crm.schemas import AccountQuery, OpportunityQuery
from bridgehead.errors import NotFound, ValidationFailed
from bridgehead.web.deps import (
    CSRF_COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    CsrfFailed,
    CsrfProtected,
    PageUser,
    SessionDep,
    get_session,
)
from bridgehead.web.templating import render

router = APIRouter(include_in_schema=False)
# Downloads read rows while the response streams: their session must outlive the route, so it
# is request-scoped (closed after the response is sent), unlike SessionDep, which commits and
# closes when the route returns.
StreamingSessionDep = Annotated[Session, Depends(get_session, scope="request")]
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]
Token = Annotated[str, Path(min_length=1, max_length=64)]
JobId = Annotated[str, Path(min_length=1, max_length=32)]
REPORT_ROWS = 200
KIND_LABELS = {
    "salesforce": "Salesforce export",
    "hubspot": "HubSpot export",
    "csv": "CSV or XLSX with a mapping",
}
STEPS = ("Upload", "Preview", "Map columns", "Validate", "Confirm")
# Uploads larger than this are validated in a background job (about 5 s of checking on these machines).
VALIDATE_INLINE_BYTES = 20 * 1024 * 1024


# --- upload plumbing shared with the API -------------------------------------------------------


def workspace_root(request: Request) -> FilePath:
    """Where this application keeps uploads between steps."""
    root = getattr(request.app.state, "import_root", None)
    return FilePath(root) if root else uploads.default_root()


def upload_limits(request: Request) -> UploadLimits:
    """The bounds on one upload."""
    limits = getattr(request.app.state, "upload_limits", None)
    return limits if isinstance(limits, UploadLimits) else DEFAULT_LIMITS


def _limited(receive: Receive, limit: int, nominal: int) -> Callable[[], Awaitable[Message]]:
    received = 0

    async def wrapped() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise UploadTooLarge(f"the upload is larger than {uploads.describe_size(nominal)}")
        return message

    return wrapped


async def receive_form(request: Request, limits: UploadLimits) -> FormData:
    """The multipart form of an upload, refusing a body larger than the limit as it arrives."""
    # Room for the form's other fields and the multipart framing around the files.
    limit = limits.max_upload_bytes + 256 * 1024
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise UploadTooLarge(f"the upload is larger than {uploads.describe_size(limits.max_upload_bytes)}")
    limited = Request(request.scope, receive=_limited(request.receive, limit, limits.max_upload_bytes))
    return await limited.form(max_files=limits.max_files + 1, max_fields=100)


def form_text(form: FormData, name: str) -> str:
    """A text field of a form ('' when absent or a file)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def form_flag(form: FormData, name: str) -> bool:
    """A checkbox or boolean field."""
    return form_text(form, name).strip().lower() in {"1", "true", "on", "yes"}


def form_files(form: FormData, *names: str) -> list[UploadFile]:
    """The files sent under any of ``names`` (empty file inputs left out)."""
    found: list[UploadFile] = []
    for name in names:
        for value in form.getlist(name):
            if isinstance(value, UploadFile) and (value.filename or value.size):
                found.append(value)
    return found


def incoming(file: UploadFile) -> IncomingFile:
    """A received file for the service layer."""
    return IncomingFile(filename=file.filename or "upload", stream=file.file)


def check_form_csrf(request: Request, form: FormData) -> None:
    """Refuse a multipart form whose CSRF token (field or header) does not match the cookie."""
    cookie = request.cookies.get(CSRF_COOKIE)
    submitted = request.headers.get(CSRF_HEADER) or form_text(form, CSRF_FIELD)
    if not cookie or not submitted or not secrets.compare_digest(cookie, submitted):
        raise CsrfFailed


# --- pages: runs -------------------------------------------------------------------------------


@router.get("/data/imports")
def imports_page(
    request: Request,
    user: PageUser,
    session: SessionDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    """Past imports with their counts and status."""
    runs = imports.list_import_runs(session, actor=user, page=PageRequest(page=page, page_size=50))
    under_way = import_jobs(request).unfinished(viewer=user)
    return render(request, "connectors/imports.html", {"runs": runs, "under_way": under_way})


@router.get("/data/imports/new")
def new_import_page(request: Request, user: PageUser, kind: str = "csv") -> Response:
    """Step 1: choose what to import and upload it."""
    check_may_import(user)
    return _upload_form(request, kind=kind if kind in KIND_LABELS else "csv")


def _upload_form(
    request: Request, *, kind: str = "csv", error: str | None = None, status_code: int = 200
) -> Response:
    limits = upload_limits(request)
    context = {
        "kind": kind,
        "kinds": KIND_LABELS,
        "error": error,
        "max_size": uploads.describe_size(limits.max_upload_bytes),
        "steps": STEPS,
        "step": 0,
    }
    return render(request, "connectors/new.html", context, status_code=status_code)


@router.post("/data/imports/new")
async def upload_import(request: Request, user: PageUser) -> Response:
    """Keep the uploaded files in a new upload folder and go on to the preview."""
    check_may_import(user)
    limits = upload_limits(request)
    kind = "csv"
    try:
        form = await receive_form(request, limits)
    except UploadTooLarge as exc:
        return _upload_form(request, error=exc.message, status_code=413)
    except StarletteHTTPException as exc:
        return _upload_form(request, error=f"the upload could not be read: {exc.detail}", status_code=400)
    try:
        check_form_csrf(request, form)
        kind = form_text(form, "kind") or "csv"
        mapping_files = form_files(form, "mapping")
        upload = await run_in_threadpool(
            uploads.create_upload,
            workspace_root(request),
            actor_id=user.id,
            kind=kind,
            files=[incoming(file) for file in form_files(form, "files", "file")],
            mapping=incoming(mapping_files[0]) if mapping_files else None,
            limits=limits,
        )
    except UploadTooLarge as exc:
        return _upload_form(request, kind=kind, error=exc.message, status_code=413)
    except ValidationFailed as exc:
        return _upload_form(
            request, kind=kind if kind in KIND_LABELS else "csv", error=exc.message, status_code=422
        )
    finally:
        await form.close()
    return RedirectResponse(f"/data/imports/upload/{upload.token}", status_code=303)


def import_jobs(request: Request) -> ImportJobs:
    """The application's import jobs."""
    jobs: ImportJobs = request.app.state.import_jobs
    return jobs


def validate_inline_bytes(request: Request) -> int:
    """Uploads up to this size are validated in the request; larger ones in a background job."""
    limit = getattr(request.app.state, "validate_inline_bytes", VALIDATE_INLINE_BYTES)
    return int(limit)


def upload_variant(upload: Upload) -> str:
    """What a dry run's result depends on besides the files: the mapping (it can change between runs)."""
    return json.dumps(upload.mapping, sort_keys=True, default=str) if upload.mapping is not None else ""


def _load(request: Request, user: User, token: str) -> Upload:
    check_may_import(user)
    return uploads.load_upload(
        workspace_root(request), token, actor_id=user.id, limits=upload_limits(request)
    )


def _base_context(upload: Upload, step: int) -> dict[str, Any]:
    return {"upload": upload, "kind_label": KIND_LABELS[upload.kind], "steps": STEPS, "step": step}


@router.get("/data/imports/upload/{token}")
def preview_page(request: Request, token: Token, user: PageUser) -> Response:
    """Step 2: the first rows of every file, with the encoding and delimiter detected."""
    upload = _load(request, user, token)
    context = _base_context(upload, 1)
    context["previews"] = uploads.preview_upload(upload)
    context["needs_mapping"] = upload.kind == "csv" and upload.mapping is None
    return render(request, "connectors/preview.html", context)


def _mapping_context(
    upload: Upload,
    *,
    entity: str | None,
    columns: dict[str, str] | None = None,
    defaults: dict[str, str] | None = None,
    date_format: str = "",
    decimal_comma: bool = False,
    keep_other: bool = True,
    error: str | None = None,
    error_field: str | None = None,
) -> dict[str, Any]:
    preview = uploads.preview_file(upload, upload.files[0], rows=5)
    if preview.error:
        raise ValidationFailed(preview.error, field="file", value=preview.name)
    header = preview.header
    chosen_entity = entity if entity in suggest.MAPPABLE_ENTITIES else suggest.guess_entity(header)
    choices = suggest.field_choices(header, chosen_entity)
    if columns is None:
        columns = {choice.name: choice.suggested or "" for choice in choices}
    samples: dict[str, str] = {}
    for index, column in enumerate(header):
        sample = next(
            (cells[index] for _, cells in preview.rows if index < len(cells) and cells[index].strip()), ""
        )
        samples[column] = sample[:40] + ("…" if len(sample) > 40 else "")
    context = _base_context(upload, 2)
    context.update(
        {
            "file": preview,
            "entity": chosen_entity,
            "entities": suggest.MAPPABLE_ENTITIES,
            "choices": choices,
            "columns": columns,
            "defaults": defaults or {},
            "samples": samples,
            "row_number": suggest.ROW_NUMBER,
            "date_formats": suggest.DATE_FORMATS,
            "date_format": date_format,
            "decimal_comma": decimal_comma,
            "keep_other": keep_other,
            "error": error,
            "error_field": error_field,
        }
    )
    return context


@router.get("/data/imports/upload/{token}/mapping")
def mapping_page(request: Request, token: Token, user: PageUser, entity: str | None = None) -> Response:
    """Step 3: which column feeds which field, with suggestions; or upload a TOML mapping."""
    upload = _load(request, user, token)
    earlier = (
        suggest.choices_from_mapping(upload.mapping)
        if upload.mapping and upload.mapping_source == "form"
        else None
    )
    try:
        if earlier is not None and entity in (None, earlier.entity):
            # Back from the report: the form as it was left.
            context = _mapping_context(
                upload,
                entity=earlier.entity,
                columns=earlier.columns,
                defaults=earlier.defaults,
                date_format=earlier.date_format,
                decimal_comma=earlier.decimal_comma,
                keep_other=earlier.keep_other,
            )
        else:
            context = _mapping_context(upload, entity=entity)
    except ValidationFailed as exc:
        return _preview_with_error(request, upload, exc.message)
    return render(request, "connectors/mapping.html", context)


def _preview_with_error(request: Request, upload: Upload, message: str) -> Response:
    context = _base_context(upload, 1)
    context["previews"] = uploads.preview_upload(upload)
    context["needs_mapping"] = upload.kind == "csv" and upload.mapping is None
    context["error"] = message
    return render(request, "connectors/preview.html", context, status_code=422)


@router.post("/data/imports/upload/{token}/mapping", dependencies=[CsrfProtected])
async def save_mapping(request: Request, token: Token, user: PageUser) -> Response:
    """Build the mapping from the form and go on to the validation report."""
    upload = _load(request, user, token)
    form = await request.form(max_fields=500)
    entity = form_text(form, "entity")
    columns = {key[4:]: form_text(form, key) for key in form if key.startswith("col:")}
    defaults = {key[8:]: form_text(form, key) for key in form if key.startswith("default:")}
    date_format = form_text(form, "date_format")
    decimal_comma = form_flag(form, "decimal_comma")
    keep_other = form_flag(form, "keep_other")
    stored = upload.files[0]
    try:
        header = uploads.preview_file(upload, stored, rows=1).header
        upload.mapping = suggest.mapping_from_choices(
            file_name=stored.name,
            header=header,
            entity=entity,
            columns=columns,
            defaults=defaults,
            date_format=date_format,
            decimal_comma=decimal_comma,
            keep_other_columns=keep_other,
        )
    except ValidationFailed as exc:
        context = _mapping_context(
            upload,
            entity=entity,
            columns=columns,
            defaults=defaults,
            date_format=date_format,
            decimal_comma=decimal_comma,
            keep_other=keep_other,
            error=exc.message,
            error_field=exc.context.get("field"),
        )
        return render(request, "connectors/mapping.html", context, status_code=422)
    upload.mapping_source = "form"
    upload.save()
    return RedirectResponse(f"/data/imports/upload/{upload.token}/report", status_code=303)


@router.post("/data/imports/upload/{token}/mapping-file")
async def upload_mapping_file(request: Request, token: Token, user: PageUser) -> Response:
    """Use an uploaded TOML mapping instead of the form."""
    upload = _load(request, user, token)
    limits = upload_limits(request)
    try:
        form = await receive_form(
            request, UploadLimits(max_upload_bytes=limits.max_mapping_bytes, max_files=1)
        )
    except (UploadTooLarge, StarletteHTTPException) as exc:
        message = exc.message if isinstance(exc, UploadTooLarge) else str(exc.detail)
        return render(
            request,
            "connectors/mapping.html",
            _mapping_context(upload, entity=None, error=message),
            status_code=413,
        )
    try:
        check_form_csrf(request, form)
        files = form_files(form, "mapping")
        if not files:
            raise ValidationFailed("choose a .toml mapping file", field="mapping")
        upload.mapping = await run_in_threadpool(uploads.read_mapping_upload, incoming(files[0]), limits)
        upload.mapping_source = uploads.sanitise_filename(files[0].filename or "mapping.toml")
    except ValidationFailed as exc:
        context = _mapping_context(upload, entity=None, error=exc.message, error_field="mapping")
        return render(request, "connectors/mapping.html", context, status_code=422)
    finally:
        await form.close()
    upload.save()
    return RedirectResponse(f"/data/imports/upload/{upload.token}/report", status_code=303)


@router.get("/data/imports/upload/{token}/mapping.toml")
def download_mapping(request: Request, token: Token, user: PageUser) -> Response:
    """The upload's mapping as TOML, to reuse with ``bridgehead import csv --mapping``."""
    upload = _load(request, user, token)
    if upload.mapping is None:
        raise ValidationFailed("this upload has no mapping yet", field="mapping")
    name = uploads.sanitise_filename(str(upload.mapping.get("name", "mapping")), fallback="mapping")
    return Response(
        suggest.mapping_to_toml(upload.mapping),
        media_type="application/toml; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.toml"'},
    )


def _report_context(
    upload: Upload, report: ImportReport | None, *, error: str | None = None, refused: bool = False
) -> dict[str, Any]:
    context = _base_context(upload, 3)
    totals = {"created": 0, "updated": 0, "unchanged": 0, "rejected": 0}
    if report is not None:
        for counts in report.counts.values():
            for key in totals:
                totals[key] += getattr(counts, key)
    context.update(
        {
            "report": report,
            "totals": totals,
            "problems": report.problems[:REPORT_ROWS] if report else [],
            "error": error,
            "refused": refused,
            "report_rows": REPORT_ROWS,
        }
    )
    return context


@router.get("/data/imports/upload/{token}/report")
def report_page(request: Request, token: Token, user: PageUser, session: SessionDep) -> Response:
    """Step 4: a dry run, rolled back: what would be created, updated and rejected.

    A small upload is checked in this request; a large one (over ``validate_inline_bytes``) in a
    background job whose page shows its progress and then this report.
    """
    upload = _load(request, user, token)
    if upload.kind == "csv" and upload.mapping is None:
        return RedirectResponse(f"/data/imports/upload/{upload.token}/mapping", status_code=303)
    if sum(stored.size for stored in upload.files) > validate_inline_bytes(request):
        jobs = import_jobs(request)
        job = jobs.latest_for_upload(upload.token, dry_run=True, variant=upload_variant(upload))
        if job is None or job.status == "failed":
            job = jobs.submit(
                actor=user,
                upload=upload,
                dry_run=True,
                quarantine=False,
                variant=upload_variant(upload),
                session=session,
            )
        return RedirectResponse(f"/data/imports/jobs/{job.id}", status_code=303)
    try:
        report = imports.run_upload(session, actor=user, upload=upload, dry_run=True, quarantine=False)
    except ValidationFailed as exc:
        return render(
            request,
            "connectors/report.html",
            _report_context(upload, None, error=_describe(exc)),
            status_code=422,
        )
    return render(request, "connectors/report.html", _report_context(upload, report))


def _describe(exc: ValidationFailed) -> str:
    value = exc.context.get("value")
    return f"{exc.message} ({value})" if value and value not in exc.message else exc.message


@router.post("/data/imports/upload/{token}/confirm", dependencies=[CsrfProtected])
def confirm_import(
    request: Request,
    token: Token,
    user: PageUser,
    session: SessionDep,
    quarantine: Annotated[bool, Form()] = False,
) -> Response:
    """Step 5: import for real, as a background job; all-or-nothing unless quarantine was ticked.

    The job's page follows it and then shows the run (or, refused, the report again).
    """
    upload = _load(request, user, token)
    jobs = import_jobs(request)
    running = jobs.latest_for_upload(upload.token, dry_run=False, variant=upload_variant(upload))
    if running is not None and not running.finished:
        # A second click (or a reload of the form) follows the import already under way.
        return RedirectResponse(f"/data/imports/jobs/{running.id}", status_code=303)
    job = jobs.submit(
        actor=user,
        upload=upload,
        dry_run=False,
        quarantine=quarantine,
        variant=upload_variant(upload),
        session=session,
    )
    if job.finished:
        return _finished_job_page(request, user, job)
    return RedirectResponse(f"/data/imports/jobs/{job.id}", status_code=303)


def _finished_job_page(request: Request, user: User, job: ImportJob) -> Response:
    """Where a finished job leads: the run it wrote, or the report (refused, failed, or a dry run)."""
    if job.status == "done" and not job.dry_run:
        return RedirectResponse(f"/data/imports/{job.run_id}?job={job.id}", status_code=303)
    try:
        upload = _load(request, user, job.upload_token)
    except NotFound:
        if job.run_id is not None:
            return RedirectResponse(f"/data/imports/{job.run_id}", status_code=303)
        raise
    if job.status == "refused":
        # Only a real import is refused: a dry run reports what it would refuse.
        context = _report_context(upload, job.report, error=job.error, refused=True)
        return render(request, "connectors/report.html", context, status_code=422)
    if job.status == "failed":
        context = _report_context(upload, None, error=job.error or "the import failed")
        return render(request, "connectors/report.html", context, status_code=job.error_status)
    return render(request, "connectors/report.html", _report_context(upload, job.report))


@router.get("/data/imports/jobs/{job_id}")
def job_page(request: Request, job_id: JobId, user: PageUser) -> Response:
    """A running import's progress (updated in place), then where it leads once finished."""
    check_may_import(user)
    job = import_jobs(request).get(job_id, viewer=user)
    if job.finished:
        return _finished_job_page(request, user, job)
    return render(
        request, "connectors/job.html", {"job": job, "steps": STEPS, "step": 3 if job.dry_run else 4}
    )


@router.get("/data/imports/jobs/{job_id}/progress")
def job_progress(request: Request, job_id: JobId, user: PageUser) -> Response:
    """The progress fragment the job page polls; once finished, htmx is sent on to the job page."""
    check_may_import(user)
    job = import_jobs(request).get(job_id, viewer=user)
    if job.finished:
        return Response(
            "<p>Finished: opening the result…</p>",
            media_type="text/html",
            headers={"HX-Redirect": f"/data/imports/jobs/{job.id}"},
        )
    return render(request, "connectors/_job_progress.html", {"job": job})


@router.post("/data/imports/upload/{token}/cancel", dependencies=[CsrfProtected])
def cancel_import(request: Request, token: Token, user: PageUser) -> Response:
    """Forget the upload."""
    uploads.discard_upload(_load(request, user, token))
    return RedirectResponse("/data/imports", status_code=303)


@router.get("/data/imports/{run_id}")
def run_page(
    request: Request,
    run_id: ObjectId,
    user: PageUser,
    session: SessionDep,
    job: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """One past import: counts per entity and the rows it set aside (and, arriving from its job,
    what the gap scan after it did)."""
    run = imports.import_run_detail(session, actor=user, run_id=run_id)
    finished_job = None
    if job:
        with contextlib.suppress(NotFound):
            candidate = import_jobs(request).get(job, viewer=user)
            finished_job = candidate if candidate.run_id == run.id else None
    return render(request, "connectors/run.html", {"run": run, "job": finished_job})


@router.get("/data/imports/{run_id}/errors.csv")
def run_errors_csv(run_id: ObjectId, user: PageUser, session: StreamingSessionDep) -> Response:
    """The rows an import set aside, as a CSV to fix and import again."""
    table = imports.rejected_rows_table(session, actor=user, run_id=run_id)
    return csv_response(table, f"{table.name}.csv")


# --- exports -----------------------------------------------------------------------------------


def csv_response(table: export.ExportTable, filename: str, *, bom: bool = True) -> Response:
    return StreamingResponse(
        export.csv_chunks(table, bom=bom),
        media_type=export.MEDIA_TYPES[ExportFormat.CSV],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _file_chunks(handle: Any) -> Iterator[bytes]:
    try:
        handle.seek(0)
        while chunk := handle.read(256 * 1024):
            yield chunk
    finally:
        handle.close()


def export_response(table: export.ExportTable, export_format: ExportFormat) -> Response:
    """A download of the table: CSV streamed as it is read, XLSX built in a temporary file first."""
    filename = export.export_filename(table.name, export_format)
    if export_format == ExportFormat.CSV:
        return csv_response(table, filename)
    handle = tempfile.TemporaryFile()  # noqa: SIM115  (closed by _file_chunks once sent)
    try:
        export.write_xlsx(table, handle)
    except BaseException:
        handle.close()
        raise
    return StreamingResponse(
        _file_chunks(handle),
        media_type=export.MEDIA_TYPES[ExportFormat.XLSX],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/opportunities/export.{export_format}")
def export_opportunities(
    export_format: ExportFormat,
    query: Annotated[OpportunityQuery, Query()],
    user: PageUser,
    session: StreamingSessionDep,
) -> Response:
    """The opportunity list with the page's filters, every page, as CSV or XLSX."""
    table = export.opportunity_export(session, viewer=user, filters=query.filters())
    return export_response(table, export_format)


@router.get("/accounts/export.{export_format}")
def export_accounts(
    export_format: ExportFormat,
    query: Annotated[AccountQuery, Query()],
    user: PageUser,
    session: StreamingSessionDep,
) -> Response:
    """The account list with the page's filters, every page, as CSV or XLSX."""
    table = export.account_export(session, viewer=user, filters=query.filters())
    return export_response(table, export_format)


@router.get("/data/exports")
def exports_page(request: Request, user: PageUser) -> Response:
    """Files for Salesforce: territory assignments and quotas."""
    check_may_import(user)
    return render(request, "connectors/exports.html", {})


@router.get("/data/exports/account-owners.csv")
def export_account_owners(
    query: Annotated[AccountOwnerExportQuery, Query()], user: PageUser, session: StreamingSessionDep
) -> Response:
    """Account owners as a Salesforce Data Loader update file (Id,OwnerId)."""
    table = export.account_owner_export(session, actor=user, since=query.since)
    suffix = f"-since-{query.since.isoformat()}" if query.since else ""
    return csv_response(table, f"account-owners{suffix}.csv", bom=False)


@router.get("/data/exports/quotas.csv")
def export_salesforce_quotas(
    query: Annotated[QuotaSalesforceExportQuery, Query()], user: PageUser, session: StreamingSessionDep
) -> Response:
    """Bookings quotas as a Data Loader upsert file for Salesforce's ForecastingQuota object."""
    period = parse_period(query.period) if query.period else None
    table = export.salesforce_quota_export(
        session, actor=user, forecasting_type_id=query.forecasting_type_id, period=period
    )
    suffix = f"-{period.label}" if period else ""
    return csv_response(table, f"quotas-salesforce{suffix}.csv", bom=False)
