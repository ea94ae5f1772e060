"""The board in words: each gap's definition, a one-line summary, its parts and why a deal counts."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from bridgehead.intelligence.board.compute import Spread
from bridgehead.intelligence.board.measure import GapSet
from bridgehead.intelligence.board.plan import PlanContext
from bridgehead.intelligence.board.schemas import GapName, GapPart
from bridgehead.intelligence.metrics.compute import cents_to_money

DEFINITIONS: dict[GapName, str] = {
    GapName.ALIGNMENT: (
        "Points of effort (0-100, higher is worse, 0 = no gap): the planned share of effort minus the "
        "share that went to the priority's pipeline (mean of new-pipeline value and activities in the "
        "period; 0 when above plan), plus the share spent at the priority's deprioritised segments; "
        "at most 100. Rep time is not recorded, so activities stand for it."
    ),
    GapName.EFFECTS: (
        "Percent below expectation (0-100, higher is worse, 0 = no gap): mean of the shortfalls of the "
        "priority's deals that can be measured — win rate (1 - actual ÷ expected), median won cycle "
        "(actual ÷ expected - 1, at most 1), won value (1 - actual ÷ expected, pro-rated in a period "
        "under way) — and the share of the priority's implemented initiatives without confirmed value. "
        "Expected = the plan's target or stored assumption, else the prior equal period."
    ),
    GapName.KNOWLEDGE: (
        "Percent unknown (0-100, higher is worse, 0 = no gap): mean of the shares of the priority's "
        "open deals (at the period's end, or now) without qualification evidence, without an activity "
        "in the freshness window, and without a stakeholder map, and of the forecast spread "
        "P90 - P10 relative to the stage-weighted forecast of deals closing in the period, as it stood "
        "at the start of a past period or now for the current one (at most 1; "
        "deals win their amount with their stage probability, independently, 1,000 simulated outcomes)."
    ),
}


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _money(cents: float | None) -> str:
    if cents is None:
        return "—"
    return f"${cents_to_money(round(cents)):,.0f}"


def _days(value: float | None) -> str:
    return "—" if value is None else f"{value:g} days"


def _spread(spread: Spread | None) -> str:
    if spread is None:
        return "—"
    return f"{_money(spread.width_cents)} (P10 {_money(spread.p10_cents)}, P90 {_money(spread.p90_cents)})"


def summary_of(name: GapName, gaps: GapSet, context: PlanContext) -> str:
    """One line saying what the number is made of."""
    if name == GapName.ALIGNMENT:
        a = gaps.alignment
        text = f"{_percent(a.effort_share)} of effort to the priority vs {_percent(a.planned_share)} planned"
        if context.deprioritised:
            text += f"; {_percent(a.off_strategy_share)} at deprioritised segments"
        return text
    if name == GapName.EFFECTS:
        e = gaps.effects
        return (
            f"win rate {_percent(e.win_rate)} vs {_percent(e.expected_win_rate)}; cycle "
            f"{_days(e.median_cycle_days)} vs {_days(e.expected_cycle_days)}; won {_money(e.won_cents)} vs "
            f"{_money(e.expected_won_cents)}"
        )
    k = gaps.knowledge
    return (
        f"{k.open_deals:,} open deals: {_percent(k.unqualified_share)} unqualified, {_percent(k.stale_share)} "
        f"stale, {_percent(k.unmapped_share)} without stakeholders; spread {_percent(k.relative_spread)}"
    )


def parts_of(name: GapName, gaps: GapSet, context: PlanContext) -> list[GapPart]:
    """The figures a reader needs to redo the arithmetic."""
    if name == GapName.ALIGNMENT:
        a, effort = gaps.alignment, gaps.effort
        return [
            GapPart(
                label="Planned share", value=f"{_percent(a.planned_share)} ({context.planned_share_source})"
            ),
            GapPart(label="Effort share (mean of the two below)", value=_percent(a.effort_share)),
            GapPart(
                label="New pipeline to the priority",
                value=f"{_percent(a.pipeline_share)} of {_money(effort.created_cents)}",
            ),
            GapPart(
                label="Activities on the priority's deals",
                value=f"{_percent(a.activity_share)} of {effort.activities:,}",
            ),
            GapPart(
                label="Off-strategy share ("
                + (", ".join(context.deprioritised) or "no deprioritised segment")
                + ")",
                value=_percent(a.off_strategy_share),
            ),
        ]
    if name == GapName.EFFECTS:
        e = gaps.effects
        return [
            GapPart(
                label="Win rate, actual vs expected",
                value=f"{_percent(e.win_rate)} vs {_percent(e.expected_win_rate)} → shortfall {_percent(e.win_rate_shortfall)}",
            ),
            GapPart(
                label="Median won cycle, actual vs expected",
                value=f"{_days(e.median_cycle_days)} vs {_days(e.expected_cycle_days)} → overrun {_percent(e.cycle_overrun)}",
            ),
            GapPart(
                label="Won value, actual vs expected",
                value=f"{_money(e.won_cents)} vs {_money(e.expected_won_cents)} → shortfall {_percent(e.value_shortfall)}",
            ),
            GapPart(
                label="Implemented initiatives without confirmed value",
                value=f"{e.initiatives_unconfirmed} of {e.initiatives_implemented} → {_percent(e.unconfirmed_share)}",
            ),
        ]
    k = gaps.knowledge
    return [
        GapPart(label="Open deals of the priority", value=f"{k.open_deals:,}"),
        GapPart(label="Without qualification evidence", value=_percent(k.unqualified_share)),
        GapPart(label="Without activity in the freshness window", value=_percent(k.stale_share)),
        GapPart(label="Without a stakeholder map", value=_percent(k.unmapped_share)),
        GapPart(
            label="Forecast spread P90 - P10",
            value=f"{_spread(k.spread)} → {_percent(k.relative_spread)} of the forecast "
            f"{_money(k.spread.expected_cents if k.spread else None)}",
        ),
    ]


def deal_reasons(name: GapName, flags: Sequence[bool], context: PlanContext) -> list[str]:
    """Why a deal is listed under a gap, from the flags its query returned."""
    if name == GapName.ALIGNMENT:
        segments = ", ".join(context.deprioritised) or "a deprioritised segment"
        return [f"at {segments}" if flags[0] else "outside the priority's pipeline"]
    labels: tuple[str, ...]
    if name == GapName.EFFECTS:
        labels = ("lost", "won slower than expected")
    else:
        labels = ("no qualification evidence", "no recent activity", "no stakeholder map")
    return [label for label, flag in zip(labels, flags, strict=True) if flag]


def format_gap(value: float | Decimal | None) -> str:
    """A gap number for people: one decimal, or a dash."""
    return "—" if value is None else f"{float(value):.1f}"
