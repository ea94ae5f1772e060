"""Pipeline definitions: CRUD with validation and rights, and the preview of what a definition counts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridgehead.audit.service import history_of
from bridgehead.auth.models import Role
from bridgehead.crm.models import Opportunity
from bridgehead.errors import Conflict, PermissionDenied, ValidationFailed
from bridgehead.strategy import pipelines, segments
from bridgehead.strategy.models import BusinessKind, PipelineDefinition, SegmentStance
from bridgehead.strategy.segment_schemas import (
    PipelineDefinitionCreate,
    PipelineDefinitionUpdate,
    SegmentCreate,
)
from tests.factories import make_account, make_opportunity, make_user
from tests.strategy.segment_support import make_priority


def test_create_update_delete_with_audit(db_session: Session) -> None:
    planner = make_user(db_session, role=Role.PLANNER)
    priority = make_priority(db_session)
    definition = pipelines.create_definition(
        db_session,
        actor=planner,
        data=PipelineDefinitionCreate(
            priority_id=priority.id,
            name=" FS new ",
            products=["Core", "Core", " Analytics "],
            business_kind="new",
        ),
    )
    assert definition.name == "FS new"
    assert definition.products == ["Core", "Analytics"]
    pipelines.update_definition(
        db_session,
        actor=planner,
        definition_id=definition.id,
        data=PipelineDefinitionUpdate(opportunity_types=["New Business"], business_kind=BusinessKind.ANY),
    )
    stored = pipelines.get_definition(db_session, definition_id=definition.id)
    assert stored.opportunity_types == ["New Business"]
    assert stored.business_kind == BusinessKind.ANY
    pipelines.delete_definition(db_session, actor=planner, definition_id=definition.id)
    actions = [
        entry.action
        for entry in history_of(db_session, object_type="pipeline_definition", object_id=definition.id)
    ]
    assert actions == ["create", "update", "delete"]


def test_validation_and_rights(db_session: Session) -> None:
    planner = make_user(db_session, role=Role.PLANNER)
    manager = make_user(db_session, role=Role.MANAGER)
    priority = make_priority(db_session)
    with pytest.raises(PermissionDenied):
        pipelines.create_definition(
            db_session, actor=manager, data=PipelineDefinitionCreate(priority_id=priority.id, name="x")
        )
    with pytest.raises(ValidationFailed) as caught:
        pipelines.create_definition(
            db_session, actor=planner, data=PipelineDefinitionCreate(priority_id=999999, name="x")
        )
    assert caught.value.context["field"] == "priority_id"
    with pytest.raises(ValidationFailed) as caught:
        pipelines.create_definition(
            db_session,
            actor=planner,
            data=PipelineDefinitionCreate(priority_id=priority.id, name="x", segment_id=999999),
        )
    assert caught.value.context["field"] == "segment_id"
    with pytest.raises(ValidationFailed) as caught:
        pipelines.create_definition(
            db_session,
            actor=planner,
            data=PipelineDefinitionCreate(priority_id=priority.id, name="x", products=["ok", " "]),
        )
    assert caught.value.context["field"] == "products[1]"
    assert db_session.scalar(select(func.count()).select_from(PipelineDefinition)) == 0


def test_segment_in_use_cannot_be_deleted(db_session: Session) -> None:
    planner = make_user(db_session, role=Role.PLANNER)
    priority = make_priority(db_session)
    segment = segments.create_segment(
        db_session,
        actor=planner,
        data=SegmentCreate(
            name="Banks",
            stance=SegmentStance.INVEST,
            rule={"all": [{"field": "industry", "op": "eq", "value": "Banking"}]},
        ),
    )
    pipelines.create_definition(
        db_session,
        actor=planner,
        data=PipelineDefinitionCreate(priority_id=priority.id, name="FS", segment_id=segment.id),
    )
    with pytest.raises(Conflict):
        segments.delete_segment(db_session, actor=planner, segment_id=segment.id)
    assert segments.read_segment(db_session, segment_id=segment.id).name == "Banks"


def test_preview_counts_what_the_definition_matches(db_session: Session) -> None:
    planner = make_user(db_session, role=Role.PLANNER)
    priority = make_priority(db_session)
    bank = make_account(db_session, industry="Banking")
    shop = make_account(db_session, industry="Retail")
    segment = segments.create_segment(
        db_session,
        actor=planner,
        data=SegmentCreate(
            name="Banks",
            stance=SegmentStance.INVEST,
            rule={"all": [{"field": "industry", "op": "eq", "value": "Banking"}]},
        ),
    )
    earlier_win = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    make_opportunity(
        db_session,
        account_id=bank.id,
        is_closed=True,
        is_won=True,
        stage="Closed Won",
        close_date=earlier_win.date(),
        created_at=earlier_win - dt.timedelta(days=30),
        amount=Decimal("5000"),
    )
    expansion = make_opportunity(db_session, account_id=bank.id, amount=Decimal("7000"), product="Core")
    make_opportunity(db_session, account_id=bank.id, amount=Decimal("9000"), product="Other")
    make_opportunity(db_session, account_id=shop.id, amount=Decimal("11000"), product="Core")
    definition = PipelineDefinition(
        priority_id=priority.id,
        name="preview",
        segment_id=segment.id,
        products=["Core"],
        opportunity_types=[],
        business_kind=BusinessKind.EXISTING,
    )
    preview = pipelines.preview_definition(db_session, viewer=planner, definition=definition)
    expected = db_session.execute(
        select(func.count(), func.sum(Opportunity.amount)).where(
            pipelines.counts_toward(definition), Opportunity.is_closed.is_(False)
        )
    ).one()
    assert preview.open_count == expected[0] == 1
    assert preview.open_amount == expansion.amount
    rep = make_user(db_session, role=Role.REP)
    assert pipelines.preview_definition(db_session, viewer=rep, definition=definition).open_count == 0
