"""The demo organisation's segments, ICP criteria and pipeline definitions.

The story: leadership invests in enterprise financial services and deprioritises small business
(the boundary of the upmarket priority); the mid-market core and the installed base are
maintained. Rows are written directly (the demo is loaded by the system, not by a user; one
audit entry covers the whole load), then evaluated set-wise like after any import.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from bridgehead.demo.catalogue import ENTERPRISE_MIN_EMPLOYEES, FINANCIAL_INDUSTRIES, SMALL_MAX_EMPLOYEES
from bridgehead.strategy.icp import score_accounts
from bridgehead.strategy.models import (
    BusinessKind,
    IcpCriterion,
    PipelineDefinition,
    Segment,
    SegmentPriority,
    SegmentStance,
)
from bridgehead.strategy.rules import check_rule
from bridgehead.strategy.segments import evaluate_segments

FS_MIN_EMPLOYEES = 1_000
_FINANCIAL = sorted(FINANCIAL_INDUSTRIES)

# (key, name, stance, rule, description, priority keys it serves)
_SEGMENTS: tuple[tuple[str, str, SegmentStance, dict[str, Any], str, tuple[str, ...]], ...] = (
    (
        "fs",
        "Enterprise financial services",
        SegmentStance.INVEST,
        {
            "all": [
                {"field": "industry", "op": "in", "value": _FINANCIAL},
                {"field": "employees", "op": "gte", "value": FS_MIN_EMPLOYEES},
            ]
        },
        "Banks, insurers and financial-services firms of 1,000 employees or more: where we win.",
        ("enterprise_fs",),
    ),
    (
        "small",
        "Small business",
        SegmentStance.DEPRIORITISE,
        {"all": [{"field": "employees", "op": "lt", "value": SMALL_MAX_EMPLOYEES}]},
        "Below 200 employees: the boundary of the upmarket move; serve inbound only.",
        ("enterprise_fs",),
    ),
    (
        "mid",
        "Mid-market core",
        SegmentStance.MAINTAIN,
        {
            "all": [
                {
                    "field": "employees",
                    "op": "between",
                    "value": [SMALL_MAX_EMPLOYEES, ENTERPRISE_MIN_EMPLOYEES - 1],
                },
                {"not": {"field": "industry", "op": "in", "value": _FINANCIAL}},
            ]
        },
        "200 to 1,999 employees outside financial services: keep the base healthy.",
        ("velocity",),
    ),
    (
        "installed",
        "Installed base",
        SegmentStance.MAINTAIN,
        {"all": [{"field": "won_deals", "op": "gte", "value": 1}]},
        "Accounts that have bought from us at least once: expansion and renewals.",
        ("install_base",),
    ),
)

_CRITERIA: tuple[tuple[str, dict[str, Any], int], ...] = (
    ("Financial services", {"field": "industry", "op": "in", "value": _FINANCIAL}, 40),
    ("1,000 employees or more", {"field": "employees", "op": "gte", "value": FS_MIN_EMPLOYEES}, 25),
    ("Annual revenue of $100M or more", {"field": "annual_revenue", "op": "gte", "value": 100_000_000}, 20),
    (
        "Core market (US, UK, Germany)",
        {"field": "country", "op": "in", "value": ["United States", "United Kingdom", "Germany"]},
        10,
    ),
    ("Strategic or key tier", {"field": "custom.tier", "op": "in", "value": ["Strategic", "Key"]}, 5),
)


def build_segments(session: Session, *, priorities: Mapping[str, int], as_of: dt.date) -> None:
    """Write the demo segments linked to ``priorities`` (ids by key), evaluate them and score ICP fit."""
    del as_of
    segment_ids: dict[str, int] = {}
    for key, name, stance, rule, description, serves in _SEGMENTS:
        segment = Segment(
            name=name, description=description, stance=stance, rule=check_rule(rule), is_active=True
        )
        session.add(segment)
        session.flush()
        segment_ids[key] = segment.id
        links = [
            {"segment_id": segment.id, "priority_id": priorities[item]}
            for item in serves
            if item in priorities
        ]
        if links:
            session.execute(insert(SegmentPriority), links)
    for position, (label, rule, weight) in enumerate(_CRITERIA):
        session.add(IcpCriterion(label=label, rule=check_rule(rule), weight=weight, position=position))
    definitions = (
        ("enterprise_fs", "New enterprise FS business", segment_ids["fs"], BusinessKind.NEW),
        ("install_base", "Expansion in the installed base", None, BusinessKind.EXISTING),
        ("velocity", "All pipeline", None, BusinessKind.ANY),
    )
    for key, name, segment_id, kind in definitions:
        if key in priorities:
            session.add(
                PipelineDefinition(
                    priority_id=priorities[key],
                    name=name,
                    segment_id=segment_id,
                    products=[],
                    opportunity_types=[],
                    business_kind=kind,
                )
            )
    session.flush()
    evaluate_segments(session)
    score_accounts(session)
