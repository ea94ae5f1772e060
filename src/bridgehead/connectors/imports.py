"""Imports started from the web and the API: running an uploaded import (dry run, all-or-nothing,
quarantine) in a savepoint of the request's transaction, and the record of past runs."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridgehead.auth.models import User
from bridgehead.common.pagination import Page, PageRequest
from bridgehead.common.types import utcnow
from bridgehead.connectors.engine import EntityBatch, ImportFailed, ImportOptions, ImportReport
from bridgehead.connectors.export import Cell, ExportTable
from bridgehead.connectors.mapping import Mapping as ImportMapping
from bridgehead.connectors.mapping import MappingInvalid, import_options, mapping_batches, parse_mapping
from bridgehead.connectors.models import ImportRun, QuarantinedRow
from bridgehead.connectors.report import ProgressCallback
from bridgehead.connectors.schemas import (
    EntityCountsRead,
    ImportReportRead,
    ImportRunDetail,
    ImportRunRead,
    RejectedRowRead,
)
from bridgehead.connectors.service import check_may_import, import_batches
from bridgehead.connectors.uploads import Upload
from bridgehead.errors import BridgeheadError, NotFound

RUN_DETAIL_ROWS = 1_000

# --- running an uploaded import ----------------------------------------------------------------


def _table_files(upload: Upload) -> list[str]:
    return [stored.name for stored in upload.files]


def _resolved_mapping(upload: Upload) -> tuple[ImportMapping, bool]:
    """The upload's mapping, its paths pointing at the stored files; and whether it reads one file."""
    if upload.mapping is None:
        raise MappingInvalid(
            "this import needs a mapping: map the columns or upload a TOML mapping", field="mapping"
        )
    mapping = parse_mapping(upload.mapping, name=str(upload.mapping.get("name", "mapping")))
    names = {name.lower(): name for name in _table_files(upload)}
    single = len(names) == 1
    if single:
        return mapping, True
    files = []
    for file_mapping in mapping.files:
        base = re.split(r"[\\/]", file_mapping.path)[-1].lower()
        if base not in names:
            raise MappingInvalid(
                f"the mapping reads {file_mapping.path!r}, which the upload does not hold "
                f"(files: {', '.join(sorted(names.values()))})",
                field="mapping",
                value=file_mapping.path,
            )
        files.append(dataclasses.replace(file_mapping, path=names[base]))
    return dataclasses.replace(mapping, files=tuple(files)), False


def _batches(upload: Upload, options: ImportOptions) -> tuple[Iterator[EntityBatch], ImportOptions]:
    directory = upload.files_dir
    if upload.kind == "salesforce":
        from bridgehead.connectors.salesforce import salesforce_batches

        return salesforce_batches(directory), options
    if upload.kind == "hubspot":
        from bridgehead.connectors.hubspot import hubspot_batches

        return hubspot_batches(directory), options
    mapping, single = _resolved_mapping(upload)
    single_file = upload.files_dir / upload.files[0].name if single else None
    return mapping_batches(mapping, directory, single_file=single_file), import_options(mapping, options)


def run_upload(
    session: Session,
    *,
    actor: User,
    upload: Upload,
    dry_run: bool,
    quarantine: bool,
    progress: ProgressCallback | None = None,
    scan_gaps: bool = True,
) -> ImportReport:
    """Import an upload inside a savepoint of the caller's transaction.

    ``scan_gaps`` false leaves the gap scan to ``after_import.scan_after_import`` after the
    caller's commit (a background job does, as the command line does: it is faster there).

    A dry run is rolled back whatever happens and returns the report (status ``dry_run``, or
    ``failed`` when all-or-nothing would refuse it). A real import that all-or-nothing refuses is
    rolled back; the refusal is recorded as a failed run with its rejected rows, and
    ``ImportFailed`` is raised carrying the report.
    """
    check_may_import(actor)
    base = ImportOptions(policy="quarantine" if quarantine else "all_or_nothing", dry_run=dry_run)
    savepoint = session.begin_nested()
    try:
        batches, options = _batches(upload, base)
        report = import_batches(
            session,
            actor=actor,
            source=upload.kind,
            location=upload.display_name,
            batches=batches,
            options=options,
            progress=progress,
            scan_gaps=scan_gaps,
        )
    except ImportFailed as exc:
        savepoint.rollback()
        if dry_run:
            exc.report.run_id = None
            return exc.report
        exc.report.run_id = _record_failed_run(session, actor=actor, report=exc.report)
        raise
    except BridgeheadError as exc:
        savepoint.rollback()
        _hide_server_paths(exc, upload)
        raise
    except BaseException:
        savepoint.rollback()
        raise
    if dry_run:
        savepoint.rollback()
        report.run_id = None
        return report
    savepoint.commit()
    return report


def _hide_server_paths(exc: BridgeheadError, upload: Upload) -> None:
    """Errors name files as the person uploaded them, never the server's upload folder."""
    folder = str(upload.files_dir)

    def clean(text: str) -> str:
        return text.replace(folder + "/", "").replace(folder, "the upload")

    exc.message = clean(exc.message)
    exc.args = (exc.message,)
    for key, value in exc.context.items():
        if isinstance(value, str):
            exc.context[key] = clean(value)


def _record_failed_run(session: Session, *, actor: User, report: ImportReport) -> int:
    """Keep a refused import in the run history, with the rows that were refused."""
    run = ImportRun(
        source=report.source,
        location=report.location[:1000],
        policy=report.policy,
        status="failed",
        actor_id=actor.id,
        started_at=utcnow(),
        finished_at=utcnow(),
        counts={name: dataclasses.asdict(counts) for name, counts in report.counts.items()},
        rejected_rows=report.rejected_rows,
    )
    session.add(run)
    session.flush()
    session.add_all(
        QuarantinedRow(
            import_run_id=run.id,
            file=problem.file[:255],
            line=problem.line,
            field=problem.field[:120] if problem.field else None,
            value=problem.value,
            reason=problem.reason,
            cells=None,
        )
        for problem in report.problems
    )
    session.flush()
    return run.id


def report_read(report: ImportReport, *, limit: int = RUN_DETAIL_ROWS) -> ImportReportRead:
    """The report as the API returns it."""
    return ImportReportRead(
        run_id=report.run_id,
        source=report.source,
        status=report.status,
        policy=report.policy,
        dry_run=report.dry_run,
        counts={
            name: EntityCountsRead(**dataclasses.asdict(counts)) for name, counts in report.counts.items()
        },
        rejected_rows=report.rejected_rows,
        problem_count=report.problem_count,
        problems=[
            RejectedRowRead(
                file=problem.file,
                line=problem.line,
                field=problem.field,
                value=problem.value,
                reason=problem.reason,
            )
            for problem in report.problems[:limit]
        ],
        problems_truncated=report.problem_count > min(len(report.problems), limit),
    )


# --- past runs ---------------------------------------------------------------------------------


def _counts(raw: Mapping[str, Any] | None) -> dict[str, EntityCountsRead]:
    result: dict[str, EntityCountsRead] = {}
    for name, values in (raw or {}).items():
        if isinstance(values, dict):
            result[name] = EntityCountsRead(
                **{
                    key: int(values.get(key, 0) or 0)
                    for key in ("created", "updated", "unchanged", "rejected")
                }
            )
    return result


def _run_read(run: ImportRun, actor_name: str | None) -> ImportRunRead:
    return ImportRunRead(
        id=run.id,
        source=run.source,
        location=run.location,
        policy=run.policy,
        status=run.status,
        actor_id=run.actor_id,
        actor_name=actor_name,
        started_at=run.started_at,
        finished_at=run.finished_at,
        counts=_counts(run.counts),
        rejected_rows=run.rejected_rows,
    )


def list_import_runs(session: Session, *, actor: User, page: PageRequest) -> Page[ImportRunRead]:
    """Past imports, newest first (planners and admins)."""
    check_may_import(actor)
    total = session.scalar(select(func.count()).select_from(ImportRun)) or 0
    rows = session.execute(
        select(ImportRun, User.full_name)
        .outerjoin(User, User.id == ImportRun.actor_id)
        .order_by(ImportRun.id.desc())
        .offset(page.offset)
        .limit(page.page_size)
    ).all()
    return Page(
        items=[_run_read(run, name) for run, name in rows],
        total=total,
        page=page.page,
        page_size=page.page_size,
    )


def import_run_detail(
    session: Session, *, actor: User, run_id: int, limit: int = RUN_DETAIL_ROWS
) -> ImportRunDetail:
    """One past import with (up to ``limit`` of) the rows it set aside or refused."""
    check_may_import(actor)
    row = session.execute(
        select(ImportRun, User.full_name)
        .outerjoin(User, User.id == ImportRun.actor_id)
        .where(ImportRun.id == run_id)
    ).one_or_none()
    if row is None:
        raise NotFound("no such import run", field="run_id", value=run_id)
    run, actor_name = row
    total = (
        session.scalar(
            select(func.count()).select_from(QuarantinedRow).where(QuarantinedRow.import_run_id == run.id)
        )
        or 0
    )
    rows = session.scalars(
        select(QuarantinedRow)
        .where(QuarantinedRow.import_run_id == run.id)
        .order_by(QuarantinedRow.file, QuarantinedRow.line, QuarantinedRow.id)
        .limit(limit)
    ).all()
    return ImportRunDetail(
        **_run_read(run, actor_name).model_dump(),
        rejected=[RejectedRowRead.model_validate(item) for item in rows],
        rejected_total=total,
    )


ERRORS_HEADER = ["file", "line", "field", "value", "reason"]


def rejected_rows_table(
    session: Session, *, actor: User, run_id: int, chunk_size: int = 2_000
) -> ExportTable:
    """Every row a run set aside or refused, as a table to download (file, line, field, value, reason)."""
    check_may_import(actor)
    if session.get(ImportRun, run_id) is None:
        raise NotFound("no such import run", field="run_id", value=run_id)

    def rows() -> Iterator[list[Cell]]:
        result = session.execute(
            select(
                QuarantinedRow.file,
                QuarantinedRow.line,
                QuarantinedRow.field,
                QuarantinedRow.value,
                QuarantinedRow.reason,
            )
            .where(QuarantinedRow.import_run_id == run_id)
            .order_by(QuarantinedRow.file, QuarantinedRow.line, QuarantinedRow.id)
            .execution_options(yield_per=chunk_size)
        )
        for row in result:
            yield list(row)

    return ExportTable(f"import-{run_id}-errors", list(ERRORS_HEADER), rows())
