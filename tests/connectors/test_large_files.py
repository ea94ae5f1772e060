"""Large export files in bounded memory: the CSV reader reads only a few blocks ahead, and
references resolve through a compact sorted index exactly as an exact hash lookup resolves them."""

from __future__ import annotations

import random
import string
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from benchmarks.salesforce_generator import generate_salesforce_export
from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Session

from bridgehead.connectors import arrow_csv, key_index
from bridgehead.connectors.arrow_csv import read_chunks
from bridgehead.connectors.files import open_table
from bridgehead.connectors.key_index import KeyIndex
from bridgehead.crm.models import Activity
from tests.connectors.support import fresh_database
from tests.connectors.test_salesforce import run

BLOCK = 64 * 1024


def _big_csv(path: Path, rows: int) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("Id,Name,Note\n")
        for row in range(rows):
            handle.write(f'{row},name {row},"note, {row} {"x" * 40}"\n')
    return path


def test_the_reader_stays_a_few_blocks_ahead_of_the_rows_handed_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(arrow_csv, "BLOCK_BYTES", BLOCK)
    path = _big_csv(tmp_path / "Task.csv", 40_000)  # about 50 blocks
    sources: list[arrow_csv._PacedFile] = []
    original = arrow_csv._PacedFile

    def spy(*args: object) -> arrow_csv._PacedFile:
        source = original(*args)  # type: ignore[arg-type]
        sources.append(source)
        return source

    monkeypatch.setattr(arrow_csv, "_PacedFile", spy)
    read_ahead: list[int] = []
    lines: list[int] = []
    for handed_out, chunk in enumerate(read_chunks(open_table(path)), start=1):
        read_ahead.append(sources[0]._read - handed_out * BLOCK)
        lines.extend(int(line) for line in chunk.lines)
    assert path.stat().st_size > 40 * BLOCK
    assert max(read_ahead) <= arrow_csv.READ_AHEAD_BLOCKS * BLOCK
    assert lines == list(range(2, 40_002))
    assert sources[0].closed


def test_leaving_a_file_early_stops_its_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arrow_csv, "BLOCK_BYTES", BLOCK)
    path = _big_csv(tmp_path / "Task.csv", 40_000)
    threads = threading.active_count()
    chunks = read_chunks(open_table(path))
    first = next(chunks)
    assert len(first)
    chunks.close()  # what an exception in the importer does
    # Arrow's background reader sees the end of the file instead of waiting for a grant.
    assert threading.active_count() <= threads + 8


def _random_id(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(length))


@pytest.mark.parametrize("odd_keys", [[], ["é", "abc", "x" * 40, "ü" * 5], ["a\x00", "abc"]])
def test_the_key_index_finds_what_an_exact_lookup_finds(
    odd_keys: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(key_index, "READ_SLICE", 7)  # several slices
    rng = random.Random(3)
    engine = create_engine("sqlite://")
    metadata = MetaData()
    table = Table(
        "records",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("external_id", String, nullable=True),
    )
    metadata.create_all(engine)
    keys = sorted({_random_id(rng, 18) for _ in range(300)}) + odd_keys
    rng.shuffle(keys)
    with engine.begin() as connection:
        connection.execute(insert(table), [{"external_id": key} for key in keys] + [{"external_id": None}])
        index = KeyIndex(connection, table)
        stored = connection.execute(
            select(table.c.external_id, table.c.id).where(table.c.external_id.is_not(None))
        ).all()
    wanted = keys[:80] + [_random_id(rng, 18) for _ in range(30)]
    wanted += ["", None, "ab", "abc\x00", "x" * 41, "é", "ü" * 4, "a", "a\x00", keys[0].lower()]
    rng.shuffle(wanted)
    cells = pa.array(wanted, pa.string())
    exact = pc.take(
        pa.array([row[1] for row in stored], pa.int64()),
        pc.index_in(cells, value_set=pa.array([row[0] for row in stored], pa.string())),
    )
    assert index.lookup(cells).equals(exact)
    assert index.lookup(cells.slice(5, 40)).equals(exact.slice(5, 40))
    assert index.lookup(cells).null_count == sum(1 for value in wanted if value not in keys)


def test_an_import_reads_each_referenced_table_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "export"
    generate_salesforce_export(directory, opportunities=40, history=120, activities=160)
    read: list[str] = []
    original = key_index.KeyIndex.__init__

    def spy(self: KeyIndex, connection: Connection, table: Table) -> None:
        read.append(table.name)
        original(self, connection, table)

    monkeypatch.setattr(key_index.KeyIndex, "__init__", spy)
    with fresh_database("sqlite", tmp_path) as engine, Session(engine) as session:
        report = run(session, directory)
        assert report.ok
        stored = session.scalar(
            select(func.count()).select_from(Activity).where(Activity.opportunity_id.is_not(None))
        )
    # Opportunities are referenced by history, contact roles, tasks and events: read once.
    assert read.count("opportunity") == 1
    assert read.count("user") == 1  # every file after User.csv names owners
    assert stored
