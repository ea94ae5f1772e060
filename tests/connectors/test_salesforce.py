"""Salesforce export folders in and out: counts, id forms, links, idempotency, round trip, bad rows."""

from __future__ import annotations

import csv
import hashlib
import random
import shutil
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from benchmarks.salesforce_generator import ExportSizes, generate_salesforce_export, sf_id
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from bridgehead.auth.models import Role, User
from bridgehead.cli import app
from bridgehead.connectors.engine import ImportFailed, ImportOptions, ImportReport
from bridgehead.connectors.files import FileRejected
from bridgehead.connectors.models import QuarantinedRow
from bridgehead.connectors.salesforce import normalise_id, salesforce_batches
from bridgehead.connectors.salesforce_export import export_salesforce
from bridgehead.connectors.service import import_batches
from bridgehead.connectors.values import salesforce_id
from bridgehead.crm.models import (
    Account,
    Activity,
    ActivityDirection,
    ActivityKind,
    Contact,
    ContactRole,
    ForecastCategory,
    Opportunity,
    OpportunityHistory,
)
from bridgehead.db import Base
from tests.helpers import opportunity_sums_counted, opportunity_sums_kept, sqlite_for_cli

SIZES = {"opportunities": 40, "history": 120, "activities": 150}
CRM_TABLES = (
    "user",
    "account",
    "contact",
    "opportunity",
    "opportunity_history",
    "opportunity_contact_role",
    "activity",
)


# --- helpers -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """A small generated export (made once) and its rows per file."""
    directory = tmp_path_factory.mktemp("salesforce") / "export"
    written = generate_salesforce_export(directory, **SIZES)
    return directory, written


@pytest.fixture
def export_dir(generated: tuple[Path, dict[str, int]], tmp_path: Path) -> Path:
    """A private copy of the generated export that a test may change."""
    directory = tmp_path / "export"
    shutil.copytree(generated[0], directory)
    return directory


def run(session: Session, directory: Path, **options: Any) -> ImportReport:
    """Import a folder as the command-line operator."""
    return import_batches(
        session,
        actor=None,
        source="salesforce",
        location=str(directory),
        batches=salesforce_batches(directory),
        options=ImportOptions(**options),
    )


def counts(report: ImportReport) -> dict[str, tuple[int, int, int, int]]:
    """``{entity: (created, updated, unchanged, rejected)}``."""
    return {
        name: (value.created, value.updated, value.unchanged, value.rejected)
        for name, value in report.counts.items()
    }


def state(session: Session) -> dict[str, str]:
    """A checksum of every row of every CRM table."""
    session.flush()
    tables = {table.name: table for table in Base.metadata.sorted_tables}
    result: dict[str, str] = {}
    for name in CRM_TABLES:
        table = tables[name]
        digest = hashlib.sha256()
        for row in session.execute(select(table).order_by(table.c.id)):
            digest.update(repr(tuple(row)).encode())
        result[name] = digest.hexdigest()
    return result


def count(session: Session, model: type[Any]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def set_cell(path: Path, row: int, column: str, value: str) -> list[str]:
    """Change one cell (``row`` counts data rows from 0); returns the changed row."""
    header, rows = read_csv(path)
    rows[row][header.index(column)] = value
    write_csv(path, header, rows)
    return rows[row]


def by_external_id(session: Session, model: type[Any], external_id: str) -> Any:
    return session.scalars(select(model).where(model.external_id == external_id)).one()


def users_and_accounts(directory: Path) -> tuple[str, str]:
    """A tiny export's User.csv and Account.csv; returns the user's and the account's 18-char ids."""
    directory.mkdir(parents=True, exist_ok=True)
    user, account = sf_id("user", 1), sf_id("account", 1)
    write_csv(
        directory / "User.csv",
        ["Id", "FirstName", "LastName", "Email", "IsActive", "ManagerId"],
        [[user, "Ada", "Lovelace", "ada@example.com", "true", ""]],
    )
    write_csv(directory / "Account.csv", ["Id", "Name", "OwnerId"], [[account, "Acme", user]])
    return user, account


# --- ids -----------------------------------------------------------------------------------------


def test_the_fast_id_path_agrees_with_values_salesforce_id() -> None:
    chooser = random.Random(3)
    alphabet = string.ascii_letters + string.digits
    for _ in range(2_000):
        id15 = "".join(chooser.choice(alphabet) for _ in range(15))
        typed_suffix = "".join(chooser.choice(alphabet) for _ in range(3))
        assert normalise_id(id15) == salesforce_id(id15)
        assert normalise_id(id15 + typed_suffix) == salesforce_id(id15 + typed_suffix)
    for bad in ("001", "001D000000IRFma!", "001D000000IRFmaIAHX", "001D000000IRFmaé"):
        with pytest.raises(ValueError, match="not a Salesforce id"):
            normalise_id(bad)


def test_15_and_18_character_ids_of_one_record_link_across_files(db_session: Session, tmp_path: Path) -> None:
    user, account = users_and_accounts(tmp_path)
    second_account = sf_id("account", 2)
    with (tmp_path / "Account.csv").open("a", encoding="utf-8", newline="") as handle:
        # 15-character Id here, 18-character reference from the contact below.
        csv.writer(handle).writerow([second_account[:15], "Globex", user[:15]])
    write_csv(
        tmp_path / "Opportunity.csv",
        ["Id", "Name", "StageName", "AccountId", "OwnerId", "CloseDate"],
        [[sf_id("opportunity", 1)[:15], "Deal", "Prospecting", account[:15], user[:15], "2026-03-04"]],
    )
    write_csv(
        tmp_path / "Contact.csv",
        ["Id", "LastName", "AccountId"],
        [[sf_id("contact", 1), "Buyer", second_account]],
    )

    report = run(db_session, tmp_path)

    assert report.ok
    deal = by_external_id(db_session, Opportunity, sf_id("opportunity", 1))
    assert deal.account_id == by_external_id(db_session, Account, account).id
    assert deal.owner_id == by_external_id(db_session, User, user).id
    contact = by_external_id(db_session, Contact, sf_id("contact", 1))
    assert contact.account_id == by_external_id(db_session, Account, second_account).id


def test_a_malformed_id_rejects_its_row_naming_column_and_value(db_session: Session, tmp_path: Path) -> None:
    users_and_accounts(tmp_path)
    write_csv(
        tmp_path / "Opportunity.csv",
        ["Id", "Name", "StageName", "AccountId"],
        [
            [sf_id("opportunity", 1), "Good", "Prospecting", ""],
            [sf_id("opportunity", 2), "Bad", "Prospecting", "001-not-an-id"],
        ],
    )

    report = run(db_session, tmp_path, policy="quarantine")

    assert counts(report)["opportunity"] == (1, 0, 0, 1)
    [problem] = report.problems
    assert (problem.file, problem.line, problem.field, problem.value) == (
        "Opportunity.csv",
        3,
        "AccountId",
        "001-not-an-id",
    )
    assert "not a Salesforce id" in problem.reason


# --- a generated export --------------------------------------------------------------------------


def test_a_generated_export_imports_every_row(
    db_session: Session, generated: tuple[Path, dict[str, int]]
) -> None:
    directory, written = generated
    sizes = ExportSizes.scaled(**SIZES)

    report = run(db_session, directory)

    assert report.ok
    assert counts(report) == {
        "user": (sizes.users, 0, 0, 0),
        "account": (sizes.accounts, 0, 0, 0),
        "contact": (sizes.contacts, 0, 0, 0),
        "opportunity": (sizes.opportunities, 0, 0, 0),
        "opportunity_history": (sizes.history, 0, 0, 0),
        "contact_role": (sizes.contact_roles, 0, 0, 0),
        "activity": (sizes.activities, 0, 0, 0),
    }
    assert written["Task.csv"] + written["Event.csv"] == sizes.activities
    assert count(db_session, Opportunity) == sizes.opportunities
    assert count(db_session, OpportunityHistory) == sizes.history
    assert count(db_session, Activity) == sizes.activities
    # Users who manage someone are managers; the others are reps.
    users = db_session.scalars(select(User).where(User.external_id.is_not(None))).all()
    roles = {user.external_id: user.role for user in users}
    ids = {user.id: user.external_id for user in users}
    managers = {ids[user.manager_id] for user in users if user.manager_id}
    assert managers
    assert {ext for ext, role in roles.items() if role == Role.MANAGER} == managers
    assert {role for ext, role in roles.items() if ext not in managers} == {Role.REP}


def test_opportunity_fields_and_custom_fields_are_kept(
    db_session: Session, generated: tuple[Path, dict[str, int]]
) -> None:
    directory, _ = generated
    run(db_session, directory)
    header, rows = read_csv(directory / "Opportunity.csv")
    for cells in rows:
        row = dict(zip(header, cells, strict=True))
        deal = by_external_id(db_session, Opportunity, row["Id"])
        assert deal.stage == row["StageName"]
        assert str(deal.amount) == row["Amount"]
        assert deal.close_date.isoformat() == row["CloseDate"]
        assert deal.is_won == (row["IsWon"] == "true")
        assert (
            deal.forecast_category
            == {
                "Pipeline": ForecastCategory.PIPELINE,
                "Best Case": ForecastCategory.BEST_CASE,
                "Commit": ForecastCategory.COMMIT,
                "Closed": ForecastCategory.CLOSED,
                "Omitted": ForecastCategory.OMITTED,
            }[row["ForecastCategoryName"]]
        )
        expected_custom = {key: value for key, value in row.items() if key.endswith("__c") and value}
        assert deal.custom_fields == expected_custom
        assert deal.loss_reason == (row["Loss_Reason__c"] or None)
        assert deal.account.external_id == salesforce_id(row["AccountId"])
    account = db_session.scalars(select(Account).order_by(Account.id)).first()
    assert account is not None
    assert set(account.custom_fields) <= {"Tier__c", "Region__c"}
    assert account.custom_fields["Tier__c"]


def test_contact_roles_and_activities_link_deals_contacts_and_accounts(
    db_session: Session, generated: tuple[Path, dict[str, int]]
) -> None:
    directory, _ = generated
    run(db_session, directory)

    header, rows = read_csv(directory / "OpportunityContactRole.csv")
    for cells in rows:
        row = dict(zip(header, cells, strict=True))
        role = by_external_id(db_session, ContactRole, row["Id"])
        assert (
            role.opportunity_id
            == by_external_id(db_session, Opportunity, salesforce_id(row["OpportunityId"])).id
        )
        assert role.contact_id == by_external_id(db_session, Contact, salesforce_id(row["ContactId"])).id
        assert role.role == (row["Role"] or "Unspecified")
        assert role.is_primary == (row["IsPrimary"] == "true")

    linked = {"opportunity": 0, "account": 0, "contact": 0, "lead": 0}
    for name in ("Task.csv", "Event.csv"):
        header, rows = read_csv(directory / name)
        for cells in rows:
            row = dict(zip(header, cells, strict=True))
            activity = by_external_id(db_session, Activity, row["Id"])
            what = salesforce_id(row["WhatId"]) or ""
            who = salesforce_id(row["WhoId"]) or ""
            opportunity = (
                db_session.get(Opportunity, activity.opportunity_id) if activity.opportunity_id else None
            )
            account = db_session.get(Account, activity.account_id) if activity.account_id else None
            contact = db_session.get(Contact, activity.contact_id) if activity.contact_id else None
            assert (opportunity.external_id if opportunity else "") == (
                what if what.startswith("006") else ""
            )
            expected_account = salesforce_id(row["AccountId"]) or (what if what.startswith("001") else "")
            assert (account.external_id if account else "") == expected_account
            assert (contact.external_id if contact else "") == (who if who.startswith("003") else "")
            linked["opportunity"] += opportunity is not None
            linked["account"] += account is not None
            linked["contact"] += contact is not None
            linked["lead"] += who.startswith("00Q")
            if name == "Event.csv":
                assert activity.kind == ActivityKind.MEETING
    # The generated data exercises every kind of link, including leads (dropped from the link only).
    assert all(linked.values()), linked


def test_task_and_event_fields(db_session: Session, tmp_path: Path) -> None:
    user, account = users_and_accounts(tmp_path)
    opportunity, contact, lead = sf_id("opportunity", 1), sf_id("contact", 1), sf_id("lead", 1)
    write_csv(
        tmp_path / "Opportunity.csv",
        ["Id", "Name", "StageName", "AccountId"],
        [[opportunity, "Deal", "Prospecting", account]],
    )
    write_csv(tmp_path / "Contact.csv", ["Id", "LastName", "AccountId"], [[contact, "Buyer", account]])
    task_header = [
        "Id", "WhoId", "WhatId", "Subject", "ActivityDate", "CreatedDate", "OwnerId", "TaskSubtype",
        "Type", "CallType", "CallDurationInSeconds", "Outcome__c",
    ]  # fmt: skip
    write_csv(
        tmp_path / "Task.csv",
        task_header,
        [
            [sf_id("task", 1), contact, opportunity, "Call", "2026-03-04", "2026-03-01T09:00:00.000Z",
             user, "Call", "Call", "Inbound", "90", "Connected"],
            [sf_id("task", 2), lead, account[:15], "Email", "", "2026-03-05T10:11:12.000+0000",
             user, "Email", "", "", "", ""],
            [sf_id("task", 3), "", "", "Prep", "", "2026-03-06T08:00:00Z", user, "Task", "Meeting", "", "", ""],
        ],
    )  # fmt: skip
    write_csv(
        tmp_path / "Event.csv",
        ["Id", "WhoId", "WhatId", "Subject", "StartDateTime", "DurationInMinutes", "OwnerId"],
        [[sf_id("event", 1), contact, opportunity, "Demo", "2026-03-07T15:30:00.000Z", "45", user]],
    )

    assert run(db_session, tmp_path).ok

    call = by_external_id(db_session, Activity, sf_id("task", 1))
    assert (call.kind, call.direction, call.duration_minutes) == (
        ActivityKind.CALL,
        ActivityDirection.INBOUND,
        2,
    )
    assert call.occurred_at.isoformat() == "2026-03-04T00:00:00+00:00"  # the due date, midnight UTC
    assert call.custom_fields == {"Outcome__c": "Connected"}
    assert call.opportunity_id == by_external_id(db_session, Opportunity, opportunity).id
    assert call.contact_id == by_external_id(db_session, Contact, contact).id
    email = by_external_id(db_session, Activity, sf_id("task", 2))
    assert (email.kind, email.direction) == (ActivityKind.EMAIL, ActivityDirection.OUTBOUND)
    assert email.occurred_at.isoformat() == "2026-03-05T10:11:12+00:00"  # no due date: created
    assert email.contact_id is None  # a lead is not a contact; the row is kept
    assert email.account_id == by_external_id(db_session, Account, account).id
    assert email.opportunity_id is None
    meeting_task = by_external_id(db_session, Activity, sf_id("task", 3))
    assert meeting_task.kind == ActivityKind.MEETING
    event = by_external_id(db_session, Activity, sf_id("event", 1))
    assert (event.kind, event.duration_minutes) == (ActivityKind.MEETING, 45)
    assert event.occurred_at.isoformat() == "2026-03-07T15:30:00+00:00"
    assert event.opportunity_id == by_external_id(db_session, Opportunity, opportunity).id


def test_a_user_without_email_imports_and_keeps_a_role_given_by_hand(
    db_session: Session, tmp_path: Path
) -> None:
    boss, seller = sf_id("user", 1), sf_id("user", 2)
    write_csv(
        tmp_path / "User.csv",
        ["Id", "Name", "Email", "IsActive", "ManagerId"],
        [[boss, "Boss", "", "true", ""], [seller, "Seller", "seller@example.com", "false", boss[:15]]],
    )
    assert run(db_session, tmp_path).ok
    boss_user = by_external_id(db_session, User, boss)
    seller_user = by_external_id(db_session, User, seller)
    assert boss_user.email.endswith("@imported.invalid")
    assert (boss_user.role, seller_user.role) == (Role.MANAGER, Role.REP)
    assert seller_user.manager_id == boss_user.id
    assert seller_user.is_active is False

    # An administrator promotes the seller; the next export (same file) does not demote them.
    seller_user.role = Role.PLANNER
    db_session.flush()
    report = run(db_session, tmp_path)
    assert counts(report)["user"] == (0, 0, 2, 0)
    db_session.refresh(seller_user)
    assert seller_user.role == Role.PLANNER


def test_field_history_is_read_only_without_opportunity_history(db_session: Session, tmp_path: Path) -> None:
    user, account = users_and_accounts(tmp_path)
    opportunity = sf_id("opportunity", 1)
    write_csv(
        tmp_path / "Opportunity.csv",
        ["Id", "Name", "StageName", "AccountId"],
        [[opportunity, "Deal", "Qualification", account]],
    )
    field_history = [
        [sf_id("history", 1), opportunity, user, "2026-01-02T10:00:00.000Z", "StageName", "Prospecting", "Qualification"],
        [sf_id("history", 2), opportunity, user, "2026-01-02T10:00:00.000Z", "Amount", "100", "200"],
        [sf_id("history", 3), opportunity, user, "2026-01-03T10:00:00.000Z", "created", "", ""],
    ]  # fmt: skip
    write_csv(
        tmp_path / "OpportunityFieldHistory.csv",
        ["Id", "OpportunityId", "CreatedById", "CreatedDate", "Field", "OldValue", "NewValue"],
        field_history,
    )
    report = run(db_session, tmp_path)
    assert counts(report)["opportunity_history"] == (1, 0, 0, 0)
    [row] = db_session.scalars(select(OpportunityHistory)).all()
    assert (row.stage, row.external_id) == ("Qualification", sf_id("history", 1))
    assert row.changed_by_id == by_external_id(db_session, User, user).id

    # With OpportunityHistory.csv present the field history is not read at all.
    write_csv(
        tmp_path / "OpportunityHistory.csv",
        ["Id", "OpportunityId", "CreatedDate", "StageName", "Amount", "ForecastCategory"],
        [[sf_id("history", 9), opportunity, "2026-01-04T10:00:00.000Z", "Qualification", "200", "BestCase"]],
    )
    report = run(db_session, tmp_path)
    assert counts(report)["opportunity_history"] == (1, 0, 0, 0)
    added = by_external_id(db_session, OpportunityHistory, sf_id("history", 9))
    assert added.forecast_category == ForecastCategory.BEST_CASE


def test_a_folder_without_export_files_is_rejected_naming_it(tmp_path: Path) -> None:
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(FileRejected) as caught:
        list(salesforce_batches(tmp_path))
    assert caught.value.context["value"] == str(tmp_path)
    assert "none of the Salesforce export files" in caught.value.message


# --- idempotency and updates ---------------------------------------------------------------------


def test_importing_the_same_export_twice_changes_nothing(db_session: Session, export_dir: Path) -> None:
    run(db_session, export_dir)
    before = state(db_session)

    report = run(db_session, export_dir)

    assert all(
        created == updated == rejected == 0 for created, updated, _, rejected in counts(report).values()
    )
    assert counts(report)["activity"][2] == SIZES["activities"]
    assert state(db_session) == before


def test_a_newer_export_updates_only_what_changed(db_session: Session, export_dir: Path) -> None:
    run(db_session, export_dir)
    sizes = ExportSizes.scaled(**SIZES)
    changed = set_cell(export_dir / "Opportunity.csv", 5, "Amount", "123456.78")
    opportunity_id = changed[0]
    header, history = read_csv(export_dir / "OpportunityHistory.csv")
    new_history = dict(zip(header, history[-1], strict=True))
    new_history.update(
        Id=sf_id("history", 10_000), OpportunityId=opportunity_id[:15], StageName="Negotiation/Review"
    )
    new_history.update(CreatedDate="2027-01-01T00:00:00.000Z", Amount="123456.78")
    write_csv(export_dir / "OpportunityHistory.csv", header, [*history, [new_history[key] for key in header]])
    header, contacts = read_csv(export_dir / "Contact.csv")
    new_contact = dict(zip(header, contacts[0], strict=True))
    new_contact.update(
        Id=sf_id("contact", 10_000), LastName="Newcomer", Email="new@buyer.example", ReportsToId=""
    )
    write_csv(export_dir / "Contact.csv", header, [*contacts, [new_contact[key] for key in header]])

    report = run(db_session, export_dir)

    assert counts(report) == {
        "user": (0, 0, sizes.users, 0),
        "account": (0, 0, sizes.accounts, 0),
        "contact": (1, 0, sizes.contacts, 0),
        "opportunity": (0, 1, sizes.opportunities - 1, 0),
        "opportunity_history": (1, 0, sizes.history, 0),
        "contact_role": (0, 0, sizes.contact_roles, 0),
        "activity": (0, 0, sizes.activities, 0),
    }
    deal = by_external_id(db_session, Opportunity, opportunity_id)
    assert str(deal.amount) == "123456.78"
    assert count(db_session, OpportunityHistory) == sizes.history + 1
    added = by_external_id(db_session, OpportunityHistory, sf_id("history", 10_000))
    assert added.opportunity_id == deal.id
    assert by_external_id(db_session, Contact, sf_id("contact", 10_000)).account_id is not None
    # Relations survive: roles and activities of the changed deal still point at it.
    assert count(db_session, ContactRole) == sizes.contact_roles
    # The import's update of the amount reached the deal sums the database keeps.
    assert opportunity_sums_kept(db_session) == opportunity_sums_counted(db_session)


# --- round trip ----------------------------------------------------------------------------------


def test_import_export_reimport_changes_nothing(
    db_session: Session, export_dir: Path, tmp_path: Path
) -> None:
    # A formula-looking name and custom value must come back as they were, neutralised on the way.
    set_cell(export_dir / "Account.csv", 0, "Name", '=HYPERLINK("http://x")')
    set_cell(export_dir / "Opportunity.csv", 0, "Deal_Score__c", "-5")
    run(db_session, export_dir)
    before = state(db_session)

    written = export_salesforce(db_session, tmp_path / "out")

    sizes = ExportSizes.scaled(**SIZES)
    assert written == {
        "User.csv": sizes.users,
        "Account.csv": sizes.accounts,
        "Contact.csv": sizes.contacts,
        "Opportunity.csv": sizes.opportunities,
        "OpportunityHistory.csv": sizes.history,
        "OpportunityContactRole.csv": sizes.contact_roles,
        "Task.csv": sizes.tasks,
        "Event.csv": sizes.events,
    }
    header, accounts = read_csv(tmp_path / "out" / "Account.csv")
    assert "'=HYPERLINK" in {cells[header.index("Name")][:11] for cells in accounts}
    assert "Tier__c" in header

    report = run(db_session, tmp_path / "out")

    assert report.ok
    assert all(created == updated == 0 for created, updated, _, _ in counts(report).values()), counts(report)
    assert state(db_session) == before


def test_records_without_a_salesforce_id_are_not_exported(db_session: Session, tmp_path: Path) -> None:
    db_session.add(Account(name="Made by hand", external_id=None, custom_fields={}))
    db_session.add(Account(name="From HubSpot", external_id="1234567", custom_fields={}))
    db_session.flush()
    written = export_salesforce(db_session, tmp_path)
    assert written["Account.csv"] == 0
    header, rows = read_csv(tmp_path / "Account.csv")
    assert header[0] == "Id"
    assert rows == []


# --- bad rows ------------------------------------------------------------------------------------


def unknown_account(export_dir: Path) -> tuple[int, str]:
    """Point the 8th opportunity at an account nobody exported; returns its line and the id."""
    unknown = sf_id("account", 99_999, short=True)
    set_cell(export_dir / "Opportunity.csv", 7, "AccountId", unknown)
    return 9, unknown


def test_an_unknown_account_refuses_the_whole_import(db_session: Session, export_dir: Path) -> None:
    line, unknown = unknown_account(export_dir)
    before = state(db_session)
    history_before = count(db_session, OpportunityHistory)

    with pytest.raises(ImportFailed) as caught:
        run(db_session, export_dir)
    db_session.rollback()

    report = caught.value.report
    assert report.rejected_rows >= 1
    problem = next(p for p in report.problems if p.file == "Opportunity.csv")
    assert (problem.line, problem.field, problem.value) == (line, "account", salesforce_id(unknown))
    assert "no account" in problem.reason
    assert "Opportunity.csv line 9" in str(caught.value)
    assert state(db_session) == before
    assert count(db_session, OpportunityHistory) == history_before


def test_quarantine_stores_the_good_rows_and_sets_the_bad_one_aside(
    db_session: Session, export_dir: Path
) -> None:
    line, unknown = unknown_account(export_dir)
    sizes = ExportSizes.scaled(**SIZES)

    report = run(db_session, export_dir, policy="quarantine")

    assert counts(report)["opportunity"] == (sizes.opportunities - 1, 0, 0, 1)
    assert count(db_session, Opportunity) == sizes.opportunities - 1
    # The deal's history, contact roles and activities cannot link to it either: each is named.
    dependants = {p.file for p in report.problems} - {"Opportunity.csv"}
    assert dependants <= {"OpportunityHistory.csv", "OpportunityContactRole.csv", "Task.csv", "Event.csv"}
    quarantined = db_session.scalars(
        select(QuarantinedRow).where(
            QuarantinedRow.import_run_id == report.run_id, QuarantinedRow.file == "Opportunity.csv"
        )
    ).all()
    assert [(row.line, row.field, row.value) for row in quarantined] == [
        (line, "account", salesforce_id(unknown))
    ]
    assert quarantined[0].cells is not None
    assert quarantined[0].cells["AccountId"] == unknown
    assert count(db_session, QuarantinedRow) >= report.rejected_rows


# --- the command line ----------------------------------------------------------------------------


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with sqlite_for_cli(tmp_path, monkeypatch, initialise=False) as url:
        yield url


def test_cli_dry_run_reports_and_writes_nothing(cli_database: str, export_dir: Path) -> None:
    from sqlalchemy import create_engine

    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0

    result = runner.invoke(app, ["import", "salesforce", str(export_dir), "--dry-run"])

    assert result.exit_code == 0, result.output
    assert "would be" in result.output
    assert f"{SIZES['opportunities']}" in result.output
    engine = create_engine(cli_database)
    try:
        with engine.connect() as connection:
            assert connection.scalar(select(func.count()).select_from(Opportunity.__table__)) == 0
            assert connection.scalar(select(func.count()).select_from(Activity.__table__)) == 0
    finally:
        engine.dispose()
