"""Jinja2 templates with the filters and globals every page uses."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from bridgehead.auth.models import User
from bridgehead.common.types import Period
from bridgehead.web.deps import CSRF_FIELD, csrf_token_for
from bridgehead.web.nav import navigation_for

TEMPLATES_DIR = Path(__file__).parent / "templates"
_CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def format_money(amount: Decimal | int | None, currency: str = "USD", *, compact: bool = False) -> str:
    """``$1,234,567`` (whole units), or ``$1.2M`` when compact; an em dash for no amount."""
    if amount is None:
        return "—"
    symbol = _CURRENCY_SYMBOLS.get(currency, currency + " ")
    value = Decimal(amount)
    if compact:
        for threshold, suffix in ((Decimal(10**9), "B"), (Decimal(10**6), "M"), (Decimal(10**3), "k")):
            if abs(value) >= threshold:
                return f"{symbol}{value / threshold:,.1f}{suffix}"
    return f"{symbol}{value:,.0f}"


def format_number(value: int | Decimal | None) -> str:
    """Thousands separators; an em dash for no value."""
    return "—" if value is None else f"{value:,}"


def format_date(value: dt.date | dt.datetime | None) -> str:
    """ISO date (``2026-03-04``)."""
    if value is None:
        return "—"
    return value.date().isoformat() if isinstance(value, dt.datetime) else value.isoformat()


def format_datetime(value: dt.datetime | None) -> str:
    """``2026-03-04 10:11 UTC``."""
    return "—" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def format_age(value: dt.datetime, now: dt.datetime | None = None) -> str:
    """How long ago ``value`` was, in the largest whole unit: ``just now``, ``12 min ago``,
    ``3 h ago``, ``2 days ago`` (a moment in the future reads ``just now``)."""
    seconds = ((now or dt.datetime.now(dt.UTC)) - value).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    days = int(seconds // 86400)
    return f"{days} day{'s' if days != 1 else ''} ago"


def quarter_choices(today: dt.date | None = None, back: int = 8, ahead: int = 3) -> list[str]:
    """Quarter labels from ``back`` quarters ago to ``ahead`` quarters ahead, newest first."""
    current = Period.containing(today or dt.date.today())
    labels = [current.label]
    earlier, later = current, current
    for _ in range(back):
        earlier = earlier.previous()
        labels.append(earlier.label)
    for _ in range(ahead):
        later = later.next()
        labels.insert(0, later.label)
    return labels


def _query_with(request: Request, **changes: Any) -> str:
    """The current query string with some parameters replaced (None removes one)."""
    params = dict(request.query_params.items())
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = str(value)
    return "?" + urlencode(params) if params else "?"


def make_templates() -> Jinja2Templates:
    """The template engine with Bridgehead's filters; built by ``create_app``, never at import."""
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    env = templates.env
    env.filters["money"] = format_money
    env.filters["number"] = format_number
    env.filters["date"] = format_date
    env.filters["datetime"] = format_datetime
    env.filters["age"] = format_age
    env.globals["query_with"] = _query_with
    env.globals["csrf_field_name"] = CSRF_FIELD
    env.globals["quarter_choices"] = quarter_choices
    return templates


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    user: User | None = None,
) -> Response:
    """Render a page with the layout's context: user, navigation, CSRF token, organisation."""
    templates: Jinja2Templates = request.app.state.templates
    viewer = user or getattr(request.state, "user", None)
    full_context: dict[str, Any] = {
        "current_user": viewer,
        "navigation": navigation_for(viewer.role) if viewer else [],
        "csrf_token": csrf_token_for(request),
        "organisation_name": getattr(request.state, "organisation_name", None)
        or request.app.state.settings.organisation_name,
        "current_path": request.url.path,
        "current_quarter": Period.containing(dt.date.today()).label,
    }
    full_context.update(context or {})
    return templates.TemplateResponse(request, template, full_context, status_code=status_code)


def is_htmx(request: Request) -> bool:
    """Whether htmx asked for a fragment (then a page renders only the part that changes)."""
    return request.headers.get("hx-request") == "true" and request.headers.get("hx-boosted") != "true"
