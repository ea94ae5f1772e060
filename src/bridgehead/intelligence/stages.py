"""The stage ladder as the data uses it: open stages in order, and which stages mean won or lost.

CRMs name stages freely, so the ladder is read from the opportunities themselves: a stage is closed
(won) when the deals in it are closed (won); open stages are ordered by their average probability.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from bridgehead.intelligence.metrics import queries


@dataclass(frozen=True)
class StageLadder:
    """Open stages in order, won and lost stages, and whether the order is known."""

    open_stages: list[str]
    won_stages: list[str]
    lost_stages: list[str]
    ordered: bool

    @property
    def unqualified(self) -> list[str]:
        """The first open stage (deals not yet qualified), when the order is known."""
        return self.open_stages[:1] if self.ordered and len(self.open_stages) > 1 else []

    @property
    def closed_stages(self) -> list[str]:
        """Every closed stage, won or lost."""
        return self.won_stages + self.lost_stages


def order_open_stages(stages: dict[str, float | None]) -> tuple[list[str], bool]:
    """Open stages by average probability (then name); ordered only if every stage has one."""
    ordered = all(probability is not None for probability in stages.values())
    names = sorted(stages, key=lambda name: (stages[name] is None, stages[name] or 0.0, name))
    return names, ordered


def stage_ladder(session: Session, *, include_history: bool = True) -> StageLadder:
    """The ladder of the stored opportunities (one grouped query), with the stages only stage history
    uses when ``include_history`` (the funnel and waterfall need them; headline metrics do not)."""
    open_stages: dict[str, float | None] = {}
    won: list[str] = []
    lost: list[str] = []
    for stage, closed, is_won, probability in queries.stage_catalogue_rows(session):
        if is_won:
            won.append(stage)
        elif closed:
            lost.append(stage)
        else:
            open_stages[stage] = probability
    known = set(open_stages) | set(won) | set(lost)
    for stage, probability in queries.history_stages(session, sorted(known)) if include_history else []:
        # A stage deals passed through but none sits in now is an open rung of the ladder.
        open_stages[stage] = probability
    names, ordered = order_open_stages(open_stages)
    return StageLadder(open_stages=names, won_stages=sorted(won), lost_stages=sorted(lost), ordered=ordered)
