"""Export service functions and ``bridgehead export``: filters, visibility, formula safety, Data Loader."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from bridgehead.audit.service import record_change
from bridgehead.auth.models import Role, User
from bridgehead.cli import app as cli_app
from bridgehead.common.pagination import PageRequest
from bridgehead.connectors.export import (
    DATA_LOADER_HEADER,
    ExportTable,
    account_export,
    account_owner_export,
    account_owner_gaps,
    csv_chunks,
    opportunity_export,
    write_table,
    write_xlsx,
)
from bridgehead.connectors.schemas import ExportFormat
from bridgehead.crm.models import Account
from bridgehead.crm.schemas import AccountFilters, OpportunityFilters, OpportunitySort, OpportunityStatus
from bridgehead.crm.service import list_opportunities
from bridgehead.errors import PermissionDenied
from tests.factories import make_account, make_opportunity, make_user
from tests.helpers import committed, sqlite_for_cli

runner = CliRunner()


@pytest.fixture
def people(db_session: Session) -> dict[str, User]:
    manager = make_user(db_session, full_name="Mona Manager", role=Role.MANAGER, external_id="005MGR")
    rep = make_user(db_session, full_name="Rita Rep", manager_id=manager.id, external_id="005RITA")
    other = make_user(db_session, full_name="Oscar Other", external_id=None)
    planner = make_user(db_session, full_name="Pia Planner", role=Role.PLANNER)
    return {"manager": manager, "rep": rep, "other": other, "planner": planner}


@pytest.fixture
def records(db_session: Session, people: dict[str, User]) -> dict[str, object]:
    globex = make_account(db_session, name="Globex", external_id="001GLOBEX", owner_id=people["rep"].id)
    initech = make_account(db_session, name="Initech", external_id="001INITECH", owner_id=people["other"].id)
    shared = make_account(db_session, name="+Shared", external_id="001SHARED", owner_id=people["other"].id)
    make_account(db_session, name="Orphan", external_id=None, owner_id=people["rep"].id)
    make_account(db_session, name="Ownerless", external_id="001NOONE", owner_id=None)
    deals = {
        "big": make_opportunity(
            db_session,
            owner_id=people["rep"].id,
            account_id=globex.id,
            name="Big",
            amount=Decimal("90000.50"),
        ),
        "formula": make_opportunity(
            db_session,
            owner_id=people["rep"].id,
            account_id=shared.id,
            name="@SUM(A1:A9)",
            amount=Decimal("10"),
        ),
        "won": make_opportunity(
            db_session,
            owner_id=people["rep"].id,
            account_id=globex.id,
            name="Won",
            stage="Closed Won",
            is_closed=True,
            is_won=True,
            close_date=dt.date(2026, 1, 15),
        ),
        "theirs": make_opportunity(
            db_session, owner_id=people["other"].id, account_id=initech.id, name="Theirs"
        ),
    }
    return {"globex": globex, "initech": initech, **deals}


def _csv(table: ExportTable, *, bom: bool = True) -> list[list[str]]:
    text = "".join(csv_chunks(table, bom=bom))
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def test_opportunity_export_follows_visibility_filters_and_the_page_order(
    db_session: Session, people: dict[str, User], records: dict[str, object]
) -> None:
    rep_rows = _csv(opportunity_export(db_session, viewer=people["rep"], filters=OpportunityFilters()))
    assert rep_rows[0][:3] == ["Id", "External id", "Opportunity"]
    assert sorted(row[2] for row in rep_rows[1:]) == ["'@SUM(A1:A9)", "Big", "Won"]
    manager_rows = _csv(
        opportunity_export(db_session, viewer=people["manager"], filters=OpportunityFilters())
    )
    assert len(manager_rows) == 4  # the rep's three deals: the manager's line, not Oscar's
    everything = _csv(opportunity_export(db_session, viewer=None, filters=OpportunityFilters()))
    assert len(everything) == 5
    won = _csv(
        opportunity_export(
            db_session, viewer=people["rep"], filters=OpportunityFilters(status=OpportunityStatus.WON)
        )
    )
    assert [(row[2], row[6], row[10]) for row in won[1:]] == [("Won", "won", "2026-01-15")]
    for sort in (OpportunitySort.AMOUNT_DESC, OpportunitySort.NAME, OpportunitySort.CLOSE_DATE_DESC):
        filters = OpportunityFilters(sort=sort)
        page = list_opportunities(
            db_session, viewer=people["rep"], filters=filters, page=PageRequest(page_size=500)
        )
        exported = _csv(opportunity_export(db_session, viewer=people["rep"], filters=filters, chunk_size=1))
        assert [int(row[0]) for row in exported[1:]] == [item.id for item in page.items], sort


def test_account_export_follows_visibility(
    db_session: Session, people: dict[str, User], records: dict[str, object]
) -> None:
    rows = _csv(account_export(db_session, viewer=people["rep"], filters=AccountFilters()))
    # Their own accounts, and the account where they have a deal.
    assert [row[2] for row in rows[1:]] == ["'+Shared", "Globex", "Orphan"]
    assert rows[0] == [
        "Id",
        "External id",
        "Account",
        "Industry",
        "Employees",
        "Annual revenue",
        "Currency",
        "Country",
        "State",
        "Owner",
        "Parent account",
    ]
    everyone = _csv(account_export(db_session, viewer=None, filters=AccountFilters(q="o")))
    assert [row[2] for row in everyone[1:]] == ["Globex", "Orphan", "Ownerless"]


def test_csv_cells_are_typed_text_and_formulas_are_neutralised() -> None:
    table = ExportTable(
        "t",
        ["=name", "amount", "day", "at", "flag", "empty"],
        iter(
            [
                [
                    "=1+2",
                    Decimal("12.50"),
                    dt.date(2026, 3, 4),
                    dt.datetime(2026, 3, 4, 10, 11, 12, tzinfo=dt.UTC),
                    True,
                    None,
                ],
                ["-5", -5, None, None, False, ""],
                ["\tTab", 0, None, None, None, "plain"],
            ]
        ),
    )
    pieces = list(csv_chunks(table, rows_per_chunk=1))
    assert len(pieces) >= 3, "written in pieces as rows come"
    assert pieces[0].startswith("\ufeff'=name,")
    rows = list(csv.reader(io.StringIO("".join(pieces).removeprefix("\ufeff"))))
    assert rows[1] == ["'=1+2", "12.50", "2026-03-04", "2026-03-04T10:11:12Z", "true", ""]
    assert rows[2] == ["'-5", "-5", "", "", "false", ""]
    assert rows[3][0] == "'\tTab"


def test_xlsx_keeps_numbers_and_dates_and_never_writes_a_formula(tmp_path: Path) -> None:
    target = tmp_path / "out.xlsx"
    table = ExportTable(
        "deals",
        ["Name", "Amount", "Close"],
        iter([['=HYPERLINK("http://evil")', Decimal("1.5"), dt.date(2026, 3, 4)], ["+1", 2, None]]),
    )
    assert write_xlsx(table, target) == 2
    sheet = load_workbook(target).worksheets[0]
    assert sheet["A2"].value == '\'=HYPERLINK("http://evil")'
    assert sheet["A2"].data_type == "s"
    assert sheet["A3"].value == "'+1"
    assert sheet["B2"].value == 1.5
    assert sheet["C2"].value == dt.datetime(2026, 3, 4)
    assert sheet["A1"].font.bold


def test_account_owners_only_for_planners_with_gaps_counted(
    db_session: Session, people: dict[str, User], records: dict[str, object]
) -> None:
    with pytest.raises(PermissionDenied):
        account_owner_export(db_session, actor=people["rep"])
    table = account_owner_export(db_session, actor=people["planner"])
    rows = _csv(table, bom=False)
    assert rows == [DATA_LOADER_HEADER, ["001GLOBEX", "005RITA"]]
    gaps = account_owner_gaps(db_session, actor=None)
    assert gaps == {"without_id": 1, "without_owner": 1, "owner_without_id": 2}


def test_account_owners_since_a_date_use_the_audit_log_and_updated_at(
    db_session: Session, people: dict[str, User], records: dict[str, object]
) -> None:
    initech = records["initech"]
    assert isinstance(initech, Account)
    db_session.execute(update(User).where(User.id == people["other"].id).values(external_id="005OSCAR"))
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    db_session.execute(update(Account).values(updated_at=long_ago))
    since = dt.date.today() - dt.timedelta(days=7)
    assert _csv(account_owner_export(db_session, actor=None, since=since), bom=False) == [DATA_LOADER_HEADER]
    record_change(
        db_session,
        actor_id=people["planner"].id,
        action="update",
        object_type="account",
        object_id=initech.id,
        before={"owner_id": people["rep"].id},
        after={"owner_id": people["other"].id},
    )
    # An audit entry about another field does not count.
    record_change(
        db_session,
        actor_id=people["planner"].id,
        action="update",
        object_type="account",
        object_id=records["globex"].id,  # type: ignore[attr-defined]
        before={"industry": "Energy"},
        after={"industry": "Software"},
    )
    assert _csv(account_owner_export(db_session, actor=None, since=since), bom=False) == [
        DATA_LOADER_HEADER,
        ["001INITECH", "005OSCAR"],
    ]
    db_session.execute(
        update(Account).where(Account.name == "+Shared").values(updated_at=dt.datetime.now(dt.UTC))
    )
    rows = _csv(account_owner_export(db_session, actor=None, since=since), bom=False)
    assert [row[0] for row in rows[1:]] == ["001INITECH", "001SHARED"]


def test_write_table_leaves_no_half_file_on_failure(tmp_path: Path) -> None:
    def broken() -> Iterator[list[object]]:
        yield ["fine"]
        raise RuntimeError("the database went away")

    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError):
        write_table(ExportTable("t", ["a"], broken()), target, ExportFormat.CSV)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
    assert write_table(ExportTable("t", ["a"], iter([["x"]])), target, ExportFormat.CSV) == 1
    assert target.read_bytes() == b"\xef\xbb\xbfa\r\nx\r\n"


# --- the command line --------------------------------------------------------------------------


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with sqlite_for_cli(tmp_path, monkeypatch) as url:
        with committed(url) as session:
            rep = make_user(session, full_name="Rita Rep", email="rita@example.com", external_id="005RITA")
            account = make_account(session, name="Globex", external_id="001GLOBEX", owner_id=rep.id)
            make_opportunity(session, owner_id=rep.id, account_id=account.id, name="=Open deal")
            make_opportunity(
                session,
                owner_id=rep.id,
                account_id=account.id,
                name="Won deal",
                stage="Closed Won",
                is_closed=True,
                is_won=True,
            )
        yield url


def test_cli_exports_opportunities_and_accounts(cli_database: str, tmp_path: Path) -> None:
    result = runner.invoke(cli_app, ["export", "opportunities", "open.csv", "--status", "open"])
    assert result.exit_code == 0, result.output
    assert "Wrote 1 opportunities" in result.output
    rows = list(csv.DictReader(io.StringIO((tmp_path / "open.csv").read_text(encoding="utf-8-sig"))))
    assert [row["Opportunity"] for row in rows] == ["'=Open deal"]
    result = runner.invoke(cli_app, ["export", "opportunities", "all.xlsx", "--owner", "rita@example.com"])
    assert result.exit_code == 0, result.output
    sheet = load_workbook(tmp_path / "all.xlsx", read_only=True).worksheets[0]
    assert len(list(sheet.iter_rows())) == 3
    result = runner.invoke(cli_app, ["export", "accounts", "accounts.csv", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert "Globex" in (tmp_path / "accounts.csv").read_text(encoding="utf-8-sig")


def test_cli_exports_account_owners_for_data_loader(cli_database: str, tmp_path: Path) -> None:
    result = runner.invoke(cli_app, ["export", "account-owners", "owners.csv"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "owners.csv").read_bytes() == b"Id,OwnerId\r\n001GLOBEX,005RITA\r\n"
    result = runner.invoke(cli_app, ["export", "account-owners", "since.csv", "--since", "2999-01-01"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "since.csv").read_bytes() == b"Id,OwnerId\r\n"


def test_cli_refuses_bad_filters_and_quotas_in_one_line(cli_database: str, tmp_path: Path) -> None:
    bad = runner.invoke(cli_app, ["export", "opportunities", "x.csv", "--close-quarter", "someday"])
    assert bad.exit_code == 2
    assert bad.stderr.strip().startswith("error: close_quarter")
    assert len(bad.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.csv").exists()
    unknown = runner.invoke(cli_app, ["export", "opportunities", "x.csv", "--owner", "nobody@example.com"])
    assert unknown.exit_code != 0
    assert "Traceback" not in unknown.output
    # Salesforce files every quota under a forecast type: without one, nothing is written.
    quotas = runner.invoke(cli_app, ["export", "quotas", "quotas.csv"])
    assert quotas.exit_code == 2
    assert "--forecasting-type-id" in quotas.output
    assert not (tmp_path / "quotas.csv").exists()
