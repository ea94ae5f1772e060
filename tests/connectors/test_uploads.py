"""Uploads kept between wizard steps, and column suggestions: no database needed."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest

from bridgehead.connectors.mapping import parse_mapping
from bridgehead.connectors.suggest import (
    ROW_NUMBER,
    choices_from_mapping,
    guess_entity,
    mapping_from_choices,
    mapping_to_toml,
    suggest_columns,
)
from bridgehead.connectors.uploads import (
    IncomingFile,
    UploadLimits,
    UploadRejected,
    create_upload,
    load_upload,
    preview_upload,
    sanitise_filename,
)
from bridgehead.errors import NotFound, ValidationFailed
from tests.connectors.support import SALVIRT_HEADER
from tests.connectors.web_support import zip_bytes


def _file(name: str, content: bytes) -> IncomingFile:
    return IncomingFile(name, io.BytesIO(content))


@pytest.mark.parametrize(
    ("claimed", "kept"),
    [
        ("../../etc/passwd.csv", "passwd.csv"),
        ("C:\\Users\\me\\Deals 2026.CSV", "Deals 2026.csv"),
        ("..", "upload"),
        ("deals;rm -rf.csv", "deals_rm -rf.csv"),
        ("\x00evil.csv", "evil.csv"),
        ("\uff44\uff45\uff41\uff4c\uff53.csv", "deals.csv"),  # full-width letters
    ],
)
def test_file_names_are_sanitised(claimed: str, kept: str) -> None:
    assert sanitise_filename(claimed) == kept


def test_an_upload_keeps_files_under_a_random_token_for_its_uploader(tmp_path: Path) -> None:
    upload = create_upload(
        tmp_path, actor_id=7, kind="csv", files=[_file("a/../deals.csv", b"Id;Name\r\n1;A\r\n")]
    )
    assert len(upload.token) == 32
    assert [stored.name for stored in upload.files] == ["deals.csv"]
    loaded = load_upload(tmp_path, upload.token, actor_id=7)
    assert loaded.files[0].original == "deals.csv"
    with pytest.raises(NotFound):
        load_upload(tmp_path, upload.token, actor_id=8)
    with pytest.raises(NotFound):
        load_upload(tmp_path, "../" + upload.token[3:], actor_id=7)
    preview = preview_upload(loaded)[0]
    assert (preview.encoding, preview.delimiter, preview.header) == ("utf-8", ";", ["Id", "Name"])
    assert preview.rows == [(2, ["1", "A"])]


def test_archives_are_flattened_and_other_files_skipped(tmp_path: Path) -> None:
    archive = zip_bytes(
        {
            "export/Account.csv": b"Id,Name\r\n1,A\r\n",
            "export/sub/Account.csv": b"Id,Name\r\n2,B\r\n",
            "export/notes.pdf": b"%PDF",
            "__MACOSX/export/._Account.csv": b"junk",
            "export/": b"",
        }
    )
    upload = create_upload(tmp_path, actor_id=1, kind="salesforce", files=[_file("x.zip", archive)])
    assert sorted(stored.name for stored in upload.files) == ["Account-2.csv", "Account.csv"]
    assert upload.skipped == ["export/notes.pdf"]
    assert not list(upload.folder.glob("*.zip")), "the archive itself is not kept"


def _symlink_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("link.csv")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (zip_bytes({"../x.csv": b"a"}), "path traversal"),
        (zip_bytes({"/abs/x.csv": b"a"}), "path traversal"),
        (zip_bytes({"C:/x.csv": b"a"}), "path traversal"),
        (_symlink_zip(), "symbolic link"),
        (zip_bytes({"big.csv": b"0" * (5 * 1024 * 1024)}), "zip bomb"),
        (zip_bytes({f"f{i}.csv": b"a" for i in range(12)}), "12 entries"),
        (b"PK\x03\x04 not really a zip", "not a valid zip archive"),
    ],
)
def test_hostile_archives_are_refused_leaving_nothing(tmp_path: Path, content: bytes, phrase: str) -> None:
    limits = UploadLimits(max_archive_entries=10)
    with pytest.raises(UploadRejected, match=phrase):
        create_upload(tmp_path, actor_id=1, kind="salesforce", files=[_file("x.zip", content)], limits=limits)
    assert list(tmp_path.iterdir()) == []
    assert not (tmp_path.parent / "x.csv").exists()


def test_an_archive_beyond_the_extracted_size_limit_is_refused(tmp_path: Path) -> None:
    limits = UploadLimits(max_extracted_bytes=1000)
    archive = zip_bytes({"a.csv": b"x" * 600, "b.csv": b"y" * 600})
    with pytest.raises(UploadRejected, match="expand"):
        create_upload(tmp_path, actor_id=1, kind="salesforce", files=[_file("x.zip", archive)], limits=limits)
    assert list(tmp_path.iterdir()) == []


def test_several_csv_files_need_a_mapping(tmp_path: Path) -> None:
    files = [_file("a.csv", b"Id\r\n1\r\n"), _file("b.csv", b"Id\r\n2\r\n")]
    with pytest.raises(UploadRejected, match="TOML mapping"):
        create_upload(tmp_path, actor_id=1, kind="csv", files=files)
    with pytest.raises(ValidationFailed, match="kind must be one of"):
        create_upload(tmp_path, actor_id=1, kind="oracle", files=files)


# --- suggestions -------------------------------------------------------------------------------


def test_suggestions_for_salvirt_columns() -> None:
    suggested = {
        field: column for field, (column, _) in suggest_columns(SALVIRT_HEADER, "opportunity").items()
    }
    assert suggested == {
        "product": "Product",
        "owner": "Seller",
        "stage": "Status",
        "type": "Deal_type",
        "lead_source": "Source",
        "primary_competitor": "Competitors",
        "account": "Client",
    }
    assert guess_entity(SALVIRT_HEADER) == "opportunity"


def test_suggestions_for_crm_exports() -> None:
    hubspot = [
        "Record ID",
        "Company name",
        "Industry",
        "Number of Employees",
        "Country/Region",
        "Company owner",
    ]
    assert guess_entity(hubspot) == "account"
    suggested = {field: column for field, (column, _) in suggest_columns(hubspot, "account").items()}
    assert suggested["id"] == "Record ID"
    assert suggested["name"] == "Company name"
    assert suggested["employees"] == "Number of Employees"
    assert suggested["country"] == "Country/Region"
    assert suggested["owner"] == "Company owner"
    salesforce = ["Id", "Name", "StageName", "Amount", "CloseDate", "OwnerId", "AccountId", "IsWon"]
    opportunity = {field: column for field, (column, _) in suggest_columns(salesforce, "opportunity").items()}
    assert opportunity["stage"] == "StageName"
    assert opportunity["close_date"] == "CloseDate"
    assert opportunity["account"] == "AccountId"
    assert opportunity["is_won"] == "IsWon"
    people = ["First Name", "Last Name", "Email", "Job Title"]
    assert guess_entity(people) == "contact"


def test_form_choices_become_a_mapping_toml_and_back() -> None:
    header = ["Deal", "Stage", "Value", "Closes"]
    data = mapping_from_choices(
        file_name="deals.csv",
        header=header,
        entity="opportunity",
        columns={
            "id": ROW_NUMBER,
            "name": "Deal",
            "stage": "Stage",
            "amount": "Value",
            "close_date": "Closes",
        },
        defaults={"stage": "Prospecting", "currency_code": "EUR"},
        date_format="%d/%m/%Y",
        decimal_comma=True,
    )
    fields = data["files"][0]["fields"]
    assert fields["id"] == {"template": "deals-{__line__}"}
    assert fields["stage"] == {"column": "Stage", "default": "Prospecting"}
    assert fields["currency_code"] == {"value": "EUR"}
    import tomllib

    text = mapping_to_toml(data)
    assert parse_mapping(tomllib.loads(text)).files[0].rules["amount"].column == "Value"
    back = choices_from_mapping(data)
    assert back is not None
    assert back.columns["id"] == ROW_NUMBER
    assert back.defaults == {"stage": "Prospecting", "currency_code": "EUR"}
    assert (back.date_format, back.decimal_comma, back.keep_other) == ("%d/%m/%Y", True, True)
    with pytest.raises(ValidationFailed, match="no such column"):
        mapping_from_choices(
            file_name="deals.csv", header=header, entity="opportunity", columns={"id": "Nope"}, defaults={}
        )
