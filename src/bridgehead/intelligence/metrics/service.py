"""The metrics every page, API endpoint and CLI command reads: defined once (DESIGN.md section 8).

Each function resolves the viewer's scope, runs a few grouped queries (``queries``) and does the
arithmetic in pure functions (``compute``). Metrics whose inputs do not exist yet (gap signals
before the first gap scan; quotas until some are set) are reported as unavailable with the reason,
never as a number.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridgehead.auth.models import User
from bridgehead.common.types import Period
from bridgehead.crm.models import Activity, Opportunity
from bridgehead.intelligence.gaps import measures as gap_measures
from bridgehead.intelligence.gaps.measures import PLAYBOOK_STANDARD_KINDS
from bridgehead.intelligence.gaps.models import GapRule
from bridgehead.intelligence.metrics import compute, queries, rollup
from bridgehead.intelligence.metrics.periods import Grain, current_quarter, parse_period, periods_ending
from bridgehead.intelligence.metrics.scope import MetricFilters, Scope, resolve_scope
from bridgehead.intelligence.schemas import (
    CycleMetrics,
    CycleRow,
    Headline,
    MetricQuery,
    MetricValue,
    SlicedMetrics,
    SliceRow,
    Trend,
    TrendMetric,
    TrendPoint,
)
from bridgehead.intelligence.slices import (
    NONE_LABELS,
    OPPORTUNITY_SUBJECT,
    Dimension,
    Slice,
    Subject,
    build_slice,
    period_slice,
)
from bridgehead.intelligence.stages import StageLadder, stage_ladder
from bridgehead.planning import service as planning
from bridgehead.planning.models import QuotaBasis

ACTIVITY_SUBJECT = Subject(
    owner=Activity.owner_id,
    account=Activity.account_id,
    opportunity_id=Activity.opportunity_id,
    is_opportunity=False,
)
TREND_UNITS = {
    TrendMetric.WIN_RATE: "ratio",
    TrendMetric.WON_AMOUNT: "USD",
    TrendMetric.AVERAGE_DEAL_SIZE: "USD",
    TrendMetric.MEDIAN_CYCLE_DAYS: "days",
    TrendMetric.PIPELINE_CREATED: "USD",
    TrendMetric.ACTIVITIES: "activities",
    TrendMetric.QUOTA_ATTAINMENT: "ratio",
}


def filters_from_query(query: MetricQuery, *, today: dt.date | None = None) -> MetricFilters:
    """The filters of a query string, the period parsed (default: this quarter)."""
    period = parse_period(query.period) if query.period else current_quarter(today)
    return MetricFilters(
        period=period,
        org_unit_id=query.org_unit_id,
        rep_id=query.rep_id,
        segment_id=query.segment_id,
        product=query.product,
        priority_id=query.priority_id,
        target_amount=query.target,
    )


def _key(value: Any) -> str | None:
    return None if value is None else str(value)


def _label(value: Any, dimension: Dimension) -> str:
    return NONE_LABELS[dimension] if value is None else str(value)


def _medians(
    histogram: Iterable[tuple[Any, Any, bool, int, int]],
) -> dict[tuple[str | None, bool | None], float | None]:
    """Median cycle days per (group key, won?) and per group over both (won? = None)."""
    values: dict[tuple[str | None, bool | None], tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    for key, _label_value, is_won, days, count in histogram:
        for bucket in ((_key(key), is_won), (_key(key), None)):
            values[bucket][0].append(days)
            values[bucket][1].append(count)
    return {bucket: compute.median_from_histogram(days, counts) for bucket, (days, counts) in values.items()}


@dataclass(frozen=True)
class _Inputs:
    """What the headline and its owner slices share: computed once per call, one pass per table."""

    scope: Scope
    ladder: StageLadder
    deals: dict[int | None, rollup.DealTotals]
    activities: dict[int | None, dict[str, int]]
    # Per person: (bookings quota after ramp, attained) in cents; None under a product filter.
    quotas: dict[int, tuple[int, int]] | None


def _inputs(session: Session, viewer: User | None, filters: MetricFilters) -> _Inputs:
    scope = resolve_scope(session, viewer=viewer, filters=filters)
    ladder = stage_ladder(session, include_history=False)
    deals = rollup.owner_deal_totals(session, scope, filters.period, ladder.unqualified)
    activities = rollup.owner_activity_counts(session, scope, filters.period)
    return _Inputs(scope, ladder, deals, activities, _owner_quotas(session, scope))


def sliced_metrics(
    session: Session, *, viewer: User | None, filters: MetricFilters, by: Dimension
) -> SlicedMetrics:
    """The main metrics per group of ``by`` (office, team, manager, rep, segment, product, priority)."""
    if by in rollup.OWNER_DIMENSIONS:
        rows, _ = _owner_slices(session, _inputs(session, viewer, filters), by)
    else:
        scope = resolve_scope(session, viewer=viewer, filters=filters)
        rows = _slice_rows(session, scope, by, stage_ladder(session, include_history=False))
    return SlicedMetrics(period=filters.period.label, by=by, rows=rows)


def headline_and_slices(
    session: Session, *, viewer: User | None, filters: MetricFilters, by: Dimension
) -> tuple[Headline, SlicedMetrics]:
    """The headline and the metrics by ``by`` together (the metrics page), sharing their scans."""
    if by not in rollup.OWNER_DIMENSIONS:
        return (
            headline(session, viewer=viewer, filters=filters),
            sliced_metrics(session, viewer=viewer, filters=filters, by=by),
        )
    inputs = _inputs(session, viewer, filters)
    rows, closed = _owner_slices(session, inputs, by)
    sliced = SlicedMetrics(period=filters.period.label, by=by, rows=rows)
    return _headline(session, inputs, closed), sliced


def _slice_row(
    key: str | None, label: str, deals: rollup.DealTotals, activities: int, medians: Any
) -> SliceRow:
    return SliceRow(
        key=key,
        label=label,
        won=deals.won,
        lost=deals.lost,
        closed=deals.won + deals.lost,
        win_rate=compute.win_rate(deals.won, deals.lost),
        won_amount=compute.cents_to_money(deals.won_cents),
        average_deal_size=compute.average_cents(deals.won_cents, deals.won),
        median_cycle_won_days=medians.get((key, True)),
        median_cycle_lost_days=medians.get((key, False)),
        pipeline_created_count=deals.created,
        pipeline_created_amount=compute.cents_to_money(deals.created_cents),
        open_count=deals.open_closing,
        open_amount=compute.cents_to_money(deals.open_closing_cents),
        weighted_forecast=compute.weighted_forecast(deals.weighted_cents_percent),
        activities=activities,
    )


def _closed_histogram(
    session: Session, scope: Scope, groups: rollup.OwnerGroups
) -> list[tuple[Any, Any, bool, int, int]]:
    """The closed histogram of ``groups`` keyed by (key, label) for ``_medians`` (unknown cycles left out)."""
    histogram = rollup.group_closed_histogram(session, scope, groups, scope.filters.period)
    return _keyed(groups, histogram)


def _keyed(
    groups: rollup.OwnerGroups, histogram: list[rollup.ClosedRow]
) -> list[tuple[Any, Any, bool, int, int]]:
    return [
        (*groups.groups[group], is_won, days, count)
        for group, is_won, days, count, _cents in histogram
        if days is not None
    ]


def _owner_slices(
    session: Session, inputs: _Inputs, by: Dimension
) -> tuple[list[SliceRow], list[rollup.ClosedRow] | None]:
    """Slice rows for a dimension decided by the owner (per-owner figures summed per group), and the
    closed histogram of everything when the groups partition the owners (so the headline can reuse it)."""
    groups = rollup.owner_groups(session, by)
    histogram = rollup.group_closed_histogram(session, inputs.scope, groups, inputs.scope.filters.period)
    deals = rollup.group_totals(groups, inputs.deals)
    rollup.add_closed(deals, histogram)
    activities = {
        group: sum(by_kind.values())
        for group, by_kind in rollup.group_activities(groups, inputs.activities).items()
    }
    medians = _medians(_keyed(groups, histogram))
    quotas = _group_quotas(groups, inputs.quotas or {})
    result = []
    for group, (key, label) in enumerate(groups.groups):
        figures = deals.get(group, rollup.DealTotals())
        if figures.touched or activities.get(group):
            row = _slice_row(_key(key), _label(label, by), figures, activities.get(group, 0), medians)
            if group in quotas:
                quota_cents, won_cents = quotas[group]
                row.quota_amount = compute.cents_to_money(quota_cents)
                row.quota_attainment = won_cents / quota_cents if quota_cents > 0 else None
            result.append(row)
    result.sort(key=lambda row: (row.key is None, row.label.lower()))
    whole = [(0, *row[1:]) for row in histogram] if rollup.is_partition(groups) else None
    return result, whole


def _slice_rows(session: Session, scope: Scope, by: Dimension, ladder: StageLadder) -> list[SliceRow]:
    """Slice rows for a dimension not decided by the owner (segment, product, priority): grouped joins."""
    period = scope.filters.period
    deal_slice = build_slice(session, by)
    activity_slice = build_slice(session, by, ACTIVITY_SUBJECT)
    labels: dict[str | None, str] = {}
    deals: dict[str | None, rollup.DealTotals] = defaultdict(rollup.DealTotals)
    for row in queries.closed_outcomes(session, scope, deal_slice, period):
        figures = deals[_key(row.key)]
        figures.won, figures.lost, figures.won_cents = row.won, row.lost, row.won_cents
        labels[_key(row.key)] = _label(row.label, by)
    medians = _medians(queries.cycle_histogram(session, scope, deal_slice, period))
    for prow in queries.open_pipeline(session, scope, deal_slice, period, ladder.unqualified):
        figures = deals[_key(prow.key)]
        figures.open_closing, figures.open_closing_cents = prow.open_count, prow.open_cents
        figures.weighted_cents_percent = prow.weighted_cents_percent
        labels[_key(prow.key)] = _label(prow.label, by)
    for key, label, count, cents in queries.pipeline_created(session, scope, deal_slice, period):
        deals[_key(key)].created, deals[_key(key)].created_cents = count, cents
        labels[_key(key)] = _label(label, by)
    activities: dict[str | None, int] = defaultdict(int)
    for key, label, _kind, count in queries.activity_counts(session, scope, activity_slice, period):
        activities[_key(key)] += count
        labels[_key(key)] = _label(label, by)
    result = [
        _slice_row(key, label, deals.get(key, rollup.DealTotals()), activities.get(key, 0), medians)
        for key, label in labels.items()
    ]
    return sorted(result, key=lambda row: (row.key is None, row.label.lower()))


def headline(session: Session, *, viewer: User | None, filters: MetricFilters) -> Headline:
    """The headline table: every metric of DESIGN.md section 8 for the period and filters."""
    return _headline(session, _inputs(session, viewer, filters))


def _headline(session: Session, inputs: _Inputs, closed: list[rollup.ClosedRow] | None = None) -> Headline:
    """The headline from shared inputs; ``closed`` is the closed histogram of everything, if known."""
    filters, ladder = inputs.scope.filters, inputs.ladder
    period = filters.period
    everyone = rollup.owner_groups(session, Dimension.ALL)
    if closed is None:
        closed = rollup.group_closed_histogram(session, inputs.scope, everyone, period)
    totals = rollup.DealTotals()
    for figures in inputs.deals.values():
        totals.add(figures)
    closed_totals = {0: totals}
    rollup.add_closed(closed_totals, [(0, *row[1:]) for row in closed])
    won, lost, won_cents = totals.won, totals.lost, totals.won_cents
    histogram = _keyed(everyone, [(everyone.ownerless, *row[1:]) for row in closed])
    medians = _medians(histogram)
    won_days = [(days, count) for _k, _l, is_won, days, count in histogram if is_won]
    by_kind: dict[str, int] = defaultdict(int)
    for owner_kinds in inputs.activities.values():
        for kind, count in owner_kinds.items():
            by_kind[kind] += count

    rate = compute.win_rate(won, lost)
    average_won = compute.average_cents(won_cents, won)
    mean_cycle = compute.mean_from_histogram(won_days)
    open_cents = totals.open_closing_cents
    qualified = totals.qualified
    quota = _quota_measure(session, inputs.scope, inputs.quotas)
    coverage, coverage_note = _coverage(open_cents, filters.target_amount, quota)
    metrics = [
        MetricValue(
            key="win_rate",
            label="Win rate",
            value=rate,
            unit="ratio",
            note=f"won ÷ (won + lost), deals closed in {period.label}: {won:,} won of {won + lost:,}",
        ),
        MetricValue(
            key="won_amount",
            label="Won (bookings)",
            value=compute.cents_to_money(won_cents),
            unit="USD",
            note=f"{won:,} deals won",
        ),
        MetricValue(
            key="average_deal_size",
            label="Average deal size",
            value=average_won,
            unit="USD",
            note="average amount of won deals",
        ),
        MetricValue(
            key="median_cycle_won_days",
            label="Sales cycle, won (median)",
            value=medians.get(("all", True)),
            unit="days",
            note="close date - created date of won deals",
        ),
        MetricValue(
            key="median_cycle_lost_days",
            label="Sales cycle, lost (median)",
            value=medians.get(("all", False)),
            unit="days",
            note="close date - created date of lost deals",
        ),
        MetricValue(
            key="pipeline_created",
            label="Pipeline created",
            value=compute.cents_to_money(totals.created_cents),
            unit="USD",
            note=f"{totals.created:,} deals created in {period.label}",
        ),
        MetricValue(
            key="open_pipeline",
            label="Open pipeline closing in period",
            value=compute.cents_to_money(open_cents),
            unit="USD",
            note=f"{totals.open_closing:,} open deals",
        ),
        MetricValue(
            key="weighted_forecast",
            label="Stage-weighted forecast",
            value=compute.weighted_forecast(totals.weighted_cents_percent),
            unit="USD",
            note="Σ amount x stage probability over open deals closing in the period",
        ),
        MetricValue(
            key="pipeline_velocity",
            label="Pipeline velocity",
            value=compute.pipeline_velocity(qualified, rate, average_won, mean_cycle),
            unit="USD/day",
            note=f"{qualified:,} open qualified deals x win rate x average won ÷ average won cycle"
            + ("" if ladder.ordered else "; stage order unknown, every open deal counted as qualified"),
        ),
        MetricValue(
            key="coverage",
            label="Pipeline coverage",
            value=coverage,
            unit="x",
            available=coverage is not None,
            note=coverage_note,
        ),
        MetricValue(
            key="activities",
            label="Activities",
            value=sum(by_kind.values()),
            unit="activities",
            note=", ".join(f"{kind} {count:,}" for kind, count in sorted(by_kind.items())) or "none logged",
        ),
        MetricValue(
            key="quota_attainment",
            label="Quota attainment",
            value=quota.attainment,
            unit="ratio",
            available=quota.attainment is not None,
            note=quota.note,
        ),
        *_gap_measures(session, inputs.scope),
    ]
    return Headline(
        period=period.label,
        period_start=period.start,
        period_end=period.end,
        metrics=metrics,
        activities_by_kind=dict(sorted(by_kind.items())),
    )


@dataclass(frozen=True)
class _QuotaMeasure:
    """Bookings quota attainment of the scope, or why there is none."""

    attainment: float | None
    remaining: Decimal | None
    note: str


def _quota_filters(scope: Scope) -> planning.QuotaFilters | None:
    """The quotas a metric scope covers (bookings, inside the period); None under a product filter."""
    filters = scope.filters
    if filters.product is not None:
        return None
    return planning.QuotaFilters(
        period=filters.period,
        owner_id=filters.rep_id,
        org_unit_id=filters.org_unit_id,
        segment_id=filters.segment_id,
        priority_id=filters.priority_id,
        basis=QuotaBasis.BOOKINGS,
    )


def _owner_quotas(session: Session, scope: Scope) -> dict[int, tuple[int, int]] | None:
    """(quota after ramp, attained) in cents per person with bookings quotas in scope; read once
    per call and shared by the headline and the owner slices. None under a product filter."""
    quota_filters = _quota_filters(scope)
    if quota_filters is None:
        return None
    return planning.owner_quota_cents(session, visibility=scope.visibility, filters=quota_filters)


def _quota_measure(
    session: Session, scope: Scope, per_owner: dict[int, tuple[int, int]] | None
) -> _QuotaMeasure:
    """Attained ÷ quota over the bookings quotas inside the period of the people in scope (the
    planning service reads each quota's own deals: its owner's, its segment's when it has one)."""
    if per_owner is None:
        return _QuotaMeasure(None, None, "quotas are set per person, not per product")
    if not per_owner:
        if not planning.has_quotas(session):
            return _QuotaMeasure(
                None,
                None,
                "needs quotas: set them on the quota sheet (Plan → Quotas, or bridgehead plan quotas load)",
            )
        return _QuotaMeasure(
            None, None, f"no bookings quota in scope lies inside {scope.filters.period.label}"
        )
    quota = compute.cents_to_money(sum(quota_cents for quota_cents, _won in per_owner.values()))
    won = compute.cents_to_money(sum(won_cents for _quota, won_cents in per_owner.values()))
    people = len(per_owner)
    note = (
        f"${won:,.0f} won of ${quota:,.0f} quota (after ramp), "
        f"{people:,} {'person' if people == 1 else 'people'} with a bookings quota"
    )
    return _QuotaMeasure(float(won / quota) if quota > 0 else None, quota - won, note)


def _quota_trend(session: Session, scope: Scope, periods: list[Period], by: Dimension) -> list[TrendPoint]:
    """Bookings quota attainment in each period (quotas inside it), overall or per owner group; no
    points for the other dimensions (quotas are per person) or for periods without quotas."""
    if (by != Dimension.ALL and by not in rollup.OWNER_DIMENSIONS) or not planning.has_quotas(session):
        return []
    groups = rollup.owner_groups(session, by)
    points: list[TrendPoint] = []
    for period in periods:
        period_scope = dataclasses.replace(scope, filters=dataclasses.replace(scope.filters, period=period))
        per_owner = _owner_quotas(session, period_scope) or {}
        for group, (quota_cents, won_cents) in _group_quotas(groups, per_owner).items():
            if quota_cents > 0:
                _key_value, label = groups.groups[group]
                points.append(
                    TrendPoint(
                        period=period.label, key=None, label=_label(label, by), value=won_cents / quota_cents
                    )
                )
    return points


def _group_quotas(
    groups: rollup.OwnerGroups, per_owner: dict[int, tuple[int, int]]
) -> dict[int, tuple[int, int]]:
    """(quota cents, attained cents) per owner group, from the per-person figures."""
    per_group: dict[int, tuple[int, int]] = {}
    for owner, (quota_cents, won_cents) in per_owner.items():
        for group in groups.of(owner):
            total_quota, total_won = per_group.get(group, (0, 0))
            per_group[group] = (total_quota + quota_cents, total_won + won_cents)
    return per_group


def _coverage(open_cents: int, target: Decimal | None, quota: _QuotaMeasure) -> tuple[float | None, str]:
    """Open pipeline closing in the period ÷ the target given, else ÷ the bookings quota still to win."""
    if target is not None:
        return compute.coverage(open_cents, target), "open pipeline closing in the period ÷ target"
    if quota.remaining is None:
        return None, "needs a target or bookings quotas in scope (Plan → Quotas)"
    if quota.remaining <= 0:
        return None, "the bookings quota is met: nothing left to cover"
    return (
        compute.coverage(open_cents, quota.remaining),
        f"open pipeline closing in the period ÷ quota still to win (${quota.remaining:,.0f})",
    )


def _adoption_value(value: float | None, note: str) -> MetricValue:
    return MetricValue(
        key="strategy_adoption",
        label="Strategy adoption rate",
        value=value,
        unit="ratio",
        available=value is not None,
        note=note,
    )


def _agility_value(value: float | None, note: str) -> MetricValue:
    return MetricValue(
        key="agility", label="Agility", value=value, unit="days", available=value is not None, note=note
    )


def _gap_measures(session: Session, scope: Scope) -> list[MetricValue]:
    """Strategy adoption and agility, read from gap signals; unavailable until a gap scan has run."""
    enabled = {
        rule.kind: rule.enabled
        for rule in session.scalars(
            select(GapRule).where(GapRule.kind.in_([kind.value for kind in PLAYBOOK_STANDARD_KINDS]))
        )
    }
    if not enabled:
        # A rate of 100 % before any detector has looked would be a lie; say what to run instead.
        note = "needs gap signals: no gap scan has run yet (bridgehead gaps scan, or an import)"
        return [_adoption_value(None, note), _agility_value(None, note)]
    switched_off = sorted(kind.value.replace("_", " ") for kind, on in enabled.items() if not on)
    if len(switched_off) == len(PLAYBOOK_STANDARD_KINDS):
        adoption_value = _adoption_value(
            None, "every detector of the playbook standard is switched off (Gap rules)"
        )
    else:
        checked = [kind for kind, on in enabled.items() if on]
        adoption = gap_measures.strategy_adoption(session, scope, checked)
        if adoption.rate is None:
            note = "no rep has open deals in scope"
        else:
            note = (
                f"{adoption.reps_meeting:,} of {adoption.active_reps:,} reps with open deals meet the playbook "
                "standard (qualified for the stage, multi-threaded, fresh activity)"
            )
            if adoption.deal_share is not None:
                note += f"; {adoption.deal_share:.0%} of their open deals meet it"
        if switched_off:
            note += f"; not checked: {', '.join(switched_off)} (switched off)"
        adoption_value = _adoption_value(None if adoption.rate is None else round(adoption.rate, 4), note)
    agility = gap_measures.agility(session, scope)
    agility_value = _agility_value(
        agility.median_days,
        f"median days from a gap signal raised to resolved, over {agility.resolved_signals:,} resolved in the period"
        if agility.median_days is not None
        else "no gap signal was resolved in the period",
    )
    return [adoption_value, agility_value]


def cycle_metrics(
    session: Session, *, viewer: User | None, filters: MetricFilters, by: Dimension
) -> CycleMetrics:
    """Median sales cycle (close date - created date) for won, lost and all deals closed in the period."""
    scope = resolve_scope(session, viewer=viewer, filters=filters)
    histogram = queries.cycle_histogram(session, scope, build_slice(session, by), filters.period)
    medians = _medians(histogram)
    counts: dict[str | None, list[int]] = defaultdict(lambda: [0, 0])
    labels: dict[str | None, str] = {}
    for key, label, is_won, _days, count in histogram:
        counts[_key(key)][0 if is_won else 1] += count
        labels[_key(key)] = _label(label, by)
    rows = [
        CycleRow(
            key=key,
            label=labels[key],
            won=won,
            lost=lost,
            median_won_days=medians.get((key, True)),
            median_lost_days=medians.get((key, False)),
            median_all_days=medians.get((key, None)),
        )
        for key, (won, lost) in counts.items()
    ]
    rows.sort(key=lambda row: (row.key is None, row.label.lower()))
    return CycleMetrics(period=filters.period.label, by=by, rows=rows)


def _trend_slice(
    session: Session,
    by: Dimension,
    subject: Subject,
    column: Any,
    periods: list[Period],
    *,
    is_datetime: bool,
) -> Slice:
    by_period = period_slice(column, periods, is_datetime=is_datetime)
    grouped = build_slice(session, by, subject)
    return Slice(by, by_period.key, grouped.label, grouped.joins)


def _from_month_sums(scope: Scope, periods: list[Period], by: Dimension) -> bool:
    """Whether a trend can add up the per-owner month sums the database keeps: whole-month
    periods, a dimension the owner decides and a scope on the owner alone."""
    return by in rollup.OWNER_DIMENSIONS and all(
        rollup.month_sums_answer(scope, period) for period in periods
    )


def _months_into_periods(
    session: Session, rows: list[tuple[int | None, dt.date, int]], periods: list[Period], by: Dimension
) -> dict[tuple[str, str], int]:
    """(owner, month, figure) rows added up per (period label, group label)."""
    groups = rollup.owner_groups(session, by)
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for owner, month, figure in rows:
        label = next(period.label for period in periods if period.start <= month < period.end)
        for group in groups.of(owner):
            totals[(label, _label(groups.groups[group][1], by))] += figure
    return dict(totals)


def _activity_trend(
    session: Session, scope: Scope, periods: list[Period], span: Period, by: Dimension
) -> dict[tuple[str, str], int]:
    """Activities per (period label, group label) for the activity trend.

    Where it can (``_from_month_sums``), from the per-month counts the database keeps
    (``rollup.owner_month_activities``), months added up into periods and owners into groups
    here. Otherwise the activities are counted, grouped in SQL.
    """
    if _from_month_sums(scope, periods, by):
        return _months_into_periods(session, rollup.owner_month_activities(session, scope, span), periods, by)
    totals: dict[tuple[str, str], int] = defaultdict(int)
    slice_ = _trend_slice(session, by, ACTIVITY_SUBJECT, Activity.occurred_at, periods, is_datetime=True)
    for key, label, _kind, n in queries.activity_counts(session, scope, slice_, span):
        totals[(str(key), _label(label, by))] += n
    return dict(totals)


def _created_trend(
    session: Session, scope: Scope, periods: list[Period], span: Period, by: Dimension
) -> dict[tuple[str, str], int]:
    """Cents of pipeline created per (period label, group label), for periods and groups with deals
    created. Where it can (``_from_month_sums``), from the month sums the database keeps
    (``rollup.owner_month_created``); otherwise from the deals, grouped in SQL, which over 8
    quarters reads every deal created in two years (1,000,000 deals on SQLite, by all or by office:
    0.76-1.47 s from the deals, 0.06-0.14 s from the sums)."""
    if _from_month_sums(scope, periods, by):
        return _months_into_periods(session, rollup.owner_month_created(session, scope, span), periods, by)
    slice_ = _trend_slice(session, by, OPPORTUNITY_SUBJECT, Opportunity.created_at, periods, is_datetime=True)
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for key, label, _count, cents in queries.pipeline_created(session, scope, slice_, span):
        totals[(str(key), _label(label, by))] += int(cents)
    return dict(totals)


def trend(
    session: Session,
    *,
    viewer: User | None,
    filters: MetricFilters,
    metric: TrendMetric,
    grain: Grain,
    count: int,
    by: Dimension = Dimension.ALL,
) -> Trend:
    """``metric`` in each of ``count`` periods of ``grain`` ending with the filters' period."""
    periods = periods_ending(filters.period, grain, count)
    span = Period(periods[0].start, periods[-1].end, f"{periods[0].label}…{periods[-1].label}")
    scope = resolve_scope(session, viewer=viewer, filters=filters)
    points: list[TrendPoint] = []
    if metric in {TrendMetric.WIN_RATE, TrendMetric.WON_AMOUNT, TrendMetric.AVERAGE_DEAL_SIZE}:
        slice_ = _trend_slice(
            session, by, OPPORTUNITY_SUBJECT, Opportunity.close_date, periods, is_datetime=False
        )
        for row in queries.closed_outcomes(session, scope, slice_, span):
            value: Decimal | float | int | None
            if metric == TrendMetric.WIN_RATE:
                value = compute.win_rate(row.won, row.lost)
            elif metric == TrendMetric.WON_AMOUNT:
                value = compute.cents_to_money(row.won_cents)
            else:
                value = compute.average_cents(row.won_cents, row.won)
            points.append(TrendPoint(period=str(row.key), key=None, label=_label(row.label, by), value=value))
    elif metric == TrendMetric.MEDIAN_CYCLE_DAYS:
        slice_ = _trend_slice(
            session, by, OPPORTUNITY_SUBJECT, Opportunity.close_date, periods, is_datetime=False
        )
        histogram = [
            (f"{key}\x1f{_label(label, by)}", label, won, days, n)
            for key, label, won, days, n in queries.cycle_histogram(session, scope, slice_, span)
        ]
        for bucket, median in _medians(histogram).items():
            if bucket[1] is True and bucket[0] is not None:
                period_label, label_text = bucket[0].split("\x1f", 1)
                points.append(TrendPoint(period=period_label, key=None, label=label_text, value=median))
    elif metric == TrendMetric.PIPELINE_CREATED:
        points = [
            TrendPoint(period=p, key=None, label=label, value=compute.cents_to_money(cents))
            for (p, label), cents in _created_trend(session, scope, periods, span, by).items()
        ]
    elif metric == TrendMetric.QUOTA_ATTAINMENT:
        points = _quota_trend(session, scope, periods, by)
    else:
        totals = _activity_trend(session, scope, periods, span, by)
        points = [TrendPoint(period=p, key=None, label=label, value=n) for (p, label), n in totals.items()]
    order = {period.label: index for index, period in enumerate(periods)}
    points = [point for point in points if point.period in order]
    points.sort(key=lambda point: (order[point.period], point.label))
    return Trend(
        metric=metric,
        unit=TREND_UNITS[metric],
        grain=grain,
        by=by,
        periods=[period.label for period in periods],
        points=points,
    )
