"""How a scan writes: a first full scan (indexes built afterwards) and a re-scan (only what changed)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import delete, func, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bridgehead.auth.models import User
from bridgehead.crm.models import Account, Opportunity
from bridgehead.deals.process import processes
from bridgehead.intelligence.gaps import scratch
from bridgehead.intelligence.gaps.models import GapKind, GapSignal, Severity
from bridgehead.intelligence.gaps.rules import effective_rules
from bridgehead.intelligence.gaps.scan import (
    DETECTORS,
    ScanScope,
    detected_rows,
    fill_matched,
    scan,
)
from bridgehead.intelligence.gaps.service import full_scan_times, get_signal, last_seen
from tests.factories import make_account, make_activity
from tests.gaps.conftest import NOW, Org, deal, engage, open_signal_rows, open_signals, run

TODAY = NOW.date()


def _trip_several_detectors(session: Session, org: Org) -> None:
    deal(session, org, created_at=NOW - dt.timedelta(days=60))  # stale
    deal(session, org, close_date=TODAY - dt.timedelta(days=5), stage="Proposal")  # past, late stage
    busy = deal(session, org, stage="Solution")
    engage(session, busy, org.contacts[0])  # one engaged stakeholder where the stage asks for two
    inbound = deal(session, org)
    make_activity(
        session, opportunity_id=inbound.id, occurred_at=NOW - dt.timedelta(days=3), direction="inbound"
    )


def test_a_first_full_scan_writes_what_a_scan_over_open_signals_writes(db_session: Session, org: Org) -> None:
    _trip_several_detectors(db_session, org)
    # With a signal open, the scan takes the path that checks every hit against the open ones.
    dummy = GapSignal(
        kind=GapKind.OFF_STRATEGY,
        severity=Severity.LOW,
        subject_key="dummy",
        evidence={},
        raised_at=NOW,
        last_seen_at=NOW,
    )
    db_session.add(dummy)
    db_session.flush()
    checked = scan(db_session, now=NOW)
    expected = open_signal_rows(db_session)
    assert len(expected) >= 5
    # Nothing open: the first-scan path drops the signal indexes, inserts, and builds them again.
    for row in db_session.scalars(select(GapSignal)).all():
        db_session.delete(row)
    db_session.flush()
    first = scan(db_session, now=NOW)
    assert open_signal_rows(db_session) == expected
    assert [(k.kind, k.raised) for k in first.kinds] == [(k.kind, k.raised) for k in checked.kinds]
    names = {index["name"] for index in inspect(db_session.connection()).get_indexes("gap_signal")}
    assert {index.name for index in GapSignal.__table__.indexes} <= names  # type: ignore[attr-defined]
    # The rebuilt unique index still allows one open signal per kind and subject.
    some = db_session.scalars(select(GapSignal).limit(1)).one()
    duplicate = GapSignal(kind=some.kind, severity=some.severity, subject_key=some.subject_key, evidence={})
    with db_session.begin_nested():
        db_session.add(duplicate)
        with pytest.raises(IntegrityError):
            db_session.flush()


def test_only_the_staged_kinds_read_the_deal_stages_which_are_filled_once(
    db_session: Session, org: Org
) -> None:
    """A connection fills the deal stages only when it runs a kind that reads them
    (``scratch.STAGED_KINDS``): every other detector must find the same gaps without them."""
    _trip_several_detectors(db_session, org)
    rules, contexts = effective_rules(db_session), processes(db_session)
    tables = scratch.ScanScratch(db_session, contexts)

    def hits() -> dict[GapKind, set[str]]:
        return {
            kind: {
                repr(row)
                for row in db_session.execute(detected_rows(db_session, kind, rules[kind], contexts, NOW))
            }
            for kind in DETECTORS
        }

    def staged_deals() -> int:
        return db_session.scalar(select(func.count()).select_from(scratch.deal_stage)) or 0

    assert staged_deals() == 0
    without = hits()
    tables.fill_stages()
    filled = staged_deals()
    assert filled > 0
    tables.fill_stages()  # once per scan: a second fill would break the table's primary key
    assert staged_deals() == filled
    with_stages = hits()
    for kind in DETECTORS:
        if kind not in scratch.STAGED_KINDS:
            assert without[kind] == with_stages[kind], kind
    assert without[GapKind.STALE_DEAL]
    assert without[GapKind.CLOSE_DATE_PAST]
    # The staged kinds do read them: without, the single-threaded deal went unseen.
    assert not without[GapKind.SINGLE_THREADED]
    assert with_stages[GapKind.SINGLE_THREADED]


def test_a_rescan_rewrites_only_what_changed_and_keeps_acknowledgements(
    db_session: Session, org: Org
) -> None:
    stale = deal(db_session, org, created_at=NOW - dt.timedelta(days=60))
    past = deal(db_session, org, close_date=TODAY - dt.timedelta(days=5))
    assert run(db_session, GapKind.STALE_DEAL).raised == 1
    assert run(db_session, GapKind.CLOSE_DATE_PAST).raised == 1
    signal = open_signals(db_session, GapKind.STALE_DEAL)[stale.id]
    signal.acknowledged_at = NOW
    signal.acknowledged_by_id = org.rep.id
    signal.acknowledge_reason = "waiting for the budget"
    snoozed = open_signals(db_session, GapKind.CLOSE_DATE_PAST)[past.id]
    snoozed.snoozed_until = NOW + dt.timedelta(days=7)
    snoozed.snooze_reason = "customer on holiday"
    db_session.flush()
    before = open_signals(db_session, GapKind.STALE_DEAL)[stale.id]
    first_explanation, first_seen, first_evidence = before.explanation, before.last_seen_at, before.evidence
    assert first_explanation.startswith("No activity in 60 days;")

    # The same gaps five minutes later: nothing raised or resolved, the texts and people's notes unchanged.
    again = run(db_session, GapKind.STALE_DEAL, now=NOW + dt.timedelta(minutes=5))
    assert (again.raised, again.still_open, again.resolved) == (0, 1, 0)
    after = open_signals(db_session, GapKind.STALE_DEAL)[stale.id]
    assert after.id == before.id
    assert after.explanation == first_explanation
    # The kind's full-scan time moved, not the signal's own stamp (no row rewritten for it).
    assert after.last_seen_at == first_seen
    assert last_seen(after, full_scan_times(db_session)) == NOW + dt.timedelta(minutes=5)
    assert after.acknowledge_reason == "waiting for the budget"

    # Ten days later the stored signal is left as it was (its evidence holds when the deal went
    # quiet, not for how long); what a person reads counts the idle days to the last sighting.
    # The acknowledgement stays.
    later = run(db_session, GapKind.STALE_DEAL, now=NOW + dt.timedelta(days=10))
    assert (later.raised, later.still_open) == (0, 1)
    moved = open_signals(db_session, GapKind.STALE_DEAL)[stale.id]
    assert moved.id == before.id
    assert moved.evidence == first_evidence
    assert "idle_days" not in moved.evidence
    read = get_signal(db_session, viewer=org.executive, signal_id=moved.id)
    assert read.explanation.startswith("No activity in 70 days;")
    assert read.evidence["idle_days"] == 70
    assert read.evidence["idle_since"] == first_evidence["idle_since"]
    assert moved.acknowledged_by_id == org.rep.id
    # A new owner is written too.
    stale.owner_id = org.other_rep.id
    db_session.flush()
    run(db_session, GapKind.STALE_DEAL, now=NOW + dt.timedelta(days=10))
    assert open_signals(db_session, GapKind.STALE_DEAL)[stale.id].owner_id == org.other_rep.id

    # The snoozed signal survives a re-scan of its kind, and resolves when its condition clears.
    run(db_session, GapKind.CLOSE_DATE_PAST, now=NOW + dt.timedelta(minutes=5))
    kept = open_signals(db_session, GapKind.CLOSE_DATE_PAST)[past.id]
    assert kept.id == snoozed.id
    assert kept.snooze_reason == "customer on holiday"
    past.close_date = TODAY + dt.timedelta(days=30)
    db_session.flush()
    cleared = run(db_session, GapKind.CLOSE_DATE_PAST, now=NOW + dt.timedelta(minutes=10))
    assert cleared.resolved == 1
    assert past.id not in open_signals(db_session, GapKind.CLOSE_DATE_PAST)


@pytest.mark.parametrize("scoped", [False, True], ids=["full scan", "scoped scan"])
def test_matching_writes_the_new_changed_and_gone_and_the_unchanged_where_they_are_read(
    db_session: Session, org: Org, scoped: bool
) -> None:
    unchanged = deal(db_session, org, created_at=NOW - dt.timedelta(days=60))
    moved = deal(db_session, org, created_at=NOW - dt.timedelta(days=60))
    gone = deal(db_session, org, created_at=NOW - dt.timedelta(days=60))
    assert run(db_session, GapKind.STALE_DEAL).raised == 3
    signals = open_signals(db_session, GapKind.STALE_DEAL)
    new = deal(db_session, org, created_at=NOW - dt.timedelta(days=40))
    moved.owner_id = org.other_rep.id
    make_activity(db_session, opportunity_id=gone.id, occurred_at=NOW - dt.timedelta(days=1))
    db_session.flush()

    rule = effective_rules(db_session)[GapKind.STALE_DEAL]
    contexts = processes(db_session)
    scratch.ScanScratch(db_session, contexts)  # stale deals read no deal stages
    scope = ScanScope(deals=Opportunity.account_id == org.account.id) if scoped else None
    rows = detected_rows(db_session, GapKind.STALE_DEAL, rule, contexts, NOW, scope)
    hits = scratch.hits
    fill_matched(db_session, hits, rows, GapKind.STALE_DEAL, rule.severity, scope)
    written = {
        (row.subject_key, row.signal_id, bool(row.changed))
        for row in db_session.execute(select(hits.c.subject_key, hits.c.signal_id, hits.c.changed))
    }
    scratch.clear(db_session)

    # Always the new (no signal), the changed and the gone (no subject). A full scan on PostgreSQL
    # leaves out the unchanged (one FULL JOIN); SQLite writes every hit, then the signals no hit
    # found, and a scoped scan keeps the unchanged to stamp them as seen.
    expected = {
        (f"opportunity:{new.id}", None, False),
        (f"opportunity:{moved.id}", signals[moved.id].id, True),
        (None, signals[gone.id].id, False),
    }
    kept = (f"opportunity:{unchanged.id}", signals[unchanged.id].id, False)
    if scoped or db_session.get_bind().dialect.name == "sqlite":
        expected.add(kept)
    assert written == expected
    # And the scan writes from them: one raised, one refreshed, one resolved, two found again.
    result = run(db_session, GapKind.STALE_DEAL, scope=scope)
    assert (result.raised, result.still_open, result.resolved) == (1, 2, 1)
    after = open_signals(db_session, GapKind.STALE_DEAL)
    assert set(after) == {unchanged.id, moved.id, new.id}
    assert after[moved.id].owner_id == org.other_rep.id
    assert after[unchanged.id].id == signals[unchanged.id].id


def _account_signal(org: Org, **people: Any) -> GapSignal:
    """An open off-strategy signal on the org's account, owned by its rep (plus ``people`` fields)."""
    return GapSignal(
        kind=GapKind.OFF_STRATEGY,
        severity=Severity.LOW,
        subject_key=f"account:{org.account.id}",
        account_id=org.account.id,
        owner_id=org.rep.id,
        evidence={"segment": "SMB Retail", "activities": 3, "activity_days": 30, "subject": "account"},
        **people,
    )


def test_deleting_a_deal_account_or_owner_carries_through_to_the_signals(
    db_session: Session, org: Org
) -> None:
    """What the foreign keys' ON DELETE actions did, the triggers do (migrations 0016 and 0023)."""
    stale = deal(db_session, org, created_at=NOW - dt.timedelta(days=60))
    other_account = make_account(db_session, name="Initech", owner_id=org.other_rep.id)
    elsewhere = deal(
        db_session,
        org,
        account_id=other_account.id,
        owner_id=org.other_rep.id,
        created_at=NOW - dt.timedelta(days=60),
    )
    kept = deal(db_session, org, created_at=NOW - dt.timedelta(days=60))
    run(db_session, GapKind.STALE_DEAL)
    assert {stale.id, elsewhere.id, kept.id} <= set(open_signals(db_session, GapKind.STALE_DEAL))

    db_session.execute(delete(Opportunity).where(Opportunity.id == stale.id))
    db_session.execute(delete(Opportunity).where(Opportunity.id == elsewhere.id))
    db_session.execute(delete(Account).where(Account.id == other_account.id))
    db_session.execute(delete(User).where(User.id == org.other_rep.id))
    signals = open_signals(db_session, GapKind.STALE_DEAL)
    assert stale.id not in signals
    assert elsewhere.id not in signals
    assert kept.id in signals
    assert signals[kept.id].owner_id == org.rep.id

    # An account-subject signal goes with its account; a deleted owner leaves the signal unowned.
    account_signal = _account_signal(
        org,
        acknowledged_by_id=org.rep.id,
        acknowledged_at=NOW,
        snoozed_by_id=org.rep.id,
        snoozed_until=NOW + dt.timedelta(days=7),
    )
    db_session.add(account_signal)
    db_session.flush()
    signal_id = account_signal.id
    db_session.execute(delete(User).where(User.id == org.rep.id))
    db_session.expire_all()
    unowned = db_session.get(GapSignal, signal_id)
    assert unowned is not None
    # Everyone who was the deleted user goes, nothing else: the acknowledgement and snooze stay.
    assert (unowned.owner_id, unowned.acknowledged_by_id, unowned.snoozed_by_id) == (None, None, None)
    assert unowned.acknowledged_at is not None
    assert unowned.snoozed_until is not None
    assert open_signals(db_session, GapKind.STALE_DEAL)[kept.id].owner_id is None
    db_session.execute(delete(Opportunity).where(Opportunity.account_id == org.account.id))
    db_session.execute(delete(Account).where(Account.id == org.account.id))
    db_session.expire_all()
    assert db_session.get(GapSignal, signal_id) is None


def test_a_scoped_scan_stamps_the_signals_it_covers_and_a_full_scan_stamps_the_kind(
    db_session: Session, org: Org
) -> None:
    covered = deal(db_session, org, created_at=NOW - dt.timedelta(days=60))
    elsewhere = deal(db_session, org, created_at=NOW - dt.timedelta(days=60))
    run(db_session, GapKind.STALE_DEAL)
    later = NOW + dt.timedelta(hours=2)
    scoped = run(
        db_session, GapKind.STALE_DEAL, now=later, scope=ScanScope(deals=Opportunity.id == covered.id)
    )
    assert (scoped.raised, scoped.still_open, scoped.resolved) == (0, 1, 0)
    signals = open_signals(db_session, GapKind.STALE_DEAL)
    full_scans = full_scan_times(db_session)
    assert full_scans[GapKind.STALE_DEAL.value] == NOW  # a scoped scan is no full scan
    assert last_seen(signals[covered.id], full_scans) == later
    assert last_seen(signals[elsewhere.id], full_scans) == NOW

    # A full scan later still: both seen then, through the kind's stamp.
    latest = NOW + dt.timedelta(hours=3)
    run(db_session, GapKind.STALE_DEAL, now=latest)
    full_scans = full_scan_times(db_session)
    assert {
        last_seen(signal, full_scans) for signal in open_signals(db_session, GapKind.STALE_DEAL).values()
    } == {latest}


def test_truncating_deals_or_accounts_takes_their_signals_on_postgresql(
    db_session: Session, org: Org
) -> None:
    """No key refuses a TRUNCATE of deals or accounts on PostgreSQL any more; the triggers clear
    the signals it would orphan (SQLite has no TRUNCATE)."""
    if db_session.get_bind().dialect.name != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's")
    stale = deal(db_session, org, created_at=NOW - dt.timedelta(days=60))
    run(db_session, GapKind.STALE_DEAL)
    assert stale.id in open_signals(db_session, GapKind.STALE_DEAL)
    db_session.add(_account_signal(org))
    db_session.flush()

    def subjects() -> set[str]:
        return set(db_session.scalars(select(GapSignal.subject_key)))

    db_session.execute(text("TRUNCATE opportunity CASCADE"))
    assert subjects() == {f"account:{org.account.id}"}
    db_session.execute(text("TRUNCATE account CASCADE"))
    assert subjects() == set()
