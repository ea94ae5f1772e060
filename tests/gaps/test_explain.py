"""The explanation a person reads, written from a signal's evidence (``gaps.explain``)."""

from __future__ import annotations

import pytest

from bridgehead.intelligence.gaps.explain import MAX_EXPLANATION, explain
from bridgehead.intelligence.gaps.models import GapKind


@pytest.mark.parametrize(
    "last_activity_at",
    ["2025-12-01 09:30:00.000000", "2025-12-01T09:30:00+00:00"],  # SQLite's text, PostgreSQL's JSON
)
def test_a_timestamp_from_either_database_reads_as_its_date(last_activity_at: str) -> None:
    evidence = {"last_activity_at": last_activity_at, "idle_days": 22, "stale_days": 21}
    assert explain(GapKind.STALE_DEAL, evidence) == (
        "No activity in 22 days (last on 2025-12-01); the playbook expects one at least every 21 days"
    )


@pytest.mark.parametrize("on_map", [True, 1, "true"])
def test_a_boolean_from_either_database_reads_the_same(on_map: object) -> None:
    sentence = explain(GapKind.NO_ECONOMIC_BUYER, {"stage": "Proposal", "economic_buyer_on_map": on_map})
    assert sentence.startswith("The economic buyer is on the map but not engaged in 90 days")


def test_one_and_many_are_counted_in_words() -> None:
    one = explain(GapKind.CLOSE_DATE_PAST, {"close_date": "2025-11-30", "days_past": 1})
    many = explain(GapKind.CLOSE_DATE_PAST, {"close_date": "2025-11-28", "days_past": 3})
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
