"""The import wizard and the list exports, through the pages."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from bridgehead.connectors.models import ImportRun
from bridgehead.connectors.uploads import UploadLimits
from bridgehead.crm.models import Opportunity
from tests.connectors.support import MAPPINGS, SALVIRT_FILE, snapshot
from tests.connectors.web_support import (
    DEALS_CSV,
    DEALS_MAPPING,
    GOOD_DEALS_CSV,
    SUGGESTED,
    World,
    bomb_zip,
    leftover_uploads,
    make_world,
    opportunity_count,
    run_count,
    traversal_zip,
    use_upload_root,
)
from tests.factories import make_account, make_opportunity, make_user
from tests.helpers import CSRF_TOKEN, sign_in

TOKEN_IN_URL = re.compile(r"/data/imports/upload/([A-Za-z0-9_-]{32})")


@pytest.fixture
def world(db_session: Session) -> World:
    return make_world(db_session)


@pytest.fixture
def upload_root(app: FastAPI, tmp_path: Path) -> Path:
    return use_upload_root(app, tmp_path)


def _upload(
    client: TestClient, kind: str, files: list[tuple[str, bytes]], mapping: bytes | None = None
) -> TestClient | object:
    parts = [("files", (name, content, "application/octet-stream")) for name, content in files]
    if mapping is not None:
        parts.append(("mapping", ("mapping.toml", mapping, "application/toml")))
    return client.post(
        "/data/imports/new",
        data={"kind": kind, "csrf_token": CSRF_TOKEN},
        files=parts,
        follow_redirects=False,
    )


def _token(response: object) -> str:
    location = response.headers["location"]  # type: ignore[attr-defined]
    match = TOKEN_IN_URL.search(location)
    assert match, location
    return match.group(1)


def _mapping_form(choices: dict[str, str], **extra: str) -> dict[str, str]:
    form = {"csrf_token": CSRF_TOKEN, "entity": "opportunity"}
    form.update({f"col:{name}": column for name, column in choices.items()})
    form.update(extra)
    return form


# --- who may import ----------------------------------------------------------------------------


def test_a_rep_may_not_open_the_import_pages_nor_upload(
    client: TestClient, db_session: Session, world: World, upload_root: Path
) -> None:
    sign_in(client, db_session, world.rep)
    home = client.get("/")
    assert 'href="/data/imports"' not in home.text
    for path in ("/data/imports", "/data/imports/new", "/data/exports"):
        assert client.get(path).status_code == 403, path
    response = _upload(client, "csv", [("deals.csv", GOOD_DEALS_CSV)])
    assert response.status_code == 403  # type: ignore[attr-defined]
    assert leftover_uploads(upload_root) == []
    assert run_count(db_session) == 0


def test_a_planner_sees_the_data_area(client: TestClient, db_session: Session, world: World) -> None:
    sign_in(client, db_session, world.planner)
    home = client.get("/")
    assert 'href="/data/imports"' in home.text
    assert 'href="/data/exports"' in home.text
    page = client.get("/data/imports")
    assert page.status_code == 200
    assert "<title>Imports" in page.text
    assert 'data-testid="empty-state"' in page.text
    new = client.get("/data/imports/new")
    assert new.status_code == 200
    assert 'enctype="multipart/form-data"' in new.text
    assert '<label for="files">Files</label>' in new.text


# --- the wizard --------------------------------------------------------------------------------


def test_planner_walks_the_wizard_with_a_csv_and_column_mapping(
    client: TestClient, db_session: Session, world: World, upload_root: Path
) -> None:
    sign_in(client, db_session, world.planner)
    before = opportunity_count(db_session)

    uploaded = _upload(client, "csv", [("../../etc/deals.csv", DEALS_CSV)])
    assert uploaded.status_code == 303  # type: ignore[attr-defined]
    token = _token(uploaded)
    # The file is kept under a sanitised name, in a folder named by the random token.
    assert sorted(path.name for path in (upload_root / token / "files").iterdir()) == ["deals.csv"]

    preview = client.get(f"/data/imports/upload/{token}")
    assert preview.status_code == 200
    assert "Globex renewal" in preview.text
    assert "semicolon-delimited" in preview.text
    assert 'data-testid="encoding">UTF-8<' in preview.text
    assert f'href="/data/imports/upload/{token}/mapping"' in preview.text

    mapping = client.get(f"/data/imports/upload/{token}/mapping")
    assert mapping.status_code == 200
    assert '<option value="opportunity" selected>' in mapping.text
    for field, column in SUGGESTED.items():
        assert re.search(
            rf'name="col:{field}"[^>]*>.*?<option value="{re.escape(column)}" selected>', mapping.text, re.S
        ), field
        assert f'data-testid="suggested-{field}">Suggested: {column}<' in mapping.text
    assert "e.g. Globex renewal" in mapping.text  # sample values beside the columns

    saved = client.post(
        f"/data/imports/upload/{token}/mapping", data=_mapping_form(SUGGESTED), follow_redirects=False
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/data/imports/upload/{token}/report"

    report = client.get(f"/data/imports/upload/{token}/report")
    assert report.status_code == 200
    assert 'data-testid="total-created">2<' in report.text
    assert 'data-testid="total-rejected">1<' in report.text
    rejected = report.text.split('data-testid="rejected-table"')[1]
    for text in ("deals.csv", ">4<", "<code>amount</code>", ">abc<", "not a number"):
        assert text in rejected, text
    # The validation ran in a savepoint that was rolled back.
    assert opportunity_count(db_session) == before
    assert run_count(db_session) == 0

    toml = client.get(f"/data/imports/upload/{token}/mapping.toml")
    assert toml.status_code == 200
    assert 'stage = "Deal Stage"' in toml.text

    refused = client.post(f"/data/imports/upload/{token}/confirm", data={"csrf_token": CSRF_TOKEN})
    assert refused.status_code == 422
    assert 'data-testid="refused"' in refused.text
    assert opportunity_count(db_session) == before
    failed = db_session.scalars(select(ImportRun)).one()
    assert (failed.status, failed.rejected_rows) == ("failed", 1)

    confirmed = client.post(
        f"/data/imports/upload/{token}/confirm",
        data={"csrf_token": CSRF_TOKEN, "quarantine": "true"},
        follow_redirects=False,
    )
    assert confirmed.status_code == 303
    location = re.match(r"/data/imports/(\d+)", confirmed.headers["location"])
    assert location is not None
    run_id = int(location.group(1))
    assert not (upload_root / token).exists(), "the upload is removed once imported"
    stored = {
        o.external_id: o
        for o in db_session.scalars(select(Opportunity).where(Opportunity.external_id.like("D-%")))
    }
    assert sorted(stored) == ["D-1", "D-2"]
    assert stored["D-1"].amount == Decimal("12000.00")
    assert stored["D-1"].account_id == world.account.id
    assert stored["D-1"].owner_id == world.rep.id
    assert stored["D-1"].close_date == dt.date(2026, 3, 31)
    run = db_session.get(ImportRun, run_id)
    assert run is not None
    assert (run.status, run.policy, run.actor_id) == ("committed", "quarantine", world.planner.id)
    assert run.location == "upload: deals.csv"

    page = client.get(f"/data/imports/{run_id}")
    assert page.status_code == 200
    assert "Quarantined rows" in page.text
    assert ">abc<" in page.text
    errors = client.get(f"/data/imports/{run_id}/errors.csv")
    assert errors.status_code == 200
    assert errors.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(errors.content.decode("utf-8-sig"))))
    assert rows[0] == ["file", "line", "field", "value", "reason"]
    assert rows[1][:4] == ["deals.csv", "4", "amount", "abc"]

    listing = client.get("/data/imports")
    assert f'href="/data/imports/{run_id}"' in listing.text
    assert f'href="/data/imports/{failed.id}"' in listing.text
    assert "refused" in listing.text


def test_the_upload_is_gone_after_cancel_and_belongs_to_its_uploader(
    client: TestClient, db_session: Session, world: World, upload_root: Path
) -> None:
    sign_in(client, db_session, world.planner)
    token = _token(_upload(client, "csv", [("deals.csv", GOOD_DEALS_CSV)]))
    other = make_user(db_session, role="admin", full_name="Ada Admin")
    sign_in(client, db_session, other)
    assert client.get(f"/data/imports/upload/{token}").status_code == 404
    assert client.get("/data/imports/upload/not-a-token").status_code == 404
    sign_in(client, db_session, world.planner)
    cancelled = client.post(
        f"/data/imports/upload/{token}/cancel", data={"csrf_token": CSRF_TOKEN}, follow_redirects=False
    )
    assert cancelled.status_code == 303
    assert not (upload_root / token).exists()
    assert client.get(f"/data/imports/upload/{token}").status_code == 404


def test_an_upload_older_than_an_hour_has_expired(
    client: TestClient, db_session: Session, world: World, upload_root: Path
) -> None:
    sign_in(client, db_session, world.planner)
    token = _token(_upload(client, "csv", [("deals.csv", GOOD_DEALS_CSV)]))
    meta_path = upload_root / token / "upload.json"
    meta = json.loads(meta_path.read_text())
    meta["created_at"] = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).isoformat()
    meta_path.write_text(json.dumps(meta))
    response = client.get(f"/data/imports/upload/{token}")
    assert response.status_code == 404
    assert "expired" in response.text
    assert not (upload_root / token).exists()


def test_the_mapping_form_names_a_missing_required_field(
    client: TestClient, db_session: Session, world: World, upload_root: Path
) -> None:
    sign_in(client, db_session, world.planner)
    token = _token(_upload(client, "csv", [("deals.csv", GOOD_DEALS_CSV)]))
    choices = dict(SUGGESTED, stage="")
    response = client.post(f"/data/imports/upload/{token}/mapping", data=_mapping_form(choices))
    assert response.status_code == 422
    assert "Stage is required: choose a column" in response.text
    # A fixed value instead of a column is accepted.
    fixed = client.post(
        f"/data/imports/upload/{token}/mapping",
        data=_mapping_form(choices, **{"default:stage": "Prospecting"}),
        follow_redirects=False,
    )
    assert fixed.status_code == 303


def test_a_toml_mapping_can_replace_the_form(
    client: TestClient, db_session: Session, world: World, upload_root: Path
) -> None:
    sign_in(client, db_session, world.planner)
    token = _token(_upload(client, "csv", [("deals.csv", GOOD_DEALS_CSV)], mapping=DEALS_MAPPING))
    preview = client.get(f"/data/imports/upload/{token}")
    assert f'href="/data/imports/upload/{token}/report"' in preview.text  # no mapping step
    report = client.get(f"/data/imports/upload/{token}/report")
    assert 'data-testid="total-created">2<' in report.text
    assert "Every row passed validation" in report.text
    done = client.post(
        f"/data/imports/upload/{token}/confirm", data={"csrf_token": CSRF_TOKEN}, follow_redirects=False
    )
    assert done.status_code == 303
    assert opportunity_count(db_session) == 2


def test_the_mapping_step_can_switch_entity_use_row_numbers_or_take_a_toml_file(
    client: TestClient, db_session: Session, world: World, upload_root: Path
) -> None:
    sign_in(client, db_session, world.planner)
    token = _token(_upload(client, "csv", [("deals.csv", GOOD_DEALS_CSV)]))
    as_accounts = client.get(f"/data/imports/upload/{token}/mapping?entity=account")
    assert '<option value="account" selected>' in as_accounts.text
    assert 'name="col:industry"' in as_accounts.text
    assert 'name="col:stage"' not in as_accounts.text
    by_row = client.post(
        f"/data/imports/upload/{token}/mapping",
        data=_mapping_form(dict(SUGGESTED, id="__row_number__")),
        follow_redirects=False,
    )
    assert by_row.status_code == 303
    toml = client.get(f"/data/imports/upload/{token}/mapping.toml").text
    assert 'id = { template = "deals-{__line__}" }' in toml
    # Going back to the mapping shows the choices made.
    again = client.get(f"/data/imports/upload/{token}/mapping")
    assert '<option value="__row_number__" selected>' in again.text
    assert '<option value="Deal Stage" selected>' in again.text
    forged = client.post(
        f"/data/imports/upload/{token}/mapping-file",
        data={"csrf_token": "forged"},
        files=[("mapping", ("deals.toml", DEALS_MAPPING, "application/toml"))],
    )
    assert forged.status_code == 403
    used = client.post(
        f"/data/imports/upload/{token}/mapping-file",
        data={"csrf_token": CSRF_TOKEN},
        files=[("mapping", ("deals.toml", DEALS_MAPPING, "application/toml"))],
        follow_redirects=False,
    )
    assert used.status_code == 303
    report = client.get(f"/data/imports/upload/{token}/report")
    assert 'data-testid="total-created">2<' in report.text
    toml = client.get(f"/data/imports/upload/{token}/mapping.toml").text
    assert 'id = "Deal ID"' in toml


def test_a_bad_toml_mapping_is_refused_with_its_reason(
    client: TestClient, db_session: Session, world: World, upload_root: Path
) -> None:
    sign_in(client, db_session, world.planner)
    response = _upload(client, "csv", [("deals.csv", GOOD_DEALS_CSV)], mapping=b"[[files]\nnot toml")
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert "not valid TOML" in response.text  # type: ignore[attr-defined]
    assert leftover_uploads(upload_root) == []


@pytest.mark.skipif(
    not (MAPPINGS / "salvirt-b2b.toml").exists() or not SALVIRT_FILE.exists(),
    reason="the Salvirt mapping or data is not there yet",
)
def test_salvirt_imports_through_the_wizard_with_its_mapping(
    client: TestClient, db_session: Session, world: World, upload_root: Path
) -> None:
    sign_in(client, db_session, world.planner)
    token = _token(
        _upload(
            client,
            "csv",
            [(SALVIRT_FILE.name, SALVIRT_FILE.read_bytes())],
            mapping=(MAPPINGS / "salvirt-b2b.toml").read_bytes(),
        )
    )
    report = client.get(f"/data/imports/upload/{token}/report")
    assert report.status_code == 200, report.text
    assert 'data-testid="total-rejected">0<' in report.text
    done = client.post(
        f"/data/imports/upload/{token}/confirm", data={"csrf_token": CSRF_TOKEN}, follow_redirects=False
    )
    assert done.status_code == 303
    deals = db_session.scalars(select(Opportunity).where(Opportunity.external_id.like("salvirt:%"))).all()
    assert len(deals) == 448
    assert sum(deal.is_won for deal in deals) == 227


# --- hostile uploads ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("archive", "phrase"),
    [(traversal_zip, "path traversal"), (bomb_zip, "zip bomb")],
    ids=["path-traversal", "zip-bomb"],
)
def test_a_hostile_zip_is_refused_and_nothing_is_kept(
    client: TestClient, db_session: Session, world: World, upload_root: Path, archive: object, phrase: str
) -> None:
    sign_in(client, db_session, world.planner)
    before = snapshot(db_session)
    response = _upload(client, "salesforce", [("export.zip", archive())])  # type: ignore[operator]
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert phrase in response.text  # type: ignore[attr-defined]
    assert 'data-testid="upload-error"' in response.text  # type: ignore[attr-defined]
    assert leftover_uploads(upload_root) == []
    assert not (upload_root.parent / "x.csv").exists()
    assert snapshot(db_session) == before


def test_an_upload_over_the_limit_is_refused(
    client: TestClient, app: FastAPI, db_session: Session, world: World, upload_root: Path
) -> None:
    app.state.upload_limits = UploadLimits(max_upload_bytes=1024)
    sign_in(client, db_session, world.planner)
    response = _upload(client, "csv", [("deals.csv", b"Id\r\n" + b"1\r\n" * 200_000)])
    assert response.status_code == 413  # type: ignore[attr-defined]
    assert "larger than" in response.text  # type: ignore[attr-defined]
    assert leftover_uploads(upload_root) == []


def test_a_file_of_the_wrong_type_is_refused(
    client: TestClient, db_session: Session, world: World, upload_root: Path
) -> None:
    sign_in(client, db_session, world.planner)
    response = _upload(client, "csv", [("payload.exe", b"MZ\x90\x00")])
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert "Only CSV, XLSX or ZIP files" in response.text  # type: ignore[attr-defined]


def test_an_unreadable_file_shows_its_reason_in_the_preview_and_the_report(
    client: TestClient, db_session: Session, world: World, upload_root: Path
) -> None:
    sign_in(client, db_session, world.planner)
    token = _token(_upload(client, "csv", [("empty.csv", b"")], mapping=DEALS_MAPPING))
    preview = client.get(f"/data/imports/upload/{token}")
    assert "The file is empty (0 bytes)" in preview.text
    report = client.get(f"/data/imports/upload/{token}/report")
    assert report.status_code == 422
    assert 'data-testid="report-error"' in report.text
    assert 'data-testid="confirm-form"' not in report.text


def test_the_upload_form_needs_the_csrf_token(
    client: TestClient, db_session: Session, world: World, upload_root: Path
) -> None:
    sign_in(client, db_session, world.planner)
    response = client.post(
        "/data/imports/new",
        data={"kind": "csv", "csrf_token": "forged"},
        files=[("files", ("deals.csv", GOOD_DEALS_CSV, "text/csv"))],
    )
    assert response.status_code == 403
    assert leftover_uploads(upload_root) == []


# --- exports -----------------------------------------------------------------------------------


@pytest.fixture
def book(db_session: Session, world: World) -> dict[str, Opportunity]:
    colleague = make_user(db_session, full_name="Carl Colleague")
    theirs = make_account(db_session, name="Initech", owner_id=colleague.id)
    return {
        "formula": make_opportunity(
            db_session,
            owner_id=world.rep.id,
            account_id=world.account.id,
            name='=HYPERLINK("x")',
            stage="Proposal",
        ),
        "pilot": make_opportunity(
            db_session,
            owner_id=world.rep.id,
            account_id=world.account.id,
            name="Globex pilot",
            stage="Discovery",
        ),
        "hidden": make_opportunity(
            db_session, owner_id=colleague.id, account_id=theirs.id, name="Initech renewal"
        ),
    }


def _csv_rows(content: bytes) -> list[dict[str, str]]:
    assert content.startswith(b"\xef\xbb\xbf"), "Excel needs the BOM to read UTF-8"
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def test_a_reps_csv_export_holds_only_their_deals_with_the_filters(
    client: TestClient, db_session: Session, world: World, book: dict[str, Opportunity]
) -> None:
    sign_in(client, db_session, world.rep)
    response = client.get("/opportunities/export.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'attachment; filename="opportunities-' in response.headers["content-disposition"]
    rows = _csv_rows(response.content)
    assert sorted(row["Opportunity"] for row in rows) == ['\'=HYPERLINK("x")', "Globex pilot"]
    assert all(row["Owner"] == "Rita Rep" for row in rows)
    filtered = _csv_rows(client.get("/opportunities/export.csv?stage=Discovery&page=3&page_size=1").content)
    assert [row["Opportunity"] for row in filtered] == ["Globex pilot"]
    assert filtered[0]["Amount"] == "10000.00"
    assert filtered[0]["Status"] == "open"


def test_the_xlsx_export_matches_and_neutralises_formulas(
    client: TestClient, db_session: Session, world: World, book: dict[str, Opportunity]
) -> None:
    sign_in(client, db_session, world.rep)
    response = client.get("/opportunities/export.xlsx?sort=name")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    names = [row[header.index("Opportunity")] for row in rows[1:]]
    assert names == ['\'=HYPERLINK("x")', "Globex pilot"]
    assert rows[1][header.index("Amount")] == 10000
    assert isinstance(rows[1][header.index("Close date")], dt.datetime)


def test_account_exports_follow_visibility(
    client: TestClient, db_session: Session, world: World, book: dict[str, Opportunity]
) -> None:
    sign_in(client, db_session, world.rep)
    rows = _csv_rows(client.get("/accounts/export.csv").content)
    assert [row["Account"] for row in rows] == ["Globex"]
    sign_in(client, db_session, world.planner)
    everyone = _csv_rows(client.get("/accounts/export.csv?sort=-name").content)
    assert [row["Account"] for row in everyone] == ["Initech", "Globex"]
    xlsx = client.get("/accounts/export.xlsx")
    assert xlsx.status_code == 200
    assert client.get("/accounts/export.pdf").status_code == 422


def test_the_list_pages_link_to_downloads_with_their_filters(
    client: TestClient, db_session: Session, world: World, book: dict[str, Opportunity]
) -> None:
    sign_in(client, db_session, world.rep)
    page = client.get("/opportunities?stage=Discovery&page=1&page_size=25")
    assert 'href="/opportunities/export.csv?stage=Discovery"' in page.text
    assert 'href="/opportunities/export.xlsx?stage=Discovery"' in page.text
    fragment = client.get("/opportunities?status=open", headers={"HX-Request": "true"})
    assert 'href="/opportunities/export.csv?status=open"' in fragment.text
    accounts = client.get("/accounts")
    assert 'href="/accounts/export.csv"' in accounts.text
    assert "Download XLSX" in accounts.text


def test_account_owners_download_for_data_loader(
    client: TestClient, db_session: Session, world: World, book: dict[str, Opportunity]
) -> None:
    sign_in(client, db_session, world.planner)
    page = client.get("/data/exports")
    assert page.status_code == 200
    assert "<code>ForecastingQuota</code>" in page.text
    assert 'action="/data/exports/quotas.csv"' in page.text
    response = client.get("/data/exports/account-owners.csv")
    assert response.status_code == 200
    lines = response.content.decode("utf-8").splitlines()
    assert lines[0] == "Id,OwnerId"
    assert "ACC-GLOBEX,U-RITA" in lines
    later = client.get(f"/data/exports/account-owners.csv?since={dt.date.today() + dt.timedelta(days=1)}")
    assert later.content.decode().splitlines() == ["Id,OwnerId"]
    assert client.get("/data/exports/account-owners.csv?since=not-a-date").status_code == 422
