"""Parsing HTML form fields into service input, shared by the domains' page routers."""

from __future__ import annotations

from pydantic import ValidationError

from bridgehead.common.types import MAX_ID
from bridgehead.errors import ValidationFailed


def optional_id(text: str, field: str) -> int | None:
    """The id chosen in a select (``None`` when left empty); anything else is ``ValidationFailed``."""
    cleaned = text.strip()
    if not cleaned:
        return None
    if not cleaned.isdigit() or not 1 <= int(cleaned) <= MAX_ID:
        raise ValidationFailed("must be chosen from the list", field=field, value=text)
    return int(cleaned)


def validation_failure(exc: ValidationError) -> ValidationFailed:
    """Pydantic's first complaint as a ``ValidationFailed`` naming the field, for the page to show."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first.get("loc", ()))
    return ValidationFailed(f"{field}: {first.get('msg', 'invalid')}", field=field, value=first.get("input"))
