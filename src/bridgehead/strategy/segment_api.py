"""JSON endpoints of segments, ICP fit and pipeline definitions (reads for everyone, writes for planners/admins)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from bridgehead.common.pagination import Page, PageRequest
from bridgehead.common.types import MAX_ID
from bridgehead.crm.schemas import AccountRead
from bridgehead.strategy import icp, pipelines, segments
from bridgehead.strategy.models import PipelineDefinition
from bridgehead.strategy.segment_schemas import (
    AccountFitRead,
    FitListItem,
    IcpCriterionCreate,
    IcpCriterionRead,
    IcpCriterionUpdate,
    PipelineDefinitionCreate,
    PipelineDefinitionRead,
    PipelineDefinitionUpdate,
    PipelinePreview,
    RulePreview,
    RulePreviewRequest,
    ScoreBucket,
    SegmentCreate,
    SegmentRead,
    SegmentUpdate,
)
from bridgehead.web.deps import ApiUser, SessionDep

router = APIRouter(tags=["segments"])
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/segments")
def list_segments(user: ApiUser, session: SessionDep) -> list[SegmentRead]:
    """Every segment with its stance, rule, linked priorities and member count."""
    return segments.list_segments(session)


@router.post("/segments", status_code=201)
def create_segment(data: SegmentCreate, user: ApiUser, session: SessionDep) -> SegmentRead:
    """Create a segment (planners, admins); its members are evaluated at once."""
    return segments.create_segment(session, actor=user, data=data)


@router.post("/segments/preview")
def preview_rule(data: RulePreviewRequest, user: ApiUser, session: SessionDep) -> RulePreview:
    """What a rule would match now (accounts, open pipeline, won in 12 months, overlaps); stores nothing."""
    return segments.preview_rule(session, viewer=user, rule=data.rule, exclude_segment_id=data.segment_id)


@router.get("/segments/{segment_id}")
def read_segment(segment_id: ObjectId, user: ApiUser, session: SessionDep) -> SegmentRead:
    """One segment."""
    return segments.read_segment(session, segment_id=segment_id)


@router.patch("/segments/{segment_id}")
def update_segment(
    segment_id: ObjectId, data: SegmentUpdate, user: ApiUser, session: SessionDep
) -> SegmentRead:
    """Change a segment (planners, admins); re-evaluated at once."""
    return segments.update_segment(session, actor=user, segment_id=segment_id, data=data)


@router.delete("/segments/{segment_id}", status_code=204)
def delete_segment(segment_id: ObjectId, user: ApiUser, session: SessionDep) -> Response:
    """Delete a segment (planners, admins); 409 while a pipeline definition counts by it."""
    segments.delete_segment(session, actor=user, segment_id=segment_id)
    return Response(status_code=204)


@router.get("/segments/{segment_id}/members")
def list_members(
    segment_id: ObjectId, query: Annotated[PageRequest, Query()], user: ApiUser, session: SessionDep
) -> Page[AccountRead]:
    """The segment's member accounts that the caller may see, by name, paged."""
    return segments.list_members(session, viewer=user, segment_id=segment_id, page=query)


@router.get("/icp/criteria")
def list_criteria(user: ApiUser, session: SessionDep) -> list[IcpCriterionRead]:
    """The ICP criteria in order, with their weights."""
    return [icp.criterion_read(criterion) for criterion in icp.list_criteria(session)]


@router.post("/icp/criteria", status_code=201)
def create_criterion(data: IcpCriterionCreate, user: ApiUser, session: SessionDep) -> IcpCriterionRead:
    """Add an ICP criterion (planners, admins); every account is rescored."""
    return icp.criterion_read(icp.create_criterion(session, actor=user, data=data))


@router.patch("/icp/criteria/{criterion_id}")
def update_criterion(
    criterion_id: ObjectId, data: IcpCriterionUpdate, user: ApiUser, session: SessionDep
) -> IcpCriterionRead:
    """Change an ICP criterion (planners, admins); every account is rescored."""
    return icp.criterion_read(icp.update_criterion(session, actor=user, criterion_id=criterion_id, data=data))


@router.delete("/icp/criteria/{criterion_id}", status_code=204)
def delete_criterion(criterion_id: ObjectId, user: ApiUser, session: SessionDep) -> Response:
    """Remove an ICP criterion (planners, admins); every account is rescored."""
    icp.delete_criterion(session, actor=user, criterion_id=criterion_id)
    return Response(status_code=204)


@router.get("/icp/fits")
def list_fits(
    query: Annotated[PageRequest, Query()],
    user: ApiUser,
    session: SessionDep,
    order: Annotated[Literal["top", "bottom"], Query()] = "top",
) -> Page[FitListItem]:
    """Accounts the caller may see by ICP fit, best or worst first."""
    return icp.list_fits(session, viewer=user, order=order, page=query)


@router.get("/icp/distribution")
def score_distribution(user: ApiUser, session: SessionDep) -> list[ScoreBucket]:
    """Accounts per band of ten fit points."""
    return icp.score_distribution(session)


@router.get("/accounts/{account_id}/fit")
def read_account_fit(account_id: ObjectId, user: ApiUser, session: SessionDep) -> AccountFitRead:
    """An account's ICP fit with the criteria met and missed (404 if the caller may not see it)."""
    return icp.account_fit(session, viewer=user, account_id=account_id)


@router.get("/pipeline-definitions")
def list_definitions(
    user: ApiUser,
    session: SessionDep,
    priority_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> list[PipelineDefinitionRead]:
    """Pipeline definitions, optionally those of one priority."""
    return [
        PipelineDefinitionRead.model_validate(item)
        for item in pipelines.list_definitions(session, priority_id=priority_id)
    ]


@router.post("/pipeline-definitions", status_code=201)
def create_definition(
    data: PipelineDefinitionCreate, user: ApiUser, session: SessionDep
) -> PipelineDefinitionRead:
    """Add a pipeline definition (planners, admins)."""
    return PipelineDefinitionRead.model_validate(pipelines.create_definition(session, actor=user, data=data))


@router.post("/pipeline-definitions/preview")
def preview_definition(data: PipelineDefinitionCreate, user: ApiUser, session: SessionDep) -> PipelinePreview:
    """What a definition would count among the caller's visible opportunities; stores nothing."""
    definition = PipelineDefinition(
        priority_id=data.priority_id,
        name=data.name,
        segment_id=data.segment_id,
        products=pipelines.check_labels(data.products, field="products"),
        opportunity_types=pipelines.check_labels(data.opportunity_types, field="opportunity_types"),
        business_kind=data.business_kind,
    )
    return pipelines.preview_definition(session, viewer=user, definition=definition)


@router.get("/pipeline-definitions/{definition_id}")
def read_definition(definition_id: ObjectId, user: ApiUser, session: SessionDep) -> PipelineDefinitionRead:
    """One pipeline definition."""
    return PipelineDefinitionRead.model_validate(
        pipelines.get_definition(session, definition_id=definition_id)
    )


@router.get("/pipeline-definitions/{definition_id}/preview")
def preview_stored_definition(definition_id: ObjectId, user: ApiUser, session: SessionDep) -> PipelinePreview:
    """What a stored definition counts now among the caller's visible opportunities."""
    definition = pipelines.get_definition(session, definition_id=definition_id)
    return pipelines.preview_definition(session, viewer=user, definition=definition)


@router.patch("/pipeline-definitions/{definition_id}")
def update_definition(
    definition_id: ObjectId, data: PipelineDefinitionUpdate, user: ApiUser, session: SessionDep
) -> PipelineDefinitionRead:
    """Change a pipeline definition (planners, admins)."""
    return PipelineDefinitionRead.model_validate(
        pipelines.update_definition(session, actor=user, definition_id=definition_id, data=data)
    )


@router.delete("/pipeline-definitions/{definition_id}", status_code=204)
def delete_definition(definition_id: ObjectId, user: ApiUser, session: SessionDep) -> Response:
    """Remove a pipeline definition (planners, admins)."""
    pipelines.delete_definition(session, actor=user, definition_id=definition_id)
    return Response(status_code=204)
