"""The left navigation: areas and pages, each visible only to the roles that may use it."""

from __future__ import annotations

from dataclasses import dataclass

from bridgehead.auth.models import Role

ALL_ROLES = frozenset(Role)


@dataclass(frozen=True)
class NavItem:
    """One link of the navigation."""

    area: str
    label: str
    path: str
    roles: frozenset[Role] = ALL_ROLES


# Areas in the order of DESIGN.md section 9; a domain adds its pages here when they exist.
AREAS = ("Strategy", "Plan", "Deals", "Governance", "Insights", "Data", "Admin")

NAV_ITEMS: tuple[NavItem, ...] = (
    NavItem("Strategy", "Priorities", "/strategy"),
    NavItem("Strategy", "Segments", "/strategy/segments"),
    NavItem("Strategy", "ICP", "/strategy/icp"),
    NavItem("Strategy", "Pipeline definitions", "/strategy/pipelines"),
    NavItem("Plan", "Quotas", "/plan/quotas"),
    NavItem("Deals", "Opportunities", "/opportunities"),
    NavItem("Deals", "Accounts", "/accounts"),
    NavItem("Deals", "Handoffs", "/handoffs"),
    NavItem("Deals", "Sales processes", "/deals/processes"),
    NavItem("Governance", "Initiatives", "/governance"),
    NavItem("Insights", "Three-gap board", "/board", ALL_ROLES - {Role.REP}),
    NavItem("Insights", "Metrics", "/insights/metrics"),
    NavItem("Insights", "Gap inbox", "/gaps"),
    NavItem("Insights", "Win/loss", "/insights/win-loss"),
    NavItem("Insights", "Funnel", "/insights/funnel"),
    NavItem("Insights", "Waterfall", "/insights/waterfall"),
    NavItem("Data", "Import", "/data/imports", frozenset({Role.PLANNER, Role.ADMIN})),
    NavItem("Data", "Export", "/data/exports", frozenset({Role.PLANNER, Role.ADMIN})),
    NavItem("Admin", "Users", "/admin/users", frozenset({Role.ADMIN})),
)


def navigation_for(role: Role) -> list[tuple[str, list[NavItem]]]:
    """The areas and links ``role`` may use, areas in their fixed order, empty areas left out."""
    grouped: list[tuple[str, list[NavItem]]] = []
    for area in AREAS:
        items = [item for item in NAV_ITEMS if item.area == area and role in item.roles]
        if items:
            grouped.append((area, items))
    return grouped
