"""Domain errors and their single mapping to HTTP statuses and CLI exit codes."""

from __future__ import annotations

import pytest

from bridgehead.errors import (
    AuthenticationFailed,
    BridgeheadError,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    exit_code_for,
    http_status_for,
)

MAPPING = [
    (BridgeheadError("x"), 400, 1),
    (ValidationFailed("x"), 422, 2),
    (Conflict("x"), 409, 3),
    (NotFound("x"), 404, 4),
    (AuthenticationFailed("x"), 401, 5),
    (PermissionDenied("x"), 403, 6),
]


@pytest.mark.parametrize(("error", "status", "code"), MAPPING)
def test_each_error_maps_to_its_status_and_exit_code(error: BridgeheadError, status: int, code: int) -> None:
    assert http_status_for(error) == status
    assert exit_code_for(error) == code


def test_exit_codes_are_distinct_and_not_zero() -> None:
    codes = [exit_code_for(error) for error, _, _ in MAPPING]
    assert 0 not in codes
    assert len(set(codes)) == len(codes)


def test_every_domain_error_is_a_bridgehead_error() -> None:
    for error, _, _ in MAPPING:
        assert isinstance(error, BridgeheadError)
        assert isinstance(error, Exception)


def test_detail_carries_message_and_context_but_drops_empty_values() -> None:
    error = Conflict("a user with this e-mail already exists", field="email", value="a@b.example", hint=None)
    assert error.to_detail() == {
        "message": "a user with this e-mail already exists",
        "field": "email",
        "value": "a@b.example",
    }
    assert str(error) == "a user with this e-mail already exists"


def test_validation_failed_names_field_and_stringifies_the_value() -> None:
    error = ValidationFailed("probability must be between 0 and 100", field="probability", value=101)
    assert error.to_detail() == {
        "message": "probability must be between 0 and 100",
        "field": "probability",
        "value": "101",
    }
    assert ValidationFailed("bad").to_detail() == {"message": "bad"}
    # A falsy value is still named: 0 is an offending value, not a missing one.
    assert ValidationFailed("bad", field="amount", value=0).to_detail()["value"] == "0"
