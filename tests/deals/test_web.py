"""Deal room pages: render, refused moves and overrides, inline qualification, the buyer's link."""

from __future__ import annotations

import datetime as dt
import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from bridgehead.deals import action_plans, stakeholders
from bridgehead.deals.schemas import StepCreate
from tests.deals.conftest import Team
from tests.helpers import CSRF_TOKEN, sign_in


def test_room_page_renders_the_org_chart_and_playbook(
    client: TestClient, db_session: Session, team: Team
) -> None:
    stakeholders.add_stakeholder(
        db_session,
        viewer=team.rep,
        opportunity_id=team.deal.id,
        contact_id=team.contacts[0].id,
        role="economic_buyer",
    )
    stakeholders.add_stakeholder(
        db_session,
        viewer=team.rep,
        opportunity_id=team.deal.id,
        contact_id=team.contacts[1].id,
        role="champion",
    )
    sign_in(client, db_session, team.rep)
    page = client.get(f"/deals/{team.deal.id}")
    assert page.status_code == 200
    assert "<title>Deal room · Globex platform" in page.text
    assert page.text.count('class="oc-node') == 2
    assert 'class="oc-line"' in page.text
    assert 'data-testid="missing-next"' in page.text
    assert f'action="/deals/{team.deal.id}/stage"' in page.text


def test_page_refusal_lists_missing_and_offers_override_to_the_manager(
    client: TestClient, db_session: Session, team: Team
) -> None:
    sign_in(client, db_session, team.rep)
    refused = client.post(
        f"/deals/{team.deal.id}/stage", data={"stage": "Proposal", "csrf_token": CSRF_TOKEN}
    )
    assert refused.status_code == 422
    assert 'data-testid="missing-list"' in refused.text
    assert 'data-testid="override-form"' not in refused.text
    sign_in(client, db_session, team.manager)
    refused = client.post(
        f"/deals/{team.deal.id}/stage", data={"stage": "Proposal", "csrf_token": CSRF_TOKEN}
    )
    assert 'data-testid="override-form"' in refused.text
    moved = client.post(
        f"/deals/{team.deal.id}/stage",
        data={"stage": "Proposal", "override_reason": "Board approved", "csrf_token": CSRF_TOKEN},
        follow_redirects=False,
    )
    assert moved.status_code == 303
    room = client.get(f"/deals/{team.deal.id}")
    assert "Board approved" in room.text


def test_inline_qualification_edit_returns_the_panel(
    client: TestClient, db_session: Session, team: Team
) -> None:
    sign_in(client, db_session, team.rep)
    url = f"/deals/{team.deal.id}/qualification/metrics"
    headers = {"HX-Request": "true", "X-CSRF-Token": CSRF_TOKEN}
    ok = client.post(url, data={"status": "identified", "evidence": "Cut close by 5 days"}, headers=headers)
    assert ok.status_code == 200
    assert ok.text.lstrip().startswith('<section id="qualification"')
    assert "Cut close by 5 days" in ok.text
    too_long = client.post(url, data={"status": "identified", "evidence": "y" * 10_001}, headers=headers)
    assert too_long.status_code == 422
    assert 'data-testid="qualification-error"' in too_long.text
    assert "Cut close by 5 days" in too_long.text


def test_reader_sees_no_forms_and_stranger_gets_404(
    client: TestClient, db_session: Session, team: Team
) -> None:
    sign_in(client, db_session, team.executive)
    page = client.get(f"/deals/{team.deal.id}")
    assert page.status_code == 200
    assert "read only" in page.text
    assert f'action="/deals/{team.deal.id}/stage"' not in page.text
    sign_in(client, db_session, team.other_rep)
    assert client.get(f"/deals/{team.deal.id}").status_code == 404


def test_buyer_link_expired_is_410_and_leaks_nothing(
    client: TestClient, db_session: Session, team: Team, test_settings: object
) -> None:
    action_plans.add_step(
        db_session,
        viewer=team.rep,
        opportunity_id=team.deal.id,
        step=StepCreate(title="Confidential pilot", due_date=dt.date.today() + dt.timedelta(days=2)),
    )
    secret = test_settings.secret_key.get_secret_value()  # type: ignore[attr-defined]
    link = action_plans.share_link(
        db_session, viewer=team.rep, opportunity_id=team.deal.id, secret=secret, days=1
    )
    db_session.commit()
    plan = action_plans.plan_of(db_session, team.deal.id)
    assert plan is not None
    payload = action_plans._b64(f"{plan.id}:{int(dt.datetime.now(dt.UTC).timestamp()) - 60}".encode())
    expired = payload + "." + action_plans._b64(action_plans._signature(secret, action_plans._unb64(payload)))
    response = client.get(f"/share/action-plans/{expired}")
    assert response.status_code == 410
    assert "Confidential pilot" not in response.text
    assert "expired" in response.text
    fresh = client.get(link.path)
    assert fresh.status_code == 200
    assert "Confidential pilot" in fresh.text
    assert fresh.headers["cache-control"] == "no-store"
    assert re.search(r"<title>Mutual action plan", fresh.text)


def test_processes_page_saves_a_stage_for_planners_only(
    client: TestClient, db_session: Session, team: Team
) -> None:
    from bridgehead.auth.models import Role
    from bridgehead.deals import process
    from tests.factories import make_user

    contexts = process.processes(db_session)
    new_business = next(item for item in contexts if item.process.key == "new_business")
    stage = new_business.stage_named("Solution")
    assert stage is not None
    sign_in(client, db_session, team.rep)
    page = client.get("/deals/processes")
    assert page.status_code == 200
    assert "Save Solution" not in page.text
    url = f"/deals/processes/{new_business.process.id}/stages/{stage.id}"
    form = {
        "csrf_token": CSRF_TOKEN,
        "buyer_milestone": "Buyer agrees the fit",
        "exit_criteria": "Demo delivered\nChampion tested\nReferences checked",
        "crm_stage_names": "Solution",
        "probability": "45",
        "required_dimensions": ["metrics", "champion"],
        "minimum_status": "identified",
        "min_engaged_stakeholders": "2",
    }
    assert client.post(url, data=form).status_code == 403
    sign_in(client, db_session, make_user(db_session, role=Role.PLANNER))
    assert "Save Solution" in client.get("/deals/processes").text
    bad = client.post(url, data={**form, "required_dimensions": ["budget"]})
    assert bad.status_code == 422
    assert "budget" in bad.text
    saved = client.post(url, data=form, follow_redirects=False)
    assert saved.status_code == 303
    db_session.expire_all()
    stored = process.process_for(db_session, team.deal).stage_named("Solution")
    assert stored is not None
    assert stored.probability == 45
    assert stored.exit_criteria == ["Demo delivered", "Champion tested", "References checked"]
    assert stored.required_dimensions == ["metrics", "champion"]


def test_reports_to_line_set_in_the_map_and_plan_item_as_task(
    client: TestClient, db_session: Session, team: Team
) -> None:
    cfo, _cio, analyst = team.contacts
    for contact in (cfo, analyst):
        stakeholders.add_stakeholder(
            db_session, viewer=team.rep, opportunity_id=team.deal.id, contact_id=contact.id, role="influencer"
        )
    analyst_row = next(
        item
        for item in stakeholders.stakeholder_map(db_session, opportunity=team.deal).stakeholders
        if item.contact_id == analyst.id
    )
    sign_in(client, db_session, team.rep)
    form = {"csrf_token": CSRF_TOKEN, "role": "user", "stance": "neutral", "influence": "low", "plan": ""}
    saved = client.post(
        f"/deals/{team.deal.id}/stakeholders/{analyst_row.id}",
        data={**form, "reports_to_contact_id": str(cfo.id)},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    chart = stakeholders.stakeholder_map(db_session, opportunity=team.deal).chart
    assert len(chart.edges) == 1  # the analyst now hangs under the CFO (the CIO is not on the map)
    bad = client.post(
        f"/deals/{team.deal.id}/stakeholders/{analyst_row.id}",
        data={**form, "reports_to_contact_id": str(team.stranger.id)},
    )
    assert bad.status_code == 422
    due = (dt.date.today() + dt.timedelta(days=10)).isoformat()
    added = client.post(
        f"/accounts/{team.account.id}/plan/items",
        data={"csrf_token": CSRF_TOKEN, "kind": "weakness", "text": "No CFO access", "task_due_date": due},
        follow_redirects=False,
    )
    assert added.status_code == 303
    page = client.get(f"/accounts/{team.account.id}/plan")
    assert "No CFO access" in page.text
    assert f"task: {team.rep.full_name}, due {due}" in page.text
