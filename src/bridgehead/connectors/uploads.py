"""Uploaded import files between the steps of the import wizard: a server-side folder per upload.

An upload lives in ``<root>/<token>/`` where the token is random (never derived from a file name),
with the files under ``files/`` and what the wizard learnt about them in ``upload.json``. Names
are sanitised, archives are extracted with bounds on entries, sizes and compression ratio, and
nothing is ever written outside the upload's own folder. Uploads older than an hour are removed.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import secrets
import shutil
import stat
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from bridgehead.connectors.files import FileRejected, RowProblem, open_table
from bridgehead.errors import BridgeheadError, NotFound, ValidationFailed

ImportKind = Literal["salesforce", "hubspot", "csv"]
IMPORT_KINDS: tuple[ImportKind, ...] = ("salesforce", "hubspot", "csv")
TABLE_SUFFIXES = frozenset({".csv", ".tsv", ".txt", ".xlsx", ".xlsm"})
ARCHIVE_SUFFIXES = frozenset({".zip"})
MAPPING_SUFFIXES = frozenset({".toml"})
META_FILE = "upload.json"
PREVIEW_ROWS = 20
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._ ()+-]+")
_COPY_CHUNK = 1024 * 1024


class UploadRejected(ValidationFailed):
    """An upload the server refuses to keep (a hostile archive, a file of the wrong type)."""


class UploadTooLarge(BridgeheadError):
    """The request body is larger than the upload limit."""

    http_status = 413
    exit_code = 2


@dataclass(frozen=True)
class UploadLimits:
    """Bounds on what one upload may hold."""

    max_upload_bytes: int = 200 * 1024 * 1024
    max_files: int = 50
    max_archive_entries: int = 1_000
    max_extracted_bytes: int = 1024 * 1024 * 1024
    max_compression_ratio: int = 100
    max_mapping_bytes: int = 256 * 1024
    max_age: dt.timedelta = dt.timedelta(hours=1)


DEFAULT_LIMITS = UploadLimits()


@dataclass(frozen=True)
class IncomingFile:
    """A file as the client sent it: the name it claimed and a readable stream."""

    filename: str
    stream: IO[bytes]


@dataclass
class StoredFile:
    """A table file kept in the upload folder under a safe name."""

    name: str
    original: str
    size: int

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form for ``upload.json``."""
        return {"name": self.name, "original": self.original, "size": self.size}


@dataclass
class Upload:
    """An upload between wizard steps."""

    token: str
    folder: Path
    actor_id: int | None
    kind: ImportKind
    created_at: dt.datetime
    files: list[StoredFile]
    skipped: list[str] = field(default_factory=list)
    mapping: dict[str, Any] | None = None
    mapping_source: str | None = None

    @property
    def files_dir(self) -> Path:
        """Where the table files are."""
        return self.folder / "files"

    def path_of(self, name: str) -> Path:
        """The stored file called ``name`` (only names this upload holds)."""
        for stored in self.files:
            if stored.name == name:
                return self.files_dir / stored.name
        raise NotFound("no such file in this upload", field="file", value=name)

    @property
    def display_name(self) -> str:
        """What the person uploaded, for the import run's location."""
        originals = sorted({stored.original for stored in self.files})
        text = ", ".join(originals)
        return f"upload: {text}" if len(text) < 900 else f"upload: {len(originals)} files"

    def save(self) -> None:
        """Write ``upload.json`` (atomically)."""
        data = {
            "token": self.token,
            "actor_id": self.actor_id,
            "kind": self.kind,
            "created_at": self.created_at.isoformat(),
            "files": [stored.to_json() for stored in self.files],
            "skipped": self.skipped,
            "mapping": self.mapping,
            "mapping_source": self.mapping_source,
        }
        temporary = self.folder / (META_FILE + ".tmp")
        temporary.write_text(json.dumps(data, ensure_ascii=False, default=str), encoding="utf-8")
        temporary.replace(self.folder / META_FILE)


@dataclass(frozen=True)
class FilePreview:
    """The first rows of one file and how it was read, or why it cannot be read."""

    name: str
    original: str
    size: int
    encoding: str | None = None
    delimiter: str | None = None
    header: list[str] = field(default_factory=list)
    rows: list[tuple[int, list[str]]] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    error: str | None = None

    @property
    def delimiter_label(self) -> str:
        """The delimiter in words."""
        return {",": "comma", ";": "semicolon", "\t": "tab"}.get(self.delimiter or "", "—")


def describe_size(size: int) -> str:
    """``200 MiB``, ``64 KiB`` or ``512 bytes``."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):,.0f} MiB"
    if size >= 1024:
        return f"{size / 1024:,.0f} KiB"
    return f"{size} bytes"


def default_root() -> Path:
    """Where uploads are kept unless the application says otherwise."""
    return Path(tempfile.gettempdir()) / "bridgehead-imports"


def sanitise_filename(name: str, *, fallback: str = "upload") -> str:
    """A safe file name from whatever the client claimed: no folders, no odd characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = unicodedata.normalize("NFKC", base).replace("\x00", "")
    base = _UNSAFE_CHARS.sub("_", base).strip(" ._")
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = stem[:100] or fallback
    suffix = suffix[:10].lower()
    return f"{stem}.{suffix}" if suffix else stem


def _unique(name: str, taken: set[str]) -> str:
    candidate = name
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    number = 2
    while candidate.lower() in taken:
        candidate = f"{stem}-{number}.{suffix}" if suffix else f"{stem}-{number}"
        number += 1
    taken.add(candidate.lower())
    return candidate


def _suffix(name: str) -> str:
    return Path(name).suffix.lower()


def check_kind(kind: str) -> ImportKind:
    """The import kind, or a clear refusal."""
    if kind not in IMPORT_KINDS:
        raise ValidationFailed(f"kind must be one of {', '.join(IMPORT_KINDS)}", field="kind", value=kind)
    checked: ImportKind = kind
    return checked


def new_folder(root: Path) -> tuple[str, Path]:
    """A fresh, private upload folder under ``root``."""
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_urlsafe(24)
    folder = root / token
    (folder / "files").mkdir(parents=True, mode=0o700)
    return token, folder


def create_upload(
    root: Path,
    *,
    actor_id: int | None,
    kind: str,
    files: Iterable[IncomingFile],
    mapping: IncomingFile | None = None,
    limits: UploadLimits = DEFAULT_LIMITS,
) -> Upload:
    """Keep the uploaded files (archives extracted safely) in a new upload folder.

    Refuses, leaving nothing behind, when a file has the wrong type, an archive is hostile, or the
    files hold nothing to import.
    """
    checked_kind = check_kind(kind)
    remove_expired(root, limits.max_age)
    token, folder = new_folder(root)
    try:
        upload = Upload(
            token=token,
            folder=folder,
            actor_id=actor_id,
            kind=checked_kind,
            created_at=dt.datetime.now(dt.UTC),
            files=[],
        )
        taken: set[str] = set()
        incoming = list(files)
        if len(incoming) > limits.max_files:
            raise UploadRejected(
                f"at most {limits.max_files} files per upload; put them in one .zip", field="files"
            )
        for item in incoming:
            _store(upload, item, taken, limits)
        if not upload.files:
            raise UploadRejected(
                "the upload holds no CSV or XLSX file to import"
                + (f" (ignored: {', '.join(upload.skipped[:5])})" if upload.skipped else ""),
                field="files",
            )
        if checked_kind == "csv" and len(upload.files) > 1 and mapping is None:
            raise UploadRejected(
                "several files need a TOML mapping naming each of them; upload one file to map "
                "its columns here",
                field="mapping",
            )
        if mapping is not None:
            upload.mapping = read_mapping_upload(mapping, limits)
            upload.mapping_source = sanitise_filename(mapping.filename, fallback="mapping")
        upload.save()
        return upload
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def read_mapping_upload(mapping: IncomingFile, limits: UploadLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """A TOML mapping file's content, checked to be a valid mapping."""
    import tomllib

    from bridgehead.connectors.mapping import MappingInvalid, parse_mapping

    name = sanitise_filename(mapping.filename, fallback="mapping")
    if _suffix(name) not in MAPPING_SUFFIXES:
        raise UploadRejected("the mapping must be a .toml file", field="mapping", value=name)
    raw = mapping.stream.read(limits.max_mapping_bytes + 1)
    if len(raw) > limits.max_mapping_bytes:
        raise UploadRejected(
            f"the mapping is larger than {describe_size(limits.max_mapping_bytes)}",
            field="mapping",
            value=name,
        )
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MappingInvalid(f"the mapping is not valid TOML: {exc}", field="mapping", value=name) from exc
    parse_mapping(data, name=Path(name).stem)
    # Kept as JSON between steps: dates and times (which a mapping never needs) become text.
    loaded: dict[str, Any] = json.loads(json.dumps(data, default=str))
    loaded.setdefault("name", Path(name).stem)
    return loaded


def _store(upload: Upload, item: IncomingFile, taken: set[str], limits: UploadLimits) -> None:
    name = sanitise_filename(item.filename)
    suffix = _suffix(name)
    if suffix in ARCHIVE_SUFFIXES:
        # The archive itself is kept outside files/ while it is extracted, then removed.
        archive_path = upload.folder / f"archive-{secrets.token_hex(4)}.zip"
        _copy(item.stream, archive_path, limits.max_upload_bytes)
        try:
            _extract(upload, archive_path, name, taken, limits)
        finally:
            archive_path.unlink(missing_ok=True)
        return
    if suffix not in TABLE_SUFFIXES:
        raise UploadRejected(
            "only CSV, XLSX or ZIP files can be imported", field="file", value=item.filename[:200]
        )
    stored_name = _unique(name, taken)
    size = _copy(item.stream, upload.files_dir / stored_name, limits.max_upload_bytes)
    claimed = re.split(r"[\\/]", item.filename)[-1][:255]
    upload.files.append(StoredFile(stored_name, claimed or stored_name, size))


def _copy(stream: IO[bytes], target: Path, limit: int) -> int:
    written = 0
    with target.open("xb") as out:
        while chunk := stream.read(_COPY_CHUNK):
            written += len(chunk)
            if written > limit:
                raise UploadTooLarge(f"the upload is larger than {describe_size(limit)}")
            out.write(chunk)
    return written


def _entry_problem(entry: zipfile.ZipInfo) -> str | None:
    name = entry.filename.replace("\\", "/")
    parts = [part for part in name.split("/") if part not in {"", "."}]
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts:
        return "points outside the archive (path traversal)"
    mode = entry.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    if entry.flag_bits & 0x1:
        return "is encrypted"
    return None


def _extract(
    upload: Upload, archive_path: Path, archive_name: str, taken: set[str], limits: UploadLimits
) -> None:
    def refuse(reason: str) -> UploadRejected:
        return UploadRejected(
            f"the archive {archive_name} was refused: {reason}", field="file", value=archive_name
        )

    try:
        archive = zipfile.ZipFile(archive_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise refuse(f"not a valid zip archive ({exc})") from exc
    with archive:
        entries = archive.infolist()
        if len(entries) > limits.max_archive_entries:
            raise refuse(f"it holds {len(entries):,} entries (the limit is {limits.max_archive_entries:,})")
        # Check every entry before writing anything.
        for entry in entries:
            problem = _entry_problem(entry)
            if problem:
                raise refuse(f"entry {entry.filename!r} {problem}")
        declared = sum(entry.file_size for entry in entries)
        if declared > limits.max_extracted_bytes:
            raise refuse(
                f"it would expand to {describe_size(declared)} "
                f"(the limit is {describe_size(limits.max_extracted_bytes)})"
            )
        total = 0
        for entry in entries:
            if entry.is_dir():
                continue
            base = entry.filename.replace("\\", "/").rsplit("/", 1)[-1]
            if entry.filename.startswith("__MACOSX/") or base.startswith("."):
                continue
            name = sanitise_filename(base)
            if _suffix(name) not in TABLE_SUFFIXES:
                upload.skipped.append(entry.filename[:200])
                continue
            ratio = entry.file_size / max(entry.compress_size, 1)
            if entry.file_size > 1024 * 1024 and ratio > limits.max_compression_ratio:
                raise refuse(
                    f"entry {entry.filename!r} expands {ratio:,.0f}-fold (a zip bomb; the limit is "
                    f"{limits.max_compression_ratio}-fold)"
                )
            stored_name = _unique(name, taken)
            target = upload.files_dir / stored_name
            written = 0
            with archive.open(entry) as source, target.open("xb") as out:
                while chunk := source.read(_COPY_CHUNK):
                    written += len(chunk)
                    total += len(chunk)
                    # The sizes in the archive's directory may lie; count what really comes out.
                    if written > entry.file_size or total > limits.max_extracted_bytes:
                        raise refuse(f"entry {entry.filename!r} expands beyond its declared size")
                    out.write(chunk)
            upload.files.append(StoredFile(stored_name, f"{archive_name}/{entry.filename}"[:255], written))


def load_upload(
    root: Path, token: str, *, actor_id: int | None, limits: UploadLimits = DEFAULT_LIMITS
) -> Upload:
    """The upload with this token, if it exists, is fresh, and belongs to ``actor_id``."""
    missing = NotFound(
        "this upload does not exist or has expired; start the import again", field="upload", value=None
    )
    if not _TOKEN.match(token):
        raise missing
    folder = root / token
    try:
        data = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise missing from None
    created_at = dt.datetime.fromisoformat(data["created_at"])
    if data.get("actor_id") != actor_id:
        raise missing
    if dt.datetime.now(dt.UTC) - created_at > limits.max_age:
        shutil.rmtree(folder, ignore_errors=True)
        raise missing
    return Upload(
        token=token,
        folder=folder,
        actor_id=data.get("actor_id"),
        kind=check_kind(data["kind"]),
        created_at=created_at,
        files=[StoredFile(item["name"], item["original"], item["size"]) for item in data["files"]],
        skipped=list(data.get("skipped", [])),
        mapping=data.get("mapping"),
        mapping_source=data.get("mapping_source"),
    )


def discard_upload(upload: Upload) -> None:
    """Remove the upload's folder."""
    shutil.rmtree(upload.folder, ignore_errors=True)


def remove_expired(root: Path, max_age: dt.timedelta = DEFAULT_LIMITS.max_age) -> int:
    """Remove uploads older than ``max_age``; returns how many were removed."""
    if not root.is_dir():
        return 0
    cutoff = dt.datetime.now(dt.UTC).timestamp() - max_age.total_seconds()
    removed = 0
    for folder in root.iterdir():
        if not folder.is_dir() or not _TOKEN.match(folder.name):
            continue
        try:
            modified = folder.stat().st_mtime
        except OSError:
            continue
        if modified < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def preview_file(upload: Upload, stored: StoredFile, *, rows: int = PREVIEW_ROWS) -> FilePreview:
    """The first ``rows`` rows of a stored file with its detected encoding and delimiter."""
    path = upload.files_dir / stored.name
    try:
        table = open_table(path)
    except FileRejected as exc:
        return FilePreview(stored.name, stored.original, stored.size, error=exc.message)
    first: list[tuple[int, list[str]]] = []
    try:
        # The rest of the file is never read; its handle closes when the table is dropped.
        first.extend(itertools.islice(table.rows(), rows))
    except FileRejected as exc:
        return FilePreview(
            stored.name,
            stored.original,
            stored.size,
            table.encoding,
            table.delimiter,
            table.header,
            first,
            list(table.problems),
            error=exc.message,
        )
    return FilePreview(
        stored.name,
        stored.original,
        stored.size,
        table.encoding,
        table.delimiter,
        table.header,
        first,
        list(table.problems),
    )


def preview_upload(upload: Upload, *, rows: int = PREVIEW_ROWS) -> list[FilePreview]:
    """A preview of every file of the upload."""
    return [preview_file(upload, stored, rows=rows) for stored in upload.files]
