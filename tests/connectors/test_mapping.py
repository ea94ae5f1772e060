"""The shipped mappings import the real public datasets and reproduce their published figures.

One database per backend is imported once for the module (Maven CRM, then Salvirt into the same
database); every figure is then computed by SQL from what was stored.
"""

from __future__ import annotations

import csv
import shutil
import statistics
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import ColumnElement, case, extract, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, aliased

from bridgehead.auth.models import Role, User
from bridgehead.connectors.engine import ImportOptions
from bridgehead.connectors.files import FileRejected
from bridgehead.connectors.mapping import MappingInvalid, load_mapping, mapping_batches, parse_mapping
from bridgehead.crm.models import Account, Opportunity, OrgUnit, OrgUnitKind
from tests.connectors.support import (
    MAPPINGS,
    MAVEN_DIR,
    SALVIRT_FILE,
    SALVIRT_HEADER,
    counts_of,
    fresh_database,
    import_mapping,
    snapshot,
)

MAVEN_MAPPING = MAPPINGS / "maven-crm.toml"
SALVIRT_MAPPING = MAPPINGS / "salvirt-b2b.toml"
SALVIRT_ATTRIBUTES = set(SALVIRT_HEADER) - {"Product", "Seller", "Status"}

WON = func.sum(case((Opportunity.is_won, 1), else_=0))
CLOSED = func.sum(case((Opportunity.is_closed, 1), else_=0))
IS_MAVEN = Opportunity.external_id.not_like("salvirt:%")
IS_SALVIRT = Opportunity.external_id.like("salvirt:%")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def imported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A database of each backend holding Maven CRM and Salvirt, imported through the shipped mappings."""
    with fresh_database(request.param, tmp_path_factory.mktemp("imported")) as engine:
        with Session(engine) as session:
            maven = import_mapping(session, MAVEN_DIR, MAVEN_MAPPING)
            salvirt = import_mapping(session, SALVIRT_FILE, SALVIRT_MAPPING)
            assert maven.ok, maven.problems[:5]
            assert salvirt.ok, salvirt.problems[:5]
            session.commit()
        yield engine


@pytest.fixture
def session(imported: Engine) -> Iterator[Session]:
    """A session on the imported database whose changes are thrown away."""
    with Session(imported) as session:
        yield session
        session.rollback()


def _rate(won: int, closed: int) -> float:
    return round(won / closed, 4)


def _rates(
    session: Session, key: ColumnElement[str], *joins: tuple[object, object]
) -> dict[str, tuple[float, int]]:
    query = select(key, WON, CLOSED).select_from(Opportunity)
    for target, on in joins:
        query = query.join(target, on)  # type: ignore[arg-type]
    rows = session.execute(query.where(IS_MAVEN).group_by(key)).all()
    return {name: (_rate(int(won), int(closed)), int(closed)) for name, won, closed in rows}


# --- Maven CRM ---------------------------------------------------------------------------------


def test_maven_counts(session: Session) -> None:
    assert session.scalar(select(func.count()).where(IS_MAVEN)) == 8_800
    assert session.scalar(select(func.count()).select_from(Account)) == 85
    roles = dict(
        session.execute(
            select(User.role, func.count())
            .where(User.external_id.not_like("salvirt-seller:%"))
            .group_by(User.role)
        ).all()
    )
    assert roles == {Role.REP: 35, Role.MANAGER: 6}
    kinds = dict(session.execute(select(OrgUnit.kind, func.count()).group_by(OrgUnit.kind)).all())
    assert kinds == {OrgUnitKind.REGION: 3, OrgUnitKind.TEAM: 6}
    # Every agent reports to a manager and sits in that manager's team, which sits in a region.
    team = aliased(OrgUnit)
    region = aliased(OrgUnit)
    placed = session.scalar(
        select(func.count())
        .select_from(User)
        .join(team, User.org_unit_id == team.id)
        .join(region, team.parent_id == region.id)
        .where(User.role == Role.REP, User.manager_id.is_not(None), region.kind == OrgUnitKind.REGION)
    )
    assert placed == 35


def test_maven_overall_win_rate(session: Session) -> None:
    won, closed = session.execute(select(WON, CLOSED).where(IS_MAVEN)).one()
    assert (int(won), int(closed)) == (4_238, 6_711)
    assert _rate(int(won), int(closed)) == 0.6315


def test_maven_win_rate_by_regional_office(session: Session) -> None:
    agent = aliased(User)
    team = aliased(OrgUnit)
    region = aliased(OrgUnit)
    rates = _rates(
        session,
        region.name,
        (agent, Opportunity.owner_id == agent.id),
        (team, agent.org_unit_id == team.id),
        (region, team.parent_id == region.id),
    )
    assert rates == {"West": (0.6394, 2_249), "East": (0.6302, 1_858), "Central": (0.6256, 2_604)}


def test_maven_win_rate_by_manager(session: Session) -> None:
    agent = aliased(User)
    manager = aliased(User)
    rates = _rates(
        session,
        manager.full_name,
        (agent, Opportunity.owner_id == agent.id),
        (manager, agent.manager_id == manager.id),
    )
    assert {name: rate for name, (rate, _) in rates.items()} == {
        "Cara Losch": 0.6443,
        "Summer Sewald": 0.6434,
        "Celia Rouche": 0.6341,
        "Dustin Brinkmann": 0.6298,
        "Melvin Marxen": 0.6220,
        "Rocco Neubert": 0.6208,
    }


def test_maven_best_and_worst_agent(session: Session) -> None:
    rates = _rates(session, User.full_name, (User, Opportunity.owner_id == User.id))
    ranked = sorted(rates.items(), key=lambda item: item[1][0])
    assert ranked[-1] == ("Hayden Neloms", (0.7039, 152))
    assert ranked[0] == ("Lajuana Vencill", (0.5498, 231))
    assert len(rates) == 30  # 5 of the 35 agents have no deals


def test_maven_median_days_from_engage_to_close(session: Session) -> None:
    rows = session.execute(
        select(Opportunity.is_won, Opportunity.created_at, Opportunity.close_date).where(
            IS_MAVEN, Opportunity.is_closed
        )
    ).all()
    days: dict[bool, list[int]] = {True: [], False: []}
    for is_won, created_at, close_date in rows:
        days[is_won].append((close_date - created_at.date()).days)
    assert statistics.median(days[True]) == 57
    assert statistics.median(days[False]) == 14


def test_maven_won_value_by_quarter_of_2017(session: Session) -> None:
    month = extract("month", Opportunity.close_date)
    rows = session.execute(
        select(month, func.sum(Opportunity.amount))
        .where(IS_MAVEN, Opportunity.is_won, extract("year", Opportunity.close_date) == 2017)
        .group_by(month)
    ).all()
    quarters = {quarter: Decimal(0) for quarter in (1, 2, 3, 4)}
    for number, total in rows:
        quarters[(int(number) - 1) // 3 + 1] += total
    assert quarters == {1: 1_134_672, 2: 3_086_111, 3: 2_982_255, 4: 2_802_496}
    assert sum(quarters.values()) == 10_005_534


def test_maven_quirks_are_handled_by_the_mapping(session: Session) -> None:
    products = dict(
        session.execute(
            select(Opportunity.product, func.count()).where(IS_MAVEN).group_by(Opportunity.product)
        ).all()
    )
    assert "GTXPro" not in products
    assert products["GTX Pro"] == 1_480
    industries = set(session.scalars(select(Account.industry).distinct()))
    assert "technolgy" not in industries
    assert "technology" in industries
    countries = set(session.scalars(select(Account.country).distinct()))
    assert "Philipines" not in countries
    assert "Philippines" in countries
    # Blank accounts on open deals: imported, with no account.
    without_account = session.execute(
        select(func.count(), func.sum(case((Opportunity.is_closed, 1), else_=0))).where(
            IS_MAVEN, Opportunity.account_id.is_(None)
        )
    ).one()
    assert (without_account[0], int(without_account[1])) == (1_425, 0)
    # Open deals have no close date and no value; Prospecting deals had no engage date either.
    open_deals = dict(
        session.execute(
            select(Opportunity.stage, func.count())
            .where(
                IS_MAVEN,
                ~Opportunity.is_closed,
                Opportunity.close_date.is_(None),
                Opportunity.amount.is_(None),
            )
            .group_by(Opportunity.stage)
        ).all()
    )
    assert open_deals == {"Engaging": 1_589, "Prospecting": 500}


def test_maven_accounts_keep_size_revenue_parent_and_custom_fields(session: Session) -> None:
    acme = session.scalars(select(Account).where(Account.external_id == "Acme Corporation")).one()
    assert acme.industry == "technology"
    assert acme.employees == 2822
    assert acme.annual_revenue_amount == Decimal("1100040000.00")  # USD millions in the source
    assert acme.custom_fields == {"year_established": "1996"}
    with MAVEN_DIR.joinpath("accounts.csv").open(encoding="utf-8", newline="") as handle:
        subsidiaries = {
            row["account"]: row["subsidiary_of"] for row in csv.DictReader(handle) if row["subsidiary_of"]
        }
    parent = aliased(Account)
    linked = dict(
        session.execute(
            select(Account.name, parent.name).join(parent, Account.parent_account_id == parent.id)
        ).all()
    )
    assert linked == subsidiaries
    assert len(linked) > 0


def test_maven_reimport_changes_nothing(session: Session) -> None:
    before = snapshot(session)
    report = import_mapping(session, MAVEN_DIR, MAVEN_MAPPING)
    assert report.ok
    assert counts_of(report) == {
        "org_unit": (0, 0, 9, 0),
        "user": (0, 0, 41, 0),
        "account": (0, 0, 85, 0),
        "opportunity": (0, 0, 8_800, 0),
    }
    after = snapshot(session)
    # Only the record of the run itself (and its audit entry) is new.
    assert after["count:import_run"] == before["count:import_run"] + 1
    assert {key: value for key, value in after.items() if "import_run" not in key and "audit" not in key} == {
        key: value for key, value in before.items() if "import_run" not in key and "audit" not in key
    }


def test_maven_newer_export_updates_only_what_changed(session: Session, tmp_path: Path) -> None:
    for path in MAVEN_DIR.glob("*.csv"):
        shutil.copy(path, tmp_path / path.name)
    pipeline = tmp_path / "sales_pipeline.csv"
    text = pipeline.read_bytes().decode("utf-8")
    # Z063OYW0 was Won at 4514; the newer export says 4600.
    assert "Z063OYW0,Darcel Schlecht,GTXPro,Isdom,Won,2016-10-25,2017-03-11,4514\r\n" in text
    pipeline.write_bytes(text.replace("2017-03-11,4514\r\n", "2017-03-11,4600\r\n").encode("utf-8"))
    report = import_mapping(session, tmp_path, MAVEN_MAPPING)
    assert counts_of(report)["opportunity"] == (0, 1, 8_799, 0)
    assert counts_of(report)["account"] == (0, 0, 85, 0)
    amount = session.scalar(select(Opportunity.amount).where(Opportunity.external_id == "Z063OYW0"))
    assert amount == Decimal("4600.00")


# --- Salvirt -----------------------------------------------------------------------------------


def test_salvirt_imports_every_row_as_a_closed_opportunity(session: Session) -> None:
    won, closed, total = session.execute(select(WON, CLOSED, func.count()).where(IS_SALVIRT)).one()
    assert (int(won), int(closed), total) == (227, 448, 448)
    assert _rate(int(won), int(closed)) == 0.5067
    stages = dict(
        session.execute(
            select(Opportunity.stage, func.count()).where(IS_SALVIRT).group_by(Opportunity.stage)
        ).all()
    )
    assert stages == {"Closed Won": 227, "Closed Lost": 221}
    with SALVIRT_FILE.open(encoding="utf-8", newline="") as handle:
        sellers = {row["Seller"] for row in csv.DictReader(handle, delimiter=";")}
    owners = set(
        session.scalars(
            select(User.full_name)
            .join(Opportunity, Opportunity.owner_id == User.id)
            .where(IS_SALVIRT)
            .distinct()
        )
    )
    assert owners == sellers


def test_salvirt_keeps_every_qualification_attribute(session: Session) -> None:
    custom_fields = list(session.scalars(select(Opportunity.custom_fields).where(IS_SALVIRT)))
    assert len(custom_fields) == 448
    assert all(set(fields) == SALVIRT_ATTRIBUTES for fields in custom_fields)
    first = session.scalars(select(Opportunity).where(Opportunity.external_id == "salvirt:2")).one()
    assert first.product == "Product A"
    assert first.custom_fields["Authority"] == "Mid"
    assert first.custom_fields["Att_t_client"] == "Strategic account"
    # The 83 exact duplicates are distinct deals: every line has its own record.
    with SALVIRT_FILE.open(encoding="utf-8", newline="") as handle:
        lines = list(csv.reader(handle, delimiter=";"))[1:]
    first_seen: dict[tuple[str, ...], int] = {}
    duplicates: list[tuple[int, int]] = []
    for line, cells in enumerate(lines, start=2):
        if tuple(cells) in first_seen:
            duplicates.append((first_seen[tuple(cells)], line))
        first_seen.setdefault(tuple(cells), line)
    assert len(duplicates) == 83
    original, repeat = duplicates[0]
    pair = session.scalars(
        select(Opportunity).where(Opportunity.external_id.in_([f"salvirt:{original}", f"salvirt:{repeat}"]))
    ).all()
    assert len(pair) == 2
    assert pair[0].custom_fields == pair[1].custom_fields


def test_salvirt_win_rate_with_and_without_a_competitor(session: Session) -> None:
    competitors = Opportunity.custom_fields["Competitors"].as_string()
    rates = {
        value: _rate(int(won), int(closed))
        for value, won, closed in session.execute(
            select(competitors, WON, CLOSED).where(IS_SALVIRT).group_by(competitors)
        ).all()
    }
    assert round(rates["Yes"], 2) == 0.21
    assert round(rates["No"], 2) == 0.67


def test_salvirt_reimport_changes_nothing(session: Session) -> None:
    report = import_mapping(session, SALVIRT_FILE, SALVIRT_MAPPING)
    assert counts_of(report) == {"user": (0, 0, 18, 0), "opportunity": (0, 0, 448, 0)}


# --- mistakes in the mapping -------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_entity_names_its_section(tmp_path: Path) -> None:
    mapping = _write(
        tmp_path / "m.toml",
        '[[files]]\npath = "a.csv"\nentity = "opportunity"\n[files.fields]\nid = "id"\n'
        '[[files]]\npath = "b.csv"\nentity = "deal"\n[files.fields]\nid = "id"\n',
    )
    with pytest.raises(MappingInvalid) as caught:
        load_mapping(mapping)
    assert caught.value.context["field"] == "files[2].entity"
    assert caught.value.context["value"] == "deal"
    assert "unknown entity" in caught.value.message


def test_unknown_field_names_its_key(tmp_path: Path) -> None:
    mapping = _write(
        tmp_path / "m.toml",
        '[[files]]\npath = "a.csv"\nentity = "opportunity"\n[files.fields]\nid = "id"\nrevenue = "amt"\n',
    )
    with pytest.raises(MappingInvalid) as caught:
        load_mapping(mapping)
    assert caught.value.context["field"] == "files[1].fields.revenue"
    assert "opportunity has no field 'revenue'" in caught.value.message
    assert "amount" in caught.value.message  # the fields it does have are listed


def test_bad_toml_names_the_file_and_line(tmp_path: Path) -> None:
    mapping = _write(tmp_path / "broken.toml", '[[files]]\npath = "a.csv\nentity = "user"\n')
    with pytest.raises(MappingInvalid) as caught:
        load_mapping(mapping)
    assert caught.value.context["value"] == "broken.toml"
    assert "not valid TOML" in caught.value.message
    assert "line 2" in caught.value.message


@pytest.mark.parametrize(
    ("data", "where", "phrase"),
    [
        ({}, "files", "at least one [[files]]"),
        (
            {"files": [{"path": "a.csv", "entity": "user", "fields": {"full_name": "n"}}]},
            "files[1].fields",
            "id",
        ),
        (
            {"files": [{"path": "a.csv", "entity": "user", "fields": {"id": {"column": "a", "value": "b"}}}]},
            "files[1].fields.id",
            "exactly one",
        ),
        (
            {"files": [{"path": "a.csv", "entity": "user", "fields": {"id": {"column": "a", "mapp": {}}}}]},
            "files[1].fields.id",
            "unknown keys",
        ),
        (
            {"files": [{"path": "a.csv", "entity": "user", "fields": {"id": "a"}, "custom": 3}]},
            "files[1].custom",
            "custom",
        ),
        ({"files": [{"entity": "user", "fields": {"id": "a"}}]}, "files[1].path", "path"),
        (
            {"files": [{"path": "a", "entity": "user", "fields": {"id": "a"}, "encoding": "utf-9"}]},
            "files[1].encoding",
            "unknown encoding",
        ),
        (
            {"files": [{"path": "a", "entity": "user", "fields": {"id": "a"}, "delimiter": ";;"}]},
            "files[1].delimiter",
            "one character",
        ),
        (
            {"date_formats": "%Y", "files": [{"path": "a", "entity": "user", "fields": {"id": "a"}}]},
            "date_formats",
            "list",
        ),
    ],
)
def test_other_mapping_mistakes_name_their_place(data: dict[str, object], where: str, phrase: str) -> None:
    with pytest.raises(MappingInvalid) as caught:
        parse_mapping(data)
    assert caught.value.context["field"] == where
    assert phrase in caught.value.message


def test_missing_mapping_file(tmp_path: Path) -> None:
    with pytest.raises(MappingInvalid, match="not found"):
        load_mapping(tmp_path / "nope.toml")


def test_a_column_the_file_lacks_is_named(tmp_path: Path) -> None:
    _write(tmp_path / "deals.csv", "id,title\n1,First\n")
    mapping = parse_mapping(
        {
            "files": [
                {"path": "deals.csv", "entity": "opportunity", "fields": {"id": "id", "name": "deal_name"}}
            ]
        }
    )
    with pytest.raises(FileRejected) as caught:
        list(mapping_batches(mapping, tmp_path))
    assert caught.value.context["value"] == "deals.csv"
    assert (
        "field 'name' reads column 'deal_name', which the file lacks (columns: id, title)"
        in caught.value.message
    )


def test_a_custom_column_the_file_lacks_is_named(tmp_path: Path) -> None:
    _write(tmp_path / "deals.csv", "id,title\n1,First\n")
    mapping = parse_mapping(
        {
            "files": [
                {"path": "deals.csv", "entity": "opportunity", "fields": {"id": "id"}, "custom": ["region"]}
            ]
        }
    )
    with pytest.raises(FileRejected, match="keeps column 'region' as a custom field"):
        list(mapping_batches(mapping, tmp_path))


def test_a_file_the_mapping_names_is_missing(tmp_path: Path) -> None:
    mapping = parse_mapping(
        {"files": [{"path": "deals.csv", "entity": "opportunity", "fields": {"id": "id"}}]}
    )
    with pytest.raises(FileRejected) as caught:
        list(mapping_batches(mapping, tmp_path))
    assert caught.value.context["value"] == str(tmp_path / "deals.csv")


def test_maven_mapping_errors_leave_the_database_alone(db_session: Session, tmp_path: Path) -> None:
    """A mapping that points at a column the real file lacks is refused before anything is written."""
    text = MAVEN_MAPPING.read_text(encoding="utf-8").replace(
        'amount = "close_value"', 'amount = "close_amount"'
    )
    mapping = _write(tmp_path / "maven.toml", text)
    db_session.commit()
    before = snapshot(db_session)
    with pytest.raises(FileRejected, match="'amount' reads column 'close_amount'"):
        import_mapping(db_session, MAVEN_DIR, mapping, ImportOptions(policy="quarantine"))
    db_session.rollback()
    assert snapshot(db_session) == before
