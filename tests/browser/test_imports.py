"""The import wizard in a real Chromium: upload → preview → map columns → report → confirm."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from bridgehead.config import Settings
from bridgehead.crm.models import Account, Opportunity
from bridgehead.db import make_engine
from tests.browser.conftest import LiveServer, screenshot, sign_in

pytestmark = pytest.mark.browser

PLANNER = "planner@meridian.example"
# Accounts need no other record to exist; the third row has a head count that is not a number.
ACCOUNTS_CSV = (
    b"Account ID,Company Name,Sector,Number of Employees,Billing Country\r\n"
    b"BRW-001,Northwind Traders,Retail,1200,United States\r\n"
    b"BRW-002,Contoso Pharma,Life Sciences,5400,Germany\r\n"
    b"BRW-003,Fabrikam Fibre,Telecommunications,many,Canada\r\n"
    b"BRW-004,Tailspin Toys,Retail,310,United Kingdom\r\n"
)


def test_planner_imports_a_csv_through_the_wizard(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server, PLANNER)
    page.goto(live_server.base_url + "/data/imports")
    expect(page).to_have_title(re.compile("Imports"))
    page.get_by_test_id("new-import").click()

    # 1. Upload
    expect(page).to_have_title(re.compile("New import"))
    page.get_by_label("CSV or XLSX with a mapping").check()
    page.get_by_label("Files", exact=True).set_input_files(
        files=[{"name": "accounts.csv", "mimeType": "text/csv", "buffer": ACCOUNTS_CSV}]
    )
    screenshot(page, "import-1-upload")
    page.get_by_role("button", name="Upload and preview").click()

    # 2. Preview
    expect(page).to_have_title(re.compile("Preview"))
    preview = page.get_by_test_id("file-preview")
    expect(preview).to_contain_text("Northwind Traders")
    expect(page.get_by_test_id("delimiter")).to_have_text("comma-delimited")
    expect(page.get_by_test_id("encoding")).to_have_text("UTF-8")
    screenshot(page, "import-2-preview")
    page.get_by_test_id("next-step").click()

    # 3. Map columns: the file is recognised as accounts and every column suggested.
    expect(page).to_have_title(re.compile("Map columns"))
    expect(page.get_by_label("Each row of the file is")).to_have_value("account")
    for field, column in {
        "id": "Account ID",
        "name": "Company Name",
        "industry": "Sector",
        "employees": "Number of Employees",
        "country": "Billing Country",
    }.items():
        expect(page.get_by_test_id(f"column-{field}")).to_have_value(column)
    screenshot(page, "import-3-mapping")
    page.get_by_test_id("save-mapping").click()

    # 4. Validation report: three accounts would be created, one row rejected with its reason.
    expect(page).to_have_title(re.compile("Validation report"))
    expect(page.get_by_test_id("total-created")).to_have_text("3")
    expect(page.get_by_test_id("total-rejected")).to_have_text("1")
    rejected = page.get_by_test_id("rejected-table")
    expect(rejected).to_contain_text("accounts.csv")
    expect(rejected).to_contain_text("employees")
    expect(rejected).to_contain_text("many")
    expect(rejected).to_contain_text("not a number")
    screenshot(page, "import-4-report")

    # 5. Confirm with quarantine: the good rows are imported, the bad one set aside.
    page.get_by_label("Quarantine rejected rows").check()
    page.get_by_test_id("confirm").click()
    expect(page).to_have_title(re.compile(r"Import #\d+"))
    expect(page.get_by_test_id("run-status")).to_have_text("Imported")
    expect(page.get_by_test_id("rejected-table")).to_contain_text("many")
    expect(page.get_by_test_id("errors-csv")).to_be_visible()
    screenshot(page, "import-5-done")

    with make_engine(Settings(), url=live_server.database_url).connect() as connection:
        names = connection.scalars(
            select(Account.name).where(Account.external_id.like("BRW-%")).order_by(Account.external_id)
        ).all()
    assert names == ["Northwind Traders", "Contoso Pharma", "Tailspin Toys"]

    page.goto(live_server.base_url + "/data/imports")
    expect(page.get_by_test_id("import-runs")).to_contain_text("accounts.csv")
    screenshot(page, "import-runs")


def test_a_rep_is_not_offered_imports(page: Page, live_server: LiveServer) -> None:
    rep = next(login.email for login in live_server.logins.values() if login.role == "rep")
    sign_in(page, live_server, rep)
    expect(page.get_by_role("link", name="Import")).to_have_count(0)
    response = page.goto(live_server.base_url + "/data/imports")
    assert response is not None
    assert response.status == 403


def test_the_opportunity_list_offers_downloads(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server, PLANNER)
    page.goto(live_server.base_url + "/opportunities?status=open")
    link = page.get_by_test_id("download-csv")
    expect(link).to_have_attribute("href", "/opportunities/export.csv?status=open")
    with page.expect_download() as info:
        page.get_by_test_id("download-xlsx").click()
    assert info.value.suggested_filename.endswith(".xlsx")
    # The CSV streams from the database after the page's route has returned: every open deal.
    with page.expect_download() as info:
        link.click()
    rows = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text(encoding="utf-8-sig"))))
    with make_engine(Settings(), url=live_server.database_url).connect() as connection:
        open_deals = connection.scalar(
            select(func.count()).select_from(Opportunity).where(Opportunity.is_closed.is_(False))
        )
    assert len(rows) == open_deals
    assert {row["Status"] for row in rows} == {"open"}
    screenshot(page, "opportunities-with-downloads")
    page.goto(live_server.base_url + "/data/exports")
    screenshot(page, "exports")
