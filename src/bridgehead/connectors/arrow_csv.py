"""Reading a CSV file column-wise with Arrow's streaming reader, with the row-wise reader's rules.

``files.open_table`` has already detected the encoding and delimiter and read the header; this
reads the data rows in blocks of about 100,000 rows as Arrow string columns and keeps what the
row-wise reader (``TableFile.rows``) guarantees: each row's line number is the physical line it
ends on (cells may hold line breaks), blank rows are skipped, rows of the wrong width become
problems naming their line, and undecodable bytes refuse the file naming the line.
"""

from __future__ import annotations

import codecs
import csv
import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.csv as pacsv  # type: ignore[import-untyped]
from numpy.typing import NDArray

from bridgehead.connectors.files import (
    MAX_ROW_TEXT,
    FileRejected,
    RowProblem,
    TableFile,
    _undecodable,
    wrong_width_problem,
)

BLOCK_BYTES = 16 * 1024 * 1024
# Blocks the reader may have read from the file beyond those it has handed out. Arrow's streaming
# reader reads the file on a background thread up to 32 blocks ahead (512 MiB at 16 MiB), which
# made the whole of a large export file resident while its first block was being imported.
READ_AHEAD_BLOCKS = 3
# Python's str.isspace() characters: a row of only these is blank to the row-wise reader too.
_BLANK = r"^[\t-\r\x1c- \x85\xa0\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]*$"


@dataclass
class RawChunk:
    """Consecutive data rows of a file: their line numbers and one text column per header column."""

    lines: NDArray[np.int64]
    columns: list[pa.Array]

    def __len__(self) -> int:
        return len(self.lines)

    def take(self, rows: NDArray[np.int64]) -> RawChunk:
        """Only ``rows`` (positions), in that order."""
        indices = pa.array(rows, pa.int64())
        return RawChunk(self.lines[rows], [column.take(indices) for column in self.columns])


def can_read_columns(table: TableFile) -> bool:
    """Whether ``table`` is a CSV file Arrow reads in the same encoding (not XLSX, not UTF-16)."""
    if table.path is None or table.delimiter is None:
        return False
    return codecs.lookup(table.encoding).name != "utf-16"


def _arrow_encoding(encoding: str) -> str:
    # Arrow decodes UTF-8 natively and skips the byte-order mark; other encodings are transcoded.
    name = codecs.lookup(encoding).name
    return "utf8" if name in {"utf-8", "utf-8-sig"} else name


def _line_breaks(column: pa.Array) -> NDArray[np.int64]:
    """Line breaks inside each cell, counted as Python's universal newlines count them."""
    breaks: NDArray[np.int64] = pc.count_substring(column, "\n").to_numpy().astype(np.int64)
    if pc.sum(pc.count_substring(column, "\r")).as_py():
        breaks += pc.count_substring(column, "\r").to_numpy()
        breaks -= pc.count_substring(column, "\r\n").to_numpy()
    return breaks


def _universal_breaks(text: str) -> int:
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def read_chunks(table: TableFile) -> Iterator[RawChunk]:
    """The data rows of ``table`` (a CSV file, see ``can_read_columns``) in blocks of columns.

    Rows of the wrong width are appended to ``table.problems`` as they are met.
    """
    assert table.path is not None
    assert table.delimiter is not None
    if table.close is not None:
        table.close()  # the row-wise reader's handle: this reader opens its own
    width = len(table.header)
    names = [f"c{index}" for index in range(width)]
    invalid: list[tuple[int, int, str]] = []

    def on_invalid_row(row: pacsv.InvalidRow) -> str:
        invalid.append((row.number, row.actual_columns, row.text))
        return "skip"

    source = _PacedFile(table.path, READ_AHEAD_BLOCKS * BLOCK_BYTES)
    yield from _chunks(table, source, names, width, invalid, on_invalid_row)


def _chunks(
    table: TableFile,
    source: _PacedFile,
    names: list[str],
    width: int,
    invalid: list[tuple[int, int, str]],
    on_invalid_row: Any,
) -> Iterator[RawChunk]:
    delimiter = table.delimiter
    assert delimiter is not None
    try:
        reader = _open_reader(table, source, names, on_invalid_row)
    except (UnicodeDecodeError, pa.ArrowInvalid) as exc:
        source.stop()
        raise _refusal(table, exc) from exc
    try:
        yield from _batches(table, reader, source, width, invalid, delimiter)
    finally:
        # Before the reader goes: its background thread may be waiting for a grant.
        source.stop()


def _batches(
    table: TableFile,
    reader: Any,
    source: _PacedFile,
    width: int,
    invalid: list[tuple[int, int, str]],
    delimiter: str,
) -> Iterator[RawChunk]:
    # Record numbers count the header as record 1, as the invalid-row handler does.
    next_record = 2
    extra_lines = table.header_lines - 1
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except (UnicodeDecodeError, pa.ArrowInvalid) as exc:
            raise _refusal(table, exc) from exc
        source.allow(BLOCK_BYTES)
        columns = [batch.column(index) for index in range(width)]
        rows = batch.num_rows
        invalid.sort()
        skipped = 0
        while skipped < len(invalid) and invalid[skipped][0] < next_record + rows + skipped + 1:
            skipped += 1
        mine, invalid[:] = invalid[:skipped], invalid[skipped:]
        records = np.arange(next_record, next_record + rows + skipped, dtype=np.int64)
        breaks = np.zeros(rows + skipped, dtype=np.int64)
        is_valid = np.ones(rows + skipped, dtype=np.bool_)
        for number, _, text in mine:
            position = number - next_record
            if not 0 <= position < len(records):
                raise FileRejected(
                    "malformed CSV: cannot place a row of the wrong width", field="file", value=table.name
                )
            is_valid[position] = False
            breaks[position] = _universal_breaks(text)
        valid_breaks = np.zeros(rows, dtype=np.int64)
        for column in columns:
            if pc.any(pc.match_substring_regex(column, "[\r\n]")).as_py():
                valid_breaks += _line_breaks(column)
        breaks[is_valid] = valid_breaks
        # The physical line a record ends on: its record number plus every line break before and in it.
        ends = records + extra_lines + np.cumsum(breaks)
        extra_lines += int(breaks.sum())
        next_record += rows + skipped
        for (_, actual, text), line in zip(mine, ends[~is_valid], strict=True):
            if not text.replace(delimiter, "").strip():
                continue  # a row of bare delimiters carries nothing, as in the row-wise reader
            cells = next(csv.reader(io.StringIO(text), delimiter=delimiter, strict=False), [])
            if len(cells) == actual:
                table.problems.append(
                    wrong_width_problem(table.name, int(line), table.header, cells, delimiter)
                )
            else:
                # Split otherwise by Python's reader than by Arrow's: keep the row's text, not cells.
                table.problems.append(
                    RowProblem(
                        table.name,
                        int(line),
                        None,
                        text[:MAX_ROW_TEXT],
                        f"row has {actual} cells but the header has {width}",
                    )
                )
        chunk = RawChunk(ends[is_valid], columns)
        blank = _blank_rows(columns)
        if blank.any():
            chunk = chunk.take(np.flatnonzero(~blank))
        if len(chunk):
            yield chunk


def _blank_rows(columns: list[pa.Array]) -> NDArray[np.bool_]:
    """Rows whose every cell is empty or whitespace (checked only while a row still looks blank)."""
    if not columns:
        return np.zeros(0, dtype=np.bool_)
    size = len(columns[0])
    candidates = np.arange(size, dtype=np.int64)
    for column in columns:
        if not len(candidates):
            break
        # Most rows drop out at the first column: copy only the rows still in question.
        cells = column if len(candidates) == size else column.take(pa.array(candidates))
        blank = np.asarray(
            pc.match_substring_regex(cells, _BLANK).to_numpy(zero_copy_only=False), dtype=np.bool_
        )
        candidates = candidates[blank]
    result = np.zeros(len(columns[0]), dtype=np.bool_)
    result[candidates] = True
    return result


class _PacedFile:
    """A file Arrow's background reader may read only ``ahead`` bytes beyond what ``allow`` grants.

    Arrow calls ``read`` on its I/O thread; past the allowance the call waits until the consumer
    has taken another block (``allow``) or stopped (``stop``: the file then reads as ended, so the
    background thread finishes instead of waiting for ever). Allowing a block per batch handed out
    keeps a few blocks in memory whatever the file's size, and never starves the reader: a batch
    never needs more than the block it starts in and the next.
    """

    def __init__(self, path: Any, ahead: int) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 - closed by stop()
        self._ready = threading.Condition()
        self._read = 0
        self._allowed = ahead
        self._stopped = False
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes, once the allowance has room (``b""`` after ``stop``)."""
        with self._ready:
            while not self._stopped and self._read >= self._allowed:
                self._ready.wait()
            if self._stopped:
                return b""
            # Under the lock, so stop() never closes the file in the middle of a read.
            data = self._file.read(size)
            self._read += len(data)
            return data

    def allow(self, more: int) -> None:
        """Let the reader read ``more`` bytes further."""
        with self._ready:
            self._allowed += more
            self._ready.notify_all()

    def stop(self) -> None:
        """End reading: a waiting or later ``read`` returns ``b""``; the file is closed."""
        with self._ready:
            self._stopped = True
            self._file.close()
            self.closed = True
            self._ready.notify_all()

    def readable(self) -> bool:
        """A file Arrow reads from."""
        return True

    def seekable(self) -> bool:
        """Read front to back only."""
        return False

    def close(self) -> None:
        """Arrow closes its input at the end; ``stop`` does the work."""
        self.stop()


def _open_reader(table: TableFile, source: _PacedFile, names: list[str], on_invalid_row: Any) -> Any:
    """Arrow's streaming reader on ``table``'s data rows (it reads the first block at once)."""
    return pacsv.open_csv(
        source,
        read_options=pacsv.ReadOptions(
            use_threads=False,
            block_size=BLOCK_BYTES,
            skip_rows=1,
            column_names=names,
            encoding=_arrow_encoding(table.encoding),
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=table.delimiter,
            newlines_in_values=True,
            ignore_empty_lines=False,
            invalid_row_handler=on_invalid_row,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def _refusal(table: TableFile, exc: Exception) -> FileRejected:
    assert table.path is not None
    if isinstance(exc, UnicodeDecodeError) or "UTF8" in str(exc) or "decode" in str(exc):
        return _undecodable(table.path, table.encoding)
    return FileRejected(f"malformed CSV: {exc}", field="file", value=table.name)
