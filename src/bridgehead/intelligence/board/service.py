"""The three-gap board: every active priority x alignment, effects and knowledge gaps at an org unit,
with trends, and the drill-down to the units, reps and deals that cause a gap.

Who may look: admins, executives, planners and controllers see every unit; a manager sees the
units of their own line (their unit and those below it), counted over the people they may see; a
rep gets ``PermissionDenied`` (their deals' gaps are in the gap inbox). A unit outside what the
viewer may see is ``NotFound``, as if it did not exist.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridgehead.auth.models import Role, User
from bridgehead.common.types import Period
from bridgehead.crm.models import OrgUnit
from bridgehead.errors import NotFound, PermissionDenied
from bridgehead.intelligence.board import compute, queries, snapshot
from bridgehead.intelligence.board.describe import DEFINITIONS, deal_reasons, parts_of, summary_of
from bridgehead.intelligence.board.measure import (
    GapSet,
    Inputs,
    Scopes,
    gaps_for,
    moment_of,
    scopes_for,
    stale_days,
)
from bridgehead.intelligence.board.plan import (
    PlanContext,
    active_priorities,
    get_priority,
    plan_for,
    plan_read,
)
from bridgehead.intelligence.board.schemas import (
    Board,
    DealCause,
    GapCell,
    GapDrill,
    GapName,
    GapPoint,
    GapTrend,
    InboxLink,
    MemberRow,
    PriorityRow,
    UnitOption,
)
from bridgehead.intelligence.gaps.models import GapKind
from bridgehead.intelligence.metrics.periods import current_quarter, grain_of, parse_period, periods_ending
from bridgehead.intelligence.metrics.queries import cycle_days
from bridgehead.intelligence.metrics.scope import MetricFilters, resolve_scope
from bridgehead.planning import service as planning
from bridgehead.strategy.models import Priority

TREND_PERIODS = 4
DEAL_LIMIT = 50
BOARD_ROLES = frozenset({Role.ADMIN, Role.EXECUTIVE, Role.PLANNER, Role.CONTROLLER, Role.MANAGER})
# The gap inbox's signal kinds that explain each gap.
INBOX_KINDS: dict[GapName, tuple[GapKind, ...]] = {
    GapName.ALIGNMENT: (GapKind.OFF_STRATEGY,),
    GapName.EFFECTS: (
        GapKind.CLOSE_DATE_PUSHED,
        GapKind.CLOSE_DATE_PAST,
        GapKind.NO_ACTION_PLAN,
        GapKind.ACTION_PLAN_OVERDUE,
        GapKind.HANDOFF_NOT_ACCEPTED,
    ),
    GapName.KNOWLEDGE: (
        GapKind.QUALIFICATION_INCOMPLETE,
        GapKind.STALE_DEAL,
        GapKind.SINGLE_THREADED,
        GapKind.MISSING_FIELDS,
        GapKind.NO_ECONOMIC_BUYER,
    ),
}


def require_board(viewer: User | None) -> None:
    """Refuse roles the board is not for (reps); ``None`` is the command-line operator."""
    if viewer is not None and viewer.role not in BOARD_ROLES:
        raise PermissionDenied(
            "the three-gap board is for managers and above; your deals' gaps are in the gap inbox",
            role=viewer.role.value,
        )


@dataclass(frozen=True)
class OrgTree:
    """The org units (a few dozen rows) with their children, for the picker and roll-ups."""

    units: dict[int, OrgUnit]
    children: dict[int | None, list[int]]

    def subtree(self, unit_id: int) -> set[int]:
        """The unit and every unit below it."""
        found, stack = set(), [unit_id]
        while stack:
            current = stack.pop()
            found.add(current)
            stack.extend(self.children.get(current, []))
        return found

    def options(self, root: int) -> list[UnitOption]:
        """The units from ``root`` down, depth first, by name."""
        result: list[UnitOption] = []
        stack = [(root, 0)]
        while stack:
            unit_id, depth = stack.pop()
            unit = self.units[unit_id]
            result.append(UnitOption(id=unit.id, name=unit.name, kind=unit.kind.value, depth=depth))
            below = sorted(
                self.children.get(unit_id, []), key=lambda item: self.units[item].name, reverse=True
            )
            stack.extend((child, depth + 1) for child in below)
        return result


def org_tree(session: Session) -> OrgTree:
    """Every org unit and its children."""
    units = {unit.id: unit for unit in session.scalars(select(OrgUnit).order_by(OrgUnit.id))}
    children: dict[int | None, list[int]] = {}
    for unit in units.values():
        children.setdefault(unit.parent_id, []).append(unit.id)
    return OrgTree(units, children)


def _root(tree: OrgTree, viewer: User | None) -> int:
    if viewer is not None and viewer.role == Role.MANAGER:
        if viewer.org_unit_id is None or viewer.org_unit_id not in tree.units:
            raise NotFound("you belong to no org unit, so there is no line to show", field="org_unit_id")
        return viewer.org_unit_id
    roots = sorted(tree.children.get(None, []))
    if not roots:
        raise NotFound("the organisation has no org units yet; import or create them first")
    return roots[0]


def resolve_unit(tree: OrgTree, viewer: User | None, org_unit_id: int | None) -> tuple[int, int]:
    """(root the viewer may see, the unit asked for or that root); ``NotFound`` outside the root."""
    root = _root(tree, viewer)
    if org_unit_id is None:
        return root, root
    if org_unit_id not in tree.units or org_unit_id not in tree.subtree(root):
        raise NotFound("no such org unit", field="org_unit_id", value=org_unit_id)
    return root, org_unit_id


def _periods(period_text: str | None, today: dt.date) -> tuple[Period, list[Period], Period]:
    period = parse_period(period_text) if period_text else current_quarter(today)
    window = periods_ending(period, grain_of(period), TREND_PERIODS + 1)
    return period, window[1:], window[0]


def _cells(context: PlanContext, gaps: dict[str, GapSet], periods: list[Period]) -> list[GapCell]:
    latest = gaps[periods[-1].label]
    cells = []
    for name in GapName:
        value = latest.value(name.value)
        cells.append(
            GapCell(
                gap=name,
                value=value,
                severity=compute.severity(value),
                trend=[GapPoint(period=p.label, value=gaps[p.label].value(name.value)) for p in periods],
                summary=summary_of(name, latest, context),
            )
        )
    return cells


def board(
    session: Session,
    *,
    viewer: User | None,
    period: str | None = None,
    org_unit_id: int | None = None,
    now: dt.datetime | None = None,
    freshness: snapshot.Freshness | None = None,
) -> Board:
    """The board at ``org_unit_id`` (default: the viewer's top unit) for ``period`` (default: this
    quarter) and the three periods before it; read from a snapshot when ``freshness`` allows one
    (see ``board.snapshot``), else afresh."""
    require_board(viewer)
    now = now or dt.datetime.now(dt.UTC)
    selected, periods, baseline = _periods(period, now.date())
    tree = org_tree(session)
    root, unit_id = resolve_unit(tree, viewer, org_unit_id)
    contexts = [plan_for(session, priority, unit_id) for priority in active_priorities(session)]
    rows = []
    # Quotas that contradict a priority: of the unit's people (everyone's at the top of the tree).
    members = (
        None
        if tree.units[unit_id].parent_id is None
        else select(User.id).where(User.org_unit_id.in_(sorted(tree.subtree(unit_id))))
    )
    against = planning.quotas_against_priorities(session, owner_ids=members, period=selected)
    reading = snapshot.Reading([], now, False, False)
    if contexts:
        # The unit's scope does not depend on the priority; every query reads all priorities at once.
        scopes = scopes_for(session, viewer, contexts[0], selected)
        reading = snapshot.read(
            session, contexts, scopes, periods, baseline, viewer=viewer, now=now, freshness=freshness
        )
        for context, inputs in zip(contexts, reading.inputs, strict=True):
            gaps = gaps_for(inputs, context, None, today=reading.as_of.date())
            rows.append(
                PriorityRow(
                    priority_id=context.priority.id,
                    title=context.priority.title,
                    plan_priority_id=context.plan.id,
                    plan_title=context.plan.title,
                    planned_share=context.planned_share,
                    planned_share_source=context.planned_share_source,
                    cells=_cells(context, gaps, periods),
                    quotas_against=against.get(context.priority.id, (0, Decimal(0)))[0],
                    quotas_against_amount=against.get(context.priority.id, (0, Decimal("0.00")))[1],
                )
            )
    return Board(
        period=selected.label,
        periods=[p.label for p in periods],
        org_unit_id=unit_id,
        org_unit_name=tree.units[unit_id].name,
        units=tree.options(root),
        rows=rows,
        definitions={name.value: DEFINITIONS[name] for name in GapName},
        as_of=reading.as_of,
        from_snapshot=reading.from_snapshot,
        changed_since=reading.changed_since,
    )


def refresh_company_board(session: Session, *, now: dt.datetime | None = None) -> bool:
    """After an import: forget every board's snapshot (the import replaced what they read; a slow
    board would otherwise be shown as it stood before, marked "data changed since"), then read the
    company board (every record, this quarter) afresh and keep it, so that the first executive to
    look sees the new records at once. False when there is no org unit or no active priority."""
    snapshot.forget_all(session)
    try:
        result = board(
            session,
            viewer=None,
            now=now,
            freshness=snapshot.Freshness(dt.timedelta(0), refresh=True),
        )
    except NotFound:
        return False
    return bool(result.rows)


def _weight(name: GapName, member: GapSet, whole: GapSet) -> tuple[float, float]:
    """(member weight, unit weight): share of effort, closed deals, or open deals."""
    if name == GapName.ALIGNMENT:
        shares = [
            compute.contribution(1.0, member.effort.created_cents, whole.effort.created_cents),
            compute.contribution(1.0, member.effort.activities, whole.effort.activities),
        ]
        present = [share for share in shares if share is not None]
        return (sum(present) / len(present) if present else 0.0), 1.0
    if name == GapName.EFFECTS:
        return float(member.closed_deals), float(whole.closed_deals)
    return float(member.knowledge.open_deals), float(whole.knowledge.open_deals)


def _members(
    name: GapName,
    inputs: Inputs,
    context: PlanContext,
    tree: OrgTree,
    unit_id: int,
    label: str,
    signals: dict[int | None, int],
    session: Session,
    today: dt.date,
) -> list[MemberRow]:
    whole = gaps_for(inputs, context, None, today=today, labels={label})[label]
    owners = queries.owner_units(session, sorted(inputs.owners()))
    groups: list[tuple[str, int, str, set[int]]] = []
    for child in tree.children.get(unit_id, []):
        below = tree.subtree(child)
        members = {owner for owner, (_, unit) in owners.items() if unit in below}
        groups.append(("unit", child, tree.units[child].name, members))
    groups.extend(("rep", owner, name_, {owner}) for owner, (name_, _) in owners.items())
    rows = []
    for kind, key, title, members in groups:
        gap_set = gaps_for(inputs, context, members, today=today, labels={label})[label]
        weight, total = _weight(name, gap_set, whole)
        value = gap_set.value(name.value)
        rows.append(
            MemberRow(
                kind=kind,
                id=key,
                name=title,
                value=value,
                weight=weight / total if total else 0.0,
                contribution=compute.contribution(value, weight, total),
                open_signals=sum(count for owner, count in signals.items() if owner in members),
            )
        )
    rows.sort(key=lambda row: (row.kind != "unit", -(row.contribution or 0.0), row.name))
    return rows


def _inbox(name: GapName, priority_id: int, unit_id: int, counts: dict[GapKind, int]) -> list[InboxLink]:
    """Links to the gap inbox; off-strategy deals lie outside the priority's pipeline by definition,
    so the alignment links filter by unit and kind only (a priority filter would hide them all)."""
    links = []
    for kind in INBOX_KINDS[name]:
        params: dict[str, object] = {"org_unit_id": unit_id, "kind": kind.value}
        if name != GapName.ALIGNMENT:
            params = {"priority_id": priority_id, **params}
        url = "/gaps?" + urlencode(params)
        links.append(InboxLink(kind=kind.value, url=url, open_signals=counts.get(kind, 0)))
    return links


@dataclass(frozen=True)
class _Measured:
    """One priority measured at a unit: what the drill-down and the trend chart start from."""

    selected: Period
    periods: list[Period]
    tree: OrgTree
    unit_id: int
    priority: Priority
    context: PlanContext
    scopes: Scopes
    reading: snapshot.Reading
    gaps: dict[str, GapSet]


def _measure_priority(
    session: Session,
    viewer: User | None,
    priority_id: int,
    period: str | None,
    org_unit_id: int | None,
    now: dt.datetime,
    freshness: snapshot.Freshness | None,
) -> _Measured:
    require_board(viewer)
    selected, periods, baseline = _periods(period, now.date())
    tree = org_tree(session)
    _root_id, unit_id = resolve_unit(tree, viewer, org_unit_id)
    priority = get_priority(session, priority_id)
    context = plan_for(session, priority, unit_id)
    scopes = scopes_for(session, viewer, context, selected)
    reading = snapshot.read(
        session, [context], scopes, periods, baseline, viewer=viewer, now=now, freshness=freshness
    )
    gaps = gaps_for(reading.inputs[0], context, None, today=reading.as_of.date())
    return _Measured(selected, periods, tree, unit_id, priority, context, scopes, reading, gaps)


def trend(
    session: Session,
    *,
    viewer: User | None,
    priority_id: int,
    gap: GapName,
    period: str | None = None,
    org_unit_id: int | None = None,
    now: dt.datetime | None = None,
    freshness: snapshot.Freshness | None = None,
) -> GapTrend:
    """One gap of one priority at a unit over the period and the three before it: the drill-down's
    chart, without the members and deals (read from the same snapshot)."""
    measured = _measure_priority(
        session, viewer, priority_id, period, org_unit_id, now or dt.datetime.now(dt.UTC), freshness
    )
    return GapTrend(
        priority_id=measured.priority.id,
        title=measured.priority.title,
        gap=gap,
        org_unit_id=measured.unit_id,
        org_unit_name=measured.tree.units[measured.unit_id].name,
        period=measured.selected.label,
        points=[
            GapPoint(period=p.label, value=measured.gaps[p.label].value(gap.value)) for p in measured.periods
        ],
        as_of=measured.reading.as_of,
    )


def drill_down(
    session: Session,
    *,
    viewer: User | None,
    priority_id: int,
    gap: GapName,
    period: str | None = None,
    org_unit_id: int | None = None,
    now: dt.datetime | None = None,
    freshness: snapshot.Freshness | None = None,
) -> GapDrill:
    """One gap of one priority at a unit: its parts and trend, the units and reps below ranked by
    their contribution, the deals that cause it, and the gap inbox filtered the same way.

    The figures come from the board's snapshot of the priority when ``freshness`` allows one, so
    they match the board's; the deals, the inbox counts and the plan are read as they are now."""
    now = now or dt.datetime.now(dt.UTC)
    measured = _measure_priority(session, viewer, priority_id, period, org_unit_id, now, freshness)
    selected, periods, tree, unit_id = measured.selected, measured.periods, measured.tree, measured.unit_id
    priority, context, scopes, reading = (
        measured.priority,
        measured.context,
        measured.scopes,
        measured.reading,
    )
    inputs, today = reading.inputs[0], reading.as_of.date()
    gaps = measured.gaps
    latest = gaps[selected.label]
    # Count what the linked inbox will list: off-strategy signals are on deals outside the priority's
    # pipeline, so they are filtered by unit only; the others by unit and the priority, as the inbox does.
    signal_scope = (
        scopes.everything
        if gap == GapName.ALIGNMENT
        else resolve_scope(
            session,
            viewer=viewer,
            filters=MetricFilters(period=selected, org_unit_id=unit_id, priority_id=priority.id),
        )
    )
    by_kind: dict[GapKind, int] = {}
    by_owner: dict[int | None, int] = {}
    for (owner, kind), count in queries.open_signals(session, signal_scope, INBOX_KINDS[gap]).items():
        by_kind[kind] = by_kind.get(kind, 0) + count
        by_owner[owner] = by_owner.get(owner, 0) + count
    if gap == GapName.ALIGNMENT:
        deals = queries.alignment_deals(
            session, scopes.everything, context.counts_toward, context.off_strategy, selected, DEAL_LIMIT
        )
    elif gap == GapName.EFFECTS:
        deals = queries.effects_deals(
            session,
            scopes.priority,
            selected,
            cycle_days(session),
            latest.effects.expected_cycle_days,
            DEAL_LIMIT,
        )
    else:
        deals = queries.knowledge_deals(
            session, scopes.priority, moment_of(selected, now), stale_days(session), DEAL_LIMIT
        )
    value = latest.value(gap.value)
    return GapDrill(
        period=selected.label,
        priority_id=priority.id,
        title=priority.title,
        gap=gap,
        org_unit_id=unit_id,
        org_unit_name=tree.units[unit_id].name,
        value=value,
        severity=compute.severity(value),
        definition=DEFINITIONS[gap],
        parts=parts_of(gap, latest, context),
        trend=[GapPoint(period=p.label, value=gaps[p.label].value(gap.value)) for p in periods],
        members=_members(gap, inputs, context, tree, unit_id, selected.label, by_owner, session, today),
        deals=[
            DealCause(
                id=row.id,
                name=row.name,
                account=row.account,
                owner=row.owner,
                stage=row.stage,
                amount=row.amount,
                close_date=row.close_date,
                reasons=deal_reasons(gap, row.flags, context),
                url=f"/deals/{row.id}",
            )
            for row in deals
        ],
        inbox=_inbox(gap, priority.id, unit_id, by_kind),
        plan=plan_read(session, priority.id),
        as_of=reading.as_of,
        from_snapshot=reading.from_snapshot,
        changed_since=reading.changed_since,
    )
