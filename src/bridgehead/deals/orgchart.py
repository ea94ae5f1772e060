"""A small tree layout for the stakeholder org chart, drawn as SVG by the deal room template.

Pure: takes the stakeholders with their reports-to contacts, returns boxes and lines. Leaves are
placed left to right; a manager sits centred over its reports; people whose manager is not on
the map are roots. Cycles in a reports-to line (bad CRM data) are broken, never followed.
"""

from __future__ import annotations

from collections.abc import Sequence

from bridgehead.deals.schemas import OrgChart, OrgChartEdge, OrgChartNode, StakeholderRead

BOX_WIDTH = 176
BOX_HEIGHT = 64
GAP_X = 16
GAP_Y = 44
MARGIN = 8
# Wide committees wrap: roots beyond this many leaf columns start a new band below.
MAX_COLUMNS = 7


def layout_org_chart(stakeholders: Sequence[StakeholderRead]) -> OrgChart:
    """Boxes and reports-to lines for the stakeholders, in a layout that fits the deal room."""
    by_contact = {item.contact_id: item for item in stakeholders}
    children: dict[int, list[int]] = {item.contact_id: [] for item in stakeholders}
    roots: list[int] = []
    for item in stakeholders:
        manager = item.reports_to_contact_id
        if (
            manager is not None
            and manager in by_contact
            and not _creates_cycle(item.contact_id, manager, by_contact)
        ):
            children[manager].append(item.contact_id)
        else:
            roots.append(item.contact_id)

    positions: dict[int, tuple[float, int]] = {}
    band_top = 0
    column = 0
    band_depth = 0

    def place(contact_id: int, depth: int, top: int) -> float:
        nonlocal column, band_depth
        band_depth = max(band_depth, depth)
        kids = children[contact_id]
        if not kids:
            x = float(column)
            column += 1
        else:
            xs = [place(kid, depth + 1, top) for kid in kids]
            x = (xs[0] + xs[-1]) / 2
        positions[contact_id] = (x, top + depth)
        return x

    for root in roots:
        if column >= MAX_COLUMNS:
            band_top += band_depth + 1
            column = 0
            band_depth = 0
        place(root, 0, band_top)

    nodes = [
        OrgChartNode(
            stakeholder_id=by_contact[contact_id].id,
            name=by_contact[contact_id].name,
            title=by_contact[contact_id].title or "",
            role=by_contact[contact_id].role,
            stance=by_contact[contact_id].stance,
            engaged=by_contact[contact_id].engaged,
            x=MARGIN + round(x * (BOX_WIDTH + GAP_X)),
            y=MARGIN + row * (BOX_HEIGHT + GAP_Y),
        )
        for contact_id, (x, row) in positions.items()
    ]
    node_at = {node.stakeholder_id: node for node in nodes}
    edges = []
    for manager, kids in children.items():
        top = node_at[by_contact[manager].id]
        for kid in kids:
            bottom = node_at[by_contact[kid].id]
            edges.append(
                OrgChartEdge(
                    x1=top.x + BOX_WIDTH // 2,
                    y1=top.y + BOX_HEIGHT,
                    x2=bottom.x + BOX_WIDTH // 2,
                    y2=bottom.y,
                )
            )
    width = max((node.x for node in nodes), default=0) + BOX_WIDTH + MARGIN
    height = max((node.y for node in nodes), default=0) + BOX_HEIGHT + MARGIN
    return OrgChart(
        width=width, height=height, box_width=BOX_WIDTH, box_height=BOX_HEIGHT, nodes=nodes, edges=edges
    )


def _creates_cycle(contact_id: int, manager: int, by_contact: dict[int, StakeholderRead]) -> bool:
    seen = {contact_id}
    current: int | None = manager
    while current is not None and current in by_contact:
        if current in seen:
            return True
        seen.add(current)
        current = by_contact[current].reports_to_contact_id
    return False
