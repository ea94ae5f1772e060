"""Loading a quota sheet: all or nothing, every problem named, idempotent, hostile files refused."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridgehead.errors import ValidationFailed
from bridgehead.planning import service
from bridgehead.planning.models import Quota, QuotaBasis
from bridgehead.planning.sheet import QuotaSheetRejected, load_quota_sheet, parse_sheet_amount
from tests.planning.support import Org, make_org, quota, won


@pytest.fixture
def org(db_session: Session) -> Org:
    """Two teams, their people and a segment."""
    return make_org(db_session)


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def _stored(session: Session) -> list[tuple[int, str, str, Decimal, int, int | None]]:
    return [
        (row.owner_id, row.basis.value, row.period, row.quota_amount, row.ramp_percent, row.segment_id)
        for row in session.scalars(select(Quota).order_by(Quota.owner_id, Quota.period_start_date))
    ]


def test_a_sheet_sets_every_row_and_a_second_load_changes_nothing(
    db_session: Session, org: Org, tmp_path: Path
) -> None:
    sheet = _write(
        tmp_path / "quotas.csv",
        "Owner;Period;Quota Amount;Ramp %;Basis;Segment;Note\r\n"
        "RITA@quota.example;2026-Q1;300.000,00;;bookings;enterprise fs;first year\r\n"
        "005000000000001;2026-Q2;320000;;;;\r\n"
        "tom@quota.example;2026;1,200,000;50;pipeline created;;ramping\r\n",
    )
    first = load_quota_sheet(db_session, actor=org.planner, path=sheet)
    assert (first.rows, first.created, first.updated, first.unchanged) == (3, 3, 0, 0)
    stored = _stored(db_session)
    assert stored == [
        (org.rep.id, "bookings", "2026-Q1", Decimal("300000.00"), 100, org.segment.id),
        (org.rep.id, "bookings", "2026-Q2", Decimal("320000.00"), 100, None),
        (org.teammate.id, "pipeline_created", "2026", Decimal("1200000.00"), 50, None),
    ]
    second = load_quota_sheet(db_session, actor=org.planner, path=sheet)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 3)
    assert _stored(db_session) == stored


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("1,250,000.50", "1250000.50"),
        ("1.250.000,50", "1250000.50"),
        ("1.250.000", "1250000"),
        ("1,250", "1250"),
        ("1250,5", "1250.5"),
        ("$ 250 000", "250000"),
        ("250000", "250000"),
    ],
)
def test_amounts_are_read_as_people_write_them(text: str, amount: str) -> None:
    assert parse_sheet_amount(text) == Decimal(amount)


def test_every_bad_row_is_named_and_nothing_is_stored(db_session: Session, org: Org, tmp_path: Path) -> None:
    service.set_quota(db_session, actor=org.planner, data=quota(org.rep, "111", "2026-Q3"))
    before = _stored(db_session)
    sheet = _write(
        tmp_path / "bad.csv",
        "owner,period,quota_amount,ramp_percent,segment,basis\n"
        "rita@quota.example,2026-Q3,999,,,\n"  # valid: would update, must not
        "nobody@quota.example,2026-Q1,1000,,,\n"
        "tom@quota.example,2026-Q5,1000,,,\n"
        "tom@quota.example,2026-Q1,-5,,,\n"
        "tom@quota.example,2026-Q2,1e308,,,\n"
        "tom@quota.example,2026-Q3,abc,120,Nope,revenue\n"
        "olga@quota.example,2026-Q1,1000,,,\n"
        "olga@quota.example,2026-Q1,2000,,,\n"
        "rita@quota.example,2026,5,,,\n"
        ",2026-Q1,5,,,\n"
        "rita@quota.example,2026-Q4,5,,,,extra\n",
    )
    with pytest.raises(QuotaSheetRejected) as refused:
        load_quota_sheet(db_session, actor=org.planner, path=sheet)
    found = {(problem["line"], problem["field"]) for problem in refused.value.context["problems"]}
    assert found == {
        (3, "owner"),
        (4, "period"),
        (5, "quota_amount"),
        (6, "quota_amount"),
        (7, "quota_amount"),
        (7, "ramp_percent"),
        (7, "segment"),
        (7, "basis"),
        (9, "period"),  # the same person, basis and period as line 8
        (10, "period"),  # 2026 overlaps the 2026-Q3 quota of line 2
        (11, "owner"),
        (12, None),  # a row with an extra column
    }
    reasons = {(problem["line"], problem["field"]): problem for problem in refused.value.context["problems"]}
    assert reasons[(3, "owner")]["value"] == "nobody@quota.example"
    assert "line 8" in reasons[(9, "period")]["reason"]
    assert "too large" in reasons[(6, "quota_amount")]["reason"]
    assert refused.value.context["problem_count"] == 12
    assert "nothing was stored" in refused.value.message
    assert _stored(db_session) == before


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"owner,period,quota_amount\n", "no quotas"),
        (b"person,when\nrita@quota.example,2026-Q1\n", "needs the columns"),
        (b"\x00\x01\x02binary\x00garbage" * 100, "binary"),
    ],
)
def test_hostile_or_empty_files_are_refused_clearly(
    db_session: Session, org: Org, tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "sheet.csv"
    path.write_bytes(content)
    with pytest.raises(ValidationFailed) as refused:
        load_quota_sheet(db_session, actor=org.planner, path=path)
    assert reason in refused.value.message
    assert db_session.scalar(select(func.count()).select_from(Quota)) == 0


def test_windows_1252_and_xlsx_sheets_load(db_session: Session, org: Org, tmp_path: Path) -> None:
    _write(
        tmp_path / "cp.csv",
        "owner\tperiod\tquota_amount\tnote\r\nrita@quota.example\t2026-Q1\t1000\tRéunion Société\r\n",
        "cp1252",
    )
    load_quota_sheet(db_session, actor=org.planner, path=tmp_path / "cp.csv")
    assert db_session.scalar(select(Quota.note)) == "Réunion Société"
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["owner", "period", "quota_amount", "basis"])
    sheet.append(["tom@quota.example", "2026-03", 5000, "pipeline_created"])
    workbook.save(tmp_path / "quotas.xlsx")
    result = load_quota_sheet(db_session, actor=org.planner, path=tmp_path / "quotas.xlsx")
    assert result.created == 1
    stored = db_session.scalars(select(Quota).where(Quota.owner_id == org.teammate.id)).one()
    assert (stored.basis, stored.period, stored.quota_amount) == (
        QuotaBasis.PIPELINE_CREATED,
        "2026-03",
        Decimal("5000.00"),
    )


def test_a_dry_run_counts_without_storing(db_session: Session, org: Org, tmp_path: Path) -> None:
    sheet = _write(tmp_path / "q.csv", "owner,period,quota_amount\nrita@quota.example,2026-Q1,1000\n")
    result = load_quota_sheet(db_session, actor=org.planner, path=sheet, dry_run=True)
    assert (result.dry_run, result.created) == (True, 1)
    assert db_session.scalar(select(func.count()).select_from(Quota)) == 0


def test_a_rep_may_not_load_a_sheet(db_session: Session, org: Org, tmp_path: Path) -> None:
    sheet = _write(tmp_path / "q.csv", "owner,period,quota_amount\nrita@quota.example,2026-Q1,1000\n")
    with pytest.raises(Exception, match="roles"):
        load_quota_sheet(db_session, actor=org.rep, path=sheet)


def test_loaded_quotas_read_their_attainment(db_session: Session, org: Org, tmp_path: Path) -> None:
    won(db_session, org.rep, "250", dt.date(2026, 2, 1))
    sheet = _write(tmp_path / "q.csv", "owner,period,quota_amount\nrita@quota.example,2026-Q1,1000\n")
    load_quota_sheet(db_session, actor=org.planner, path=sheet)
    summary = service.summarise(db_session, viewer=org.planner, filters=service.QuotaFilters())
    assert summary.attainment == pytest.approx(0.25)


def test_rows_that_overlap_each_other_or_share_a_salesforce_id_are_refused(
    db_session: Session, org: Org, tmp_path: Path
) -> None:
    sheet = _write(
        tmp_path / "q.csv",
        "owner,period,quota_amount,external_id\n"
        "rita@quota.example,2026,1000,0QZ000000000001\n"
        "rita@quota.example,2026-Q2,1000,\n"
        "tom@quota.example,2026-Q2,1000,0QZ000000000001\n"
        "tom@quota.example,2026-Q3,1000,\n",
    )
    with pytest.raises(QuotaSheetRejected) as refused:
        load_quota_sheet(db_session, actor=org.planner, path=sheet)
    problems = {
        (problem["line"], problem["field"]): problem["reason"]
        for problem in refused.value.context["problems"]
    }
    assert set(problems) == {(3, "period"), (4, "external_id")}
    assert "line 2" in problems[(3, "period")]
    assert "Salesforce id" in problems[(4, "external_id")]
    assert _stored(db_session) == []
