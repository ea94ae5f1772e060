"""Receiving a quota sheet over HTTP (shared by the API and the page): one CSV or XLSX file, at most
``SHEET_LIMITS.max_upload_bytes``, kept in a temporary folder only while it is read."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from bridgehead.connectors.uploads import DEFAULT_LIMITS, sanitise_filename
from bridgehead.connectors.web import form_files, receive_form
from bridgehead.errors import ValidationFailed

SHEET_LIMITS = dataclasses.replace(DEFAULT_LIMITS, max_upload_bytes=10 * 1024 * 1024, max_files=1)
SHEET_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx")


@dataclass(frozen=True)
class ReceivedSheet:
    """The form that came with the sheet, the sheet's path on disk and the name the client gave it."""

    form: FormData
    path: Path
    name: str


def _copy(source: IO[bytes], target: Path) -> None:
    with target.open("wb") as handle:
        shutil.copyfileobj(source, handle, length=1024 * 1024)


@asynccontextmanager
async def received_sheet(request: Request) -> AsyncIterator[ReceivedSheet]:
    """The uploaded sheet (form field ``file``), refused with a clear error when missing, too large
    (413) or of another type; the temporary copy is removed afterwards."""
    try:
        form = await receive_form(request, SHEET_LIMITS)
    except StarletteHTTPException as exc:
        raise ValidationFailed(f"the upload could not be read: {exc.detail}", field="file") from exc
    folder = Path(tempfile.mkdtemp(prefix="bh-quota-sheet-"))
    try:
        files = form_files(form, "file")
        if not files:
            raise ValidationFailed("send the quota sheet as a 'file' part (CSV or XLSX)", field="file")
        name = sanitise_filename(files[0].filename or "quotas.csv", fallback="quotas.csv")
        if not name.lower().endswith(SHEET_SUFFIXES):
            raise ValidationFailed(
                "a quota sheet is a .csv or .xlsx file", field="file", value=files[0].filename or name
            )
        path = folder / name
        await run_in_threadpool(_copy, files[0].file, path)
        yield ReceivedSheet(form=form, path=path, name=files[0].filename or name)
    finally:
        await form.close()
        shutil.rmtree(folder, ignore_errors=True)
