"""Domain errors and the single place that maps them to HTTP statuses and CLI exit codes."""

from __future__ import annotations

from typing import Any


class BridgeheadError(Exception):
    """Base of every error the services raise on purpose."""

    http_status = 400
    exit_code = 1

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context

    def to_detail(self) -> dict[str, Any]:
        """A JSON-safe description for API clients."""
        detail: dict[str, Any] = {"message": self.message}
        detail.update({key: value for key, value in self.context.items() if value is not None})
        return detail


class NotFound(BridgeheadError):
    """The object does not exist, or the caller may not see it (we do not tell which)."""

    http_status = 404
    exit_code = 4


class AuthenticationFailed(BridgeheadError):
    """No valid credentials."""

    http_status = 401
    exit_code = 5


class PermissionDenied(BridgeheadError):
    """Authenticated, but the role does not allow this action."""

    http_status = 403
    exit_code = 6


class ValidationFailed(BridgeheadError):
    """Input that breaks a rule; names the field and the offending value."""

    http_status = 422
    exit_code = 2

    def __init__(self, message: str, *, field: str | None = None, value: Any = None, **context: Any) -> None:
        super().__init__(message, field=field, value=None if value is None else str(value), **context)


class Conflict(BridgeheadError):
    """The change collides with what is stored (a duplicate, a stale version)."""

    http_status = 409
    exit_code = 3


def http_status_for(error: BridgeheadError) -> int:
    """HTTP status for a domain error."""
    return error.http_status


def exit_code_for(error: BridgeheadError) -> int:
    """CLI exit code for a domain error."""
    return error.exit_code
