"""Uploaded imports run as background jobs: the request that starts one answers at once, and the
page or API client follows the job's progress until it is done.

A job owns its transaction (DESIGN.md section 4): it opens its own session, runs the import, and
commits (or, refused or failed, rolls back and keeps only the failed-run record, as the request
path does). One worker thread runs the jobs of a server in turn, so two large imports never fight
over the database's write lock. Jobs live in the server's memory; what they did lasts in the import
run history (``ImportRun``), so a restart loses only the progress of a running import, whose
transaction is then rolled back by the database.

``inline`` runs a job in the caller's own session and thread, for tests that need the request's
transaction; the job then neither commits nor closes that session.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bridgehead.auth.models import Role, User
from bridgehead.common.types import utcnow
from bridgehead.connectors import imports, uploads
from bridgehead.connectors.after_import import scan_after_import
from bridgehead.connectors.engine import ImportFailed, ImportReport
from bridgehead.connectors.service import check_may_import
from bridgehead.db import begin_trusted_bulk_write, is_write_conflict
from bridgehead.errors import BridgeheadError, NotFound

logger = logging.getLogger(__name__)

JobStatus = Literal["queued", "running", "done", "refused", "failed"]
FINISHED: frozenset[str] = frozenset({"done", "refused", "failed"})
KEPT_JOBS = 200


@dataclass
class ImportJob:
    """One uploaded import (or its dry run) and how far it has got."""

    id: str
    actor_id: int
    upload_token: str
    upload_name: str
    dry_run: bool
    quarantine: bool
    discard_upload: bool
    # What the result depends on besides the files (the mapping), so a changed mapping is checked anew.
    variant: str = ""
    status: JobStatus = "queued"
    step: str = "waiting for the import before it"
    rows_done: int = 0
    rows_total: int | None = None
    queued_at: dt.datetime = field(default_factory=utcnow)
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    report: ImportReport | None = None
    run_id: int | None = None
    error: str | None = None
    error_status: int = 422
    # The gap scan after a committed import: signals it raised, or why it did not finish.
    signals_raised: int | None = None
    scan_error: str | None = None

    @property
    def finished(self) -> bool:
        """Whether the job has stopped (done, refused or failed)."""
        return self.status in FINISHED

    def seconds_running(self, now: dt.datetime | None = None) -> float:
        """How long it has run (until it finished)."""
        if self.started_at is None:
            return 0.0
        end = self.finished_at or now or utcnow()
        return (end - self.started_at).total_seconds()


class ImportInterrupted(BridgeheadError):
    """The server is stopping: the running import is abandoned and its transaction rolled back."""

    http_status = 503


class ImportJobs:
    """The import jobs of one server: submit, look up, and a single worker thread that runs them."""

    def __init__(self, session_factory: Callable[[], Session], *, inline: bool = False) -> None:
        self._session_factory = session_factory
        self._inline = inline
        self._jobs: OrderedDict[str, ImportJob] = OrderedDict()
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._stopping = threading.Event()

    def submit(
        self,
        *,
        actor: User,
        upload: uploads.Upload,
        dry_run: bool,
        quarantine: bool,
        discard_upload: bool = False,
        variant: str = "",
        session: Session | None = None,
    ) -> ImportJob:
        """Queue the import of ``upload`` for ``actor``; ``session`` is used only by inline jobs.

        ``discard_upload`` removes the upload when the job ends, whatever its outcome (the API's
        uploads have no later step); otherwise a real import discards it only when it succeeded,
        so a refused one can be confirmed again with quarantine.
        """
        check_may_import(actor)
        job = ImportJob(
            id=secrets.token_urlsafe(12),
            actor_id=actor.id,
            upload_token=upload.token,
            upload_name=upload.display_name,
            dry_run=dry_run,
            quarantine=quarantine,
            discard_upload=discard_upload,
            variant=variant,
        )
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > KEPT_JOBS:
                oldest = next(iter(self._jobs.values()))
                if not oldest.finished:
                    break
                self._jobs.popitem(last=False)
        if self._inline:
            if session is None:
                raise ValueError("an inline job runs in the caller's session")
            self._run(job, upload, session=session)
        else:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bridgehead-import")
            self._executor.submit(self._run, job, upload, None)
        return job

    def get(self, job_id: str, *, viewer: User) -> ImportJob:
        """The job, if ``viewer`` started it (or is an admin); ``NotFound`` otherwise."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or (job.actor_id != viewer.id and viewer.role != Role.ADMIN):
            raise NotFound("no such import job (jobs are kept while the server runs)", job_id=job_id)
        return job

    def latest_for_upload(self, upload_token: str, *, dry_run: bool, variant: str = "") -> ImportJob | None:
        """The newest job of an upload (dry run or real, same mapping), so a reload does not start another."""
        with self._lock:
            matching = [
                job
                for job in self._jobs.values()
                if job.upload_token == upload_token and job.dry_run == dry_run and job.variant == variant
            ]
        return matching[-1] if matching else None

    def unfinished(self, *, viewer: User) -> list[ImportJob]:
        """The viewer's jobs still queued or running (every one's, for an admin), oldest first."""
        with self._lock:
            jobs = list(self._jobs.values())
        return [
            job
            for job in jobs
            if not job.finished and (job.actor_id == viewer.id or viewer.role == Role.ADMIN)
        ]

    def stop(self) -> None:
        """Tell the running job to give up at its next progress report (``shutdown`` also waits)."""
        self._stopping.set()

    def shutdown(self) -> None:
        """Server shutdown: queued jobs are dropped, and the running one stops at its next progress
        report (every 10,000 rows, or the next step) with its transaction rolled back, so a stopping
        server neither waits minutes for an import nor leaves half of one behind."""
        self.stop()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            never_started = [job for job in self._jobs.values() if job.status == "queued"]
        for job in never_started:
            job.status, job.error_status, job.finished_at = "failed", 503, utcnow()
            job.error = "the server stopped before the import started; nothing was written: start it again"

    # --- the worker ----------------------------------------------------------------------------

    def _progress(self, job: ImportJob) -> Callable[[str, int, int | None], None]:
        def report(step: str, done: int, total: int | None) -> None:
            if self._stopping.is_set():
                raise ImportInterrupted(
                    "the server stopped before the import finished; nothing was written: start it again"
                )
            job.step, job.rows_done, job.rows_total = step, done, total

        return report

    def _run(self, job: ImportJob, upload: uploads.Upload, session: Session | None) -> None:
        own_session = session is None
        work = self._session_factory() if session is None else session
        job.status, job.step, job.started_at = "running", "waiting for the database", utcnow()
        try:
            if own_session:
                # As the command line does: the engine stores only references it looked up in this
                # transaction, and the job holds the write lock from its first statement on.
                begin_trusted_bulk_write(work, immediate=True)
            job.step = "starting"
            actor = work.get(User, job.actor_id)
            if actor is None or not actor.is_active:
                raise NotFound("the person who started this import no longer exists")
            try:
                report = imports.run_upload(
                    work,
                    actor=actor,
                    upload=upload,
                    dry_run=job.dry_run,
                    quarantine=job.quarantine,
                    progress=self._progress(job),
                    scan_gaps=not own_session,
                )
            except ImportFailed as exc:
                # The refusal is kept in the run history, as on the request path.
                if own_session:
                    work.commit()
                job.report, job.run_id, job.error, job.status = (
                    exc.report,
                    exc.report.run_id,
                    exc.message,
                    "refused",
                )
                return
            if own_session:
                work.commit()
                if not job.dry_run:
                    self._scan_after_import(job, work, report)
            job.report, job.run_id, job.status = report, report.run_id, "done"
            if not job.dry_run:
                job.discard_upload = True
        except BridgeheadError as exc:
            if own_session:
                work.rollback()
            job.error, job.error_status, job.status = exc.message, exc.http_status, "failed"
        except OperationalError as exc:
            if own_session:
                work.rollback()
            conflict = is_write_conflict(exc)
            if not conflict:
                logger.exception("import job %s failed", job.id)
            job.error_status, job.status = 503, "failed"
            job.error = (
                "the database stayed busy with another write (an import or a scan from the command line?); "
                "nothing was written: start the import again when that is done"
                if conflict
                else "the import failed on a database error; the error has been logged"
            )
        except Exception:
            if own_session:
                work.rollback()
            logger.exception("import job %s failed", job.id)
            job.error, job.error_status, job.status = (
                "the import failed; the error has been logged",
                500,
                "failed",
            )
        finally:
            job.finished_at = utcnow()
            job.step = {"done": "finished", "refused": "refused", "failed": "failed"}.get(
                job.status, job.step
            )
            if own_session:
                work.close()
            if job.discard_upload:
                uploads.discard_upload(upload)

    def _scan_after_import(self, job: ImportJob, work: Session, report: ImportReport) -> None:
        """The gap scan of a committed import, in a transaction of its own (as the command line
        runs it; after the commit it reads the database file, not the import's log, and may use a
        helper process). If it fails the import stands and the job says which command finishes it."""
        job.step, job.rows_done, job.rows_total = "scanning for execution gaps", 0, None
        try:
            scanned = scan_after_import(work, report, helper_engine=work.get_bind().engine)
            work.commit()
        except Exception as exc:
            work.rollback()
            logger.exception("gap scan after import job %s failed", job.id)
            job.scan_error = (
                f"the import was committed, but the gap scan after it did not finish ({type(exc).__name__}); "
                "run 'bridgehead gaps scan' to bring the gap signals up to date"
            )
            return
        job.signals_raised = scanned.raised


def job_summary(job: ImportJob) -> dict[str, object]:
    """A JSON-safe view of a job for the API."""
    return {
        "id": job.id,
        "status": job.status,
        "step": job.step,
        "rows_done": job.rows_done,
        "rows_total": job.rows_total,
        "dry_run": job.dry_run,
        "quarantine": job.quarantine,
        "upload": job.upload_name,
        "queued_at": job.queued_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "seconds": round(job.seconds_running(), 1),
        "run_id": job.run_id,
        "error": job.error,
        "signals_raised": job.signals_raised,
        "scan_error": job.scan_error,
    }
