"""The explanation a person reads, written from a signal's evidence (``gaps.explain``)."""

from __future__ import annotations

import datetime as dt

import pytest

from bridgehead.intelligence.gaps.explain import MAX_EXPLANATION, explain, with_elapsed
from bridgehead.intelligence.gaps.models import GapKind


@pytest.mark.parametrize(
    "last_activity_at",
    ["2025-12-01 09:30:00.000000", "2025-12-01T09:30:00+00:00"],  # SQLite's text, PostgreSQL's JSON
)
def test_a_timestamp_from_either_database_reads_as_its_date(last_activity_at: str) -> None:
    evidence = {"last_activity_at": last_activity_at, "idle_since": last_activity_at, "stale_days": 21}
    seen = dt.datetime(2025, 12, 23, 9, 29, tzinfo=dt.UTC)  # a minute short of 22 days
    assert explain(GapKind.STALE_DEAL, evidence, seen) == (
        "No activity in 21 days (last on 2025-12-01); the playbook expects one at least every 21 days"
    )
    assert explain(GapKind.STALE_DEAL, evidence, seen + dt.timedelta(minutes=1)).startswith(
        "No activity in 22 days (last on 2025-12-01)"
    )


def test_spans_that_grow_with_time_are_counted_to_the_last_sighting() -> None:
    seen = dt.datetime(2025, 12, 5, 8, 0, tzinfo=dt.UTC)
    # PostgreSQL's text of a timestamp cast to text ("+00"), a date, SQLite's naive UTC text.
    waiting = {"unanswered": 2, "first_inbound_at": "2025-12-04 06:30:00+00", "follow_up_hours": 24}
    assert with_elapsed(GapKind.SLOW_FOLLOW_UP, waiting, seen)["hours_waiting"] == 25
    assert with_elapsed(GapKind.CLOSE_DATE_PAST, {"close_date": "2025-12-01"}, seen)["days_past"] == 4
    quiet = {"last_activity_at": None, "idle_since": "2025-11-05 08:00:00.000000", "stale_days": 21}
    assert with_elapsed(GapKind.STALE_DEAL, quiet, seen)["idle_days"] == 30
    assert explain(GapKind.STALE_DEAL, quiet, seen) == (
        "No activity in 30 days; the playbook expects one at least every 21 days"
    )
    # Evidence written by older scans stored the span: it is shown as stored.
    older = {"close_date": "2025-12-01", "days_past": 2}
    assert with_elapsed(GapKind.CLOSE_DATE_PAST, older, seen)["days_past"] == 2
    # Without a time to count to, or with a moment that is not one, nothing is added.
    assert "days_past" not in with_elapsed(GapKind.CLOSE_DATE_PAST, {"close_date": "2025-12-01"}, None)
    assert "idle_days" not in with_elapsed(GapKind.STALE_DEAL, {"idle_since": "soon"}, seen)
    # Other kinds' evidence comes back as it is.
    assert with_elapsed(GapKind.MISSING_FIELDS, {"stage": "Proposal"}, seen) == {"stage": "Proposal"}


@pytest.mark.parametrize("on_map", [True, 1, "true"])
def test_a_boolean_from_either_database_reads_the_same(on_map: object) -> None:
    sentence = explain(GapKind.NO_ECONOMIC_BUYER, {"stage": "Proposal", "economic_buyer_on_map": on_map})
    assert sentence.startswith("The economic buyer is on the map but not engaged in 90 days")


def test_one_and_many_are_counted_in_words() -> None:
    seen = dt.datetime(2025, 12, 1, 23, 59, tzinfo=dt.UTC)
    one = explain(GapKind.CLOSE_DATE_PAST, {"close_date": "2025-11-30"}, seen)
    many = explain(GapKind.CLOSE_DATE_PAST, {"close_date": "2025-11-28"}, seen)
    assert (one, many) == (
        "Open deal with close date 2025-11-30, 1 day ago",
        "Open deal with close date 2025-11-28, 3 days ago",
    )


def test_the_segment_minimum_is_named_only_when_the_segment_has_one() -> None:
    base = {"engaged": 1, "stage": "Proposal", "stage_requires": 2}
    assert explain(GapKind.SINGLE_THREADED, {**base, "segment_requires": None}) == (
        "1 engaged stakeholder; stage Proposal requires 2"
    )
    assert explain(GapKind.SINGLE_THREADED, {**base, "segment": "Enterprise", "segment_requires": 3}) == (
        "1 engaged stakeholder; stage Proposal requires 2 and segment Enterprise requires 3"
    )


def test_off_strategy_tells_a_deal_from_an_account() -> None:
    deal = explain(GapKind.OFF_STRATEGY, {"segment": "SMB Retail", "subject": "opportunity"})
    account = explain(
        GapKind.OFF_STRATEGY,
        {"segment": "SMB Retail", "activities": 4, "activity_days": 30, "subject": "account"},
    )
    assert deal == "Open deal on an account in the deprioritised segment SMB Retail"
    assert account == "4 activities in the last 30 days on an account in the deprioritised segment SMB Retail"


def test_every_kind_has_a_sentence_without_evidence_and_none_is_longer_than_the_limit() -> None:
    for kind in GapKind:
        assert explain(kind, {})
        assert explain(kind, None) == explain(kind, {})
        long = explain(kind, {"stage": "x" * 1000, "missing": "y" * 1000, "segment": "z" * 1000})
        assert len(long) <= MAX_EXPLANATION


def test_a_handoff_never_opened_reads_differently_from_one_not_accepted() -> None:
    missing = explain(GapKind.HANDOFF_NOT_ACCEPTED, {"won_on": "2025-11-20", "handoff_status": "none"})
    pending = explain(GapKind.HANDOFF_NOT_ACCEPTED, {"won_on": "2025-11-20", "handoff_status": "pending"})
    assert missing == "Won on 2025-11-20 and no handoff to customer success has been opened"
    assert pending == "Won on 2025-11-20; customer success has not accepted the handoff"
