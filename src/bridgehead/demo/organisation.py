"""The demo's org tree (company → regions → teams) and its people, from the CRO down to the reps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bridgehead.auth.models import Role, User
from bridgehead.crm.models import OrgUnit, OrgUnitKind
from bridgehead.demo.catalogue import (
    COMPANY_NAME,
    DRIFTING_KINDS,
    EMAIL_DOMAIN,
    REGIONS,
    TEAM_ARCHETYPES,
    TEAM_SUFFIXES,
)
from bridgehead.demo.names import FIRST_NAMES, LAST_NAMES, name_slug
from bridgehead.demo.sampling import DAY, BoolArray, FloatArray, IntArray, Timeline, apportion
from bridgehead.demo.writer import BulkWriter, to_datetime

REPS_AT_SCALE_ONE = 60
REPS_PER_TEAM = 7.5
MIN_TEAMS = len(TEAM_ARCHETYPES)
# The people behind the well-known logins, in user-id order.
WELL_KNOWN = (
    (Role.ADMIN, "admin", "Revenue operations administrator"),
    (Role.EXECUTIVE, "cro", "Chief Revenue Officer, top of the manager line"),
    (Role.PLANNER, "planner", "Sales operations planner"),
    (Role.CONTROLLER, "controller", "Finance controller, confirms realised value"),
)


def team_external_id(archetype_key: str, number: int) -> str:
    """External id of the ``number``-th (1-based) team cloned from an archetype."""
    return f"DEMO-TEAM-{archetype_key}-{number:02d}"


@dataclass(frozen=True)
class Organisation:
    """What later steps need to know about the org: teams, their reps and the reps' hidden skill."""

    team_ids: IntArray  # org_unit id per team
    team_archetype: IntArray  # index into TEAM_ARCHETYPES per team
    team_names: list[str]
    archetype_team_start: IntArray  # teams are grouped by archetype; first team of each (+ end)
    team_manager_ids: IntArray  # user id of each team's manager
    region_vp_ids: IntArray  # user id of each region's VP
    rep_ids: IntArray  # user id per rep, grouped by team
    rep_team: IntArray  # team index per rep
    team_rep_start: IntArray  # first rep of each team (+ end)
    rep_skill: FloatArray  # latent selling skill, drives win odds and multi-threading
    user_names: list[tuple[str, str]]  # (full name, email) per user id - 1
    org_unit_count: int

    @property
    def rep_drifting(self) -> BoolArray:
        """Per rep: whether their team is a commercial or mid-market team (the ones drifting downmarket)."""
        kinds = np.asarray(
            [TEAM_ARCHETYPES[archetype].kind in DRIFTING_KINDS for archetype in self.team_archetype]
        )
        drifting: BoolArray = kinds[self.rep_team]
        return drifting

    @property
    def user_count(self) -> int:
        """How many users the organisation has."""
        return len(self.user_names)


def team_plan(scale: float) -> tuple[list[int], list[int]]:
    """Teams per archetype and reps per team for ``scale``: ~7.5 reps a team, at least 8 teams of 1+."""
    reps = max(MIN_TEAMS, round(REPS_AT_SCALE_ONE * scale))
    teams = max(MIN_TEAMS, round(reps / REPS_PER_TEAM))
    weights = [archetype.rep_weight for archetype in TEAM_ARCHETYPES]
    teams_per_archetype = apportion(teams, weights, minimum=1)
    team_weights = [
        weights[index] / count for index, count in enumerate(teams_per_archetype) for _ in range(count)
    ]
    reps_per_team = apportion(reps, team_weights, minimum=1)
    return teams_per_archetype, reps_per_team


def _team_name(archetype_index: int, number: int, count: int) -> str:
    archetype = TEAM_ARCHETYPES[archetype_index]
    if count == 1:
        return archetype.name
    suffixes = TEAM_SUFFIXES[archetype.region]
    if number < len(suffixes):
        return f"{archetype.name} {suffixes[number]}"
    return f"{archetype.name} {number + 1}"


def build_organisation(
    rng: np.random.Generator, writer: BulkWriter, timeline: Timeline, scale: float, password_hash: str
) -> Organisation:
    """Insert the org units and users; return the arrays the account and deal generators need."""
    teams_per_archetype, reps_per_team = team_plan(scale)
    n_teams = sum(teams_per_archetype)
    team_archetype = np.repeat(np.arange(len(TEAM_ARCHETYPES)), teams_per_archetype).astype(np.int64)
    team_number = np.concatenate([np.arange(count) for count in teams_per_archetype]).astype(np.int64)
    team_names = [
        _team_name(int(arch), int(number), teams_per_archetype[arch])
        for arch, number in zip(team_archetype, team_number, strict=True)
    ]

    # Org unit ids: 1 the company, 2..4 the regions, then the teams.
    region_ids = np.arange(2, 2 + len(REGIONS), dtype=np.int64)
    team_ids = np.arange(2 + len(REGIONS), 2 + len(REGIONS) + n_teams, dtype=np.int64)
    org_rows: list[dict[str, Any]] = [
        {"id": 1, "name": COMPANY_NAME, "kind": OrgUnitKind.COMPANY, "parent_id": None,
         "external_id": "DEMO-ORG-COMPANY"},
    ]  # fmt: skip
    for region_index, (key, name) in enumerate(REGIONS):
        org_rows.append(
            {"id": int(region_ids[region_index]), "name": name, "kind": OrgUnitKind.REGION, "parent_id": 1,
             "external_id": f"DEMO-ORG-{key}"}
        )  # fmt: skip
    for team in range(n_teams):
        archetype = TEAM_ARCHETYPES[int(team_archetype[team])]
        org_rows.append(
            {"id": int(team_ids[team]), "name": team_names[team], "kind": OrgUnitKind.TEAM,
             "parent_id": int(region_ids[archetype.region]),
             "external_id": team_external_id(archetype.key, int(team_number[team]) + 1)}
        )  # fmt: skip
    writer.insert_typed(OrgUnit.__tablename__, org_rows, "org units")

    n_reps = sum(reps_per_team)
    n_users = len(WELL_KNOWN) + len(REGIONS) + n_teams + n_reps
    # Distinct (first, last) pairs, so every user has a unique name and e-mail.
    pairs = rng.choice(len(FIRST_NAMES) * len(LAST_NAMES), size=n_users, replace=False)
    names = [
        (FIRST_NAMES[pair // len(LAST_NAMES)], LAST_NAMES[pair % len(LAST_NAMES)]) for pair in pairs.tolist()
    ]
    # Everyone joined before the window, so the whole history has owners in post.
    joined = timeline.start_day * DAY - rng.integers(30 * DAY, 900 * DAY, size=n_users)

    vp_ids = np.arange(len(WELL_KNOWN) + 1, len(WELL_KNOWN) + 1 + len(REGIONS), dtype=np.int64)
    manager_ids = np.arange(int(vp_ids[-1]) + 1, int(vp_ids[-1]) + 1 + n_teams, dtype=np.int64)
    rep_ids = np.arange(int(manager_ids[-1]) + 1, int(manager_ids[-1]) + 1 + n_reps, dtype=np.int64)
    rep_team = np.repeat(np.arange(n_teams), reps_per_team).astype(np.int64)

    # (role, login name, org unit, manager); the company-level people sit outside the manager line
    # except the CRO, who tops it.
    cro_id = 2
    roles: list[tuple[Role, str | None, int, int | None]] = [
        (role, login, 1, None) for role, login, _ in WELL_KNOWN
    ]
    roles += [(Role.MANAGER, None, int(region_ids[index]), cro_id) for index in range(len(REGIONS))]
    roles += [
        (Role.MANAGER, None, int(team_ids[team]),
         int(vp_ids[TEAM_ARCHETYPES[int(team_archetype[team])].region]))
        for team in range(n_teams)
    ]  # fmt: skip
    roles += [(Role.REP, None, int(team_ids[team]), int(manager_ids[team])) for team in rep_team.tolist()]

    user_rows: list[dict[str, Any]] = []
    user_names: list[tuple[str, str]] = []
    for index, ((first, last), (role, login, org_unit, manager)) in enumerate(zip(names, roles, strict=True)):
        local = login or f"{name_slug(first)}.{name_slug(last)}"
        email = f"{local}@{EMAIL_DOMAIN}"
        full_name = f"{first} {last}"
        user_names.append((full_name, email))
        user_rows.append(
            {"id": index + 1, "email": email, "full_name": full_name, "role": role, "org_unit_id": org_unit,
             "manager_id": manager, "external_id": f"DEMO-USR-{index + 1:04d}", "password_hash": password_hash,
             "is_active": True, "created_at": to_datetime(int(joined[index])), "last_login_at": None}
        )  # fmt: skip
    writer.insert_typed(User.__tablename__, user_rows, "users")

    team_rep_start = np.zeros(n_teams + 1, dtype=np.int64)
    np.cumsum(reps_per_team, out=team_rep_start[1:])
    archetype_team_start = np.zeros(len(TEAM_ARCHETYPES) + 1, dtype=np.int64)
    np.cumsum(teams_per_archetype, out=archetype_team_start[1:])
    return Organisation(
        team_ids=team_ids,
        team_archetype=team_archetype,
        team_names=team_names,
        archetype_team_start=archetype_team_start,
        team_manager_ids=manager_ids,
        region_vp_ids=vp_ids,
        rep_ids=rep_ids,
        rep_team=rep_team,
        team_rep_start=team_rep_start,
        rep_skill=rng.normal(0.0, 0.5, size=n_reps),
        user_names=user_names,
        org_unit_count=len(org_rows),
    )
