"""Any CSV or XLSX into Bridgehead through a TOML mapping.

A mapping lists files; each file feeds one entity, and each entity field takes a column, a
template over columns (``"{manager}'s team"``; ``{__line__}`` is the line number) or a constant,
optionally through a value map, a default and a multiplier. Example::

    date_formats = ["%Y-%m-%d"]

    [[files]]
    path = "sales_pipeline.csv"
    entity = "opportunity"
    custom = ["engage_date"]            # or "*" for every column not mapped
    [files.fields]
    id = "opportunity_id"               # a bare string is a column
    owner = "sales_agent"
    stage = { column = "deal_stage", map = { Won = "Closed Won", Lost = "Closed Lost" } }
    is_closed = { column = "deal_stage", map = { Won = "true", Lost = "true" }, default = "false" }
    name = { template = "{product} for {account}" }
    currency_code = { value = "USD" }
"""

from __future__ import annotations

import codecs
import contextlib
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from bridgehead.connectors.engine import EntityBatch, ImportOptions, SourceRow
from bridgehead.connectors.entities import ENTITIES
from bridgehead.connectors.files import FileRejected, TableFile, open_table
from bridgehead.errors import ValidationFailed

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
LINE_PLACEHOLDER = "__line__"


class MappingInvalid(ValidationFailed):
    """The mapping file itself is wrong; names the file section and key."""


@dataclass(frozen=True)
class FieldRule:
    """Where one entity field takes its value from."""

    column: str | None = None
    template: str | None = None
    value: str | None = None
    value_map: dict[str, str] = field(default_factory=dict)
    default: str | None = None
    multiply: Decimal | None = None

    def columns(self) -> list[str]:
        """The source columns this rule reads."""
        if self.column:
            return [self.column]
        if self.template:
            return [name for name in _PLACEHOLDER.findall(self.template) if name != LINE_PLACEHOLDER]
        return []

    def apply(self, cells: dict[str, str], line: int) -> str:
        """The raw text for the field on one row."""
        if self.value is not None:
            text = self.value
        elif self.template is not None:
            text = _PLACEHOLDER.sub(
                lambda match: (
                    str(line) if match.group(1) == LINE_PLACEHOLDER else cells.get(match.group(1), "")
                ),
                self.template,
            )
        else:
            assert self.column is not None
            text = cells.get(self.column, "").strip()
        if text in self.value_map:
            text = self.value_map[text]
        if not text.strip() and self.default is not None:
            text = self.default
        if self.multiply is not None and text.strip():
            # A value that is not a number is left as it is, so the field's parser names it.
            with contextlib.suppress(InvalidOperation):
                text = str(Decimal(text.strip().replace(",", "")) * self.multiply)
        return text


@dataclass(frozen=True)
class FileMapping:
    """One file of a mapping: which entity it feeds and how its columns become fields."""

    path: str
    entity: str
    id_rule: FieldRule
    rules: dict[str, FieldRule]
    custom: tuple[str, ...] | str = ()
    distinct: bool = False
    encoding: str | None = None
    delimiter: str | None = None


@dataclass(frozen=True)
class Mapping:
    """A whole mapping file."""

    name: str
    files: tuple[FileMapping, ...]
    options: dict[str, Any]


def load_mapping(path: Path) -> Mapping:
    """Read and check a mapping file; every mistake names its place in the file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MappingInvalid("mapping file not found", field="mapping", value=str(path)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MappingInvalid(f"mapping is not valid TOML: {exc}", field="mapping", value=path.name) from exc
    return parse_mapping(data, name=path.stem)


def parse_mapping(data: dict[str, Any], *, name: str = "mapping") -> Mapping:
    """Build a mapping from parsed TOML."""
    files_data = data.get("files")
    if not isinstance(files_data, list) or not files_data:
        raise MappingInvalid("the mapping needs at least one [[files]] section", field="files")
    files = tuple(_parse_file(index, entry) for index, entry in enumerate(files_data, start=1))
    options: dict[str, Any] = {
        key: data[key] for key in ("date_formats", "datetime_formats", "decimal_comma") if key in data
    }
    for key in ("date_formats", "datetime_formats"):
        if key in options and not (
            isinstance(options[key], list) and all(isinstance(item, str) for item in options[key])
        ):
            raise MappingInvalid(f"{key} must be a list of strptime formats", field=key, value=options[key])
    return Mapping(name=str(data.get("name", name)), files=files, options=options)


def _parse_file(index: int, entry: Any) -> FileMapping:
    where = f"files[{index}]"
    if not isinstance(entry, dict):
        raise MappingInvalid("each [[files]] entry must be a table", field=where)
    path = entry.get("path")
    entity = entry.get("entity")
    if not isinstance(path, str) or not path:
        raise MappingInvalid("path is missing", field=f"{where}.path")
    if entity not in ENTITIES:
        raise MappingInvalid(
            f"unknown entity; use one of {', '.join(ENTITIES)}", field=f"{where}.entity", value=entity
        )
    spec = ENTITIES[entity]
    fields = entry.get("fields")
    if not isinstance(fields, dict) or "id" not in fields:
        raise MappingInvalid("fields must be a table with at least an id", field=f"{where}.fields")
    rules: dict[str, FieldRule] = {}
    for field_name, raw in fields.items():
        if field_name != "id" and field_name not in spec.field_names:
            raise MappingInvalid(
                f"{entity} has no field {field_name!r}; fields are: id, {', '.join(spec.field_names)}",
                field=f"{where}.fields.{field_name}",
                value=field_name,
            )
        rules[field_name] = _parse_rule(f"{where}.fields.{field_name}", raw)
    custom = entry.get("custom", [])
    if not (custom == "*" or (isinstance(custom, list) and all(isinstance(item, str) for item in custom))):
        raise MappingInvalid(
            'custom must be "*" or a list of column names', field=f"{where}.custom", value=custom
        )
    encoding = entry.get("encoding")
    if encoding is not None:
        try:
            codecs.lookup(str(encoding))
        except LookupError:
            raise MappingInvalid(
                "unknown encoding; use e.g. utf-8, cp1252 or latin-1",
                field=f"{where}.encoding",
                value=encoding,
            ) from None
    delimiter = entry.get("delimiter")
    if delimiter is not None and not (
        isinstance(delimiter, str) and len(delimiter) == 1 and delimiter not in '"\r\n'
    ):
        raise MappingInvalid(
            'delimiter must be one character, e.g. ",", ";" or "\\t"',
            field=f"{where}.delimiter",
            value=delimiter,
        )
    id_rule = rules.pop("id")
    return FileMapping(
        path=path,
        entity=entity,
        id_rule=id_rule,
        rules=rules,
        custom=custom if custom == "*" else tuple(custom),
        distinct=bool(entry.get("distinct", False)),
        encoding=entry.get("encoding"),
        delimiter=entry.get("delimiter"),
    )


def _parse_rule(where: str, raw: Any) -> FieldRule:
    if isinstance(raw, str):
        return FieldRule(column=raw)
    if not isinstance(raw, dict):
        raise MappingInvalid("a field takes a column name or a table", field=where, value=raw)
    sources = [key for key in ("column", "template", "value") if key in raw]
    if len(sources) != 1:
        raise MappingInvalid("give exactly one of column, template or value", field=where)
    unknown = set(raw) - {"column", "template", "value", "map", "default", "multiply"}
    if unknown:
        raise MappingInvalid(f"unknown keys {sorted(unknown)}", field=where)
    value_map = raw.get("map", {})
    if not isinstance(value_map, dict):
        raise MappingInvalid("map must be a table of value = replacement", field=f"{where}.map")
    multiply = raw.get("multiply")
    try:
        factor = Decimal(str(multiply)) if multiply is not None else None
    except InvalidOperation:
        raise MappingInvalid("multiply must be a number", field=f"{where}.multiply", value=multiply) from None
    return FieldRule(
        column=raw.get("column"),
        template=raw.get("template"),
        value=None if raw.get("value") is None else str(raw["value"]),
        value_map={str(key): str(item) for key, item in value_map.items()},
        default=None if raw.get("default") is None else str(raw["default"]),
        multiply=factor,
    )


def import_options(mapping: Mapping, base: ImportOptions) -> ImportOptions:
    """``base`` with the date formats and number style the mapping declares."""
    return ImportOptions(
        policy=base.policy,
        dry_run=base.dry_run,
        date_formats=tuple(mapping.options.get("date_formats", base.date_formats)),
        datetime_formats=tuple(mapping.options.get("datetime_formats", base.datetime_formats)),
        decimal_comma=bool(mapping.options.get("decimal_comma", base.decimal_comma)),
        batch_size=base.batch_size,
        max_kept_problems=base.max_kept_problems,
    )


def mapping_batches(
    mapping: Mapping, directory: Path, *, single_file: Path | None = None
) -> Iterator[EntityBatch]:
    """One batch per mapped file, in the mapping's order; ``single_file`` replaces every path."""
    for file_mapping in mapping.files:
        path = single_file or (directory / file_mapping.path)
        if not path.exists():
            raise FileRejected("a file the mapping names is missing", field="file", value=str(path))
        table = open_table(path, encoding=file_mapping.encoding, delimiter=file_mapping.delimiter)
        _check_columns(file_mapping, table)
        yield EntityBatch(
            entity=ENTITIES[file_mapping.entity],
            file=table.name,
            fields=tuple(file_mapping.rules),
            rows=_rows(file_mapping, table),
            has_custom_fields=bool(file_mapping.custom),
            early_problems=lambda table=table: list(table.problems),  # type: ignore[misc]
        )


def _check_columns(file_mapping: FileMapping, table: TableFile) -> None:
    header = set(table.header)
    for field_name, rule in [("id", file_mapping.id_rule), *file_mapping.rules.items()]:
        for column in rule.columns():
            if column not in header:
                raise FileRejected(
                    f"the mapping's field {field_name!r} reads column {column!r}, which the file lacks "
                    f"(columns: {', '.join(table.header)})",
                    field="file",
                    value=table.name,
                )
    if file_mapping.custom != "*":
        for column in file_mapping.custom:
            if column not in header:
                raise FileRejected(
                    f"the mapping keeps column {column!r} as a custom field, but the file lacks it "
                    f"(columns: {', '.join(table.header)})",
                    field="file",
                    value=table.name,
                )


def _rows(file_mapping: FileMapping, table: TableFile) -> Iterator[SourceRow]:
    mapped_columns = {column for rule in file_mapping.rules.values() for column in rule.columns()}
    mapped_columns.update(file_mapping.id_rule.columns())
    if file_mapping.custom == "*":
        custom_columns = [column for column in table.header if column and column not in mapped_columns]
    else:
        custom_columns = list(file_mapping.custom)
    seen: set[str] = set()
    data_rows = 0
    for line, cells in table.records():
        data_rows += 1
        external_id = file_mapping.id_rule.apply(cells, line)
        if file_mapping.distinct:
            if not external_id.strip() or external_id in seen:
                continue
            seen.add(external_id)
        yield SourceRow(
            line=line,
            external_id=external_id,
            values={name: rule.apply(cells, line) for name, rule in file_mapping.rules.items()},
            custom={column: cells.get(column, "") for column in custom_columns} if custom_columns else None,
            cells=cells,
        )
    if data_rows == 0 and not table.problems:
        # A file the mapping names but that holds only its header is a mistake, not "nothing to do".
        raise FileRejected("the file has a header but no data rows", field="file", value=table.name)
