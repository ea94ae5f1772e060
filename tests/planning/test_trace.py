"""Trace of a quota: up through the segment it is carried in to the priorities that segment serves,
or against them when the segment is deprioritised (API, page and CLI read the same function)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from bridgehead.cli import app as cli_app
from bridgehead.errors import NotFound
from bridgehead.planning import service
from bridgehead.strategy import trace
from bridgehead.strategy.models import Segment, SegmentPriority, SegmentStance
from tests.helpers import committed, sign_in, sqlite_for_cli
from tests.planning.support import Org, make_org, quota
from tests.strategy.segment_support import make_priority


@pytest.fixture
def org(db_session: Session) -> Org:
    """The quota tests' organisation; its segment serves the priority "Move upmarket"."""
    made = make_org(db_session)
    priority = make_priority(db_session, "Move upmarket")
    db_session.add(SegmentPriority(segment_id=made.segment.id, priority_id=priority.id))
    db_session.flush()
    return made


def test_a_segment_quota_serves_the_segments_priority(db_session: Session, org: Org) -> None:
    made, _ = service.set_quota(
        db_session, actor=org.planner, data=quota(org.rep, "1000", segment=org.segment)
    )
    traced = trace.trace_quota(db_session, viewer=org.executive, quota_id=made.id)
    assert (traced.kind, traced.name) == ("quota", "Rita Rep, 2026-Q1 bookings")
    assert [chain.priority.title for chain in traced.serves] == ["Move upmarket"]
    assert [segment.name for segment in traced.serves[0].via_segments] == ["Enterprise FS"]
    assert traced.summary == "Serves “Move upmarket”."
    with pytest.raises(NotFound):
        trace.trace_quota(db_session, viewer=org.other_rep, quota_id=made.id)


def test_a_quota_in_a_deprioritised_segment_works_against_the_priority(db_session: Session, org: Org) -> None:
    org.segment.stance = SegmentStance.DEPRIORITISE
    made, _ = service.set_quota(
        db_session, actor=org.planner, data=quota(org.rep, "1000", segment=org.segment)
    )
    traced = trace.trace_quota(db_session, viewer=org.manager, quota_id=made.id)
    assert traced.serves == []
    assert traced.in_deprioritised_segment is True
    assert [chain.priority.title for chain in traced.deprioritised_by] == ["Move upmarket"]
    row = service.quota_rows(db_session, [made])[0]
    assert row.segment_stance == "deprioritise"


def test_a_quota_without_a_segment_serves_no_priority_and_the_page_says_what_to_do(
    client: TestClient, db_session: Session, org: Org
) -> None:
    made, _ = service.set_quota(db_session, actor=org.planner, data=quota(org.rep, "1000"))
    other: Segment = org.segment
    with_segment, _ = service.set_quota(
        db_session, actor=org.planner, data=quota(org.teammate, "1000", segment=other)
    )
    db_session.commit()
    sign_in(client, db_session, org.planner)
    page = client.get(f"/trace/quota/{made.id}")
    assert page.status_code == 200
    assert "Which priority does this quota serve?" in page.text
    assert "carried in no segment" in page.text
    served = client.get(f"/trace/quota/{with_segment.id}")
    assert "Move upmarket" in served.text
    api = client.get(f"/api/v1/trace/quota/{with_segment.id}")
    assert api.json()["serves"][0]["priority"]["title"] == "Move upmarket"
    sheet = client.get("/plan/quotas", params={"period": ""})
    assert f'href="/trace/quota/{made.id}"' in sheet.text


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A SQLite file with a segment quota; yields its id."""
    with sqlite_for_cli(tmp_path, monkeypatch, name="trace.db") as url:
        with committed(url) as session:
            org = make_org(session)
            priority = make_priority(session, "Move upmarket")
            session.add(SegmentPriority(segment_id=org.segment.id, priority_id=priority.id))
            made, _ = service.set_quota(session, actor=None, data=quota(org.rep, "1000", segment=org.segment))
            quota_id = made.id
        yield quota_id


def test_trace_quota_from_the_command_line(cli_database: int) -> None:
    result = CliRunner().invoke(cli_app, ["trace", "quota", str(cli_database), "--as", "rita@quota.example"])
    assert result.exit_code == 0, result.output
    assert "quota" in result.output
    assert "Move upmarket" in result.output
