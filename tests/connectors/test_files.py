"""Opening untrusted CSV and XLSX files: encodings, line endings, delimiters, widths, workbooks."""

from __future__ import annotations

import codecs
import datetime as dt
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook

from bridgehead.connectors.files import (
    FileRejected,
    RowProblem,
    detect_delimiter,
    detect_encoding,
    open_table,
)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _records(path: Path, **options: str) -> list[tuple[int, dict[str, str]]]:
    return list(open_table(path, **options).records())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("name,city,price\nMüller,Köln,€ 5\n".encode(), "utf-8"),
        (codecs.BOM_UTF8 + "name,city,price\nMüller,Köln,€ 5\n".encode(), "utf-8-sig"),
        ("name,city,price\nMüller,Köln,€ 5\n".encode("cp1252"), "cp1252"),
        (codecs.BOM_UTF16_LE + "name,city,price\nMüller,Köln,€ 5\n".encode("utf-16-le"), "utf-16"),
    ],
    ids=["utf-8", "utf-8-bom", "windows-1252", "utf-16"],
)
def test_encodings_are_detected(tmp_path: Path, data: bytes, encoding: str) -> None:
    table = open_table(_write(tmp_path / "people.csv", data))
    assert table.encoding == encoding
    assert table.header == ["name", "city", "price"]  # no byte-order mark glued to the first column
    assert list(table.records()) == [(2, {"name": "Müller", "city": "Köln", "price": "€ 5"})]


def test_windows_1252_bytes_that_are_not_utf8() -> None:
    assert detect_encoding("Müller".encode("cp1252")) == "cp1252"
    assert detect_encoding(b"\x80 5") == "cp1252"  # the euro sign
    # A sample cut inside a multi-byte character is still UTF-8, unless it is the whole file.
    assert detect_encoding("abc Ö".encode()[:-1]) == "utf-8"
    assert detect_encoding("abc Ö".encode()[:-1], final=True) == "cp1252"


def test_a_small_windows_1252_file_ending_in_a_euro_sign(tmp_path: Path) -> None:
    path = _write(tmp_path / "price.csv", "item;price\r\nLamp;5 €".encode("cp1252"))
    assert _records(path) == [(2, {"item": "Lamp", "price": "5 €"})]


def test_a_declared_utf8_encoding_still_drops_the_byte_order_mark(tmp_path: Path) -> None:
    path = _write(tmp_path / "bom.csv", codecs.BOM_UTF8 + b"id,name\n1,A\n")
    table = open_table(path, encoding="utf-8")
    assert table.header == ["id", "name"]


def test_a_declared_encoding_is_used(tmp_path: Path) -> None:
    path = _write(tmp_path / "latin.csv", "id;name\n1;Ø\n".encode("latin-1"))
    assert _records(path, encoding="latin-1") == [(2, {"id": "1", "name": "Ø"})]


def test_an_unknown_encoding_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", b"id\n1\n")
    with pytest.raises(FileRejected, match="unknown encoding 'utf-9'"):
        open_table(path, encoding="utf-9")


def _plain_rows(count: int) -> bytes:
    """A header and ``count`` rows of plain ASCII: more than the 64 KiB sample when ``count`` is 5,000."""
    return b"id,name\n" + b"".join(b"%d,plain ascii name\n" % n for n in range(1, count + 1))


def test_windows_1252_after_a_plain_ascii_sample_is_read_as_windows_1252(tmp_path: Path) -> None:
    path = _write(tmp_path / "late.csv", _plain_rows(4999) + "5000,Société Générale\n".encode("cp1252"))
    table = open_table(path)
    assert table.encoding == "cp1252"
    records = list(table.records())
    assert len(records) == 5000
    assert records[-1] == (5001, {"id": "5000", "name": "Société Générale"})


def test_utf8_after_a_plain_ascii_sample_is_read_as_utf8(tmp_path: Path) -> None:
    path = _write(tmp_path / "late.csv", _plain_rows(4999) + "5000,Société Générale\n".encode())
    table = open_table(path)
    assert table.encoding == "utf-8"
    assert list(table.records())[-1] == (5001, {"id": "5000", "name": "Société Générale"})


def test_a_file_ending_in_one_windows_1252_byte_after_the_sample(tmp_path: Path) -> None:
    path = _write(tmp_path / "late.csv", _plain_rows(4999) + "5000,Caf\u00e9".encode("cp1252"))
    assert open_table(path).encoding == "cp1252"


def test_invalid_bytes_after_utf8_text_are_refused_with_the_line(tmp_path: Path) -> None:
    # The first non-ASCII character is UTF-8, so the file is UTF-8; a later Windows-1252 byte is
    # a broken file, refused with its line rather than read as something else.
    head = b"id,name\n1,M\xc3\xbcller\n" + b"".join(b"%d,plain ascii name\n" % n for n in range(2, 5000))
    path = _write(tmp_path / "mixed.csv", head + "5000,Müller\n".encode("cp1252"))
    table = open_table(path)
    assert table.encoding == "utf-8"
    with pytest.raises(FileRejected) as caught:
        list(table.records())
    assert "not valid utf-8 text on line 5001" in caught.value.message
    assert caught.value.context["value"] == "mixed.csv"


def test_invalid_bytes_after_an_ascii_sample_and_utf8_text_are_refused_with_the_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "mixed.csv",
        _plain_rows(4999) + "5000,Société\n".encode() + "5001,Müller\n".encode("cp1252"),
    )
    table = open_table(path)
    assert table.encoding == "utf-8"
    with pytest.raises(FileRejected, match="not valid utf-8 text on line 5002"):
        list(table.records())


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("id,name,amount\n1,A,5\n2,B,6\n", ","),
        ("id;name;amount\n1;A;5,5\n2;B;6,5\n", ";"),
        ("id\tname\tamount\n1\tA, Inc.\t5\n", "\t"),
        ('id,name\n1,"Smith; Jones"\n2,"A;B;C"\n', ","),
        ("id\n1\n2\n", ","),
    ],
    ids=["comma", "semicolon", "tab", "quoted-semicolons", "one-column"],
)
def test_delimiters_are_detected(tmp_path: Path, text: str, delimiter: str) -> None:
    assert detect_delimiter(text) == delimiter
    table = open_table(_write(tmp_path / "t.csv", text.replace("\n", "\r\n").encode()))
    assert table.delimiter == delimiter
    assert all(len(cells) == len(table.header) for _, cells in table.rows())


def test_crlf_line_endings_and_quoted_line_breaks(tmp_path: Path) -> None:
    data = b'id,note,amount\r\n1,"two\r\nlines",5\r\n2,plain,6\r\n\r\n3,last,7'
    table = open_table(_write(tmp_path / "crlf.csv", data))
    records = list(table.records())
    assert records == [
        (3, {"id": "1", "note": "two\r\nlines", "amount": "5"}),  # the line the row ends on
        (4, {"id": "2", "note": "plain", "amount": "6"}),
        (6, {"id": "3", "note": "last", "amount": "7"}),
    ]
    assert table.problems == []


def test_rows_of_the_wrong_width_are_reported_not_yielded(tmp_path: Path) -> None:
    # Rows of bare delimiters (as spreadsheets leave below the data) are blank, whatever their width.
    path = _write(tmp_path / "wide.csv", b"id,name\n1,A\n2,B,extra\n3\n,\n4,D\n,,,\n,\n")
    table = open_table(path)
    assert [line for line, _ in table.records()] == [2, 6]
    assert table.problems == [
        RowProblem(
            "wide.csv",
            3,
            None,
            "2,B,extra",
            "row has 3 cells but the header has 2",
            cells={"id": "2", "name": "B", "(extra cell 1)": "extra"},
        ),
        RowProblem("wide.csv", 4, None, "3", "row has 1 cells but the header has 2", cells={"id": "3"}),
    ]


def test_headers_are_trimmed_and_must_be_unique(tmp_path: Path) -> None:
    table = open_table(_write(tmp_path / "ok.csv", b" id , name \n1,A\n"))
    assert table.header == ["id", "name"]
    with pytest.raises(FileRejected, match="names column 'id' twice"):
        open_table(_write(tmp_path / "dup.csv", b"id,name,id\n1,A,2\n"))
    with pytest.raises(FileRejected, match="header row is empty"):
        open_table(_write(tmp_path / "blank.csv", b",,\n1,2,3\n"))


@pytest.mark.parametrize(
    ("name", "data", "phrase"),
    [
        ("empty.csv", b"", "empty (0 bytes)"),
        ("garbage.csv", bytes(range(256)) * 40, "binary"),
        ("fake.xlsx", b"id,name\n1,A\n", "named .xlsx but is not an XLSX workbook"),
        ("newline.csv", b"\n", "header"),
    ],
)
def test_unreadable_files_are_refused(tmp_path: Path, name: str, data: bytes, phrase: str) -> None:
    with pytest.raises(FileRejected) as caught:
        open_table(_write(tmp_path / name, data))
    assert phrase in caught.value.message
    assert caught.value.context == {"field": "file", "value": name}


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileRejected, match="cannot read the file"):
        open_table(tmp_path / "nope.csv")


def test_xlsx_cells_become_text(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Id", "Close Date", "Created", "Amount", "Ratio", "Note", None, None])
    sheet.append([101, dt.date(2026, 3, 4), dt.datetime(2026, 3, 4, 10, 11), 12500.0, 0.25, None])
    sheet.append([102, dt.datetime(2026, 3, 5), None, 7, None, "=1+1", None, ""])
    sheet.append([None, None, None])  # formatted but empty rows below the data
    sheet.append([None, "", None, None, None, None, None, None, None])
    workbook.save(tmp_path / "deals.xlsx")
    table = open_table(tmp_path / "deals.xlsx")
    assert table.encoding == "xlsx"
    assert table.header == ["Id", "Close Date", "Created", "Amount", "Ratio", "Note"]
    assert list(table.records()) == [
        (
            2,
            {
                "Id": "101",
                "Close Date": "2026-03-04",
                "Created": "2026-03-04T10:11:00",
                "Amount": "12500",
                "Ratio": "0.25",
                "Note": "",
            },
        ),
        # A formula is never evaluated: only a value the workbook cached is read (here none).
        (3, {"Id": "102", "Close Date": "2026-03-05", "Created": "", "Amount": "7", "Ratio": "", "Note": ""}),
    ]


def test_a_zip_that_is_not_a_workbook_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(FileRejected, match="cannot open the workbook"):
        open_table(path)
