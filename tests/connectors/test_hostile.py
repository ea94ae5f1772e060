"""Hostile input is data, never code: each gets a clear error, and nothing stored changes.

Every case runs on both backends. "Nothing changed" is checked with a snapshot of every table's
row count and a checksum of the CRM rows, taken before the import and after the caller's
rollback (what the command line and the web do when an import is refused or is a dry run).
"""

from __future__ import annotations

import csv
import io
import random
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from bridgehead.connectors.engine import ImportFailed, ImportOptions
from bridgehead.connectors.files import FileRejected, RowProblem
from bridgehead.connectors.models import QuarantinedRow
from bridgehead.connectors.service import neutralise_formula, write_errors_csv
from bridgehead.crm.models import Account, Opportunity
from tests.connectors.support import import_mapping, snapshot
from tests.factories import make_account, make_opportunity, make_user

HEADER = ["id", "name", "owner", "account", "stage", "amount", "close_date"]
GOOD_BEFORE = ["h-1", "First deal", "rep-1", "acct-1", "Prospecting", "1000", "2026-03-31"]
GOOD_AFTER = ["h-3", "Third deal", "rep-1", "", "Negotiation", "2,500.50", "2026-04-30"]


def _mapping_text(path: str) -> str:
    return f"""
[[files]]
path = "{path}"
entity = "opportunity"
[files.fields]
id = "id"
name = "name"
owner = "owner"
account = "account"
stage = "stage"
amount = "amount"
close_date = "close_date"
"""


def _write_mapping(directory: Path, path: str = "deals.csv") -> Path:
    mapping = directory / "mapping.toml"
    mapping.write_text(_mapping_text(path), encoding="utf-8")
    return mapping


def _write_csv(directory: Path, bad_row: list[str]) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([HEADER, GOOD_BEFORE, bad_row, GOOD_AFTER])
    path = directory / "deals.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


@pytest.fixture
def world(db_session: Session) -> Session:
    """A rep, an account and one opportunity already stored (and committed) before each import."""
    rep = make_user(db_session, external_id="rep-1")
    account = make_account(db_session, external_id="acct-1")
    make_opportunity(db_session, external_id="opp-kept", owner_id=rep.id, account_id=account.id)
    db_session.commit()
    return db_session


@dataclass(frozen=True)
class BadRow:
    """A hostile row (line 3 of the file) and the problem it must be reported with."""

    cells: list[str]
    field: str | None
    value: str | None
    reason: str


def _with(**changes: str) -> list[str]:
    row = dict(
        zip(HEADER, ["h-2", "Second deal", "rep-1", "acct-1", "Proposal", "2000", "2026-03-15"], strict=True)
    )
    row.update(changes)
    return [row[column] for column in HEADER]


BAD_ROWS = {
    "non-numeric-amount": BadRow(_with(amount="12abc"), "amount", "12abc", "not a number"),
    "negative-amount": BadRow(_with(amount="-5"), "amount", "-5", "must not be negative"),
    "huge-amount": BadRow(
        _with(amount="1e308"), "amount", "1e308", "too large (the limit is 1,000,000,000,000)"
    ),
    "impossible-date": BadRow(
        _with(close_date="2026-02-30"), "close_date", "2026-02-30", "not a real calendar date"
    ),
    "excel-serial-date": BadRow(
        _with(close_date="45292"),
        "close_date",
        "45292",
        "looks like an Excel serial date number; export dates as YYYY-MM-DD",
    ),
    "excel-hashes-date": BadRow(
        _with(close_date="########"),
        "close_date",
        "########",
        "a spreadsheet placeholder (the column was too narrow when saved), not a date",
    ),
    "excel-slashed-date": BadRow(
        _with(close_date="3/4/26"),
        "close_date",
        "3/4/26",
        "ambiguous date (day/month order unknown); use YYYY-MM-DD or set a date format",
    ),
    "unknown-owner": BadRow(_with(owner="ghost"), "owner", "ghost", "no user with id 'ghost'"),
    "unknown-account": BadRow(
        _with(account="acct-404"), "account", "acct-404", "no account with id 'acct-404'"
    ),
    # A row of the wrong width names no field; its value is the row itself, as CSV text.
    "extra-columns": BadRow(
        [*_with(), "surplus"],
        None,
        ",".join([*_with(), "surplus"]),
        "row has 8 cells but the header has 7",
    ),
    "missing-required": BadRow(_with(stage=""), "stage", "", "required but empty"),
    "too-long": BadRow(_with(name="x" * 300), "name", "x" * 300, "longer than 255 characters (300)"),
    "duplicate-id": BadRow(_with(id="h-1"), "id", "h-1", "the same id appears first at line 2"),
}


@pytest.mark.parametrize("case", list(BAD_ROWS), ids=list(BAD_ROWS))
def test_all_or_nothing_refuses_the_import_and_changes_nothing(
    world: Session, tmp_path: Path, case: str
) -> None:
    bad = BAD_ROWS[case]
    _write_csv(tmp_path, bad.cells)
    mapping = _write_mapping(tmp_path)
    before = snapshot(world)
    with pytest.raises(ImportFailed) as caught:
        import_mapping(world, tmp_path, mapping)
    world.rollback()
    expected = RowProblem("deals.csv", 3, bad.field, bad.value, bad.reason)
    assert caught.value.report.problems == [expected]
    assert caught.value.report.rejected_rows == 1
    assert caught.value.message == (
        f"import refused: 1 row(s) rejected, nothing was written; first: {expected.describe()}"
    )
    assert snapshot(world) == before


@pytest.mark.parametrize("case", list(BAD_ROWS), ids=list(BAD_ROWS))
def test_quarantine_keeps_the_good_rows_and_sets_the_bad_one_aside(
    world: Session, tmp_path: Path, case: str
) -> None:
    bad = BAD_ROWS[case]
    _write_csv(tmp_path, bad.cells)
    mapping = _write_mapping(tmp_path)
    before = snapshot(world)
    report = import_mapping(world, tmp_path, mapping, ImportOptions(policy="quarantine"))
    world.commit()
    assert report.status == "committed"
    assert report.problems == [RowProblem("deals.csv", 3, bad.field, bad.value, bad.reason)]
    created, updated, unchanged, rejected = (
        report.counts["opportunity"].created,
        report.counts["opportunity"].updated,
        report.counts["opportunity"].unchanged,
        report.counts["opportunity"].rejected,
    )
    assert (created, updated, unchanged, rejected) == (2, 0, 0, 1)
    stored = {
        external_id: (name, amount)
        for external_id, name, amount in world.execute(
            select(Opportunity.external_id, Opportunity.name, Opportunity.amount).where(
                Opportunity.external_id.in_(["h-1", "h-2", "h-3"])
            )
        )
    }
    assert set(stored) == {"h-1", "h-3"}
    assert stored["h-1"][0] == "First deal"  # a duplicate id keeps its first line
    assert str(stored["h-3"][1]) == "2500.50"

    quarantined = world.scalars(
        select(QuarantinedRow).where(QuarantinedRow.import_run_id == report.run_id)
    ).all()
    assert [(row.file, row.line, row.field, row.value, row.reason) for row in quarantined] == [
        ("deals.csv", 3, bad.field, bad.value, bad.reason)
    ]
    # The row's cells are kept so it can be fixed and imported again; a row of the wrong width
    # keeps its surplus cells after the header's columns.
    expected_cells = dict(zip(HEADER, bad.cells, strict=False))
    if case == "extra-columns":
        expected_cells["(extra cell 1)"] = "surplus"
    assert quarantined[0].cells == expected_cells

    errors = tmp_path / "errors.csv"
    assert write_errors_csv(report, errors) == 1
    with errors.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [
        ["file", "line", "field", "value", "reason"],
        ["deals.csv", "3", bad.field or "", neutralise_formula(bad.value or ""), bad.reason],
    ]

    after = snapshot(world)
    assert after["count:opportunity"] == before["count:opportunity"] + 2
    assert after["count:import_quarantine"] == before["count:import_quarantine"] + 1
    assert after["count:import_run"] == before["count:import_run"] + 1


def test_errors_csv_neutralises_formulas_in_values(world: Session, tmp_path: Path) -> None:
    _write_csv(tmp_path, _with(amount='=HYPERLINK("http://evil.example","x")'))
    report = import_mapping(world, tmp_path, _write_mapping(tmp_path), ImportOptions(policy="quarantine"))
    errors = tmp_path / "errors.csv"
    write_errors_csv(report, errors)
    with errors.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[1][3] == '\'=HYPERLINK("http://evil.example","x")'


def test_a_failure_in_a_later_file_undoes_the_earlier_files(world: Session, tmp_path: Path) -> None:
    """All or nothing holds for the whole import, not per file."""
    (tmp_path / "accounts.csv").write_text("id,name\nacct-new,New Account\n", encoding="utf-8")
    _write_csv(tmp_path, BAD_ROWS["negative-amount"].cells)
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(
        '[[files]]\npath = "accounts.csv"\nentity = "account"\n[files.fields]\nid = "id"\nname = "name"\n'
        + _mapping_text("deals.csv"),
        encoding="utf-8",
    )
    before = snapshot(world)
    with pytest.raises(ImportFailed) as caught:
        import_mapping(world, tmp_path, mapping)
    assert caught.value.report.counts["account"].created == 1  # it was written, then rolled back
    world.rollback()
    assert snapshot(world) == before
    assert world.scalar(select(Account).where(Account.external_id == "acct-new")) is None


def test_dry_run_reports_what_would_change_and_changes_nothing(world: Session, tmp_path: Path) -> None:
    path = _write_csv(
        tmp_path, ["opp-kept", "Renamed deal", "rep-1", "acct-1", "Proposal", "10000", "2026-05-01"]
    )
    mapping = _write_mapping(tmp_path)
    before = snapshot(world)
    report = import_mapping(world, tmp_path, mapping, ImportOptions(dry_run=True))
    assert report.status == "dry_run"
    assert report.dry_run
    opportunity = report.counts["opportunity"]
    assert (opportunity.created, opportunity.updated, opportunity.unchanged, opportunity.rejected) == (
        2,
        1,
        0,
        0,
    )
    world.rollback()
    assert snapshot(world) == before
    assert path.exists()


def test_dry_run_with_quarantine_reports_the_rejects_and_keeps_nothing(
    world: Session, tmp_path: Path
) -> None:
    _write_csv(tmp_path, BAD_ROWS["unknown-owner"].cells)
    before = snapshot(world)
    report = import_mapping(
        world, tmp_path, _write_mapping(tmp_path), ImportOptions(policy="quarantine", dry_run=True)
    )
    opportunity = report.counts["opportunity"]
    assert (opportunity.created, opportunity.rejected) == (2, 1)
    assert [problem.field for problem in report.problems] == ["owner"]
    assert (
        world.scalars(select(QuarantinedRow).where(QuarantinedRow.import_run_id == report.run_id)).all() == []
    )
    world.rollback()
    assert snapshot(world) == before


def test_hostile_text_is_stored_as_text(world: Session, tmp_path: Path) -> None:
    formula = '=HYPERLINK("http://evil.example","click")'
    _write_csv(tmp_path, _with(name=formula))
    report = import_mapping(world, tmp_path, _write_mapping(tmp_path))
    assert report.ok
    assert world.scalar(select(Opportunity.name).where(Opportunity.external_id == "h-2")) == formula


@pytest.mark.parametrize("policy", ["all_or_nothing", "quarantine"])
def test_an_unknown_parent_account_is_reported(world: Session, tmp_path: Path, policy: str) -> None:
    """A link to a record of the same kind is resolved after all rows are in; an unknown one is
    a problem: all-or-nothing refuses, quarantine keeps the record without the link."""
    (tmp_path / "accounts.csv").write_text("id,name,parent\na-1,Parent,\na-2,Child,a-404\n", encoding="utf-8")
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(
        '[[files]]\npath = "accounts.csv"\nentity = "account"\n'
        '[files.fields]\nid = "id"\nname = "name"\nparent_account = "parent"\n',
        encoding="utf-8",
    )
    problem = RowProblem(
        "accounts.csv",
        3,
        "parent_account",
        "a-404",
        "no account with id 'a-404' (imported without this link)",
    )
    before = snapshot(world)
    if policy == "all_or_nothing":
        with pytest.raises(ImportFailed) as caught:
            import_mapping(world, tmp_path, mapping)
        world.rollback()
        assert caught.value.report.problems == [problem]
        assert caught.value.message.startswith("import refused: 1 problem(s) found, nothing was written;")
        assert snapshot(world) == before
        return
    report = import_mapping(world, tmp_path, mapping, ImportOptions(policy="quarantine"))
    assert report.problems == [problem]
    child = world.execute(
        select(Account.name, Account.parent_account_id).where(Account.external_id == "a-2")
    ).one()
    assert tuple(child) == ("Child", None)


def test_an_excel_serial_date_in_a_workbook_is_named(world: Session, tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(HEADER)
    sheet.append(GOOD_BEFORE)
    sheet.append(
        ["h-2", "Second deal", "rep-1", "acct-1", "Proposal", 2000, 45292]
    )  # a date cell saved as a number
    workbook.save(tmp_path / "deals.xlsx")
    before = snapshot(world)
    with pytest.raises(ImportFailed) as caught:
        import_mapping(world, tmp_path, _write_mapping(tmp_path, "deals.xlsx"))
    world.rollback()
    assert caught.value.report.problems == [
        RowProblem(
            "deals.xlsx",
            3,
            "close_date",
            "45292",
            "looks like an Excel serial date number; export dates as YYYY-MM-DD",
        )
    ]
    assert snapshot(world) == before


# --- whole files that cannot be read ----------------------------------------------------------


def _workbook(path: Path) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(HEADER)
    sheet.append(GOOD_BEFORE)
    workbook.save(path)
    return path


def _zip_bomb_named_xlsx(directory: Path) -> Path:
    path = directory / "deals.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"0" * (16 * 1024 * 1024))
    assert path.stat().st_size < 100_000
    return path


def _xlsx_bomb(directory: Path) -> Path:
    """A real workbook whose sheet XML is padded with megabytes of whitespace (still valid XML)."""
    source = _workbook(directory / "source.xlsx")
    path = directory / "deals.xlsx"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bomb:
        for info in original.infolist():
            data = original.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"</worksheet>", b" " * (8 * 1024 * 1024) + b"</worksheet>")
            bomb.writestr(info.filename, data, compresslevel=9)
    source.unlink()
    # It is a workbook a spreadsheet library would open and expand in full.
    workbook = load_workbook(path, read_only=True)
    sheet = workbook.worksheets[0]
    assert next(sheet.iter_rows(min_row=2, max_row=2, values_only=True))[0] == "h-1"
    workbook.close()
    return path


def _xlsx_declaring_huge_parts(directory: Path) -> Path:
    """A real workbook whose zip directory declares the sheet 600 MiB (at a modest ratio)."""
    path = _workbook(directory / "deals.xlsx")
    data = bytearray(path.read_bytes())
    offset = data.find(b"PK\x01\x02")
    patched = 0
    while offset != -1:
        name_length = struct.unpack_from("<H", data, offset + 28)[0]
        if bytes(data[offset + 46 : offset + 46 + name_length]) == b"xl/worksheets/sheet1.xml":
            struct.pack_into("<II", data, offset + 20, 4 * 1024 * 1024, 600 * 1024 * 1024)
            patched += 1
        offset = data.find(b"PK\x01\x02", offset + 4)
    assert patched == 1
    path.write_bytes(bytes(data))
    return path


def _empty(directory: Path) -> Path:
    path = directory / "deals.csv"
    path.write_bytes(b"")
    return path


def _garbage(directory: Path) -> Path:
    path = directory / "deals.csv"
    path.write_bytes(random.Random(3).randbytes(20_000))
    return path


def _header_only(directory: Path) -> Path:
    path = directory / "deals.csv"
    path.write_bytes(b"id,name,owner,account,stage,amount,close_date\r\n")
    return path


def _missing_column(directory: Path) -> Path:
    path = directory / "deals.csv"
    path.write_bytes(b"id,name,owner,account,stage,close_date\r\nh-1,A,rep-1,acct-1,Won,2026-01-01\r\n")
    return path


FILE_CASES = {
    "zip-bomb-named-xlsx": (_zip_bomb_named_xlsx, "part 'xl/worksheets/sheet1.xml' expands"),
    "xlsx-bomb": (_xlsx_bomb, "a zip bomb"),
    "xlsx-declared-too-large": (_xlsx_declaring_huge_parts, "would expand to 600 MiB (limit 512 MiB)"),
    "zero-bytes": (_empty, "the file is empty (0 bytes)"),
    "binary-garbage": (_garbage, "the file is binary, not CSV text"),
    "header-only": (_header_only, "the file has a header but no data rows"),
    "missing-column": (
        _missing_column,
        "the mapping's field 'amount' reads column 'amount', which the file lacks",
    ),
}


@pytest.mark.parametrize("policy", ["all_or_nothing", "quarantine"])
@pytest.mark.parametrize("case", list(FILE_CASES), ids=list(FILE_CASES))
def test_unreadable_files_are_refused_and_change_nothing(
    world: Session, tmp_path: Path, case: str, policy: str
) -> None:
    build, phrase = FILE_CASES[case]
    path = build(tmp_path)
    mapping = _write_mapping(tmp_path, path.name)
    before = snapshot(world)
    with pytest.raises(FileRejected) as caught:
        import_mapping(world, tmp_path, mapping, ImportOptions(policy=policy))  # type: ignore[arg-type]
    world.rollback()
    assert phrase in caught.value.message
    assert caught.value.context == {"field": "file", "value": path.name}
    assert snapshot(world) == before


# --- formulas on the way out ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "exported"),
    [
        ("=SUM(A1:A9)", "'=SUM(A1:A9)"),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(1)", "'@SUM(1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Acme = best", "Acme = best"),
        ("1-2", "1-2"),
        ("", ""),
        ("'quoted", "'quoted"),
    ],
)
def test_formula_injection_is_neutralised(cell: str, exported: str) -> None:
    assert neutralise_formula(cell) == exported
