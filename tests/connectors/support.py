"""Helpers for the connector tests: a snapshot of everything stored, and small import runners."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import func, inspect, select, table
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bridgehead.config import Settings
from bridgehead.connectors.engine import ImportOptions, ImportReport
from bridgehead.connectors.mapping import load_mapping
from bridgehead.connectors.service import import_with_mapping
from bridgehead.db import Base, make_engine
from bridgehead.migrate import upgrade_database
from tests.conftest import DATA_DIR, create_postgres_database, drop_postgres_database

REPO = Path(__file__).resolve().parents[2]
MAPPINGS = REPO / "examples" / "mappings"
MAVEN_DIR = DATA_DIR / "maven-crm"
SALVIRT_FILE = DATA_DIR / "salvirt-b2b" / "Salvirt_B2B_ML_dataset_HF.csv"
# Rows whose every column is compared before and after a refused import.
CHECKSUMMED_TABLES = ("opportunity", "account", "contact", "user", "org_unit", "opportunity_contact_role")


def snapshot(session: Session) -> dict[str, Any]:
    """Row counts of every table in the database and a checksum of the CRM rows' contents."""
    session.flush()
    connection = session.connection()
    names = sorted(name for name in inspect(connection).get_table_names() if name != "alembic_version")
    tables = {table.name: table for table in Base.metadata.sorted_tables}
    state: dict[str, Any] = {}
    for name in names:
        state[f"count:{name}"] = session.scalar(select(func.count()).select_from(table(name)))
    for name in CHECKSUMMED_TABLES:
        mapped = tables[name]
        digest = hashlib.sha256()
        for row in session.execute(select(mapped).order_by(mapped.c.id)):
            digest.update(repr(tuple(row)).encode())
        state[f"sha256:{name}"] = digest.hexdigest()
    return state


def import_mapping(
    session: Session, location: Path, mapping: Path, options: ImportOptions | None = None
) -> ImportReport:
    """Run ``import_with_mapping`` as the command-line operator."""
    return import_with_mapping(
        session,
        actor=None,
        location=location,
        mapping=load_mapping(mapping),
        options=options or ImportOptions(),
    )


def counts_of(report: ImportReport) -> dict[str, tuple[int, int, int, int]]:
    """``{entity: (created, updated, unchanged, rejected)}``."""
    return {
        name: (counts.created, counts.updated, counts.unchanged, counts.rejected)
        for name, counts in report.counts.items()
    }


@contextmanager
def fresh_database(backend: str, directory: Path) -> Iterator[Engine]:
    """A migrated, empty database of ``backend`` that lives as long as the block."""
    if backend == "sqlite":
        url = f"sqlite:///{directory / 'imported.db'}"
    else:
        url = create_postgres_database("bh_import")
    engine = make_engine(Settings(), url=url)
    try:
        upgrade_database(engine)
        yield engine
    finally:
        engine.dispose()
        if backend != "sqlite":
            drop_postgres_database(url)


# The Salvirt dataset's columns (shared/data/salvirt-b2b), for tests that need them without the file.
SALVIRT_HEADER = [
    "Product",
    "Seller",
    "Authority",
    "Comp_size",
    "Competitors",
    "Purch_dept",
    "Partnership",
    "Budgt_alloc",
    "Forml_tend",
    "RFI",
    "RFP",
    "Growth",
    "Posit_statm",
    "Source",
    "Client",
    "Scope",
    "Strat_deal",
    "Cross_sale",
    "Up_sale",
    "Deal_type",
    "Needs_def",
    "Att_t_client",
    "Status",
]
