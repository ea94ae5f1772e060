"""Turning cell text into the typed values an entity field stores, with the reasons shown on failure."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from bridgehead.common.types import to_cents
from bridgehead.connectors.entities import FieldSpec, Kind
from bridgehead.connectors.report import ImportOptions
from bridgehead.connectors.values import (
    parse_bool,
    parse_date,
    parse_datetime,
    parse_decimal,
    parse_int,
    parse_text,
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SLUG = re.compile(r"[^a-z0-9]+")


def _parse_choice(text: str, spec: FieldSpec, allowed: frozenset[str]) -> str | None:
    value = text.strip()
    if not value:
        return None
    normalised = value.lower().replace(" ", "_").replace("-", "_")
    if normalised not in allowed:
        raise ValueError(f"not one of {', '.join(sorted(allowed))}")
    return normalised


def field_parser(spec: FieldSpec, options: ImportOptions) -> Callable[[str], Any]:
    """The function turning a cell's text into the value ``spec`` stores (or raising ``ValueError``)."""
    kind = spec.kind
    if kind == Kind.TEXT or kind == Kind.REF:
        return lambda text: parse_text(text, max_length=spec.max_length if kind == Kind.TEXT else 255)
    if kind == Kind.EMAIL:

        def email(text: str) -> str | None:
            value = parse_text(text, max_length=spec.max_length)
            if value is not None and not _EMAIL.match(value):
                raise ValueError("not an e-mail address")
            return value.lower() if value else None

        return email
    if kind == Kind.INT:
        return parse_int
    if kind == Kind.MONEY:

        def money(text: str) -> int | None:
            amount = parse_decimal(text, decimal_comma=options.decimal_comma)
            return None if amount is None else to_cents(amount)

        return money
    if kind == Kind.PERCENT:

        def percent(text: str) -> int | None:
            number = parse_decimal(
                text.replace("%", ""), maximum=Decimal(100), decimal_comma=options.decimal_comma
            )
            return None if number is None else int(number.to_integral_value())

        return percent
    if kind == Kind.BOOL:
        return parse_bool
    if kind == Kind.DATE:
        return lambda text: parse_date(text, formats=options.date_formats)
    if kind == Kind.DATETIME:
        return lambda text: parse_datetime(text, formats=options.datetime_formats or options.date_formats)
    if kind == Kind.CHOICE:
        assert spec.choices is not None
        allowed = frozenset(member.value for member in spec.choices)
        return lambda text: _parse_choice(text, spec, allowed)
    raise AssertionError(kind)


def placeholder_email(external_id: str) -> str:
    """A unique, undeliverable e-mail for an imported user who came without one."""
    # Imported owners often come without an e-mail (names only); give them a unique,
    # undeliverable address so they can be linked to a real login later.
    slug = _SLUG.sub(".", external_id.lower()).strip(".") or "user"
    return f"{slug[:60]}.{uuid.uuid5(uuid.NAMESPACE_URL, external_id).hex[:8]}@imported.invalid"
