"""Template filters and globals (no request, no database)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from bridgehead.auth.models import Role
from bridgehead.web.nav import navigation_for
from bridgehead.web.templating import (
    format_age,
    format_date,
    format_datetime,
    format_money,
    format_number,
    quarter_choices,
)


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (Decimal("1234567"), "USD", "$1,234,567"),
        (Decimal("1234.99"), "USD", "$1,235"),
        (Decimal("0"), "USD", "$0"),
        (500, "EUR", "€500"),
        (Decimal("2500000"), "GBP", "£2,500,000"),
        (Decimal("1000"), "CHF", "CHF 1,000"),
    ],
)
def test_format_money_plain_shows_whole_units(amount: Decimal, currency: str, text: str) -> None:
    assert format_money(amount, currency) == text


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("999"), "$999"),
        (Decimal("1000"), "$1.0k"),
        (Decimal("1500"), "$1.5k"),
        (Decimal("1234567"), "$1.2M"),
        (Decimal("2500000000"), "$2.5B"),
        (Decimal("12.40"), "$12"),
    ],
)
def test_format_money_compact_uses_suffixes(amount: Decimal, text: str) -> None:
    assert format_money(amount, compact=True) == text


@pytest.mark.parametrize("compact", [False, True])
def test_format_money_without_amount_is_a_dash(compact: bool) -> None:
    assert format_money(None, compact=compact) == "—"


def test_format_number_and_dates() -> None:
    assert format_number(1234567) == "1,234,567"
    assert format_number(None) == "—"
    assert format_date(dt.date(2026, 3, 4)) == "2026-03-04"
    assert format_date(dt.datetime(2026, 3, 4, 23, 0, tzinfo=dt.UTC)) == "2026-03-04"
    assert format_date(None) == "—"
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert format_datetime(dt.datetime(2026, 3, 4, 1, 30, tzinfo=plus_two)) == "2026-03-03 23:30 UTC"
    assert format_datetime(None) == "—"


def test_quarter_choices_newest_first_around_today() -> None:
    choices = quarter_choices(dt.date(2026, 5, 10), back=8, ahead=3)
    assert choices == [
        "2027-Q1",
        "2026-Q4",
        "2026-Q3",
        "2026-Q2",
        "2026-Q1",
        "2025-Q4",
        "2025-Q3",
        "2025-Q2",
        "2025-Q1",
        "2024-Q4",
        "2024-Q3",
        "2024-Q2",
    ]


def test_quarter_choices_counts() -> None:
    choices = quarter_choices(dt.date(2026, 1, 1), back=0, ahead=0)
    assert choices == ["2026-Q1"]
    assert len(quarter_choices(dt.date(2026, 1, 1), back=2, ahead=1)) == 4
    assert quarter_choices(dt.date(2026, 1, 1), back=1, ahead=1) == ["2026-Q2", "2026-Q1", "2025-Q4"]


def test_navigation_shows_admin_pages_to_admins_only() -> None:
    def paths(role: Role) -> set[str]:
        return {item.path for _, items in navigation_for(role) for item in items}

    assert "/admin/users" in paths(Role.ADMIN)
    for role in Role:
        assert {"/opportunities", "/accounts"} <= paths(role)
        if role is not Role.ADMIN:
            assert "/admin/users" not in paths(role)
    # Areas without a visible link are left out, so a rep has no empty "Admin" heading.
    rep_areas = [area for area, _ in navigation_for(Role.REP)]
    assert "Deals" in rep_areas
    assert "Admin" not in rep_areas
    assert "Data" not in rep_areas


def test_format_age_names_the_largest_whole_unit() -> None:
    now = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
    assert format_age(now - dt.timedelta(seconds=59), now) == "just now"
    assert format_age(now + dt.timedelta(minutes=5), now) == "just now"
    assert format_age(now - dt.timedelta(minutes=12, seconds=30), now) == "12 min ago"
    assert format_age(now - dt.timedelta(hours=3, minutes=59), now) == "3 h ago"
    assert format_age(now - dt.timedelta(days=1, hours=2), now) == "1 day ago"
    assert format_age(now - dt.timedelta(days=9), now) == "9 days ago"
