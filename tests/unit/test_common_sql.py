"""The shared SQL building blocks on a real database: loose index scans and literal id tables."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bridgehead.common.sql import Unindexed, distinct_by_seeks, integer_rows
from bridgehead.crm.models import Opportunity
from tests.factories import make_opportunity, make_user


def test_distinct_by_seeks_gives_what_select_distinct_gives(db_session: Session) -> None:
    owner = make_user(db_session)
    for product in ["Beta", "alpha", "Beta", None, "Gamma", "alpha", "Zeta"]:
        make_opportunity(db_session, owner_id=owner.id, product=product, amount=Decimal(1))
    expected = db_session.scalars(
        select(Opportunity.product)
        .where(Opportunity.product.is_not(None))
        .distinct()
        .order_by(Opportunity.product)
    ).all()
    assert db_session.scalars(distinct_by_seeks(Opportunity.product)).all() == expected
    assert set(expected) >= {"Beta", "alpha", "Gamma", "Zeta"}


def test_distinct_by_seeks_of_an_empty_column_is_empty(db_session: Session) -> None:
    owner = make_user(db_session)
    make_opportunity(db_session, owner_id=owner.id, product=None, amount=Decimal(1))
    products = db_session.scalars(distinct_by_seeks(Opportunity.product)).all()
    assert None not in products


def test_integer_rows_is_a_table_of_the_given_ids(db_session: Session) -> None:
    pairs = integer_rows("owner_group", ["owner_id", "group_no"], [(7, 0), (9, 1), (11, 1)])
    rows = db_session.execute(select(pairs.c.owner_id, pairs.c.group_no).order_by(pairs.c.owner_id)).all()
    assert [tuple(row) for row in rows] == [(7, 0), (9, 1), (11, 1)]


@pytest.mark.parametrize(
    ("name", "names", "rows", "message"),
    [
        ("listed owner", ["owner_id"], [(1,)], "not a plain SQL identifier"),
        ("listed_owner", ["owner_id); DROP TABLE user; --"], [(1,)], "not a plain SQL identifier"),
        ("listed_owner", ["owner_id"], [], "no rows"),  # VALUES needs one
    ],
)
def test_integer_rows_refuses_what_it_cannot_render_safely(
    name: str, names: list[str], rows: list[tuple[int]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        integer_rows(name, names, rows)


def test_integer_rows_renders_values_as_integers_only() -> None:
    with pytest.raises(ValueError, match="invalid literal for int"):
        integer_rows("listed_owner", ["owner_id"], [("1); DROP TABLE user; --",)])  # type: ignore[list-item]


def test_an_unindexed_column_selects_the_same_rows_read_in_table_order(db_session: Session) -> None:
    owners = [make_user(db_session) for _ in range(3)]
    for index in range(9):
        make_opportunity(db_session, owner_id=owners[index % 3].id, amount=Decimal(index))
    kept = [owners[0].id, owners[2].id]
    plain = select(Opportunity.id).where(Opportunity.owner_id.in_(kept)).order_by(Opportunity.id)
    unindexed = select(Opportunity.id).where(Unindexed(Opportunity.owner_id.expression).in_(kept))
    assert db_session.scalars(unindexed.order_by(Opportunity.id)).all() == db_session.scalars(plain).all()
    rendered = str(unindexed.compile(db_session.get_bind(), compile_kwargs={"literal_binds": True}))
    if db_session.get_bind().dialect.name == "sqlite":
        assert "+opportunity.owner_id IN" in rendered
        plan = " ".join(str(row[-1]) for row in db_session.execute(text("EXPLAIN QUERY PLAN " + rendered)))
        assert "SCAN opportunity" in plan
    else:
        assert "+" not in rendered
        assert "opportunity.owner_id IN" in rendered
