"""Reading a priority's inputs at a unit (per period and owner) and turning them into the three gaps.

``read_inputs`` runs the grouped queries once; ``gaps_for`` sums the rows of any group of owners
(the whole unit, a team below it, one rep) and applies the pure formulas of ``compute``. The board
and the drill-down therefore share every number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from bridgehead.auth.models import User
from bridgehead.auth.service import everything_visible, visibility_for
from bridgehead.common.types import Period
from bridgehead.crm.models import OrgUnit
from bridgehead.governance.models import Initiative
from bridgehead.intelligence.board import compute, queries, scratch
from bridgehead.intelligence.board.plan import PlanContext, expectations
from bridgehead.intelligence.gaps.models import GapKind, GapRule
from bridgehead.intelligence.metrics.scope import MetricFilters, Scope, resolve_scope
from bridgehead.strategy.orgtree import subtree_ids

# The stale-deal detector's default freshness window, used when the playbook sets none.
DEFAULT_STALE_DAYS = 21
Total = TypeVar("Total", compute.Effort, compute.Outcomes, compute.Evidence)


def stale_days(session: Session) -> int:
    """The playbook's freshness window for deals (the stale-deal rule's ``stale_days``)."""
    rule = session.scalars(select(GapRule).where(GapRule.kind == GapKind.STALE_DEAL)).first()
    value = (rule.thresholds or {}).get("stale_days") if rule is not None else None
    return int(value) if isinstance(value, int) and value > 0 else DEFAULT_STALE_DAYS


def moment_of(period: Period, now: dt.datetime) -> dt.datetime:
    """When a period's knowledge is measured: its end, or now for a period still under way."""
    end = dt.datetime.combine(period.end, dt.time(), tzinfo=dt.UTC)
    return min(end, now)


def forecast_moment_of(period: Period, now: dt.datetime) -> dt.datetime:
    """When a period's forecast is taken: at its start for a past period (the forecast the period
    was run on; at its end nothing closing in it is still open), now for the current or a future one."""
    start = dt.datetime.combine(period.start, dt.time(), tzinfo=dt.UTC)
    end = dt.datetime.combine(period.end, dt.time(), tzinfo=dt.UTC)
    return start if end <= now else now


def elapsed_fraction(period: Period, today: dt.date) -> float:
    """How much of the period has passed (1 for a past period, 0 for a future one)."""
    length = (period.end - period.start).days
    passed = (min(max(today, period.start), period.end) - period.start).days
    return passed / length if length else 1.0


@dataclass(frozen=True)
class Scopes:
    """The SQL scopes of a priority at a unit: every deal, and the priority's deals."""

    everything: Scope
    priority: Scope
    owner_condition: Callable[[Any], ColumnElement[bool]]
    # The unit is the top of the org tree: its scope keeps (nearly) every deal.
    whole_organisation: bool = False


def scopes_for(session: Session, viewer: User | None, context: PlanContext, period: Period) -> Scopes:
    """Resolve the three scopes through the metrics engine (visibility and the unit's subtree)."""

    def scope(extra: ColumnElement[bool] | None) -> Scope:
        filters = MetricFilters(period=period, org_unit_id=context.unit_id, extra_condition=extra)
        return resolve_scope(session, viewer=viewer, filters=filters)

    visibility = visibility_for(viewer) if viewer is not None else everything_visible()
    members = select(User.id).where(User.org_unit_id.in_(subtree_ids(context.unit_id)))

    def owner_condition(column: Any) -> ColumnElement[bool]:
        return and_(visibility.owned_by_visible(column), column.in_(members))

    unit = session.get(OrgUnit, context.unit_id)
    return Scopes(
        everything=scope(None),
        priority=scope(context.counts_toward),
        owner_condition=owner_condition,
        whole_organisation=unit is not None and unit.parent_id is None,
    )


Owner = int | None


@dataclass(frozen=True)
class Inputs:
    """Everything the gaps of one priority at one unit are computed from, per period and owner."""

    periods: list[Period]  # the measured periods, oldest first
    baseline: Period  # the period before the first measured one
    effort: dict[str, dict[Owner, compute.Effort]]
    outcomes: dict[str, dict[Owner, compute.Outcomes]]
    evidence: dict[str, dict[Owner, compute.Evidence]]
    # A mapping rather than a dict: a snapshot decodes the deals only when a group's spread needs them.
    forecast: Mapping[str, queries.ForecastDeals]
    initiatives: dict[str, dict[Owner, tuple[int, int]]]
    # The whole unit's forecast spread per period label, simulated once (and kept by snapshots).
    unit_spreads: dict[str, compute.Spread | None] = field(default_factory=dict)
    # Per period label: the forecast deals' owners (-1 for none), cents and probabilities as arrays.
    _deal_arrays: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]] = (
        field(default_factory=dict, repr=False, compare=False)
    )

    def spread(self, label: str, owners: Collection[int] | None) -> compute.Spread | None:
        """The forecast spread of the deals of ``owners`` (None: the whole unit) closing in the period;
        the deals keep their order, so a group draws the same numbers however it is selected."""
        if owners is None and label in self.unit_spreads:
            return self.unit_spreads[label]
        if label not in self._deal_arrays:
            deals = self.forecast[label]
            self._deal_arrays[label] = (
                np.array([-1 if owner is None else owner for owner in deals.owners], dtype=np.int64),
                np.array(deals.cents, dtype=np.int64),
                np.array(deals.probabilities, dtype=np.int64),
            )
        owner_ids, cents, probabilities = self._deal_arrays[label]
        if owners is not None:
            keep = np.isin(owner_ids, np.fromiter(owners, dtype=np.int64, count=len(owners)))
            cents, probabilities = cents[keep], probabilities[keep]
        result = compute.forecast_spreads(cents, probabilities, np.zeros(cents.size, dtype=np.int64), 1)[0]
        if owners is None:
            self.unit_spreads[label] = result
        return result

    def owners(self) -> set[int]:
        """Every owner with a row in any input."""
        found: set[int] = set()
        for table in (self.effort, self.outcomes, self.evidence, self.initiatives):
            for rows in table.values():
                found.update(owner for owner in rows if owner is not None)
        for deals in self.forecast.values():
            found.update(owner for owner in deals.owners if owner is not None)
        return found


def _split(rows: dict[tuple[str, Owner], Total]) -> dict[str, dict[Owner, Total]]:
    result: dict[str, dict[Owner, Total]] = {}
    for (label, owner), value in rows.items():
        result.setdefault(label, {})[owner] = value
    return result


def effort_conditions(context: PlanContext) -> scratch.EffortConditions:
    """The priority's and the off-strategy condition of a plan, for the scratch table of masks."""
    return scratch.EffortConditions(context.counts_toward, context.off_strategy)


def read_inputs(
    session: Session,
    contexts: Sequence[PlanContext],
    scopes: Scopes,
    periods: Sequence[Period],
    baseline: Period,
    *,
    now: dt.datetime,
) -> list[Inputs]:
    """Run the board's grouped queries for ``periods`` (and ``baseline`` for outcomes), each one pass
    for every priority of ``contexts`` at once (grouped by the deals' priority masks); one ``Inputs``
    each. More priorities than a mask holds are read in several passes."""
    if len(contexts) > scratch.MAX_SLOTS:
        return [
            item
            for start in range(0, len(contexts), scratch.MAX_SLOTS)
            for item in read_inputs(
                session, contexts[start : start + scratch.MAX_SLOTS], scopes, periods, baseline, now=now
            )
        ]
    moments = {period.label: moment_of(period, now) for period in periods}
    conditions = [effort_conditions(c) for c in contexts]
    with scratch.flagged(
        session, scopes.everything, conditions, most_deals=scopes.whole_organisation
    ) as masks:
        efforts = queries.effort(session, scopes.everything, periods, masks)
        outcomes = queries.outcomes(session, scopes.everything, [baseline, *periods], masks)
        evidence = queries.evidence(session, scopes.everything, moments, stale_days(session), masks)
        forecasts: dict[str, list[queries.ForecastDeals]] = {}
        for period in periods:
            taken = forecast_moment_of(period, now)
            forecasts[period.label] = queries.forecast_deals(
                session, scopes.everything, period, taken, masks, current=taken == now
            )
    result = []
    for index, context in enumerate(contexts):
        initiatives = {
            period.label: queries.initiatives(
                session, context.chain_ids, scopes.owner_condition(Initiative.owner_id), moments[period.label]
            )
            for period in periods
        }
        result.append(
            Inputs(
                periods=list(periods),
                baseline=baseline,
                effort=_split(efforts[index]),
                outcomes=_split(outcomes[index]),
                evidence=evidence[index],
                forecast={label: deals[index] for label, deals in forecasts.items()},
                initiatives=initiatives,
            )
        )
    return result


def _total(rows: dict[Owner, Total], owners: Collection[int] | None, zero: Total) -> Total:
    total = zero
    for owner, value in rows.items():
        if owners is None or owner in owners:
            total = total + value
    return total


def _outcomes(rows: dict[Owner, compute.Outcomes], owners: Collection[int] | None) -> compute.Outcomes:
    return compute.Outcomes.total(value for owner, value in rows.items() if owners is None or owner in owners)


@dataclass(frozen=True)
class GapSet:
    """The three gaps of one group in one period, with the totals they came from."""

    alignment: compute.Alignment
    effects: compute.Effects
    knowledge: compute.Knowledge
    effort: compute.Effort
    closed_deals: int

    def value(self, name: str) -> float | None:
        """The number of the gap called ``name``."""
        gap: float | None = getattr(self, name).gap
        return gap


def gaps_for(
    inputs: Inputs,
    context: PlanContext,
    owners: Collection[int] | None,
    *,
    today: dt.date,
    labels: Collection[str] | None = None,
) -> dict[str, GapSet]:
    """The three gaps per measured period (only those of ``labels`` when given) for the deals and
    activities of ``owners`` (None: all)."""
    result: dict[str, GapSet] = {}
    previous = inputs.baseline
    for period in inputs.periods:
        label = period.label
        if labels is not None and label not in labels:
            previous = period
            continue
        effort = _total(inputs.effort.get(label, {}), owners, compute.Effort())
        actual = _outcomes(inputs.outcomes.get(label, {}), owners)
        baseline = _outcomes(inputs.outcomes.get(previous.label, {}), owners)
        implemented = unconfirmed = 0
        for owner, (total, missing) in inputs.initiatives.get(label, {}).items():
            if owners is None or owner in owners:
                implemented, unconfirmed = implemented + total, unconfirmed + missing
        spread = inputs.spread(label, owners)
        result[label] = GapSet(
            alignment=compute.alignment(effort, context.planned_share),
            effects=compute.effects(
                actual,
                baseline,
                expectations(context, period),
                elapsed_fraction=elapsed_fraction(period, today),
                initiatives_implemented=implemented,
                initiatives_unconfirmed=unconfirmed,
            ),
            knowledge=compute.knowledge(
                _total(inputs.evidence.get(label, {}), owners, compute.Evidence()), spread
            ),
            effort=effort,
            closed_deals=actual.won + actual.lost,
        )
        previous = period
    return result
