"""JSON endpoints of the auth domain: who am I, and my API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from bridgehead.auth import service
from bridgehead.auth.schemas import ApiTokenCreate, ApiTokenIssued, ApiTokenRead, UserRead
from bridgehead.common.types import MAX_ID
from bridgehead.web.deps import ApiUser, SessionDep

router = APIRouter(tags=["auth"])


@router.get("/me")
def read_me(user: ApiUser) -> UserRead:
    """The caller."""
    return UserRead.model_validate(user)


@router.get("/tokens")
def list_tokens(user: ApiUser, session: SessionDep) -> list[ApiTokenRead]:
    """The caller's active API tokens."""
    return [ApiTokenRead.model_validate(token) for token in service.list_api_tokens(session, user=user)]


@router.post("/tokens", status_code=status.HTTP_201_CREATED)
def create_token(body: ApiTokenCreate, user: ApiUser, session: SessionDep) -> ApiTokenIssued:
    """Issue a token; the secret is in this response only."""
    issued = service.create_api_token(
        session, user=user, name=body.name, expires_in_days=body.expires_in_days
    )
    return ApiTokenIssued(**ApiTokenRead.model_validate(issued.token).model_dump(), secret=issued.secret)


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(token_id: Annotated[int, Path(ge=1, le=MAX_ID)], user: ApiUser, session: SessionDep) -> None:
    """Revoke one of the caller's tokens."""
    service.revoke_api_token(session, user=user, token_id=token_id)
