"""Pages of the auth domain: sign in and out, personal API tokens, the user list for admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from bridgehead.auth import service
from bridgehead.auth.models import Role
from bridgehead.common.types import MAX_ID
from bridgehead.errors import AuthenticationFailed, ValidationFailed
from bridgehead.web.deps import (
    SESSION_COOKIE,
    CsrfProtected,
    OptionalPageUser,
    PageUser,
    SessionDep,
    SettingsDep,
    require_roles,
)
from bridgehead.web.templating import render

router = APIRouter(include_in_schema=False)


def _safe_next(next_path: str | None) -> str:
    """Only local paths: never redirect a signed-in user to another site."""
    if next_path and next_path.startswith("/") and not next_path.startswith("//") and "\\" not in next_path:
        return next_path
    return "/"


@router.get("/login")
def login_page(request: Request, user: OptionalPageUser, next: str | None = None) -> Response:
    """The sign-in form (a signed-in user goes straight on)."""
    if user is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "login.html", {"next": _safe_next(next), "email": "", "error": None})


@router.post("/login", dependencies=[CsrfProtected])
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str | None, Form()] = None,
) -> Response:
    """Check the credentials; on success set the session cookie, otherwise show the form again (401)."""
    try:
        user = service.authenticate(session, email=email, password=password)
    except AuthenticationFailed as exc:
        context = {"next": _safe_next(next), "email": email, "error": exc.message}
        return render(request, "login.html", context, status_code=401)
    token = service.start_session(session, user=user, max_age_seconds=settings.session_max_age_seconds)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_max_age_seconds,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    return response


@router.post("/logout", dependencies=[CsrfProtected])
def logout(request: Request, session: SessionDep) -> Response:
    """End the session everywhere and return to the sign-in page."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        service.end_session(session, token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/settings/tokens")
def tokens_page(request: Request, user: PageUser, session: SessionDep) -> Response:
    """The user's API tokens, with a form to create one."""
    tokens = service.list_api_tokens(session, user=user)
    return render(request, "auth/tokens.html", {"tokens": tokens, "issued": None, "error": None})


@router.post("/settings/tokens", dependencies=[CsrfProtected])
def create_token(
    request: Request,
    user: PageUser,
    session: SessionDep,
    name: Annotated[str, Form()],
    expires_in_days: Annotated[str, Form()] = "",
) -> Response:
    """Create a token and show its secret once."""
    issued = None
    error = None
    try:
        days = int(expires_in_days) if expires_in_days.strip() else None
        issued = service.create_api_token(session, user=user, name=name, expires_in_days=days)
    except ValueError:
        error = f"expiry must be a whole number of days, not {expires_in_days!r}"
    except ValidationFailed as exc:
        error = exc.message
    tokens = service.list_api_tokens(session, user=user)
    status_code = 201 if issued else 422
    context = {"tokens": tokens, "issued": issued, "error": error}
    return render(request, "auth/tokens.html", context, status_code=status_code)


@router.post("/settings/tokens/{token_id}/revoke", dependencies=[CsrfProtected])
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=MAX_ID)], user: PageUser, session: SessionDep
) -> Response:
    """Revoke a token and go back to the list."""
    service.revoke_api_token(session, user=user, token_id=token_id)
    return RedirectResponse("/settings/tokens", status_code=303)


@router.get("/admin/users", dependencies=[require_roles(Role.ADMIN)])
def users_page(request: Request, session: SessionDep) -> Response:
    """Every user with role, unit and manager, for admins."""
    users = service.list_users(session)
    names = {user.id: user.full_name for user in users}
    return render(request, "auth/users.html", {"users": users, "manager_names": names})
