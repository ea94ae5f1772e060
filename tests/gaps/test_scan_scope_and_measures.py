"""The incremental scan after an import, and the agility and strategy adoption measures."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bridgehead.common.types import Period
from bridgehead.connectors.after_import import run_after_import
from bridgehead.connectors.models import ImportRun
from bridgehead.connectors.report import EntityCounts, ImportReport
from bridgehead.intelligence.gaps import scan as scan_module
from bridgehead.intelligence.gaps.measures import Agility, agility, strategy_adoption
from bridgehead.intelligence.gaps.models import GapKind, GapRule, GapSignal, Severity
from bridgehead.intelligence.gaps.rules import ensure_rules
from bridgehead.intelligence.metrics import service as metrics_service
from bridgehead.intelligence.metrics.scope import MetricFilters, resolve_scope
from tests.factories import make_activity, make_user
from tests.gaps.conftest import NOW, Org, deal, open_signals, run

PAST = NOW.date() - dt.timedelta(days=4)


def _report(session: Session, started: dt.datetime, **counts: EntityCounts) -> ImportReport:
    import_run = ImportRun(
        source="csv", location="deals.csv", policy="all_or_nothing", status="done", started_at=started
    )
    session.add(import_run)
    session.flush()
    return ImportReport(
        source="csv",
        location="deals.csv",
        policy="all_or_nothing",
        dry_run=False,
        counts=dict(counts),
        run_id=import_run.id,
    )


def test_after_an_import_only_the_touched_deals_are_scanned(db_session: Session, org: Org) -> None:
    before = NOW - dt.timedelta(hours=2)
    org.account.updated_at = NOW - dt.timedelta(days=3)  # the import did not touch the account
    untouched = deal(db_session, org, close_date=PAST, updated_at=NOW - dt.timedelta(days=3))
    cleared = deal(db_session, org, close_date=PAST, updated_at=NOW - dt.timedelta(days=3))
    run(db_session, GapKind.CLOSE_DATE_PAST)
    # The import moves one deal's close date (clearing its gap) and writes a new past-due deal.
    cleared_signal = open_signals(db_session, GapKind.CLOSE_DATE_PAST)[cleared.id]
    untouched.close_date = NOW.date() + dt.timedelta(days=10)  # changed outside the import: not rescanned
    untouched.updated_at = NOW - dt.timedelta(days=3)
    cleared.close_date = NOW.date() + dt.timedelta(days=10)
    cleared.updated_at = NOW
    imported = deal(db_session, org, close_date=PAST, updated_at=NOW)
    db_session.flush()
    report = _report(db_session, before, opportunity=EntityCounts(created=1, updated=1))
    run_after_import(db_session, report)
    signals = open_signals(db_session, GapKind.CLOSE_DATE_PAST)
    assert set(signals) == {untouched.id, imported.id}
    db_session.expire_all()
    assert db_session.get(GapSignal, cleared_signal.id).resolved_at is not None  # type: ignore[union-attr]


def test_after_an_import_unanswered_buyers_are_looked_for_on_the_touched_deals(
    db_session: Session, org: Org
) -> None:
    """The scope reaches into the activities: only the touched deal's inbound activity is checked."""
    org.account.updated_at = NOW - dt.timedelta(days=3)
    untouched = deal(db_session, org, updated_at=NOW - dt.timedelta(days=3))
    touched = deal(db_session, org, updated_at=NOW)
    for waiting in (untouched, touched):
        make_activity(
            db_session, opportunity_id=waiting.id, occurred_at=NOW - dt.timedelta(days=3), direction="inbound"
        )
    db_session.flush()
    report = _report(db_session, NOW - dt.timedelta(hours=2), opportunity=EntityCounts(updated=1))
    run_after_import(db_session, report)
    assert set(open_signals(db_session, GapKind.SLOW_FOLLOW_UP)) == {touched.id}
    run(db_session, GapKind.SLOW_FOLLOW_UP)  # a full scan finds the other one too
    assert set(open_signals(db_session, GapKind.SLOW_FOLLOW_UP)) == {untouched.id, touched.id}


def test_an_import_that_wrote_most_deals_of_a_large_database_scans_every_deal(
    db_session: Session, org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past a share of the deals a scoped scan costs more than a full one (and stamps each signal)."""
    org.account.updated_at = NOW - dt.timedelta(days=3)
    untouched = deal(db_session, org, close_date=PAST, updated_at=NOW - dt.timedelta(days=3))
    for _ in range(3):
        deal(db_session, org, updated_at=NOW)
    db_session.flush()
    report = _report(db_session, NOW - dt.timedelta(hours=2), opportunity=EntityCounts(created=3))
    run_after_import(db_session, report)
    assert untouched.id not in open_signals(db_session, GapKind.CLOSE_DATE_PAST)  # a small database
    monkeypatch.setattr(scan_module, "SCOPED_SCAN_MIN_DEALS", 4)
    assert scan_module.import_scan_scope(db_session, report) is None
    run_after_import(db_session, report)
    assert untouched.id in open_signals(db_session, GapKind.CLOSE_DATE_PAST)
    # An import that wrote no deal keeps to its (empty) scope.
    nothing = _report(db_session, NOW - dt.timedelta(hours=2), opportunity=EntityCounts(unchanged=4))
    assert scan_module.import_scan_scope(db_session, nothing) is not None


def test_an_import_of_activities_scans_every_deal(db_session: Session, org: Org) -> None:
    old = deal(db_session, org, close_date=PAST, updated_at=NOW - dt.timedelta(days=3))
    report = _report(db_session, NOW - dt.timedelta(hours=1), activity=EntityCounts(created=5))
    run_after_import(db_session, report)
    assert old.id in open_signals(db_session, GapKind.CLOSE_DATE_PAST)


def _signal(
    session: Session, opportunity_id: int, kind: GapKind, raised: dt.datetime, resolved: dt.datetime | None
) -> None:
    session.add(
        GapSignal(
            kind=kind,
            severity=Severity.MEDIUM,
            subject_key=f"opportunity:{opportunity_id}:{raised.isoformat()}",
            opportunity_id=opportunity_id,
            evidence={},
            raised_at=raised,
            last_seen_at=resolved or raised,
            resolved_at=resolved,
        )
    )
    session.flush()


def test_agility_is_the_median_days_to_resolve_in_the_period(db_session: Session, org: Org) -> None:
    period = Period.containing(NOW.date())
    start = dt.datetime.combine(period.start, dt.time(), dt.UTC)
    opportunity = deal(db_session, org)
    other = deal(db_session, org, owner_id=org.other_rep.id)
    for days, owner_deal in ((2, opportunity), (4, opportunity), (10, opportunity), (30, other)):
        _signal(db_session, owner_deal.id, GapKind.STALE_DEAL, start, start + dt.timedelta(days=days))
    _signal(
        db_session,
        opportunity.id,
        GapKind.STALE_DEAL,
        start - dt.timedelta(days=40),
        start - dt.timedelta(days=1),
    )
    _signal(db_session, opportunity.id, GapKind.STALE_DEAL, start, None)
    everything = resolve_scope(db_session, viewer=None, filters=MetricFilters(period=period))
    result = agility(db_session, everything)
    assert result.resolved_signals == 4
    assert result.median_days == pytest.approx(7.0)  # median of 2, 4, 10, 30
    as_manager = resolve_scope(db_session, viewer=org.manager, filters=MetricFilters(period=period))
    assert agility(db_session, as_manager).median_days == pytest.approx(4.0)
    previous = resolve_scope(db_session, viewer=None, filters=MetricFilters(period=period.previous()))
    assert agility(db_session, previous) == Agility(median_days=39.0, resolved_signals=1)
    older = resolve_scope(db_session, viewer=None, filters=MetricFilters(period=period.previous().previous()))
    assert agility(db_session, older).median_days is None


def test_strategy_adoption_counts_reps_whose_open_deals_meet_the_standard(
    db_session: Session, org: Org
) -> None:
    third = make_user(db_session, full_name="Tess Third", manager_id=org.manager.id)
    good = deal(db_session, org)
    deal(db_session, org, owner_id=org.other_rep.id)
    off_standard = deal(db_session, org, owner_id=third.id)
    _signal(db_session, off_standard.id, GapKind.SINGLE_THREADED, NOW, None)
    _signal(db_session, off_standard.id, GapKind.NO_ECONOMIC_BUYER, NOW, None)  # one deal, counted once
    _signal(db_session, good.id, GapKind.CLOSE_DATE_PAST, NOW, None)  # not part of the standard
    _signal(db_session, good.id, GapKind.STALE_DEAL, NOW - dt.timedelta(days=9), NOW)  # resolved
    period = Period.containing(NOW.date())
    result = strategy_adoption(
        db_session, resolve_scope(db_session, viewer=None, filters=MetricFilters(period=period))
    )
    assert (result.reps_meeting, result.active_reps) == (2, 3)
    assert result.rate == pytest.approx(2 / 3)
    assert result.deal_share == pytest.approx(2 / 3)  # one of three open deals breaks the standard
    team = strategy_adoption(
        db_session, resolve_scope(db_session, viewer=org.manager, filters=MetricFilters(period=period))
    )
    assert (team.reps_meeting, team.active_reps) == (1, 2)
    assert db_session.scalars(select(GapSignal.id)).first() is not None


def test_the_metrics_headline_reports_adoption_and_agility_once_a_scan_has_run(
    db_session: Session, org: Org
) -> None:
    period = Period.containing(NOW.date())
    filters = MetricFilters(period=period)

    def headline() -> dict[str, object]:
        return {
            metric.key: metric
            for metric in metrics_service.headline(db_session, viewer=None, filters=filters).metrics
        }

    good = deal(db_session, org)
    off_standard = deal(db_session, org, owner_id=org.other_rep.id)
    _signal(db_session, off_standard.id, GapKind.NO_ECONOMIC_BUYER, NOW, None)
    start = dt.datetime.combine(period.start, dt.time(), dt.UTC)
    _signal(db_session, good.id, GapKind.STALE_DEAL, start, start + dt.timedelta(days=3))
    before = headline()
    assert before["strategy_adoption"].available is False  # type: ignore[attr-defined]
    assert before["agility"].value is None  # type: ignore[attr-defined]

    ensure_rules(db_session)  # what a scan does first
    after = headline()
    adoption = strategy_adoption(db_session, resolve_scope(db_session, viewer=None, filters=filters))
    assert after["strategy_adoption"].available is True  # type: ignore[attr-defined]
    assert after["strategy_adoption"].value == pytest.approx(adoption.rate)  # type: ignore[attr-defined]
    assert adoption.rate == pytest.approx(1 / 2)
    assert "1 of 2 reps" in after["strategy_adoption"].note  # type: ignore[attr-defined]
    assert after["agility"].value == pytest.approx(3.0)  # type: ignore[attr-defined]

    for rule in db_session.scalars(select(GapRule)):
        if rule.kind == GapKind.NO_ECONOMIC_BUYER:
            rule.enabled = False
    db_session.flush()
    partly = headline()
    assert "not checked: no economic buyer" in partly["strategy_adoption"].note  # type: ignore[attr-defined]
    assert partly["strategy_adoption"].value == pytest.approx(1.0)  # type: ignore[attr-defined]
    for rule in db_session.scalars(select(GapRule)):
        rule.enabled = False
    db_session.flush()
    assert headline()["strategy_adoption"].available is False  # type: ignore[attr-defined]
