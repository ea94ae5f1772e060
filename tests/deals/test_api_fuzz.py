"""Property-based calls to the deals endpoints from the OpenAPI document: whatever is sent, never a 500."""

from __future__ import annotations

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from sqlalchemy.orm import Session

from tests.deals.conftest import Team
from tests.factories import make_token

DEALS_PATHS = (
    "/stakeholders",
    "/qualification",
    "/action-plan",
    "/stage",
    "/room",
    "/exit-criteria",
    "/plan",
)


def test_deals_endpoints_never_answer_500(app: FastAPI, db_session: Session, team: Team) -> None:
    token = make_token(db_session, team.rep).secret
    # The document is read once, without the loader's 10 s timeout (slow on a busy 2-core machine).
    schema = schemathesis.openapi.from_dict(app.openapi())
    schema.app = app  # type: ignore[attr-defined]
    headers = {"Authorization": f"Bearer {token}"}
    operations = [
        result.ok()
        for result in schema.get_all_operations()
        if any(part in result.ok().path for part in DEALS_PATHS)
        or result.ok().path.startswith(("/api/v1/handoffs", "/api/v1/sales-processes"))
    ]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        call()
