"""The rule language: validation names the path, field and value; compiled rules select the right accounts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bridgehead.crm.models import Account
from bridgehead.errors import ValidationFailed
from bridgehead.strategy.rules import check_rule, compile_rule, describe_rule, field_catalogue
from tests.factories import make_account, make_opportunity, make_user


@pytest.mark.parametrize(
    ("rule", "path", "value"),
    [
        ({"all": [{"field": "colour", "op": "eq", "value": "red"}]}, "all[0].field", "'colour'"),
        ({"all": [{"field": "industry", "op": "like", "value": "x"}]}, "all[0].op", "'like'"),
        (
            {
                "all": [
                    {"field": "industry", "op": "eq", "value": "A"},
                    {"field": "employees", "op": "gte", "value": "many"},
                ]
            },
            "all[1].value",
            "'many'",
        ),
        ({"any": [{"field": "employees", "op": "between", "value": [10]}]}, "any[0].value", "[10]"),
        ({"any": [{"field": "employees", "op": "between", "value": [50, 10]}]}, "any[0].value", "[50, 10]"),
        (
            {"all": [{"not": {"field": "country", "op": "in", "value": "Kenya"}}]},
            "all[0].not.value",
            "'Kenya'",
        ),
        ({"all": [{"field": "country", "op": "in", "value": ["Kenya", 3]}]}, "all[0].value[1]", "3"),
        ({"all": [{"field": "industry", "op": "gt", "value": 3}]}, "all[0].op", "'gt'"),
        ({"all": [{"field": "employees", "op": "eq", "value": True}]}, "all[0].value", "True"),
        ({"all": [{"field": "state", "op": "is_empty", "value": "x"}]}, "all[0].value", "'x'"),
        ({"all": "industry"}, "all", "'industry'"),
        ({"all": [], "any": []}, "rule", "['all', 'any']"),
        ({"all": [{"field": 'custom.bad"key', "op": "eq", "value": 1}]}, "all[0].field", "'custom.bad\"key'"),
        ([1, 2], "rule", "[1, 2]"),
    ],
)
def test_check_rule_names_path_and_value(rule: Any, path: str, value: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_rule(rule)
    assert caught.value.context["field"] == path
    assert caught.value.context["value"] == value
    assert path in caught.value.message


def test_check_rule_names_the_rule_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_rule({"all": [{"field": "employees", "op": "gte", "value": "x"}]}, path="rule")
    assert caught.value.context["field"] == "rule.all[0].value"
    assert caught.value.context["rule_field"] == "employees"


def test_check_rule_refuses_deep_nesting() -> None:
    rule: dict[str, Any] = {"field": "industry", "op": "is_empty"}
    for _ in range(12):
        rule = {"not": rule}
    with pytest.raises(ValidationFailed, match="nest"):
        check_rule(rule)


def test_catalogue_lists_custom_fields_and_their_ops() -> None:
    catalogue = {info.name: info for info in field_catalogue(["year_established"])}
    assert catalogue["custom.year_established"].kind == "custom"
    assert "between" in catalogue["employees"].ops
    assert "contains" not in catalogue["employees"].ops
    assert catalogue["parent_account"].ops == ("is_empty", "is_not_empty")


def test_describe_rule_reads_as_words() -> None:
    text = describe_rule(
        {
            "all": [
                {"field": "industry", "op": "in", "value": ["Banking"]},
                {"field": "employees", "op": "gte", "value": 1000},
            ]
        }
    )
    assert "industry in" in text
    assert "1,000" in text


def _matches(session: Session, rule: dict[str, Any], candidates: list[int]) -> set[int]:
    return set(session.scalars(select(Account.id).where(compile_rule(rule), Account.id.in_(candidates))))


def test_compiled_rules_select_the_right_accounts(db_session: Session) -> None:
    owner = make_user(db_session, email="Owner.Rule@example.com")
    parent = make_account(db_session, industry="Banking", employees=5000, country="Kenya", state=None)
    big_bank = make_account(
        db_session,
        industry="Banking",
        employees=2500,
        annual_revenue_amount=Decimal("250000000.50"),
        country="United States",
        state="NY",
        owner_id=owner.id,
        parent_account_id=parent.id,
        custom_fields={"tier": "Gold", "year_established": "1996"},
    )
    small_shop = make_account(
        db_session,
        name="Corner Shop",
        industry="retail",
        employees=12,
        annual_revenue_amount=Decimal("900000"),
        country="united states",
        state="",
        custom_fields={"tier": "bronze", "year_established": "n/a"},
    )
    blank = make_account(
        db_session,
        industry=None,
        employees=None,
        annual_revenue_amount=None,
        country=None,
        state=None,
        custom_fields={},
    )
    ids = [parent.id, big_bank.id, small_shop.id, blank.id]

    def matched(rule: dict[str, Any]) -> set[int]:
        return _matches(db_session, rule, ids)

    assert matched({"field": "industry", "op": "eq", "value": "BANKING"}) == {parent.id, big_bank.id}
    assert matched({"field": "industry", "op": "ne", "value": "banking"}) == {small_shop.id}
    assert matched({"field": "industry", "op": "is_empty"}) == {blank.id}
    assert matched({"field": "country", "op": "in", "value": ["United States"]}) == {
        big_bank.id,
        small_shop.id,
    }
    assert matched({"field": "employees", "op": "between", "value": [12, 2500]}) == {
        big_bank.id,
        small_shop.id,
    }
    assert matched({"field": "employees", "op": "lt", "value": 100}) == {small_shop.id}
    assert matched({"field": "annual_revenue", "op": "gt", "value": 250000000}) == {big_bank.id}
    assert matched({"field": "annual_revenue", "op": "gte", "value": 250000000.51}) == set()
    assert matched({"field": "owner", "op": "eq", "value": "owner.rule@EXAMPLE.com"}) == {big_bank.id}
    assert matched({"field": "owner", "op": "in", "value": [owner.id]}) == {big_bank.id}
    assert matched({"field": "parent_account", "op": "is_not_empty"}) == {big_bank.id}
    assert matched({"field": "state", "op": "is_empty"}) == {parent.id, small_shop.id, blank.id}
    assert matched({"field": "name", "op": "starts_with", "value": "corner"}) == {small_shop.id}
    assert matched({"field": "name", "op": "contains", "value": "%"}) == set()
    assert matched({"field": "custom.tier", "op": "eq", "value": "gold"}) == {big_bank.id}
    assert matched({"field": "custom.tier", "op": "is_empty"}) == {parent.id, blank.id}
    assert matched({"field": "custom.year_established", "op": "lt", "value": 2000}) == {big_bank.id}
    assert matched({"field": "custom.year_established", "op": "eq", "value": 1996}) == {big_bank.id}
    assert matched({"field": "custom.year_established", "op": "eq", "value": "n/a"}) == {small_shop.id}
    assert matched({"not": {"field": "industry", "op": "eq", "value": "Banking"}}) == {
        small_shop.id,
        blank.id,
    }
    assert matched(
        {
            "any": [
                {"field": "employees", "op": "gte", "value": 5000},
                {"all": [{"field": "custom.tier", "op": "in", "value": ["Bronze"]}]},
            ]
        }
    ) == {parent.id, small_shop.id}
    assert matched({"all": []}) == set(ids)
    assert matched({"any": []}) == set()


def test_won_deals_counts_include_accounts_without_wins(db_session: Session) -> None:
    never = make_account(db_session)
    once = make_account(db_session)
    twice = make_account(db_session)
    for account, wins in ((once, 1), (twice, 2)):
        for _ in range(wins):
            make_opportunity(
                db_session, account_id=account.id, is_closed=True, is_won=True, stage="Closed Won"
            )
    make_opportunity(db_session, account_id=never.id, is_closed=True, is_won=False, stage="Closed Lost")
    ids = [never.id, once.id, twice.id]

    def matched(op: str, value: Any) -> set[int]:
        return _matches(db_session, {"field": "won_deals", "op": op, "value": value}, ids)

    assert matched("gte", 1) == {once.id, twice.id}
    assert matched("lt", 1) == {never.id}
    assert matched("eq", 0) == {never.id}
    assert matched("between", [1, 1]) == {once.id}
    assert matched("not_in", [2]) == {never.id, once.id}
    assert matched("gt", 1) == {twice.id}


def test_groups_test_row_columns_before_custom_fields_and_subqueries(db_session: Session) -> None:
    # The compiler puts cheap parts first; what a group selects must not depend on the order.
    owner = make_user(db_session, email="order.rule@example.com")
    big_gold = make_account(db_session, employees=5000, owner_id=owner.id, custom_fields={"tier": "Gold"})
    big_plain = make_account(db_session, employees=5000, custom_fields={"tier": "bronze"})
    small_gold = make_account(db_session, employees=10, custom_fields={"tier": "gold"})
    unknown = make_account(db_session, employees=None, custom_fields={})
    make_opportunity(db_session, account_id=small_gold.id, is_closed=True, is_won=True, stage="Closed Won")
    ids = [big_gold.id, big_plain.id, small_gold.id, unknown.id]
    gold = {"field": "custom.tier", "op": "eq", "value": "GOLD"}
    big = {"field": "employees", "op": "gte", "value": 1000}
    won = {"field": "won_deals", "op": "gte", "value": 1}
    owned = {"field": "owner", "op": "is_not_empty"}
    cases: list[tuple[dict[str, Any], set[int]]] = [
        ({"all": [gold, big]}, {big_gold.id}),
        ({"any": [gold, big]}, {big_gold.id, big_plain.id, small_gold.id}),
        ({"all": [won, gold]}, {small_gold.id}),
        ({"any": [owned, {"not": big}]}, {big_gold.id, small_gold.id, unknown.id}),
        ({"all": [{"not": gold}, {"not": big}]}, {unknown.id}),
    ]
    for rule, expected in cases:
        key = next(iter(rule))
        reversed_rule = {key: list(reversed(rule[key]))}
        assert _matches(db_session, rule, ids) == expected
        assert _matches(db_session, reversed_rule, ids) == expected
    compiled = str(compile_rule({"all": [won, gold, owned, big]}).compile(db_session.get_bind()))
    positions = [compiled.index(part) for part in ("employees", "custom_fields", "owner_id", "opportunity")]
    assert positions == sorted(positions)
