"""Reading untrusted tabular files safely: CSV (any common encoding and delimiter) and XLSX.

Everything here treats the file as data: sizes are bounded before anything is decompressed,
binary garbage is recognised, and every problem is reported with the file and line it is in.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from bridgehead.errors import ValidationFailed

SAMPLE_BYTES = 64 * 1024
DELIMITERS = (",", ";", "\t")
MAX_FIELD_CHARS = 1_000_000
# An XLSX is a zip: refuse archives that would expand beyond these before opening them.
MAX_XLSX_UNCOMPRESSED_BYTES = 512 * 1024 * 1024
MAX_XLSX_COMPRESSION_RATIO = 200
MAX_XLSX_ENTRIES = 10_000
_XLSX_MAGIC = b"PK\x03\x04"

csv.field_size_limit(MAX_FIELD_CHARS)


class FileRejected(ValidationFailed):
    """A whole file cannot be read (empty, binary, a bomb, no header); names the file and why."""


@dataclass(frozen=True)
class RowProblem:
    """Why one row (or one cell of it) was refused."""

    file: str
    line: int
    field: str | None
    value: str | None
    reason: str
    # The row's cells by column, for the quarantine, when the problem is the whole row's.
    cells: dict[str, str] | None = None

    def describe(self) -> str:
        """One readable line: ``Opportunity.csv line 7, Amount='abc': not a number``."""
        where = f"{self.file} line {self.line}"
        if self.field:
            where += f", {self.field}={self.value!r}"
        return f"{where}: {self.reason}"


# The row text kept in a wrong-width problem's value (the errors CSV, the report).
MAX_ROW_TEXT = 500


def wrong_width_problem(
    file: str, line: int, header: list[str], cells: list[str], delimiter: str
) -> RowProblem:
    """The refusal of a row whose cells do not match the header's columns, keeping what it held.

    Its value is the row as CSV text (for the report and the errors CSV) and its cells are named by
    the header, the surplus ones "(extra cell 1)", … (for the quarantine), so the person fixing the
    file sees the row, not only its line.
    """
    width = len(header)
    named = dict(zip(header, cells, strict=False))
    named.update({f"(extra cell {number})": cell for number, cell in enumerate(cells[width:], start=1)})
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter, lineterminator="").writerow(cells)
    return RowProblem(
        file,
        line,
        None,
        text.getvalue()[:MAX_ROW_TEXT],
        f"row has {len(cells)} cells but the header has {width}",
        cells=named,
    )


@dataclass
class TableFile:
    """An opened table: its header and a stream of ``(line, cells)``; rows of the wrong width are
    reported to ``problems`` instead of being yielded."""

    name: str
    header: list[str]
    encoding: str
    delimiter: str | None
    _rows: Iterator[tuple[int, list[str]]]
    problems: list[RowProblem] = field(default_factory=list)
    # A CSV file can also be read column-wise (``arrow_csv.py``) from its path, after its header lines.
    path: Path | None = None
    header_lines: int = 1
    close: Callable[[], None] | None = None

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """Data rows with their line numbers in the file (the header is line 1)."""
        width = len(self.header)
        for line, cells in self._rows:
            if not any(cell.strip() for cell in cells):
                # Blank lines, and the rows of bare delimiters spreadsheets leave below the data,
                # carry nothing.
                continue
            if len(cells) == width:
                yield line, cells
            else:
                self.problems.append(
                    wrong_width_problem(self.name, line, self.header, cells, self.delimiter or ",")
                )

    def records(self) -> Iterator[tuple[int, dict[str, str]]]:
        """Data rows as ``{column: cell}`` with their line numbers."""
        header = self.header
        for line, cells in self.rows():
            yield line, dict(zip(header, cells, strict=True))


def open_table(path: Path, *, encoding: str | None = None, delimiter: str | None = None) -> TableFile:
    """Open a CSV or XLSX file for streaming, detecting its format, encoding and delimiter."""
    name = path.name
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FileRejected(f"cannot read the file: {exc.strerror}", field="file", value=str(path)) from exc
    if size == 0:
        raise FileRejected("the file is empty (0 bytes)", field="file", value=name)
    with path.open("rb") as handle:
        sample = handle.read(SAMPLE_BYTES)
    if sample.startswith(_XLSX_MAGIC) or path.suffix.lower() in {".xlsx", ".xlsm"}:
        return _open_xlsx(path, sample)
    if b"\x00" in sample and not sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileRejected("the file is binary, not CSV text", field="file", value=name)
    chosen_encoding = encoding or detect_encoding(sample, final=size <= len(sample))
    if encoding is None and chosen_encoding == "utf-8" and sample.isascii() and size > len(sample):
        # Plain ASCII says nothing about the encoding: the first non-ASCII character decides.
        chosen_encoding = _encoding_after_ascii(path, len(sample))
    try:
        codecs.lookup(chosen_encoding)
    except LookupError:
        raise FileRejected(f"unknown encoding {chosen_encoding!r}", field="encoding", value=name) from None
    if sample.startswith(codecs.BOM_UTF8) and codecs.lookup(chosen_encoding).name == "utf-8":
        # A mapping that says "utf-8" still means the text, not the byte-order mark before it.
        chosen_encoding = "utf-8-sig"
    text_sample = sample.decode(chosen_encoding, errors="replace")
    chosen_delimiter = delimiter or detect_delimiter(text_sample)
    handle_text: TextIO = path.open("r", encoding=chosen_encoding, newline="", errors="strict")
    reader = csv.reader(handle_text, delimiter=chosen_delimiter, strict=False)
    try:
        header = next(reader)
    except StopIteration:
        handle_text.close()
        raise FileRejected("the file has no header row", field="file", value=name) from None
    except UnicodeDecodeError as exc:
        handle_text.close()
        raise _undecodable(path, chosen_encoding) from exc
    except csv.Error as exc:
        handle_text.close()
        raise FileRejected(f"cannot read the header: {exc}", field="file", value=name) from exc
    header = [cell.strip() for cell in header]
    _check_header(name, header)
    return TableFile(
        name,
        header,
        chosen_encoding,
        chosen_delimiter,
        _csv_rows(path, reader, handle_text, chosen_encoding),
        path=path,
        header_lines=reader.line_num,
        close=handle_text.close,
    )


def _check_header(name: str, header: list[str]) -> None:
    if not any(header):
        raise FileRejected("the header row is empty", field="file", value=name)
    seen: set[str] = set()
    for column in header:
        if column and column in seen:
            raise FileRejected(f"the header names column {column!r} twice", field="file", value=name)
        seen.add(column)


def _csv_rows(path: Path, reader: Any, handle: TextIO, encoding: str) -> Iterator[tuple[int, list[str]]]:
    name = path.name
    line_reader = reader  # csv.reader exposes line_num: the physical line where the row ended
    try:
        while True:
            try:
                cells = next(line_reader)
            except StopIteration:
                return
            except UnicodeDecodeError as exc:
                raise _undecodable(path, encoding) from exc
            except csv.Error as exc:
                raise FileRejected(
                    f"malformed CSV near line {getattr(reader, 'line_num', 0)}: {exc}",
                    field="file",
                    value=name,
                ) from exc
            yield getattr(reader, "line_num", 0), cells
    finally:
        handle.close()


def _undecodable(path: Path, encoding: str) -> FileRejected:
    """The refusal for bytes that are not text in ``encoding``, naming the line they are on.

    The text layer decodes ahead of the CSV reader, so the line is found again from the bytes.
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    with path.open("rb") as handle:
        for raw in handle:
            try:
                line += decoder.decode(raw).count("\n")
            except UnicodeDecodeError:
                break
    return FileRejected(
        f"bytes that are not valid {encoding} text on line {line}; save the file as UTF-8 or declare its encoding",
        field="file",
        value=path.name,
    )


def detect_encoding(sample: bytes, *, final: bool = False) -> str:
    """UTF-8 (with or without BOM) when the bytes are valid UTF-8, else Windows-1252.

    ``final`` says the sample is the whole file; otherwise a sample cut in the middle of a
    multi-byte character is still UTF-8.
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=final)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


_NON_ASCII = re.compile(rb"[\x80-\xff]")
# Read in chunks this large when looking past the sample for the first non-ASCII byte.
_SCAN_BYTES = 1024 * 1024


def _encoding_after_ascii(path: Path, start: int) -> str:
    """The encoding of a file whose first ``start`` bytes are plain ASCII: UTF-8 when its first
    non-ASCII character is a UTF-8 sequence (or it has none), else Windows-1252.

    An export whose first rows are plain (ids, English names) and which has "Société Générale" in
    row 6,000 is as common as it is easy to misread: detected from the sample alone it was taken
    for UTF-8 and refused at that row. ``bytes.isascii`` and a regular expression find the byte at
    C speed (the 1.75 GB benchmark export, all ASCII but one file, in 0.47 s); a later byte that is not
    UTF-8 in a file decided as UTF-8 is still refused, naming its line.
    """
    with path.open("rb") as handle:
        handle.seek(start)
        offset = start
        while chunk := handle.read(_SCAN_BYTES):
            if not chunk.isascii():
                found = _NON_ASCII.search(chunk)
                assert found is not None  # a chunk that is not ASCII has a byte above 0x7f
                handle.seek(offset + found.start())
                # A UTF-8 character is at most four bytes; a shorter rest of the file is decoded as final.
                window = handle.read(4)
                try:
                    codecs.getincrementaldecoder("utf-8")().decode(window, final=len(window) < 4)
                except UnicodeDecodeError as error:
                    if error.start == 0:
                        return "cp1252"
                return "utf-8"
            offset += len(chunk)
    return "utf-8"


def detect_delimiter(text_sample: str) -> str:
    """The delimiter among ``,`` ``;`` and tab that splits the first lines most consistently."""
    lines = [line for line in text_sample.splitlines()[:20] if line.strip()]
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        # The sniffer gives up on one-column files and odd quoting; count on the header instead.
        counts = {delimiter: lines[0].count(delimiter) for delimiter in DELIMITERS}
        best = max(counts, key=lambda delimiter: counts[delimiter])
        return best if counts[best] > 0 else ","


def _open_xlsx(path: Path, sample: bytes) -> TableFile:
    name = path.name
    if not sample.startswith(_XLSX_MAGIC):
        raise FileRejected("the file is named .xlsx but is not an XLSX workbook", field="file", value=name)
    _check_zip_is_safe(path)
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for damaged workbooks
        raise FileRejected(
            f"cannot open the workbook: {type(exc).__name__}", field="file", value=name
        ) from exc
    sheet = workbook.worksheets[0] if workbook.worksheets else None
    if sheet is None:
        workbook.close()
        raise FileRejected("the workbook has no sheet", field="file", value=name)
    rows = sheet.iter_rows(values_only=True)
    try:
        first = next(rows)
    except StopIteration:
        workbook.close()
        raise FileRejected("the workbook's first sheet is empty", field="file", value=name) from None
    header = [_cell_text(value).strip() for value in first]
    while header and not header[-1]:
        header.pop()
    _check_header(name, header)

    def stream() -> Iterator[tuple[int, list[str]]]:
        try:
            for line, values in enumerate(rows, start=2):
                cells = [_cell_text(value) for value in values]
                # Sheets often carry empty trailing cells beyond the header.
                while len(cells) > len(header) and not cells[-1]:
                    cells.pop()
                if len(cells) < len(header):
                    cells.extend([""] * (len(header) - len(cells)))
                yield line, cells
        finally:
            workbook.close()

    return TableFile(name, header, "xlsx", None, stream())


def _check_zip_is_safe(path: Path) -> None:
    name = path.name
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise FileRejected(
            f"the workbook is not a valid zip archive: {exc}", field="file", value=name
        ) from exc
    if len(entries) > MAX_XLSX_ENTRIES:
        raise FileRejected(f"the workbook holds {len(entries)} parts; refusing", field="file", value=name)
    total = 0
    for entry in entries:
        total += entry.file_size
        if entry.compress_size and entry.file_size / entry.compress_size > MAX_XLSX_COMPRESSION_RATIO:
            raise FileRejected(
                f"part {entry.filename!r} expands {entry.file_size // max(entry.compress_size, 1)}-fold: a zip bomb",
                field="file",
                value=name,
            )
    if total > MAX_XLSX_UNCOMPRESSED_BYTES:
        raise FileRejected(
            f"the workbook would expand to {total // (1024 * 1024)} MiB (limit "
            f"{MAX_XLSX_UNCOMPRESSED_BYTES // (1024 * 1024)} MiB)",
            field="file",
            value=name,
        )


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat() if value.time() != dt.time() else value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def text_io_for(data: bytes) -> io.BytesIO:
    """Wrap uploaded bytes (for the web upload, which reads into a temporary file first)."""
    return io.BytesIO(data)
