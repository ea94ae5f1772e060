"""The imports and exports API: multipart uploads, reports as JSON, past runs, list files."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from openpyxl import load_workbook
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bridgehead.audit.service import record_change
from bridgehead.auth.models import User
from bridgehead.connectors.uploads import UploadLimits
from bridgehead.crm.models import Account, Opportunity
from tests.connectors.support import snapshot
from tests.connectors.web_support import (
    DEALS_CSV,
    DEALS_MAPPING,
    GOOD_DEALS_CSV,
    World,
    bomb_zip,
    leftover_uploads,
    make_world,
    opportunity_count,
    traversal_zip,
    use_upload_root,
    zip_bytes,
)
from tests.factories import make_account, make_opportunity, make_token, make_user
from tests.helpers import CSRF_TOKEN, bearer, sign_in


@pytest.fixture
def world(db_session: Session) -> World:
    return make_world(db_session)


@pytest.fixture
def upload_root(app: FastAPI, tmp_path: Path) -> Path:
    return use_upload_root(app, tmp_path)


def _headers(db_session: Session, user: User) -> dict[str, str]:
    headers = bearer(make_token(db_session, user).secret)
    db_session.commit()
    return headers


def _post_import(
    client: TestClient,
    headers: dict[str, str],
    *,
    kind: str = "csv",
    files: list[tuple[str, bytes]] | None = None,
    mapping: bytes | None = DEALS_MAPPING,
    **flags: str,
) -> Response:
    parts: list[tuple[str, Any]] = [
        ("files", (name, content, "text/csv")) for name, content in (files or [("deals.csv", DEALS_CSV)])
    ]
    if mapping is not None:
        parts.append(("mapping", ("deals.toml", mapping, "application/toml")))
    return client.post("/api/v1/imports", headers=headers, data={"kind": kind, **flags}, files=parts)


def test_only_planners_and_admins_may_import(
    client: TestClient, db_session: Session, world: World, upload_root: Path
) -> None:
    headers = _headers(db_session, world.rep)
    response = _post_import(client, headers, files=[("deals.csv", GOOD_DEALS_CSV)])
    assert response.status_code == 403
    assert response.json()["detail"]["message"].startswith("this needs one of the roles")
    assert client.get("/api/v1/imports", headers=headers).status_code == 403
    assert client.get("/api/v1/imports/1", headers=headers).status_code == 403
    assert opportunity_count(db_session) == 0
    assert leftover_uploads(upload_root) == []


def test_a_dry_run_reports_and_changes_nothing(
    client: TestClient, db_session: Session, world: World, upload_root: Path
) -> None:
    headers = _headers(db_session, world.planner)
    before = snapshot(db_session)
    response = _post_import(client, headers, files=[("deals.csv", GOOD_DEALS_CSV)], dry_run="true")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["status"] == "dry_run"
    assert report["dry_run"] is True
    assert report["run_id"] is None
    assert report["counts"]["opportunity"] == {"created": 2, "updated": 0, "unchanged": 0, "rejected": 0}
    assert snapshot(db_session) == before
    assert leftover_uploads(upload_root) == []


def test_a_commit_returns_201_and_the_run_can_be_read_back(
    client: TestClient, db_session: Session, world: World, upload_root: Path
) -> None:
    headers = _headers(db_session, world.planner)
    response = _post_import(client, headers, files=[("deals.csv", GOOD_DEALS_CSV)])
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["status"] == "committed"
    run_id = report["run_id"]
    assert isinstance(run_id, int)
    names = set(
        db_session.scalars(select(Opportunity.name).where(Opportunity.external_id.in_(["D-1", "D-2"])))
    )
    assert names == {"Globex renewal", "Globex pilot"}

    again = _post_import(client, headers, files=[("deals.csv", GOOD_DEALS_CSV)])
    assert again.status_code == 201
    assert again.json()["counts"]["opportunity"] == {
        "created": 0,
        "updated": 0,
        "unchanged": 2,
        "rejected": 0,
    }

    runs = client.get("/api/v1/imports", headers=headers).json()
    assert runs["total"] == 2
    assert [item["id"] for item in runs["items"]] == [again.json()["run_id"], run_id]
    assert runs["items"][1]["actor_name"] == "Pia Planner"
    assert runs["items"][1]["location"] == "upload: deals.csv"
    detail = client.get(f"/api/v1/imports/{run_id}", headers=headers).json()
    assert detail["status"] == "committed"
    assert detail["counts"]["opportunity"]["created"] == 2
    assert detail["rejected"] == []
    assert client.get("/api/v1/imports/999999", headers=headers).status_code == 404


def test_all_or_nothing_refusal_is_422_with_the_rejected_rows(
    client: TestClient, db_session: Session, world: World, upload_root: Path
) -> None:
    headers = _headers(db_session, world.planner)
    crm_before = {
        key: value
        for key, value in snapshot(db_session).items()
        if "import" not in key and "audit" not in key
    }
    response = _post_import(client, headers)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "nothing was written" in detail["message"]
    report = detail["report"]
    assert report["status"] == "failed"
    assert report["rejected_rows"] == 1
    assert report["problems"] == [
        {"file": "deals.csv", "line": 4, "field": "amount", "value": "abc", "reason": "not a number"}
    ]
    after = {
        key: value
        for key, value in snapshot(db_session).items()
        if "import" not in key and "audit" not in key
    }
    assert after == crm_before
    # The refusal is kept in the run history with the row it refused.
    run = client.get(f"/api/v1/imports/{report['run_id']}", headers=headers).json()
    assert run["status"] == "failed"
    assert run["rejected"][0]["value"] == "abc"


def test_quarantine_imports_the_good_rows_and_keeps_the_bad(
    client: TestClient, db_session: Session, world: World, upload_root: Path
) -> None:
    headers = _headers(db_session, world.planner)
    response = _post_import(client, headers, quarantine="true")
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["policy"] == "quarantine"
    assert report["counts"]["opportunity"]["created"] == 2
    assert report["counts"]["opportunity"]["rejected"] == 1
    assert opportunity_count(db_session) == 2
    errors = client.get(f"/api/v1/imports/{report['run_id']}/errors.csv", headers=headers)
    assert errors.status_code == 200
    rows = list(csv.reader(io.StringIO(errors.content.decode("utf-8-sig"))))
    assert rows == [
        ["file", "line", "field", "value", "reason"],
        ["deals.csv", "4", "amount", "abc", "not a number"],
    ]


def test_a_salesforce_export_zip_imports_from_its_folder(
    client: TestClient, db_session: Session, world: World, upload_root: Path
) -> None:
    headers = _headers(db_session, world.planner)
    archive = zip_bytes(
        {
            "WE_00D000000000001_1/User.csv": b"Id,Name,Email\r\n005000000000001,Sam Seller,sam@example.com\r\n",
            "WE_00D000000000001_1/Account.csv": (
                b"Id,Name,OwnerId,Industry\r\n001000000000001,Acme,005000000000001,Energy\r\n"
            ),
            "WE_00D000000000001_1/Attachments/readme.pdf": b"%PDF-1.4",
        }
    )
    response = _post_import(client, headers, kind="salesforce", files=[("export.zip", archive)], mapping=None)
    assert response.status_code == 201, response.text
    counts = response.json()["counts"]
    assert counts["user"]["created"] == 1
    assert counts["account"]["created"] == 1
    account = db_session.scalars(select(Account).where(Account.name == "Acme")).one()
    assert account.owner is not None
    assert account.owner.full_name == "Sam Seller"
    assert leftover_uploads(upload_root) == []


def test_hubspot_files_import_without_a_zip(
    client: TestClient, db_session: Session, world: World, upload_root: Path
) -> None:
    headers = _headers(db_session, world.planner)
    companies = b"Record ID,Company name,Industry\r\n101,Umbrella,Biotech\r\n"
    response = _post_import(
        client,
        headers,
        kind="hubspot",
        files=[("hubspot-crm-exports-all-companies-2026-03-04.csv", companies)],
        mapping=None,
        dry_run="1",
    )
    assert response.status_code == 200, response.text
    assert response.json()["counts"]["account"]["created"] == 1
    assert db_session.scalars(select(Account).where(Account.name == "Umbrella")).first() is None


def test_errors_name_the_upload_never_the_server_folder(
    client: TestClient, db_session: Session, world: World, upload_root: Path
) -> None:
    headers = _headers(db_session, world.planner)
    response = _post_import(
        client, headers, kind="salesforce", files=[("notes.csv", b"a,b\r\n1,2\r\n")], mapping=None
    )
    assert response.status_code == 422
    assert "none of the Salesforce export files" in response.json()["detail"]["message"]
    assert str(upload_root) not in response.text


@pytest.mark.parametrize(
    ("archive", "phrase"),
    [(traversal_zip, "path traversal"), (bomb_zip, "zip bomb")],
    ids=["path-traversal", "zip-bomb"],
)
def test_a_hostile_zip_is_refused_with_a_clear_message(
    client: TestClient, db_session: Session, world: World, upload_root: Path, archive: Any, phrase: str
) -> None:
    headers = _headers(db_session, world.planner)
    before = snapshot(db_session)
    response = _post_import(
        client, headers, kind="salesforce", files=[("export.zip", archive())], mapping=None
    )
    assert response.status_code == 422
    assert phrase in response.json()["detail"]["message"]
    assert snapshot(db_session) == before
    assert leftover_uploads(upload_root) == []


def test_bad_requests_get_clear_4xx_answers(
    client: TestClient, db_session: Session, world: World, upload_root: Path
) -> None:
    headers = _headers(db_session, world.planner)
    no_mapping = _post_import(client, headers, mapping=None)
    assert no_mapping.status_code == 422
    assert "needs a mapping" in no_mapping.json()["detail"]["message"]
    bad_kind = _post_import(client, headers, kind="oracle")
    assert bad_kind.status_code == 422
    assert bad_kind.json()["detail"]["field"] == "kind"
    no_files = client.post("/api/v1/imports", headers=headers, data={"kind": "csv"})
    assert no_files.status_code == 422
    not_multipart = client.post("/api/v1/imports", headers=headers, content=b"garbage")
    assert not_multipart.status_code == 422
    assert leftover_uploads(upload_root) == []


def test_a_chunked_upload_is_cut_off_at_the_limit(
    client: TestClient, app: FastAPI, db_session: Session, world: World, upload_root: Path
) -> None:
    app.state.upload_limits = UploadLimits(max_upload_bytes=1024)
    headers = _headers(db_session, world.planner)

    def body() -> Iterator[bytes]:  # no Content-Length: the size is only known as it arrives
        yield b'--xyz\r\nContent-Disposition: form-data; name="files"; filename="a.csv"\r\n\r\n'
        for _ in range(100):
            yield b"1" * 10_000
        yield b"\r\n--xyz--\r\n"

    response = client.post(
        "/api/v1/imports",
        headers={**headers, "content-type": "multipart/form-data; boundary=xyz"},
        content=body(),
    )
    assert response.status_code == 413
    assert response.json()["detail"]["message"] == "the upload is larger than 1 KiB"
    assert leftover_uploads(upload_root) == []


def test_a_browser_session_needs_the_csrf_header(
    client: TestClient, db_session: Session, world: World, upload_root: Path
) -> None:
    sign_in(client, db_session, world.planner)
    refused = _post_import(client, {}, files=[("deals.csv", GOOD_DEALS_CSV)])
    assert refused.status_code == 403
    allowed = _post_import(client, {"X-CSRF-Token": CSRF_TOKEN}, files=[("deals.csv", GOOD_DEALS_CSV)])
    assert allowed.status_code == 201


def test_the_openapi_document_describes_the_upload(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/api/v1/imports"]["post"]
    schema = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(schema["properties"]) == {"kind", "files", "mapping", "dry_run", "quarantine", "background"}
    assert "202" in operation["responses"]


# --- exports -----------------------------------------------------------------------------------


@pytest.fixture
def deals(db_session: Session, world: World) -> None:
    colleague = make_user(db_session, full_name="Carl Colleague", external_id="U-CARL")
    theirs = make_account(db_session, name="Initech", external_id="ACC-INITECH", owner_id=colleague.id)
    make_opportunity(
        db_session, owner_id=world.rep.id, account_id=world.account.id, name="=cmd|' /C calc'!A0"
    )
    make_opportunity(
        db_session,
        owner_id=world.rep.id,
        account_id=world.account.id,
        name="Won one",
        stage="Closed Won",
        is_closed=True,
        is_won=True,
    )
    make_opportunity(db_session, owner_id=colleague.id, account_id=theirs.id, name="Initech renewal")
    make_account(db_session, name="No id", external_id=None, owner_id=colleague.id)


def test_api_opportunity_export_honours_filters_and_visibility(
    client: TestClient, db_session: Session, world: World, deals: None
) -> None:
    headers = _headers(db_session, world.rep)
    response = client.get("/api/v1/opportunities/export?format=csv", headers=headers)
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert sorted(row["Opportunity"] for row in rows) == ["'=cmd|' /C calc'!A0", "Won one"]
    won = client.get("/api/v1/opportunities/export?status=won", headers=headers)
    assert [row["Opportunity"] for row in csv.DictReader(io.StringIO(won.content.decode("utf-8-sig")))] == [
        "Won one"
    ]
    xlsx = client.get("/api/v1/opportunities/export?format=xlsx&status=open", headers=headers)
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content), read_only=True).worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    assert [row[2] for row in values[1:]] == ["'=cmd|' /C calc'!A0"]
    assert client.get("/api/v1/opportunities/export?format=pdf", headers=headers).status_code == 422
    assert client.get("/api/v1/opportunities/export?page=2", headers=headers).status_code == 422


def test_api_account_export(client: TestClient, db_session: Session, world: World, deals: None) -> None:
    headers = _headers(db_session, world.planner)
    response = client.get("/api/v1/accounts/export?format=csv&sort=name", headers=headers)
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [row["Account"] for row in rows] == ["Globex", "Initech", "No id"]


def test_api_account_owners_for_data_loader(
    client: TestClient, db_session: Session, world: World, deals: None
) -> None:
    rep_headers = _headers(db_session, world.rep)
    assert client.get("/api/v1/exports/account-owners", headers=rep_headers).status_code == 403
    headers = _headers(db_session, world.planner)
    response = client.get("/api/v1/exports/account-owners", headers=headers)
    assert response.status_code == 200
    text = response.content.decode("utf-8")
    assert not text.startswith("\ufeff"), "Data Loader reads the header literally"
    assert text.splitlines() == ["Id,OwnerId", "ACC-GLOBEX,U-RITA", "ACC-INITECH,U-CARL"]
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    assert client.get(
        f"/api/v1/exports/account-owners?since={tomorrow}", headers=headers
    ).text.splitlines() == ["Id,OwnerId"]
    # Only changes since the date: an owner change in the audit log, or a record an import touched.
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    db_session.execute(update(Account).values(updated_at=long_ago))
    record_change(
        db_session,
        actor_id=world.planner.id,
        action="update",
        object_type="account",
        object_id=world.account.id,
        before={"owner_id": None},
        after={"owner_id": world.rep.id},
    )
    db_session.commit()
    last_week = dt.date.today() - dt.timedelta(days=7)
    since = client.get(f"/api/v1/exports/account-owners?since={last_week}", headers=headers)
    assert since.text.splitlines() == ["Id,OwnerId", "ACC-GLOBEX,U-RITA"]
