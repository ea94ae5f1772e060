"""The governance pages: board, initiative page, forms refusing bad input, htmx milestone completion."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from bridgehead.governance.models import Initiative, InitiativeStage
from tests.governance.support import WINDOW_START, Cast, full_initiative, make_cast
from tests.helpers import CSRF_TOKEN, sign_in


@pytest.fixture
def cast(db_session: Session) -> Cast:
    """Everyone an initiative involves."""
    return make_cast(db_session)


@pytest.fixture
def initiative(db_session: Session, cast: Cast) -> Initiative:
    """A full initiative, still Identified, committed so failing requests keep it."""
    created = full_initiative(db_session, cast, title="Retrain on value selling")
    db_session.commit()
    return created


def test_board_shows_the_initiative_in_its_stage_column(
    client: TestClient, db_session: Session, cast: Cast, initiative: Initiative
) -> None:
    sign_in(client, db_session, cast.rep)
    page = client.get("/governance")
    assert page.status_code == 200
    assert "<title>Initiatives" in page.text
    column = page.text.split('data-testid="column-identified"', 1)[1].split(
        'data-testid="column-detailed"', 1
    )[0]
    assert "Retrain on value selling" in column
    assert "New initiative" not in page.text, "a rep may not create initiatives"
    sign_in(client, db_session, cast.executive)
    assert "New initiative" in client.get("/governance").text


def test_empty_board_says_what_to_do(client: TestClient, db_session: Session, cast: Cast) -> None:
    sign_in(client, db_session, cast.executive)
    page = client.get("/governance")
    assert page.status_code == 200
    assert "No initiatives yet" in page.text


def test_initiative_page_shows_the_gate_and_what_is_missing(
    client: TestClient, db_session: Session, cast: Cast, initiative: Initiative
) -> None:
    sign_in(client, db_session, cast.owner)
    page = client.get(f"/governance/initiatives/{initiative.id}")
    assert page.status_code == 200
    assert "Next gate: Detailed" in page.text
    assert "Every prerequisite of this gate is met." in page.text
    assert "Move to Detailed" in page.text
    sign_in(client, db_session, cast.rep)
    read_only = client.get(f"/governance/initiatives/{initiative.id}")
    assert "Move to Detailed" not in read_only.text
    assert "You can read this initiative" in read_only.text


def test_a_skipping_form_post_is_refused_on_the_page_and_changes_nothing(
    client: TestClient, db_session: Session, cast: Cast, initiative: Initiative
) -> None:
    sign_in(client, db_session, cast.owner)
    response = client.post(
        f"/governance/initiatives/{initiative.id}/transition",
        data={"to": "implemented", "csrf_token": CSRF_TOKEN},
        follow_redirects=False,
    )
    assert response.status_code == 409
    assert "next gate is detailed" in response.text
    db_session.refresh(initiative)
    assert initiative.stage == InitiativeStage.IDENTIFIED


def test_a_manager_closing_from_the_page_gets_403(
    client: TestClient, db_session: Session, cast: Cast, initiative: Initiative
) -> None:
    sign_in(client, db_session, cast.owner)
    response = client.post(
        f"/governance/initiatives/{initiative.id}/confirm-value",
        data={"realised_value_amount": "100", "evidence": "x", "csrf_token": CSRF_TOKEN},
        follow_redirects=False,
    )
    assert response.status_code == 403


def test_bad_business_case_input_on_the_form(client: TestClient, db_session: Session, cast: Cast) -> None:
    sign_in(client, db_session, cast.executive)
    form = {
        "title": "Absurd",
        "owner_id": str(cast.owner.id),
        "sponsor_id": str(cast.sponsor.id),
        "expected_value_amount": "-100",
        "csrf_token": CSRF_TOKEN,
    }
    negative = client.post("/governance/initiatives", data=form, follow_redirects=False)
    assert negative.status_code == 422
    assert "must not be negative" in negative.text
    assert 'value="Absurd"' in negative.text, "the form keeps what was typed"
    not_a_number = client.post(
        "/governance/initiatives", data=form | {"expected_value_amount": "lots"}, follow_redirects=False
    )
    assert not_a_number.status_code == 422
    assert "must be an amount" in not_a_number.text
    created = client.post(
        "/governance/initiatives", data=form | {"expected_value_amount": "1000"}, follow_redirects=False
    )
    assert created.status_code == 303


def test_milestone_dates_out_of_order_on_the_page(
    client: TestClient, db_session: Session, cast: Cast, initiative: Initiative
) -> None:
    sign_in(client, db_session, cast.owner)
    response = client.post(
        f"/governance/initiatives/{initiative.id}/milestones",
        data={
            "title": "Backwards",
            "start_date": (WINDOW_START + dt.timedelta(days=10)).isoformat(),
            "due_date": (WINDOW_START + dt.timedelta(days=5)).isoformat(),
            "csrf_token": CSRF_TOKEN,
        },
        follow_redirects=False,
    )
    assert response.status_code == 422
    assert "due date comes before the start date" in response.text
    assert "Backwards" not in response.text.split('data-testid="milestones"', 1)[-1].split("</table>", 1)[0]


def test_kpi_baseline_not_a_number_on_the_page(
    client: TestClient, db_session: Session, cast: Cast, initiative: Initiative
) -> None:
    sign_in(client, db_session, cast.owner)
    response = client.post(
        f"/governance/initiatives/{initiative.id}/kpis",
        data={
            "name": "Win rate",
            "unit": "%",
            "baseline_value": "about 20",
            "target_value": "30",
            "csrf_token": CSRF_TOKEN,
        },
        follow_redirects=False,
    )
    assert response.status_code == 422
    assert "baseline_value" in response.text


def test_htmx_marks_a_milestone_done_and_returns_the_list(
    client: TestClient, db_session: Session, cast: Cast, initiative: Initiative
) -> None:
    sign_in(client, db_session, cast.owner)
    page = client.get(f"/governance/initiatives/{initiative.id}")
    path = page.text.split('hx-post="', 1)[1].split('"', 1)[0]
    fragment = client.post(path, headers={"HX-Request": "true", "X-CSRF-Token": CSRF_TOKEN})
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<section id="milestones"')
    assert "✓ done" in fragment.text
    again = client.post(path, headers={"HX-Request": "true", "X-CSRF-Token": CSRF_TOKEN})
    assert again.status_code == 409


def test_a_rep_cannot_open_the_new_initiative_form(
    client: TestClient, db_session: Session, cast: Cast
) -> None:
    sign_in(client, db_session, cast.rep)
    assert client.get("/governance/initiatives/new").status_code == 403
