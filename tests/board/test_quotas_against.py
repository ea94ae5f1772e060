"""The board names the quotas that contradict a priority: carried in a segment it deprioritises."""

from __future__ import annotations

from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bridgehead.auth.models import Role
from bridgehead.intelligence.board import service as board
from bridgehead.planning import service as planning
from bridgehead.planning.schemas import QuotaCreate
from bridgehead.strategy.models import Segment
from tests.board.support import NOW, PERIOD, World, build_world
from tests.factories import make_user
from tests.helpers import sign_in


@pytest.fixture
def world(db_session: Session) -> World:
    """The board tests' organisation with quotas: Ann's and Dan's in Small business (deprioritised),
    Ben's in Enterprise FS, Cat's in no segment; Dan's is in the south region."""
    made = build_world(db_session)
    segments = dict(db_session.execute(select(Segment.name, Segment.id)).all())
    for rep, amount, ramp, segment in (
        ("ann", "100000", 50, "Small business"),
        ("ben", "300000", 100, "Enterprise FS"),
        ("cat", "200000", 100, None),
        ("dan", "80000", 100, "Small business"),
    ):
        planning.set_quota(
            db_session,
            actor=None,
            data=QuotaCreate(
                owner_id=made.reps[rep].id,
                period=PERIOD,
                quota_amount=Decimal(amount),
                ramp_percent=ramp,
                segment_id=segments[segment] if segment else None,
            ),
        )
    planning.set_quota(
        db_session,
        actor=None,
        data=QuotaCreate(
            owner_id=made.reps["ann"].id,
            period="2025-Q3",
            quota_amount=Decimal(1),
            segment_id=segments["Small business"],
        ),
    )
    return made


def test_board_counts_quotas_in_deprioritised_segments_per_unit(db_session: Session, world: World) -> None:
    whole = board.board(db_session, viewer=None, period=PERIOD, now=NOW)
    row = next(row for row in whole.rows if row.priority_id == world.priority.id)
    assert (row.quotas_against, row.quotas_against_amount) == (2, Decimal("130000.00"))
    north = board.board(db_session, viewer=None, period=PERIOD, org_unit_id=world.north.id, now=NOW)
    assert (north.rows[0].quotas_against, north.rows[0].quotas_against_amount) == (1, Decimal("50000.00"))
    team_b = board.board(db_session, viewer=None, period=PERIOD, org_unit_id=world.team_b.id, now=NOW)
    assert team_b.rows[0].quotas_against == 0


def test_the_board_page_links_the_contradiction_to_the_quota_sheet(
    client: TestClient, db_session: Session, world: World
) -> None:
    executive = make_user(db_session, role=Role.EXECUTIVE)
    db_session.commit()
    sign_in(client, db_session, executive)
    page = client.get("/board", params={"period": PERIOD})
    assert page.status_code == 200
    note = page.text.split(f'data-testid="quotas-against-{world.priority.id}"', 1)[1].split("</small>", 1)[0]
    assert "2 quotas" in note
    assert f'href="/plan/quotas?period={PERIOD}"' in note
