"""The playbook's detector rules: defaults in code, stored as ``gap_rule`` rows, changed by admins and planners.

A rule row is written for every kind on first use (``ensure_rules``); a threshold missing from a
row falls back to the default here, so a new threshold never needs a data migration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridgehead.audit.service import record_change
from bridgehead.auth.models import Role, User
from bridgehead.auth.service import require_role
from bridgehead.errors import NotFound, ValidationFailed
from bridgehead.intelligence.gaps.models import GapKind, GapRule, Severity
from bridgehead.intelligence.gaps.schemas import RuleRead, ThresholdRead


@dataclass(frozen=True)
class Threshold:
    """A named number of a detector with its default and the range a playbook may set."""

    name: str
    label: str
    default: int
    minimum: int
    maximum: int


@dataclass(frozen=True)
class RuleSpec:
    """What a detector looks for, in words, with its default severity and thresholds."""

    kind: GapKind
    title: str
    description: str
    severity: Severity
    thresholds: tuple[Threshold, ...] = ()


_LATE_STAGE = Threshold("late_stage_probability", "Late stage from probability (%)", 60, 1, 100)

RULE_SPECS: dict[GapKind, RuleSpec] = {
    spec.kind: spec
    for spec in (
        RuleSpec(
            GapKind.SINGLE_THREADED,
            "Single-threaded deal",
            "Fewer engaged stakeholders than the stage and the account's segment require.",
            Severity.HIGH,
        ),
        RuleSpec(
            GapKind.NO_ECONOMIC_BUYER,
            "No economic buyer",
            "No engaged economic buyer on a deal past the stage that needs one.",
            Severity.HIGH,
        ),
        RuleSpec(
            GapKind.SLOW_FOLLOW_UP,
            "Slow follow-up",
            "Inbound buyer activity on an open deal without an outbound answer on the deal.",
            Severity.HIGH,
            (
                Threshold("follow_up_hours", "Answer within (hours)", 24, 1, 24 * 30),
                Threshold("lookback_days", "Look back (days)", 30, 1, 365),
            ),
        ),
        RuleSpec(
            GapKind.STALE_DEAL,
            "Stale deal",
            "An open deal with no activity for a while.",
            Severity.MEDIUM,
            (Threshold("stale_days", "No activity for (days)", 21, 1, 365),),
        ),
        RuleSpec(
            GapKind.QUALIFICATION_INCOMPLETE,
            "Qualification incomplete",
            "Dimensions the stage requires are below the stage's minimum status.",
            Severity.MEDIUM,
        ),
        RuleSpec(
            GapKind.CLOSE_DATE_PUSHED,
            "Close date pushed",
            "The close date of an open deal was moved later several times.",
            Severity.MEDIUM,
            (Threshold("min_pushes", "Pushed at least (times)", 2, 1, 50),),
        ),
        RuleSpec(
            GapKind.CLOSE_DATE_PAST,
            "Close date in the past",
            "An open deal whose close date has passed.",
            Severity.MEDIUM,
            (Threshold("grace_days", "Days past the close date before flagging", 0, 0, 90),),
        ),
        RuleSpec(
            GapKind.MISSING_FIELDS,
            "Missing required fields",
            "Fields the deal's stage requires are empty.",
            Severity.LOW,
        ),
        RuleSpec(
            GapKind.OFF_STRATEGY,
            "Off-strategy pipeline or activity",
            "Open deals, or recent activity, on accounts of a deprioritised segment.",
            Severity.LOW,
            (
                Threshold("activity_days", "Recent activity within (days)", 30, 1, 365),
                Threshold("min_activities", "Flag accounts with at least (activities)", 3, 1, 1000),
            ),
        ),
        RuleSpec(
            GapKind.NO_ACTION_PLAN,
            "Late-stage deal without a mutual action plan",
            "A deal in a late stage has no mutual action plan with the buyer.",
            Severity.MEDIUM,
            (_LATE_STAGE,),
        ),
        RuleSpec(
            GapKind.ACTION_PLAN_OVERDUE,
            "Mutual action plan overdue",
            "A late-stage deal's mutual action plan has steps past their due date.",
            Severity.MEDIUM,
            (_LATE_STAGE, Threshold("grace_days", "Days overdue before flagging", 0, 0, 90)),
        ),
        RuleSpec(
            GapKind.HANDOFF_NOT_ACCEPTED,
            "Won deal without an accepted handoff",
            "A recently won deal that customer success has not accepted.",
            Severity.MEDIUM,
            (
                Threshold("grace_days", "Days after the win before flagging", 3, 0, 90),
                Threshold("lookback_days", "Wins of the last (days)", 90, 1, 730),
            ),
        ),
    )
}
# Per-segment minimum of engaged stakeholders, by segment name: {"Enterprise FS": 4}.
SEGMENT_MINIMUMS = "segment_minimums"
MAX_SEGMENT_MINIMUM = 50


@dataclass(frozen=True)
class EffectiveRule:
    """A rule as detectors read it: stored values merged over the defaults."""

    kind: GapKind
    enabled: bool
    severity: Severity
    thresholds: dict[str, Any]

    def number(self, name: str) -> int:
        """A numeric threshold (the stored value or the default)."""
        return int(self.thresholds[name])


def check_kind(value: str) -> GapKind:
    """Parse a gap kind or raise ``ValidationFailed`` listing the valid ones."""
    try:
        return GapKind(value.strip().lower())
    except ValueError:
        valid = ", ".join(kind.value for kind in GapKind)
        raise ValidationFailed(f"unknown gap kind; use one of {valid}", field="kind", value=value) from None


def check_severity(value: str) -> Severity:
    """Parse a severity or raise ``ValidationFailed`` listing the valid ones."""
    try:
        return Severity(value.strip().lower())
    except ValueError:
        valid = ", ".join(level.value for level in Severity)
        raise ValidationFailed(
            f"unknown severity; use one of {valid}", field="severity", value=value
        ) from None


def _check_whole_number(field: str, value: Any, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationFailed(f"{field} must be a whole number", field=field, value=value)
    try:
        number = int(value)
    except ValueError:
        raise ValidationFailed(f"{field} must be a whole number", field=field, value=value) from None
    if not minimum <= number <= maximum:
        raise ValidationFailed(f"{field} must be between {minimum} and {maximum}", field=field, value=value)
    return number


def check_thresholds(kind: GapKind, values: dict[str, Any]) -> dict[str, Any]:
    """Validate thresholds for ``kind``: known names, whole numbers in range; names the bad field and value."""
    spec = RULE_SPECS[kind]
    known = {threshold.name: threshold for threshold in spec.thresholds}
    checked: dict[str, Any] = {}
    for name, value in values.items():
        field = f"thresholds.{name}"
        if name == SEGMENT_MINIMUMS and kind == GapKind.SINGLE_THREADED:
            if not isinstance(value, dict):
                raise ValidationFailed(
                    "segment_minimums maps segment names to numbers", field=field, value=value
                )
            checked[name] = {
                str(segment).strip(): _check_whole_number(
                    f"{field}.{segment}", minimum, 0, MAX_SEGMENT_MINIMUM
                )
                for segment, minimum in value.items()
                if str(segment).strip()
            }
            continue
        threshold = known.get(name)
        if threshold is None:
            names = ", ".join(
                sorted(known) or ([SEGMENT_MINIMUMS] if kind == GapKind.SINGLE_THREADED else [])
            )
            raise ValidationFailed(
                f"unknown threshold for {kind.value}; use one of: {names or 'none'}", field=field, value=name
            )
        checked[name] = _check_whole_number(field, value, threshold.minimum, threshold.maximum)
    return checked


def _defaults(kind: GapKind) -> dict[str, Any]:
    values: dict[str, Any] = {threshold.name: threshold.default for threshold in RULE_SPECS[kind].thresholds}
    if kind == GapKind.SINGLE_THREADED:
        values[SEGMENT_MINIMUMS] = {}
    return values


def ensure_rules(session: Session) -> list[GapRule]:
    """Every kind's rule row, written with the defaults on first use (idempotent); in kind order."""
    stored = {rule.kind: rule for rule in session.scalars(select(GapRule))}
    for kind, spec in RULE_SPECS.items():
        if kind not in stored:
            rule = GapRule(kind=kind, enabled=True, severity=spec.severity, thresholds=_defaults(kind))
            session.add(rule)
            stored[kind] = rule
    session.flush()
    return [stored[kind] for kind in GapKind]


def effective_rules(session: Session) -> dict[GapKind, EffectiveRule]:
    """The rules detectors run with: stored values over defaults, for every kind."""
    return {
        rule.kind: EffectiveRule(
            kind=rule.kind,
            enabled=rule.enabled,
            severity=rule.severity,
            thresholds={**_defaults(rule.kind), **(rule.thresholds or {})},
        )
        for rule in ensure_rules(session)
    }


def _state(rule: GapRule) -> dict[str, Any]:
    return {
        "enabled": rule.enabled,
        "severity": rule.severity.value,
        "thresholds": dict(rule.thresholds or {}),
    }


def update_rule(
    session: Session,
    *,
    actor: User,
    kind: str,
    enabled: bool | None = None,
    severity: str | None = None,
    thresholds: dict[str, Any] | None = None,
) -> GapRule:
    """Change a detector's rule (admins and planners; audited); everything is checked before anything changes.

    ``thresholds`` are merged into the stored ones, so a form may send only what it shows.
    """
    require_role(actor, Role.ADMIN, Role.PLANNER)
    parsed_kind = check_kind(kind)
    parsed_severity = check_severity(severity) if severity is not None else None
    checked = check_thresholds(parsed_kind, thresholds or {})
    rule = next((item for item in ensure_rules(session) if item.kind == parsed_kind), None)
    if rule is None:  # pragma: no cover - ensure_rules writes every kind
        raise NotFound("no such gap rule", field="kind", value=kind)
    before = _state(rule)
    if enabled is not None:
        rule.enabled = enabled
    if parsed_severity is not None:
        rule.severity = parsed_severity
    if checked:
        rule.thresholds = {**(rule.thresholds or {}), **checked}
    rule.updated_by_id = actor.id
    session.flush()
    record_change(
        session,
        actor_id=actor.id,
        action="update",
        object_type="gap_rule",
        object_id=parsed_kind.value,
        before=before,
        after=_state(rule),
    )
    return rule


def read_rules(session: Session) -> list[RuleRead]:
    """Every rule as the API and the playbook page show it, with each threshold's range."""
    reads = []
    for kind, rule in effective_rules(session).items():
        spec = RULE_SPECS[kind]
        reads.append(
            RuleRead(
                kind=kind,
                title=spec.title,
                description=spec.description,
                enabled=rule.enabled,
                severity=rule.severity,
                thresholds=[
                    ThresholdRead(
                        name=item.name,
                        label=item.label,
                        value=rule.number(item.name),
                        default=item.default,
                        minimum=item.minimum,
                        maximum=item.maximum,
                    )
                    for item in spec.thresholds
                ],
                segment_minimums=dict(rule.thresholds.get(SEGMENT_MINIMUMS) or {})
                if kind == GapKind.SINGLE_THREADED
                else None,
            )
        )
    return reads
