"""The pipeline waterfall from stage history: each deal built to land in one category, and the bars reconcile."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from bridgehead.auth.models import User
from bridgehead.crm.models import Opportunity
from bridgehead.errors import ValidationFailed
from bridgehead.intelligence import analysis
from bridgehead.intelligence.metrics.periods import parse_period
from bridgehead.intelligence.metrics.scope import MetricFilters
from tests.factories import make_history, make_opportunity, make_user

START = dt.date(2025, 3, 1)
END = dt.date(2025, 3, 8)
BEFORE = dt.datetime(2025, 2, 20, 12, tzinfo=dt.UTC)
BETWEEN = dt.datetime(2025, 3, 4, 12, tzinfo=dt.UTC)
AFTER = dt.datetime(2025, 3, 20, 12, tzinfo=dt.UTC)
WINDOW = "2025-Q2"
IN_WINDOW = dt.date(2025, 5, 10)
LATER = dt.date(2025, 8, 10)
PROBABILITY = {"Qualification": 20, "Proposal": 60, "Closed Won": 100, "Closed Lost": 0}


def _deal(session: Session, owner: User, steps: list[tuple[dt.datetime, str, int, dt.date]]) -> Opportunity:
    """A deal whose history is ``steps`` (when, stage, amount, close date); its current state is the last."""
    _, stage, amount, close = steps[-1]
    deal = make_opportunity(
        session,
        owner_id=owner.id,
        stage=stage,
        amount=Decimal(amount),
        close_date=close,
        probability=PROBABILITY[stage],
        is_closed=stage.startswith("Closed"),
        is_won=stage == "Closed Won",
        created_at=steps[0][0],
    )
    for when, step_stage, step_amount, step_close in steps:
        make_history(
            session,
            deal,
            changed_at=when,
            stage=step_stage,
            amount=Decimal(step_amount),
            close_date=step_close,
            probability=PROBABILITY[step_stage],
        )
    return deal


@pytest.fixture
def owner(db_session: Session) -> User:
    owner = make_user(db_session)
    opening = [(BEFORE, "Qualification", 1_000, IN_WINDOW)]
    _deal(db_session, owner, [(BETWEEN, "Qualification", 200, IN_WINDOW)])  # new
    _deal(db_session, owner, [*opening, (BETWEEN, "Closed Won", 1_000, IN_WINDOW)])  # won
    _deal(db_session, owner, [*opening, (BETWEEN, "Closed Lost", 1_000, IN_WINDOW)])  # lost
    _deal(db_session, owner, [*opening, (BETWEEN, "Proposal", 1_500, IN_WINDOW)])  # changed amount, advanced
    _deal(db_session, owner, [*opening, (BETWEEN, "Qualification", 1_000, LATER)])  # pushed out of the window
    _deal(
        db_session, owner, [(BEFORE, "Qualification", 700, LATER), (BETWEEN, "Qualification", 700, IN_WINDOW)]
    )  # pulled in
    _deal(db_session, owner, [*opening, (AFTER, "Closed Won", 1_000, IN_WINDOW)])  # unchanged in the window
    _deal(
        db_session, owner, [(AFTER, "Qualification", 9_000, IN_WINDOW)]
    )  # created after the end: never counts
    return owner


def _bars(session: Session, close_period: str | None) -> dict[str, tuple[Decimal, int]]:
    result = analysis.pipeline_waterfall(
        session,
        viewer=None,
        filters=MetricFilters(period=parse_period("2025-Q1")),
        from_date=START,
        to_date=END,
        close_period=close_period,
    )
    return {bar.label: (bar.amount, bar.deals) for bar in result.bars}


def test_each_deal_lands_in_its_category(db_session: Session, owner: User) -> None:
    bars = _bars(db_session, WINDOW)
    assert bars["Start"][0] == Decimal(5 * 1_000)
    assert bars["New"] == (Decimal(200), 1)
    assert bars["Pulled in"] == (Decimal(700), 1)
    assert bars["Changed amount"] == (Decimal(500), 1)
    assert bars["Pushed out"] == (Decimal(-1_000), 1)
    assert bars["Won"] == (Decimal(-1_000), 1)
    assert bars["Lost"] == (Decimal(-1_000), 1)
    assert bars["End"][0] == Decimal(1_500 + 1_000 + 200 + 700)


def test_without_a_window_moved_dates_stay_in_the_pipeline(db_session: Session, owner: User) -> None:
    bars = _bars(db_session, None)
    assert bars["Pushed out"] == (Decimal(0), 0)
    assert bars["Pulled in"] == (Decimal(0), 0)
    assert bars["Start"][0] == Decimal(5 * 1_000 + 700)
    steps = [amount for label, (amount, _) in bars.items() if label not in {"Start", "End"}]
    assert bars["End"][0] == bars["Start"][0] + sum(steps, Decimal(0))


def test_stage_and_date_moves_are_counted(db_session: Session, owner: User) -> None:
    result = analysis.pipeline_waterfall(
        db_session,
        viewer=None,
        filters=MetricFilters(period=parse_period("2025-Q1")),
        from_date=START,
        to_date=END,
        close_period=None,
    )
    assert result.advanced == 1
    assert result.close_date_later == 1
    assert result.close_date_earlier == 1


def test_dates_in_the_wrong_order_are_refused(db_session: Session) -> None:
    with pytest.raises(ValidationFailed) as caught:
        analysis.pipeline_waterfall(
            db_session,
            viewer=None,
            filters=MetricFilters(period=parse_period("2025-Q1")),
            from_date=END,
            to_date=START,
            close_period=None,
        )
    assert caught.value.context["field"] == "from"


def _expected_categories(
    histories: list[list[tuple[dt.datetime, str, int, dt.date | None]]], window: tuple[dt.date, dt.date]
) -> dict[str, tuple[int, int, int]]:
    """The waterfall's categories worked out deal by deal in Python: (deals, start cents, end cents)."""
    open_stages = {"Qualification", "Proposal"}
    start_moment = dt.datetime.combine(START + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    end_moment = dt.datetime.combine(END + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    result: dict[str, list[int]] = {}
    for steps in histories:
        # Later rows win ties on the same moment (they have the larger id).
        before_start = [step for step in steps if step[0] < start_moment]
        before_end = [step for step in steps if step[0] < end_moment]
        if not before_end:
            continue
        first = (
            max(enumerate(before_start), key=lambda item: (item[1][0], item[0]))[1] if before_start else None
        )
        last = max(enumerate(before_end), key=lambda item: (item[1][0], item[0]))[1]

        def in_pipeline(state: tuple[dt.datetime, str, int, dt.date | None] | None) -> bool:
            return (
                state is not None
                and state[1] in open_stages
                and state[3] is not None
                and window[0] <= state[3] < window[1]
            )

        in_start, in_end = in_pipeline(first), in_pipeline(last)
        if in_start and in_end:
            category = "kept"
        elif in_start:
            category = {"Closed Won": "won", "Closed Lost": "lost"}.get(last[1], "pushed")
        elif in_end:
            category = "pulled_in" if first is not None and first[1] in open_stages else "new"
        else:
            continue
        figures = result.setdefault(category, [0, 0, 0])
        figures[0] += 1
        figures[1] += first[2] * 100 if in_start and first is not None else 0
        figures[2] += last[2] * 100 if in_end else 0
    return {category: (deals, begin, finish) for category, (deals, begin, finish) in result.items()}


def test_categories_match_a_deal_by_deal_reckoning_on_varied_histories(db_session: Session) -> None:
    """Many deals with random histories, same-moment ties and cleared close dates included."""
    import random

    from bridgehead.intelligence import waterfall
    from bridgehead.intelligence.metrics.scope import resolve_scope

    chooser = random.Random(7)
    owner = make_user(db_session)
    moments = [BEFORE, BEFORE + dt.timedelta(days=3), BETWEEN, BETWEEN + dt.timedelta(hours=5), AFTER]
    stages = ["Qualification", "Proposal", "Closed Won", "Closed Lost"]
    closes: list[dt.date | None] = [IN_WINDOW, LATER, None]
    histories = []
    for _ in range(150):
        steps = sorted(
            (
                (
                    chooser.choice(moments),
                    chooser.choice(stages),
                    chooser.randrange(1, 50) * 100,
                    chooser.choice(closes),
                )
                for _ in range(chooser.randrange(1, 5))
            ),
            key=lambda step: step[0],
        )
        deal = make_opportunity(db_session, owner_id=owner.id, stage=steps[-1][1], amount=Decimal(1))
        for when, stage, amount, close in steps:
            make_history(
                db_session, deal, changed_at=when, stage=stage, amount=Decimal(amount), close_date=close
            )
        histories.append(steps)
    window = parse_period(WINDOW)
    filters = MetricFilters(period=parse_period("2025-Q1"))
    counts = waterfall.waterfall_counts(
        db_session,
        resolve_scope(db_session, viewer=None, filters=filters),
        start=START,
        end=END,
        stages=waterfall.StageSets(
            open_stages=["Qualification", "Proposal"],
            won_stages=["Closed Won"],
            closed_stages=["Closed Won", "Closed Lost"],
        ),
        window=window,
    )
    found = {row.category: (row.deals, row.start_cents, row.end_cents) for row in counts}
    assert found == _expected_categories(histories, (window.start, window.end))
    assert len(found) >= 5  # the varied histories reach most categories, not one or two
