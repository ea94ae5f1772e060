"""A signal's one-sentence explanation, written from its evidence when someone reads it.

Every detector stores the facts behind a gap as JSON evidence (the stage, the engaged
stakeholders, the days without activity, …); the sentence the inbox, the deal page, the API and
the CSV show is rendered from those facts here, for the rows being read. Building the sentence
in SQL for every hit and storing it beside the evidence that says the same thing cost a first
scan at 1,000,000 deals about 2 s and 90 bytes per signal (issue 7's benchmark), for text that is
read for a page of signals at a time.

Evidence comes back from either database and from rows written by older scans: booleans as
``true``/``1``, dates and timestamps as ISO text (PostgreSQL writes ``T`` and an offset, SQLite a
space), a key a detector did not write yet missing. Each sentence reads what is there and never
fails: a signal whose evidence has nothing to say gets its kind's plain description.

Spans that grow with time (a stale deal's idle days, a past close date's days, an unanswered
buyer's hours) are not stored: the evidence keeps the moment they count from, and
``with_elapsed`` counts them to the signal's last sighting. Stored, they changed every day, so
each nightly re-scan rewrote most of the signals (at 1,000,000 deals about 600,000 of 1.4 million).
Evidence written by older scans still carries the stored span, and shows it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from bridgehead.deals.stakeholders import ENGAGEMENT_WINDOW_DAYS

MAX_EXPLANATION = 500

Evidence = Mapping[str, Any]


def _text(value: Any) -> str:
    """A value as the sentence shows it: numbers without a trailing ``.0``, booleans as words."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _count(value: Any, one: str, many: str) -> str:
    """``3 engaged stakeholders`` / ``1 engaged stakeholder``."""
    number = _text(value)
    return f"{number}{one if number == '1' else many}"


def _day(value: Any) -> str:
    """The date part of a stored date or timestamp (``2025-12-30`` of ``2025-12-30T10:00:00+00:00``)."""
    return _text(value)[:10]


def _flag(value: Any) -> bool:
    """A JSON boolean as either database writes it (``true``, ``1``, ``"true"``)."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "t")
    return bool(value)


def _single_threaded(e: Evidence) -> str:
    segment = ""
    if e.get("segment_requires") is not None:
        segment = f" and segment {_text(e.get('segment'))} requires {_text(e['segment_requires'])}"
    return (
        f"{_count(e.get('engaged', 0), ' engaged stakeholder', ' engaged stakeholders')}; "
        f"stage {_text(e.get('stage'))} requires {_text(e.get('stage_requires'))}{segment}"
    )


def _no_economic_buyer(e: Evidence) -> str:
    stage = _text(e.get("stage"))
    if _flag(e.get("economic_buyer_on_map")):
        days = _text(e.get("window_days", ENGAGEMENT_WINDOW_DAYS))
        return (
            f"The economic buyer is on the map but not engaged in {days} days; "
            f"stage {stage} requires an engaged economic buyer"
        )
    return f"No economic buyer on the stakeholder map; stage {stage} requires one"


def _slow_follow_up(e: Evidence) -> str:
    return (
        f"{_count(e.get('unanswered'), ' inbound buyer activity', ' inbound buyer activities')} without an "
        f"answer; the first came {_text(e.get('hours_waiting'))} hours ago (the playbook asks for an "
        f"answer within {_text(e.get('follow_up_hours'))} hours)"
    )


def _stale_deal(e: Evidence) -> str:
    last = e.get("last_activity_at")
    last_part = f" (last on {_day(last)})" if last is not None else ""
    return (
        f"No activity in {_text(e.get('idle_days'))} days{last_part}; "
        f"the playbook expects one at least every {_text(e.get('stale_days'))} days"
    )


def _qualification_incomplete(e: Evidence) -> str:
    return (
        f"{_text(e.get('missing_count'))} of {_text(e.get('required_count'))} qualification dimensions "
        f"below {_text(e.get('minimum_status'))} for stage {_text(e.get('stage'))}: {_text(e.get('missing'))}"
    )


def _close_date_pushed(e: Evidence) -> str:
    return (
        f"Close date pushed {_text(e.get('pushes'))} times, from {_day(e.get('first_close_date'))} "
        f"to {_day(e.get('close_date'))}"
    )


def _close_date_past(e: Evidence) -> str:
    days = _count(e.get("days_past"), " day", " days")
    return f"Open deal with close date {_day(e.get('close_date'))}, {days} ago"


def _missing_fields(e: Evidence) -> str:
    return f"Stage {_text(e.get('stage'))} requires {_text(e.get('missing'))}; not filled in"


def _off_strategy(e: Evidence) -> str:
    segment = _text(e.get("segment"))
    if e.get("subject") == "opportunity" or "activities" not in e:
        return f"Open deal on an account in the deprioritised segment {segment}"
    return (
        f"{_text(e.get('activities'))} activities in the last {_text(e.get('activity_days'))} days "
        f"on an account in the deprioritised segment {segment}"
    )


def _no_action_plan(e: Evidence) -> str:
    return (
        f"No mutual action plan; stage {_text(e.get('stage'))} is a late stage "
        f"(probability {_text(e.get('late_stage_probability'))} % or more)"
    )


def _action_plan_overdue(e: Evidence) -> str:
    steps = _count(e.get("overdue_steps"), " mutual action plan step", " mutual action plan steps")
    return f"{steps} overdue, the oldest due {_day(e.get('oldest_due_date'))}; stage {_text(e.get('stage'))}"


def _handoff_not_accepted(e: Evidence) -> str:
    won_on = _day(e.get("won_on"))
    if e.get("handoff_status") in (None, "none"):
        return f"Won on {won_on} and no handoff to customer success has been opened"
    return f"Won on {won_on}; customer success has not accepted the handoff"


# Keyed by the kinds' values (``GapKind`` is a StrEnum): the model imports this module.
_SENTENCES: dict[str, Callable[[Evidence], str]] = {
    "single_threaded": _single_threaded,
    "no_economic_buyer": _no_economic_buyer,
    "slow_follow_up": _slow_follow_up,
    "stale_deal": _stale_deal,
    "qualification_incomplete": _qualification_incomplete,
    "close_date_pushed": _close_date_pushed,
    "close_date_past": _close_date_past,
    "missing_fields": _missing_fields,
    "off_strategy": _off_strategy,
    "no_action_plan": _no_action_plan,
    "action_plan_overdue": _action_plan_overdue,
    "handoff_not_accepted": _handoff_not_accepted,
}

_PLAIN: dict[str, str] = {
    "single_threaded": "Fewer engaged stakeholders than the stage requires",
    "no_economic_buyer": "No engaged economic buyer past the stage that needs one",
    "slow_follow_up": "Inbound buyer activity without a timely answer",
    "stale_deal": "No recent activity on the deal",
    "qualification_incomplete": "Qualification incomplete for the stage",
    "close_date_pushed": "Close date pushed repeatedly",
    "close_date_past": "Open deal with a close date in the past",
    "missing_fields": "Fields the stage requires are not filled in",
    "off_strategy": "Pipeline or activity in a deprioritised segment",
    "no_action_plan": "Late-stage deal without a mutual action plan",
    "action_plan_overdue": "Mutual action plan steps overdue",
    "handoff_not_accepted": "Won deal without an accepted handoff",
}


def _moment(value: Any) -> dt.datetime | None:
    """A stored timestamp (or date) as an aware UTC datetime; None if it is not one."""
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def _whole(unit_seconds: int, since: dt.datetime, as_of: dt.datetime) -> int:
    """Whole units (days: 86400, hours: 3600) from ``since`` to ``as_of``, truncated, as
    ``sqltools.elapsed`` counts them in SQL."""
    return int((as_of - since).total_seconds() // unit_seconds)


def _calendar_days(since: dt.datetime, as_of: dt.datetime) -> int:
    """Days from the date ``since`` to the UTC date of ``as_of`` (a close date is a date)."""
    return (as_of.astimezone(dt.UTC).date() - since.date()).days


# Per kind: the span shown (its evidence key), the evidence key it counts from, and how.
_GROWING: dict[str, tuple[str, str, Callable[[dt.datetime, dt.datetime], int]]] = {
    "stale_deal": ("idle_days", "idle_since", partial(_whole, 86400)),
    "slow_follow_up": ("hours_waiting", "first_inbound_at", partial(_whole, 3600)),
    "close_date_past": ("days_past", "close_date", _calendar_days),
}


def with_elapsed(kind: str, evidence: Evidence | None, as_of: dt.datetime | None) -> dict[str, Any]:
    """The evidence with the span that grows with time counted to ``as_of`` (the signal's last
    sighting): a stale deal's ``idle_days``, a past close date's ``days_past``, an unanswered
    buyer's ``hours_waiting``. Evidence that stored the span (older scans) keeps it."""
    facts = dict(evidence or {})
    growing = _GROWING.get(str(kind))
    if growing is None or as_of is None:
        return facts
    shown, counted_from, count = growing
    since = _moment(facts.get(counted_from))
    if shown not in facts and since is not None:
        facts[shown] = count(since, as_of if as_of.tzinfo is not None else as_of.replace(tzinfo=dt.UTC))
    return facts


def explain(kind: str, evidence: Evidence | None, as_of: dt.datetime | None = None) -> str:
    """The one-sentence explanation of a ``kind`` signal with ``evidence`` (at most 500 characters),
    with spans that grow with time counted to ``as_of`` (``with_elapsed``)."""
    sentence = _SENTENCES.get(str(kind))
    if sentence is None:
        return str(kind)
    if not evidence:
        return _PLAIN[str(kind)]
    return sentence(with_elapsed(kind, evidence, as_of))[:MAX_EXPLANATION]
