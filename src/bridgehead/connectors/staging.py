"""The staging table of one import batch: parsed rows land here before references and upserts.

Rows arrive either one by one (``load``, from the row-wise parser) or as Arrow tables
(``load_arrow``, from the column-wise one): ``executemany`` of tuples on SQLite, ``COPY`` on
PostgreSQL (CSV written by Arrow for whole tables).
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.csv as pacsv  # type: ignore[import-untyped]
from sqlalchemy import BigInteger, Boolean, Column, Date, Integer, MetaData, String, Table, Text
from sqlalchemy.orm import Session

from bridgehead.common.types import UTCDateTime
from bridgehead.connectors.entities import FieldSpec, Kind
from bridgehead.connectors.report import EntityBatch
from bridgehead.db import analyze_scratch, sqlite_index_build

# Rows handed to SQLite's executemany at a time (as Python tuples).
SQLITE_ROWS_PER_WRITE = 10_000


def stage_name(spec: FieldSpec) -> str:
    """The stage column holding ``spec``'s value (a reference holds the other record's external id)."""
    return f"{spec.name}_ext" if spec.kind == Kind.REF else spec.name


def stage_type(spec: FieldSpec) -> Any:
    """The SQL type of ``spec``'s stage column."""
    return {
        Kind.INT: BigInteger(),
        Kind.MONEY: BigInteger(),
        Kind.PERCENT: Integer(),
        Kind.BOOL: Boolean(create_constraint=False),
        Kind.DATE: Date(),
        Kind.DATETIME: UTCDateTime(),
    }.get(spec.kind, Text())


class Stage:
    """A temporary table holding one batch's parsed rows."""

    def __init__(self, session: Session, batch: EntityBatch, keep_cells: bool) -> None:
        self.session = session
        self.batch = batch
        self.specs = [batch.entity.field(name) for name in batch.fields]
        self.refs = [spec for spec in self.specs if spec.kind == Kind.REF]
        self.has_custom = batch.has_custom_fields and "custom_fields" in batch.entity.table.c
        # The column-wise loader fills the ids of references to other entities as it stages rows.
        self.references_resolved = False
        columns: list[Column[Any]] = [
            Column("_line", Integer, nullable=False),
            Column("_ext", String(255), nullable=False),
            Column("_rejected", Boolean(create_constraint=False), nullable=False, default=False),
        ]
        if keep_cells:
            columns.append(Column("_cells", Text))
        if self.has_custom:
            columns.append(Column("custom_fields", Text))
        if batch.entity.name == "user" and "email" not in batch.fields:
            # New users need an e-mail even when the file has none (see parsing.placeholder_email).
            columns.append(Column("email", Text))
        for spec in self.specs:
            columns.append(Column(stage_name(spec), stage_type(spec)))
            if spec.kind == Kind.REF:
                columns.append(Column(f"{spec.name}_id", BigInteger))
        name = f"stage_{batch.entity.name}_{uuid.uuid4().hex[:8]}"
        self.table = Table(name, MetaData(), *columns, prefixes=["TEMPORARY"])
        connection = session.connection()
        self.table.create(connection)

    def load(self, rows: Iterator[dict[str, Any]], batch_size: int) -> None:
        """Insert parsed rows in chunks (COPY on PostgreSQL)."""
        connection = self.session.connection()
        names = [column.name for column in self.table.columns]
        chunk: list[dict[str, Any]] = []
        postgres = connection.dialect.name == "postgresql"
        for row in rows:
            chunk.append(row)
            if len(chunk) >= batch_size:
                self._write(chunk, names, postgres)
                chunk = []
        if chunk:
            self._write(chunk, names, postgres)
        self.analyze()

    def _write(self, chunk: list[dict[str, Any]], names: list[str], postgres: bool) -> None:
        connection = self.session.connection()
        if postgres:
            raw = connection.connection.driver_connection
            assert raw is not None
            with (
                raw.cursor() as cursor,
                cursor.copy(f"COPY {self.table.name} ({', '.join(names)}) FROM STDIN") as copy,
            ):
                for row in chunk:
                    copy.write_row([row.get(name, False if name == "_rejected" else None) for name in names])
            return
        # The driver's executemany with each column's bind processor: SQLAlchemy's per-row
        # parameter handling would cost more than the parsing itself on large files.
        processors = [
            (index, processor)
            for index, column in enumerate(self.table.columns)
            if (processor := column.type.bind_processor(connection.dialect)) is not None
        ]
        defaults = [(name, False if name == "_rejected" else None) for name in names]
        rows = []
        for row in chunk:
            values = [row.get(name, default) for name, default in defaults]
            for index, processor in processors:
                if values[index] is not None:
                    values[index] = processor(values[index])
            rows.append(tuple(values))
        placeholders = ", ".join("?" for _ in names)
        # Table and column names are the stage's own, never the file's.
        statement = f"INSERT INTO {self.table.name} ({', '.join(names)}) VALUES ({placeholders})"  # noqa: S608
        connection.exec_driver_sql(statement, rows)

    def load_arrow(self, table: pa.Table) -> None:
        """Append parsed rows given column-wise; ``table`` names stage columns, others stay empty."""
        connection = self.session.connection()
        names = [name for name in table.column_names if name in self.table.c]
        if not table.num_rows:
            return
        if connection.dialect.name == "postgresql":
            columns = []
            for name in names:
                column = table.column(name)
                if isinstance(self.table.c[name].type, UTCDateTime):
                    # Stage form is UTC without a zone; say so, whatever the session's time zone.
                    column = pc.binary_join_element_wise(column, "+00", "")
                columns.append(column)
            buffer = io.BytesIO()
            pacsv.write_csv(
                pa.table(columns, names=names),
                buffer,
                write_options=pacsv.WriteOptions(include_header=False, quoting_style="needed"),
            )
            raw = connection.connection.driver_connection
            assert raw is not None
            statement = f"COPY {self.table.name} ({', '.join(names)}) FROM STDIN WITH (FORMAT csv)"
            with raw.cursor() as cursor, cursor.copy(statement) as copy:
                copy.write(buffer.getbuffer())
            return
        placeholders = ", ".join("?" for _ in names)
        # Table and column names are the stage's own, never the file's.
        statement = f"INSERT INTO {self.table.name} ({', '.join(names)}) VALUES ({placeholders})"  # noqa: S608
        raw = connection.connection.driver_connection
        assert raw is not None
        # A slice at a time: a whole block as Python values was ~100 MiB of objects. The driver
        # takes the rows from zip one at a time (zip reuses its tuple once the driver lets go of
        # it): a list of 10,000 tuples per write made the cyclic garbage collector walk every
        # live object again and again (perf: 3.5 % of an import's samples in the collector, 1.9 % since).
        for start in range(0, table.num_rows, SQLITE_ROWS_PER_WRITE):
            part = table.slice(start, SQLITE_ROWS_PER_WRITE)
            values = [part.column(name).to_pylist() for name in names]
            raw.executemany(statement, zip(*values, strict=True))

    def analyze(self) -> None:
        """On SQLite, index the loaded stage by id (one sorted build beats growing it row by row);
        on PostgreSQL, give the planner the stage's row counts.

        PostgreSQL joins the stage to stored records by hashing it or through the records' own
        key, and finds duplicate ids by hashing: an index on a temporary table, which is never
        vacuumed, made it count duplicates by walking the index and fetching every row from the
        table (3.5 million activities: 10.9 s, against 3.1 s hashed, and 5.3 s to build it).
        """
        connection = self.session.connection()
        if connection.dialect.name != "postgresql":
            with sqlite_index_build(self.session, schemas=("temp",)):
                connection.exec_driver_sql(
                    f"CREATE INDEX ix_{self.table.name}_ext ON {self.table.name} (_ext)"
                )
        analyze_scratch(self.session, self.table)

    def drop(self) -> None:
        """Remove the staging table."""
        self.table.drop(self.session.connection())
