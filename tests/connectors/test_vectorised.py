"""Column-wise parsing gives exactly what the row-wise parsers give, cell for cell, hostile cells too.

Each test runs the same cells through ``columnar.parse_column`` (the column check plus its
row-wise fallback, as the engine runs it) and through ``parsing.field_parser`` one by one, and
compares values (in stage form) and refusal reasons. The ordinary cells must also be decided by
the column check itself, or the fast path would be dead code.
"""

from __future__ import annotations

import codecs
import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from bridgehead.common.types import UTCDateTime
from bridgehead.connectors.arrow_csv import RawChunk, read_chunks
from bridgehead.connectors.columnar import parse_column
from bridgehead.connectors.entities import ENTITIES, FieldSpec
from bridgehead.connectors.files import FileRejected, open_table
from bridgehead.connectors.parsing import field_parser
from bridgehead.connectors.report import ImportOptions
from bridgehead.connectors.salesforce import normalise_id
from bridgehead.connectors.salesforce_columns import IdErrors, custom_json, normalise_column
from bridgehead.connectors.vectorised import column_checker, stage_form

OPTIONS = ImportOptions()
HOSTILE = [
    "",
    " ",
    "\u00a0",
    "\x00",
    "a\x00b",
    "=1+2",
    "'=cmd|' /C calc'!A0",
    "-5",
    "-0",
    "1e308",
    "1E5",
    "NaN",
    "inf",
    "Infinity",
    "########",
    "45292",
    "45292.5",
    "3/4/26",
    "04.03.2026",
    "2026-02-30",
    "2026-02-29",
    "2024-02-29",
    "1900-02-29",
    "2000-02-29",
    "0000-01-01",
    "9999-12-31",
    "2026-13-01",
    "2026-00-10",
    "2026-1-1",
    "2026-03-04T10:11:12.000Z",
    "2026-03-04T10:11:12.000+0000",
    "2026-03-04T10:11:12+00:00",
    "2026-03-04T10:11:12.123456Z",
    "2026-03-04T10:11:12.1Z",
    "2026-03-04T24:00:00.000Z",
    "2026-03-04T23:60:00.000Z",
    "2026-03-04T23:59:60.000Z",
    "2026-03-04T10:11:12.000+0200",
    "2026-03-04 10:11:12",
    "2026-03-04T10:11:12",
    " 2026-03-04 ",
    "2026-03-04x",
    "\uff11\uff12\uff13",  # full-width digits
    "٣",
    "²",
    "12",
    "007",
    "1234",
    "1,234.50",
    "1234.5",
    "1234.50",
    "1234.505",
    "0.00",
    ".5",
    "5.",
    "999999999999",
    "1000000000000",
    "1000000000000.01",
    "9999999999999",
    "99999999999999",
    "2000000000",
    "999999999",
    "100",
    "101",
    "50%",
    "true",
    "FALSE",
    "True ",
    "yes",
    "Y",
    "t",
    "0",
    "1",
    "maybe",
    "Pipeline",
    "best case",
    "Best-Case",
    " commit",
    "closed",
    "omitted",
    "call",
    "Meeting",
    "inbound",
    "ada@example.com",
    "Ada@Example.COM",
    "ada@@example.com",
    "ada@example",
    "ada lovelace@example.com",
    "ädä@example.com",
    "x" * 80,
    "x" * 81,
    "y" * 255,
    "y" * 256,
    "Müller",
    "José ",
    "\tTabbed",
    "line\nbreak",
    "'quoted",
    '"',
    "\\",
    "\u2028",
    "\ufeffbom",
]


def _specs() -> list[FieldSpec]:
    """One field of every kind (and text lengths that matter), from the real entities."""
    opportunity = ENTITIES["opportunity"]
    return [
        opportunity.field("name"),
        opportunity.field("stage"),
        opportunity.field("amount"),
        opportunity.field("probability"),
        opportunity.field("close_date"),
        opportunity.field("created_at"),
        opportunity.field("is_won"),
        opportunity.field("forecast_category"),
        opportunity.field("account"),
        ENTITIES["account"].field("employees"),
        ENTITIES["contact"].field("email"),
        ENTITIES["activity"].field("kind"),
        ENTITIES["activity"].field("direction"),
    ]


def _row_wise(spec: FieldSpec, cells: list[str], options: ImportOptions) -> list[tuple[str, Any]]:
    parser = field_parser(spec, options)
    results: list[tuple[str, Any]] = []
    for cell in cells:
        try:
            results.append(("value", stage_form(spec, parser(cell))))
        except ValueError as exc:
            results.append(("error", str(exc)))
    return results


def _column_wise(spec: FieldSpec, cells: list[str], options: ImportOptions) -> list[tuple[str, Any]]:
    values, errors = parse_column(
        pa.array(cells, pa.string()),
        checker=column_checker(spec, options),
        parser=field_parser(spec, options),
        spec=spec,
    )
    listed = values.to_pylist()
    return [("error", errors[row]) if row in errors else ("value", listed[row]) for row in range(len(cells))]


@pytest.mark.parametrize("spec", _specs(), ids=lambda spec: f"{spec.name}:{spec.kind}")
def test_every_kind_agrees_with_the_row_wise_parser_on_hostile_cells(spec: FieldSpec) -> None:
    assert _column_wise(spec, HOSTILE, OPTIONS) == _row_wise(spec, HOSTILE, OPTIONS)


@pytest.mark.parametrize(
    "options",
    [
        ImportOptions(decimal_comma=True),
        ImportOptions(date_formats=("%d.%m.%Y",)),
        ImportOptions(datetime_formats=("%d/%m/%Y %H:%M",), date_formats=("%d/%m/%Y",)),
    ],
    ids=["decimal-comma", "date-format", "datetime-format"],
)
def test_options_that_change_parsing_give_the_row_wise_results(options: ImportOptions) -> None:
    cells = [*HOSTILE, "1.234,50", "04.03.2026", "04/03/2026 10:11", "04/03/2026"]
    for spec in _specs():
        assert _column_wise(spec, cells, options) == _row_wise(spec, cells, options), spec.name


@pytest.mark.parametrize(
    ("field_name", "cells"),
    [
        ("amount", ["1234", "1234.5", "1234.50", "0", "999999999999.99"]),
        ("close_date", ["2026-03-04", "2024-02-29", "0001-01-01"]),
        ("created_at", ["2026-03-04T10:11:12.000Z", "2026-03-04T10:11:12.000+0000", "2026-03-04"]),
        ("is_won", ["true", "false", "TRUE", "0"]),
        ("probability", ["0", "10", "100"]),
        ("forecast_category", ["Pipeline", "Best Case", "commit"]),
        ("name", ["Deal 1 - Platform", "Acme, Inc."]),
    ],
)
def test_ordinary_cells_are_decided_by_the_column_check_alone(field_name: str, cells: list[str]) -> None:
    spec = ENTITIES["opportunity"].field(field_name)
    checked = column_checker(spec, OPTIONS)(pa.array(cells, pa.string()))
    assert not checked.unsure.any()
    assert checked.values.cast(pa.string()).to_pylist() == [
        None if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        for _, value in _row_wise(spec, cells, OPTIONS)
    ]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet="0123456789.,-+eE :TZ/%#tfrueaslnoy@ \u00a0", max_size=30), max_size=30))
def test_random_cells_agree_with_the_row_wise_parser(cells: list[str]) -> None:
    for spec in _specs():
        assert _column_wise(spec, cells, OPTIONS) == _row_wise(spec, cells, OPTIONS), spec.name


ID_CELLS = [
    "0015g00000000FlAAI",
    "0015g00000000Fl",
    "0015G00000000FL",
    "0015g00000000flAAI",
    " 0015g00000000Fl ",
    "0015g00000000F",
    "0015g00000000Fl-AA",
    "0015g00000000FlAAIX",
    "",
    "   ",
    "ÄÖÜ5g00000000Fl",
    "=HYPERLINK(1)",
]


def test_salesforce_ids_normalise_as_the_row_wise_reader_does() -> None:
    errors = IdErrors(len(ID_CELLS))
    normal = normalise_column(pa.array(ID_CELLS, pa.string()), "AccountId", errors).to_pylist()
    for row, cell in enumerate(ID_CELLS):
        try:
            expected: str | None = normalise_id(cell) or ""
            reason = None
        except ValueError as exc:
            expected, reason = None, str(exc)
        if reason is None:
            assert row not in errors.first
            assert normal[row] == expected
        else:
            assert errors.first[row][1:] == ("AccountId", cell, reason)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet="abcXYZ019", min_size=15, max_size=15), min_size=1, max_size=20))
def test_generated_ids_get_the_same_18_character_form(heads: list[str]) -> None:
    errors = IdErrors(len(heads))
    normal = normalise_column(pa.array(heads, pa.string()), "Id", errors).to_pylist()
    assert normal == [normalise_id(head) for head in heads]
    assert not errors.first


def test_custom_fields_json_is_the_text_json_dumps_writes() -> None:
    rows = [["a", "", 'say "hi"'], ["", "", ""], ["line\nbreak", "ünï", "back\\slash"], ["'=1", "x", "\x01"]]
    raw = RawChunk(
        np.arange(2, 2 + len(rows), dtype=np.int64),
        [pa.array(list(column)) for column in zip(*rows, strict=True)],
    )
    custom = [("Zed__c", 0), ("Alpha__c", 1), ("Mid__c", 2)]
    produced = custom_json(raw, custom).to_pylist()
    expected = []
    for cells in rows:
        values = {name: cells[index] for name, index in custom}
        values = {name: value[1:] if value.startswith("'=") else value for name, value in values.items()}
        expected.append(
            json.dumps({k: v for k, v in values.items() if v != ""}, sort_keys=True, ensure_ascii=False)
        )
    assert produced == expected


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_arrow_reader_gives_the_row_wise_reader_lines_cells_and_problems(
    tmp_path: Path, encoding: str, newline: str, delimiter: str
) -> None:
    d = delimiter
    lines = [
        f"Id{d}Name{d}Note",
        f"1{d}Café{d}plain",
        "",
        f'2{d}"multi{newline}line"{d}"quoted {d} delimiter"',
        f"3{d}short",
        f"4{d}a{d}b{d}extra",
        f"{d}{d}",
        f" {d} {d} ",
        f'5{d}"cr\ronly"{d}x',
        f"{d}{d}{d}{d}",
        f"6{d}last{d}row",
    ]
    path = tmp_path / "File.csv"
    data = newline.join(lines).encode(encoding if encoding != "utf-8-sig" else "utf-8")
    if encoding == "utf-8-sig":
        data = codecs.BOM_UTF8 + data
    path.write_bytes(data)

    row_wise = open_table(path)
    expected = list(row_wise.rows())
    column_wise = open_table(path)
    got = []
    for chunk in read_chunks(column_wise):
        columns = [column.to_pylist() for column in chunk.columns]
        got.extend(
            (int(line), list(cells))
            for line, cells in zip(chunk.lines, zip(*columns, strict=True), strict=True)
        )
    assert got == expected
    assert column_wise.problems == row_wise.problems
    assert [problem.line for problem in row_wise.problems]  # the file does carry wrong-width rows


def test_staged_date_times_are_the_text_the_row_wise_path_stores_on_sqlite() -> None:
    """The stage form must equal what SQLAlchemy + sqlite3 write for the parsed value, so records
    imported before (row-wise) compare equal and a re-import changes nothing."""
    cells = [
        "2026-03-04T10:11:12.000Z",
        "2026-03-04T10:11:12.123456+0000",
        "2026-03-04",
        "0999-01-02T03:04:05Z",
    ]
    spec = ENTITIES["opportunity"].field("created_at")
    processor = UTCDateTime().bind_processor(sqlite.dialect())
    assert processor is not None
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE t (v DATETIME)")
    parser = field_parser(spec, OPTIONS)
    connection.executemany("INSERT INTO t VALUES (?)", [(processor(parser(cell)),) for cell in cells])
    stored = [row[0] for row in connection.execute("SELECT v FROM t ORDER BY rowid")]
    assert [value for _, value in _column_wise(spec, cells, OPTIONS)] == stored


@pytest.mark.parametrize("rows_before", [20_000, 200_000])  # beyond the encoding sample
def test_undecodable_bytes_refuse_the_file_naming_the_same_line(tmp_path: Path, rows_before: int) -> None:
    path = tmp_path / "Account.csv"
    body = b"".join(b"%d,name %d\n" % (row, row) for row in range(rows_before))
    # UTF-8 by its first non-ASCII character (a UTF-8 "é"); a Windows-1252 "é" far past the sample.
    path.write_bytes(b"Id,Name\n-1,caf\xc3\xa9\n" + body + b"999,caf\xe9\n1000,x\n")
    with pytest.raises(FileRejected) as row_wise:
        list(open_table(path).rows())
    with pytest.raises(FileRejected) as column_wise:
        list(read_chunks(open_table(path)))
    assert str(column_wise.value) == str(row_wise.value)
    assert f"line {rows_before + 3}" in str(column_wise.value)
