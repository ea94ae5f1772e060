"""HubSpot exports of companies, contacts and deals: linked, with owners as users, idempotent."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from bridgehead.auth.models import User
from bridgehead.connectors.engine import ImportFailed, ImportOptions, ImportReport
from bridgehead.connectors.files import FileRejected, RowProblem
from bridgehead.connectors.hubspot import hubspot_batches, owner_external_id, stage_outcome
from bridgehead.connectors.service import import_batches
from bridgehead.crm.models import Account, Contact, ContactRole, Opportunity
from tests.connectors.support import counts_of, snapshot
from tests.factories import make_user

COMPANIES = [
    ["Record ID", "Company name", "Industry", "Number of Employees", "Annual Revenue", "Country/Region",
     "State/Region", "Company owner", "Parent Company", "Lifecycle Stage"],
    ["101", "Acme GmbH", "Manufacturing", "1,200", "50000000", "Germany", "Bavaria", "Jane Doe", "", "customer"],
    ["102", "Acme Logistics", "Logistics", "80", "", "Germany", "", "bob@example.com", "101", "opportunity"],
    ["103", "", "", "", "", "", "", "", "", "lead"],
]  # fmt: skip
COMPANY_103_DOMAIN = "gamma.example"
CONTACTS = [
    ["Record ID", "First Name", "Last Name", "Email", "Job Title", "Associated Company IDs", "Contact owner",
     "Lead Status"],
    ["201", "Ann", "Lee", "Ann.Lee@acme.example", "CFO", "101", "Jane Doe", "Connected"],
    ["202", "Bo", "", "", "Buyer", "102;101", "Jane Doe", ""],
    ["203", "Cy", "Ng", "cy@gamma.example", "", "", "", ""],
]  # fmt: skip
DEALS = [
    ["Record ID", "Deal Name", "Deal Stage", "Pipeline", "Amount", "Close Date", "Create Date", "Deal owner",
     "Deal Type", "Associated Company IDs", "Associated Contact IDs", "Deal Source"],
    ["301", "Acme expansion", "closedwon", "default", "12,500.50", "2026-03-04 10:11", "2026-01-05T09:00:00Z",
     "Jane Doe", "existingbusiness", "101", "201;202", "Referral"],
    ["302", "Logistics pilot", "Closed Lost", "default", "3000", "2026-02-01", "2025-12-01 08:30",
     "bob@example.com", "newbusiness", "102", "202", ""],
    ["303", "Acme phase 2", "appointmentscheduled", "Enterprise", "", "2026-06-30", "2026-02-10 14:00",
     "Carl Cruz", "", "101", "", ""],
]  # fmt: skip


def _csv(path: Path, rows: list[list[str]], delimiter: str = ",") -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8-sig")  # HubSpot writes a byte-order mark
    return path


def _export(directory: Path, *, deals: list[list[str]] = DEALS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    companies = [
        [
            *row,
            COMPANY_103_DOMAIN
            if row[0] == "103"
            else ("Company Domain Name" if row[0] == "Record ID" else ""),
        ]
        for row in COMPANIES
    ]
    _csv(directory / "hubspot-crm-exports-all-companies-2026-03-04.csv", companies)
    _csv(directory / "hubspot-crm-exports-all-contacts-2026-03-04.csv", CONTACTS)
    _csv(directory / "hubspot-crm-exports-all-deals-2026-03-04.csv", deals)
    (directory / "README.txt").write_text("not an export", encoding="utf-8")
    return directory


def _import(session: Session, directory: Path, options: ImportOptions | None = None) -> ImportReport:
    # The engine writes set-wise (Core statements): objects loaded before it must be read again.
    session.expire_all()
    return import_batches(
        session,
        actor=None,
        source="hubspot",
        location=str(directory),
        batches=hubspot_batches(directory),
        options=options or ImportOptions(),
    )


def test_a_hubspot_export_imports_linked(db_session: Session, tmp_path: Path) -> None:
    bob = make_user(db_session, email="bob@example.com", full_name="Bob Builder")
    report = _import(db_session, _export(tmp_path / "export"))
    db_session.expire_all()
    assert report.ok, report.problems
    totals: dict[str, tuple[int, int, int, int]] = {}
    for name, counts in counts_of(report).items():
        totals[name] = counts
    assert totals == {
        "user": (2, 1, 0, 0),  # Jane Doe and Carl Cruz new; bob@example.com is the existing Bob
        "account": (3, 0, 0, 0),
        "contact": (3, 0, 0, 0),
        "opportunity": (3, 0, 0, 0),
        "contact_role": (3, 0, 0, 0),
    }

    owners = {
        user.external_id: user
        for user in db_session.scalars(select(User).where(User.external_id.like("hubspot-owner:%")))
    }
    assert set(owners) == {
        "hubspot-owner:Jane Doe",
        "hubspot-owner:bob@example.com",
        "hubspot-owner:Carl Cruz",
    }
    assert owners["hubspot-owner:bob@example.com"].id == bob.id  # linked by e-mail, not duplicated
    assert owners["hubspot-owner:Jane Doe"].full_name == "Jane Doe"
    assert owners["hubspot-owner:Jane Doe"].email.endswith("@imported.invalid")
    assert owners["hubspot-owner:Jane Doe"].password_hash is None  # an owner, not a login

    accounts = {account.external_id: account for account in db_session.scalars(select(Account))}
    acme = accounts["hubspot-company:101"]
    assert (acme.name, acme.industry, acme.employees, acme.country, acme.state) == (
        "Acme GmbH", "Manufacturing", 1200, "Germany", "Bavaria",
    )  # fmt: skip
    assert acme.annual_revenue_amount == Decimal("50000000.00")
    assert acme.owner_id == owners["hubspot-owner:Jane Doe"].id
    assert acme.custom_fields == {"Lifecycle Stage": "customer"}
    assert accounts["hubspot-company:102"].parent_account_id == acme.id
    assert accounts["hubspot-company:102"].owner_id == bob.id
    # A company HubSpot made from an e-mail domain has no name: the domain names it.
    assert accounts["hubspot-company:103"].name == COMPANY_103_DOMAIN

    contacts = {contact.external_id: contact for contact in db_session.scalars(select(Contact))}
    ann = contacts["hubspot-contact:201"]
    assert (ann.first_name, ann.last_name, ann.email, ann.title, ann.account_id) == (
        "Ann", "Lee", "ann.lee@acme.example", "CFO", acme.id,
    )  # fmt: skip
    assert ann.custom_fields == {"Lead Status": "Connected"}
    bo = contacts["hubspot-contact:202"]
    assert (bo.first_name, bo.last_name) == (None, "Bo")  # only a first name: it becomes the name
    assert bo.account_id == accounts["hubspot-company:102"].id  # the first associated company
    assert contacts["hubspot-contact:203"].account_id is None

    deals = {deal.external_id: deal for deal in db_session.scalars(select(Opportunity))}
    won, lost, open_deal = deals["hubspot-deal:301"], deals["hubspot-deal:302"], deals["hubspot-deal:303"]
    assert (won.stage, won.is_closed, won.is_won) == ("closedwon", True, True)
    assert (lost.stage, lost.is_closed, lost.is_won) == ("Closed Lost", True, False)
    assert (open_deal.stage, open_deal.is_closed, open_deal.is_won) == ("appointmentscheduled", False, False)
    assert won.amount == Decimal("12500.50")
    assert open_deal.amount is None
    assert won.close_date == dt.date(2026, 3, 4)
    assert won.created_at == dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
    assert lost.created_at == dt.datetime(2025, 12, 1, 8, 30, tzinfo=dt.UTC)
    assert won.type == "existingbusiness"
    assert won.account_id == acme.id
    assert lost.owner_id == bob.id
    assert open_deal.owner_id == owners["hubspot-owner:Carl Cruz"].id
    assert won.custom_fields == {"Pipeline": "default", "Deal Source": "Referral"}
    assert open_deal.custom_fields == {"Pipeline": "Enterprise"}

    contact = aliased(Contact)
    roles = set(
        db_session.execute(
            select(Opportunity.external_id, contact.external_id, ContactRole.role)
            .join(Opportunity, ContactRole.opportunity_id == Opportunity.id)
            .join(contact, ContactRole.contact_id == contact.id)
        ).all()
    )
    assert roles == {
        ("hubspot-deal:301", "hubspot-contact:201", "Other"),
        ("hubspot-deal:301", "hubspot-contact:202", "Other"),
        ("hubspot-deal:302", "hubspot-contact:202", "Other"),
    }


def test_reimport_changes_nothing_and_a_newer_export_only_what_changed(
    db_session: Session, tmp_path: Path
) -> None:
    export = _export(tmp_path / "export")
    assert _import(db_session, export).ok
    db_session.commit()
    before = snapshot(db_session)
    again = _import(db_session, export)
    assert {name: counts[:2] for name, counts in counts_of(again).items()} == dict.fromkeys(
        ("user", "account", "contact", "opportunity", "contact_role"), (0, 0)
    )
    after = snapshot(db_session)
    assert {k: v for k, v in after.items() if "import_run" not in k and "audit" not in k} == {
        k: v for k, v in before.items() if "import_run" not in k and "audit" not in k
    }

    newer = [row[:] for row in DEALS]
    newer[3][2] = "closedwon"  # deal 303 was won
    newer[3][10] = "203"  # with a new contact
    report = _import(db_session, _export(tmp_path / "newer", deals=newer))
    assert counts_of(report)["opportunity"] == (0, 1, 2, 0)
    assert counts_of(report)["contact_role"] == (1, 0, 3, 0)
    deal = db_session.scalars(select(Opportunity).where(Opportunity.external_id == "hubspot-deal:303")).one()
    assert (deal.is_closed, deal.is_won) == (True, True)


def test_an_xlsx_export_works_like_a_csv(db_session: Session, tmp_path: Path) -> None:
    directory = tmp_path / "xlsx"
    directory.mkdir()
    _csv(directory / "companies.csv", COMPANIES[:2])
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Record ID", "Deal Name", "Deal Stage", "Amount", "Close Date", "Associated Company IDs"])
    sheet.append([401, "From a workbook", "Closed won", 999.5, dt.datetime(2026, 3, 4, 10, 11), 101])
    workbook.save(directory / "deals.xlsx")
    report = _import(db_session, directory)
    assert report.ok, report.problems
    deal = db_session.scalars(select(Opportunity).where(Opportunity.external_id == "hubspot-deal:401")).one()
    assert (deal.name, deal.stage, deal.is_won, deal.amount, deal.close_date) == (
        "From a workbook", "Closed won", True, Decimal("999.50"), dt.date(2026, 3, 4),
    )  # fmt: skip
    assert deal.account is not None
    assert deal.account.external_id == "hubspot-company:101"


def test_a_deal_naming_an_unknown_contact_refuses_the_import(db_session: Session, tmp_path: Path) -> None:
    deals = [row[:] for row in DEALS]
    deals[2][10] = "202;999"
    export = _export(tmp_path / "export", deals=deals)
    db_session.commit()
    before = snapshot(db_session)
    with pytest.raises(ImportFailed) as caught:
        _import(db_session, export)
    db_session.rollback()
    assert caught.value.report.problems == [
        RowProblem(
            "hubspot-crm-exports-all-deals-2026-03-04.csv",
            3,
            "contact",
            "hubspot-contact:999",
            "no contact with id 'hubspot-contact:999'",
        )
    ]
    assert snapshot(db_session) == before


def test_bad_cells_are_reported_with_their_hubspot_file_and_line(db_session: Session, tmp_path: Path) -> None:
    deals = [row[:] for row in DEALS]
    deals[1][4] = "-12"
    deals[3][5] = "45292"
    report = _import(
        db_session, _export(tmp_path / "export", deals=deals), ImportOptions(policy="quarantine")
    )
    name = "hubspot-crm-exports-all-deals-2026-03-04.csv"
    assert report.problems[:2] == [
        RowProblem(name, 2, "amount", "-12", "must not be negative"),
        RowProblem(
            name,
            4,
            "close_date",
            "45292",
            "looks like an Excel serial date number; export dates as YYYY-MM-DD",
        ),
    ]
    # The contact roles of the refused deal 301 cannot be linked either.
    assert {(problem.line, problem.field) for problem in report.problems[2:]} == {(2, "opportunity")}
    assert counts_of(report)["opportunity"] == (1, 0, 0, 2)


def test_an_empty_object_export_imports_nothing_of_it(db_session: Session, tmp_path: Path) -> None:
    """Unlike a mapped file, a HubSpot object with no records (header only) is a normal export."""
    _csv(tmp_path / "contacts.csv", [CONTACTS[0]])
    _csv(tmp_path / "deals.csv", [["Record ID", "Deal Name", "Deal Stage"], ["1", "Only deal", "closedlost"]])
    report = _import(db_session, tmp_path)
    assert report.ok
    assert counts_of(report) == {"contact": (0, 0, 0, 0), "opportunity": (1, 0, 0, 0)}


def test_a_folder_without_hubspot_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(FileRejected, match="no HubSpot export found"):
        list(hubspot_batches(tmp_path))
    with pytest.raises(FileRejected, match="not a folder"):
        list(hubspot_batches(tmp_path / "missing"))


def test_a_file_without_record_ids_is_refused(tmp_path: Path) -> None:
    _csv(tmp_path / "deals.csv", [["Deal Name", "Amount"], ["A", "1"]])
    with pytest.raises(FileRejected, match="needs a 'Record ID' column"):
        list(hubspot_batches(tmp_path))


@pytest.mark.parametrize(
    ("stage", "outcome"),
    [
        ("closedwon", (True, True)),
        ("Closed Won", (True, True)),
        ("closed_lost", (True, False)),
        ("Closed lost", (True, False)),
        ("contractsent", (False, False)),
        ("12345678", (False, False)),
    ],
)
def test_stage_outcomes(stage: str, outcome: tuple[bool, bool]) -> None:
    assert stage_outcome(stage) == outcome


def test_owner_ids() -> None:
    assert owner_external_id("Jane Doe") == "hubspot-owner:Jane Doe"
    assert owner_external_id("Bob@Example.com") == "hubspot-owner:bob@example.com"
    assert owner_external_id("Jane Doe (jane@example.com)") == "hubspot-owner:jane@example.com"
    assert owner_external_id(" ") == ""
    long_owner = owner_external_id("x" * 100)
    assert len(long_owner) == 64
    assert long_owner != owner_external_id("x" * 99)
