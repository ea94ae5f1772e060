"""ICP fit: weighted criteria (rules in the segment language) and a 0-100 score per account with reasons.

score = round(100 * weight of the criteria met / weight of all criteria), half up. The score and
the ids of the criteria met are computed for every account by one ``INSERT INTO account_fit
SELECT ...`` whose CASE sums run inside the database.
"""

from __future__ import annotations

import typing
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    Integer,
    String,
    Table,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session

from bridgehead.audit.service import record_change
from bridgehead.auth.models import User
from bridgehead.common.pagination import Page, PageRequest
from bridgehead.common.types import UTCDateTime, utcnow
from bridgehead.crm.models import Account
from bridgehead.crm.schemas import AccountFilters
from bridgehead.crm.service import account_list_criteria, get_account
from bridgehead.errors import NotFound
from bridgehead.strategy.models import AccountFit, IcpCriterion
from bridgehead.strategy.rules import check_rule, compile_rule, describe_rule, reads_only_account_row
from bridgehead.strategy.segment_schemas import (
    AccountFitRead,
    CriterionResult,
    FitListItem,
    IcpCriterionCreate,
    IcpCriterionRead,
    IcpCriterionUpdate,
    ScoreBucket,
)
from bridgehead.strategy.segments import bulk_write, on_scope, require_editor

_AUDIT_FIELDS = ["label", "rule", "weight", "position"]
FitOrder = Literal["top", "bottom"]


def list_criteria(session: Session) -> list[IcpCriterion]:
    """Every criterion in display order."""
    return list(session.scalars(select(IcpCriterion).order_by(IcpCriterion.position, IcpCriterion.id)))


def criterion_read(criterion: IcpCriterion) -> IcpCriterionRead:
    """A criterion with its rule in words."""
    read = IcpCriterionRead.model_validate(criterion)
    read.rule_text = describe_rule(criterion.rule)
    return read


def get_criterion(session: Session, *, criterion_id: int) -> IcpCriterion:
    """The criterion, or ``NotFound``."""
    criterion = session.get(IcpCriterion, criterion_id)
    if criterion is None:
        raise NotFound("no such ICP criterion", field="criterion_id", value=criterion_id)
    return criterion


def _state(criterion: IcpCriterion) -> dict[str, Any]:
    return {name: getattr(criterion, name) for name in _AUDIT_FIELDS}


def create_criterion(session: Session, *, actor: User, data: IcpCriterionCreate) -> IcpCriterion:
    """Add a criterion (planners, admins), rescore every account, record the change."""
    require_editor(actor)
    rule = check_rule(data.rule, path="rule")
    position = data.position
    if position is None:
        position = (session.scalar(select(func.max(IcpCriterion.position))) or 0) + 1
    criterion = IcpCriterion(label=data.label.strip(), rule=rule, weight=data.weight, position=position)
    session.add(criterion)
    session.flush()
    score_accounts(session)
    record_change(
        session,
        actor_id=actor.id,
        action="create",
        object_type="icp_criterion",
        object_id=criterion.id,
        before=None,
        after=_state(criterion),
    )
    return criterion


def update_criterion(
    session: Session, *, actor: User, criterion_id: int, data: IcpCriterionUpdate
) -> IcpCriterion:
    """Change a criterion (planners, admins) and rescore."""
    require_editor(actor)
    criterion = get_criterion(session, criterion_id=criterion_id)
    before = _state(criterion)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("rule") is not None:
        criterion.rule = check_rule(changes["rule"], path="rule")
    if changes.get("label") is not None:
        criterion.label = changes["label"].strip()
    for key in ("weight", "position"):
        if changes.get(key) is not None:
            setattr(criterion, key, changes[key])
    session.flush()
    score_accounts(session)
    record_change(
        session,
        actor_id=actor.id,
        action="update",
        object_type="icp_criterion",
        object_id=criterion.id,
        before=before,
        after=_state(criterion),
    )
    return criterion


def delete_criterion(session: Session, *, actor: User, criterion_id: int) -> None:
    """Remove a criterion (planners, admins) and rescore."""
    require_editor(actor)
    criterion = get_criterion(session, criterion_id=criterion_id)
    before = _state(criterion)
    session.delete(criterion)
    session.flush()
    score_accounts(session)
    record_change(
        session,
        actor_id=actor.id,
        action="delete",
        object_type="icp_criterion",
        object_id=criterion_id,
        before=before,
        after=None,
    )


def score_accounts(session: Session, *, scope: Table | None = None) -> int:
    """Recompute accounts' fit in one INSERT ... SELECT; return how many accounts were scored.

    ``scope`` (an ``account_scope`` table, e.g. of the accounts an import changed) rescores just
    those when every criterion reads the account row alone; otherwise every account is rescored.
    With no criteria there is no profile to fit, so no account has a score.
    """
    fit = typing.cast(Table, AccountFit.__table__)
    criteria = list_criteria(session)
    if scope is not None and all(reads_only_account_row(criterion.rule) for criterion in criteria):
        with bulk_write(session):
            session.execute(delete(fit).where(fit.c.account_id.in_(select(scope.c.id))))
            return _insert_fits(session, criteria, scope)
    with bulk_write(session):
        session.execute(delete(fit))
        return _insert_fits(session, criteria, None)


def _insert_fits(session: Session, criteria: list[IcpCriterion], scope: Table | None) -> int:
    fit = typing.cast(Table, AccountFit.__table__)
    if not criteria:
        return 0
    total_weight = sum(criterion.weight for criterion in criteria)
    # OFFSET 0 keeps the databases from merging this subquery into the outer one, which would copy
    # each criterion's condition into both the score and the list of met ids (evaluating it twice).
    flags_query = select(
        Account.id.label("account_id"),
        *(
            case((compile_rule(criterion.rule), 1), else_=0).label(f"met_{index}")
            for index, criterion in enumerate(criteria)
        ),
    ).offset(0)
    flags = (on_scope(flags_query, scope) if scope is not None else flags_query).subquery("flags")
    met_weight = sum(
        (flags.c[f"met_{index}"] * criterion.weight for index, criterion in enumerate(criteria)),
        literal(0, Integer),
    )
    # round half up in integers: floor((200·met + total) / (2·total)); both sides are non-negative.
    score = (met_weight * 200 + total_weight) // (2 * total_weight)
    ids_text: Any = literal("", String)
    for index, criterion in enumerate(criteria):
        ids_text = ids_text + case((flags.c[f"met_{index}"] == 1, f"{criterion.id},"), else_="")
    met_json_text = literal("[", String) + func.rtrim(ids_text, ",") + literal("]", String)
    # PostgreSQL needs the text cast to JSON; SQLite stores JSON as that very text.
    is_postgres = session.get_bind().dialect.name == "postgresql"
    met_json = cast(met_json_text, JSON) if is_postgres else type_coerce(met_json_text, String)
    result = session.execute(
        insert(fit).from_select(
            ["account_id", "score", "met_criteria", "computed_at"],
            select(
                flags.c.account_id,
                cast(score, Integer),
                met_json,
                literal(utcnow(), UTCDateTime()),
            ),
        )
    )
    rowcount = getattr(result, "rowcount", -1)
    if isinstance(rowcount, int) and rowcount >= 0:
        return rowcount
    counted = select(func.count()).select_from(fit)
    if scope is not None:
        counted = counted.where(fit.c.account_id.in_(select(scope.c.id)))
    return session.scalar(counted) or 0


def account_fit(session: Session, *, viewer: User, account_id: int) -> AccountFitRead:
    """An account's score with every criterion met or missed (404 if the viewer may not see it)."""
    account = get_account(session, viewer=viewer, account_id=account_id)
    fit = session.get(AccountFit, account.id)
    met = set(fit.met_criteria or []) if fit is not None else set()
    reasons = [
        CriterionResult(
            id=criterion.id, label=criterion.label, weight=criterion.weight, met=criterion.id in met
        )
        for criterion in list_criteria(session)
    ]
    return AccountFitRead(
        account_id=account.id,
        account_name=account.name,
        score=fit.score if fit is not None else None,
        computed_at=fit.computed_at if fit is not None else None,
        reasons=reasons,
    )


def list_fits(session: Session, *, viewer: User, order: FitOrder, page: PageRequest) -> Page[FitListItem]:
    """Accounts the viewer may see by fit, best (``top``) or worst (``bottom``) first."""
    conditions = account_list_criteria(viewer, AccountFilters()).conditions
    base = select(AccountFit.score, Account.id, Account.name, Account.industry, Account.employees).join(
        Account, Account.id == AccountFit.account_id
    )
    total = (
        session.scalar(
            select(func.count())
            .select_from(AccountFit)
            .join(Account, Account.id == AccountFit.account_id)
            .where(*conditions)
        )
        or 0
    )
    ordering = (
        [AccountFit.score.desc(), Account.name] if order == "top" else [AccountFit.score.asc(), Account.name]
    )
    rows = session.execute(
        base.where(*conditions).order_by(*ordering, Account.id).offset(page.offset).limit(page.page_size)
    )
    items = [
        FitListItem(
            account_id=row.id,
            account_name=row.name,
            industry=row.industry,
            employees=row.employees,
            score=row.score,
        )
        for row in rows
    ]
    return Page(items=items, total=total, page=page.page, page_size=page.page_size)


def score_distribution(session: Session) -> list[ScoreBucket]:
    """Accounts per band of ten points (0-9, ..., 90-100), every band present."""
    band = case((AccountFit.score >= 90, 9), else_=AccountFit.score // 10)
    counts: dict[int, int] = {
        int(key): int(value) for key, value in session.execute(select(band, func.count()).group_by(band))
    }
    return [
        ScoreBucket(
            low=index * 10, high=100 if index == 9 else index * 10 + 9, accounts=int(counts.get(index, 0))
        )
        for index in range(10)
    ]


def criterion_match_counts(session: Session) -> dict[int, int]:
    """How many accounts meet each criterion (one scan of the account table)."""
    criteria = list_criteria(session)
    if not criteria:
        return {}
    row = session.execute(
        select(*(func.count().filter(compile_rule(criterion.rule)) for criterion in criteria)).select_from(
            Account
        )
    ).one()
    return {criterion.id: int(count) for criterion, count in zip(criteria, row, strict=True)}
