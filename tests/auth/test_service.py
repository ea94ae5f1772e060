"""Users, sign-in, login sessions, API tokens and visibility, against both databases."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from bridgehead.audit.models import AuditEntry
from bridgehead.audit.service import history_of
from bridgehead.auth import service
from bridgehead.auth.models import ApiToken, LoginSession, Role, User
from bridgehead.common.types import utcnow
from bridgehead.crm.models import Opportunity
from bridgehead.errors import AuthenticationFailed, Conflict, NotFound, PermissionDenied, ValidationFailed
from tests.factories import DEFAULT_PASSWORD, make_opportunity, make_token, make_user

# --- users ------------------------------------------------------------------------------------


def test_create_user_normalises_email_and_writes_audit_entry(db_session: Session) -> None:
    admin = make_user(db_session, role=Role.ADMIN)
    user = service.create_user(
        db_session,
        email="  Ada.Lovelace@Example.COM ",
        full_name="  Ada Lovelace ",
        role="Manager",
        password="long enough password",
        actor_id=admin.id,
    )
    assert user.email == "ada.lovelace@example.com"
    assert user.full_name == "Ada Lovelace"
    assert user.role is Role.MANAGER
    assert user.is_active
    assert user.password_hash is not None
    assert "long enough password" not in user.password_hash
    [entry] = history_of(db_session, object_type="user", object_id=user.id)
    assert entry.action == "create"
    assert entry.actor_id == admin.id
    assert entry.before is None
    assert entry.after is not None
    assert entry.after["email"] == "ada.lovelace@example.com"
    assert entry.after["role"] == "manager"
    assert "password" not in entry.after
    assert "password_hash" not in entry.after


def test_create_user_without_password_cannot_sign_in(db_session: Session) -> None:
    user = service.create_user(db_session, email="owner@example.com", full_name="CRM Owner", role=Role.REP)
    assert user.password_hash is None
    with pytest.raises(AuthenticationFailed):
        service.authenticate(db_session, email="owner@example.com", password="")


def test_create_user_refuses_a_duplicate_email_in_any_case(db_session: Session) -> None:
    make_user(db_session, email="taken@example.com")
    with pytest.raises(Conflict) as caught:
        service.create_user(db_session, email=" TAKEN@example.com", full_name="Someone", role="rep")
    assert caught.value.context["field"] == "email"
    assert (
        db_session.scalar(select(func.count()).select_from(User).where(User.email == "taken@example.com"))
        == 1
    )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "two@@example.com"}, "email"),
        ({"email": "spaces in@example.com"}, "email"),
        ({"email": "nul\x00@example.com"}, "email"),
        ({"email": "x@" + "a" * 250 + ".com"}, "email"),
        ({"role": "overlord"}, "role"),
        ({"password": "short"}, "password"),
        ({"full_name": "   "}, "full_name"),
        ({"manager_id": 2**31}, "manager_id"),
    ],
)
def test_create_user_refuses_bad_input_and_stores_nothing(
    db_session: Session, fields: dict[str, object], field: str
) -> None:
    values: dict[str, object] = {
        "email": "new@example.com",
        "full_name": "New User",
        "role": "rep",
        "password": None,
    }
    values.update(fields)
    with pytest.raises(ValidationFailed) as caught:
        service.create_user(db_session, **values)  # type: ignore[arg-type]
    assert caught.value.context["field"] == field
    assert db_session.scalar(select(func.count()).select_from(User)) == 0
    assert db_session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_short_password_error_does_not_echo_the_password(db_session: Session) -> None:
    with pytest.raises(ValidationFailed) as caught:
        service.create_user(db_session, email="a@example.com", full_name="A", role="rep", password="hunter2")
    assert "hunter2" not in str(caught.value.to_detail())


def test_check_role_accepts_any_case() -> None:
    assert service.check_role(" Controller ") is Role.CONTROLLER
    with pytest.raises(ValidationFailed, match="admin, executive, planner, manager, rep, controller"):
        service.check_role("ceo")


def test_list_users_by_role_then_name(db_session: Session) -> None:
    make_user(db_session, full_name="Zed Rep", role=Role.REP)
    make_user(db_session, full_name="Amy Rep", role=Role.REP)
    make_user(db_session, full_name="Boss", role=Role.ADMIN)
    reps = service.list_users(db_session, role=Role.REP)
    assert [user.full_name for user in reps] == ["Amy Rep", "Zed Rep"]
    assert len(service.list_users(db_session)) == 3


def test_get_user_by_email_normalises_and_raises_not_found(db_session: Session) -> None:
    user = make_user(db_session, email="find.me@example.com")
    assert service.get_user_by_email(db_session, " Find.Me@example.com") is user
    with pytest.raises(NotFound):
        service.get_user_by_email(db_session, "nobody@example.com")


# --- authentication ---------------------------------------------------------------------------


def test_authenticate_with_the_right_password(db_session: Session) -> None:
    user = make_user(db_session, email="rep@example.com")
    assert user.last_login_at is None
    signed_in = service.authenticate(db_session, email=" REP@example.com", password=DEFAULT_PASSWORD)
    assert signed_in is user
    assert user.last_login_at is not None


@pytest.mark.parametrize(
    ("email", "password", "fields"),
    [
        ("rep@example.com", "wrong password", {}),
        ("nobody@example.com", DEFAULT_PASSWORD, {}),
        ("rep@example.com\x00", DEFAULT_PASSWORD, {}),
        ("rep@example.com", DEFAULT_PASSWORD, {"is_active": False}),
        ("rep@example.com", DEFAULT_PASSWORD, {"password_hash": None}),
        ("rep@example.com", DEFAULT_PASSWORD, {"password_hash": "not-an-argon2-hash"}),
    ],
    ids=["wrong-password", "unknown-email", "nul-in-email", "inactive", "no-password", "corrupt-hash"],
)
def test_authenticate_fails_the_same_way_for_every_reason(
    db_session: Session, email: str, password: str, fields: dict[str, object]
) -> None:
    make_user(db_session, email="rep@example.com", **fields)
    with pytest.raises(AuthenticationFailed) as caught:
        service.authenticate(db_session, email=email, password=password)
    assert caught.value.message == "wrong e-mail or password"


def test_set_password_replaces_hash_and_ends_sessions(db_session: Session) -> None:
    user = make_user(db_session, email="rep@example.com")
    token = service.start_session(db_session, user=user, max_age_seconds=600)
    service.set_password(db_session, user=user, password="a brand new secret")
    assert service.user_for_session_token(db_session, token) is None
    assert service.authenticate(db_session, email="rep@example.com", password="a brand new secret") is user
    with pytest.raises(AuthenticationFailed):
        service.authenticate(db_session, email="rep@example.com", password=DEFAULT_PASSWORD)
    [entry] = history_of(db_session, object_type="user", object_id=user.id)
    assert entry.action == "set_password"
    assert "a brand new secret" not in str(entry.after)


def test_set_password_refuses_a_short_one(db_session: Session) -> None:
    user = make_user(db_session)
    old_hash = user.password_hash
    with pytest.raises(ValidationFailed):
        service.set_password(db_session, user=user, password="1234567")
    assert user.password_hash == old_hash


# --- login sessions ---------------------------------------------------------------------------


def test_session_start_lookup_and_end(db_session: Session) -> None:
    user = make_user(db_session)
    token = service.start_session(db_session, user=user, max_age_seconds=600)
    assert service.user_for_session_token(db_session, token) is user
    stored = db_session.scalars(select(LoginSession.token_hash)).all()
    assert token not in stored
    assert len(stored) == 1
    assert service.user_for_session_token(db_session, token + "x") is None
    service.end_session(db_session, token)
    assert service.user_for_session_token(db_session, token) is None
    assert db_session.scalar(select(func.count()).select_from(LoginSession)) == 0


def test_session_expires(db_session: Session) -> None:
    user = make_user(db_session)
    token = service.start_session(db_session, user=user, max_age_seconds=600)
    login = db_session.scalars(select(LoginSession)).one()
    assert dt.timedelta(seconds=590) < login.expires_at - utcnow() <= dt.timedelta(seconds=600)
    login.expires_at = utcnow() - dt.timedelta(seconds=1)
    db_session.flush()
    assert service.user_for_session_token(db_session, token) is None


def test_session_of_a_deactivated_user_stops_working(db_session: Session) -> None:
    user = make_user(db_session)
    token = service.start_session(db_session, user=user, max_age_seconds=600)
    user.is_active = False
    db_session.flush()
    assert service.user_for_session_token(db_session, token) is None


# --- API tokens -------------------------------------------------------------------------------


def test_api_token_secret_is_shown_once_and_only_its_hash_is_stored(db_session: Session) -> None:
    user = make_user(db_session)
    issued = service.create_api_token(db_session, user=user, name=" laptop ", expires_in_days=30)
    assert issued.secret.startswith(service.API_TOKEN_PREFIX)
    assert len(issued.secret) > 40
    assert issued.token.name == "laptop"
    assert issued.secret.startswith(issued.token.token_prefix)
    row = db_session.execute(text("SELECT * FROM api_token")).mappings().one()
    for column, value in row.items():
        assert issued.secret not in str(value), column
    assert row["token_hash"] == service._token_hash(issued.secret)
    audit_rows = db_session.execute(text("SELECT * FROM audit_log")).mappings().all()
    assert audit_rows
    for audit_row in audit_rows:
        assert issued.secret not in str(dict(audit_row))
    assert service.user_for_api_token(db_session, issued.secret) is user


def test_two_tokens_have_different_secrets(db_session: Session) -> None:
    user = make_user(db_session)
    first = make_token(db_session, user)
    second = make_token(db_session, user)
    assert first.secret != second.secret
    assert first.token.token_hash != second.token.token_hash


@pytest.mark.parametrize(
    ("name", "days", "field"),
    [
        ("", None, "name"),
        ("   ", None, "name"),
        ("x" * 101, None, "name"),
        ("a\x00b", None, "name"),
        ("ok", 0, "expires_in_days"),
        ("ok", 3651, "expires_in_days"),
    ],
)
def test_api_token_refuses_bad_name_or_expiry(
    db_session: Session, name: str, days: int | None, field: str
) -> None:
    user = make_user(db_session)
    with pytest.raises(ValidationFailed) as caught:
        service.create_api_token(db_session, user=user, name=name, expires_in_days=days)
    assert caught.value.context["field"] == field
    assert db_session.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_api_token_use_is_recorded(db_session: Session) -> None:
    user = make_user(db_session)
    issued = make_token(db_session, user)
    assert issued.token.last_used_at is None
    service.user_for_api_token(db_session, issued.secret)
    assert issued.token.last_used_at is not None


def test_revoked_token_no_longer_authenticates_nor_is_listed(db_session: Session) -> None:
    user = make_user(db_session)
    kept = make_token(db_session, user, name="kept")
    revoked = make_token(db_session, user, name="revoked")
    service.revoke_api_token(db_session, user=user, token_id=revoked.token.id)
    assert revoked.token.revoked_at is not None
    with pytest.raises(AuthenticationFailed):
        service.user_for_api_token(db_session, revoked.secret)
    assert [token.id for token in service.list_api_tokens(db_session, user=user)] == [kept.token.id]
    actions = [e.action for e in history_of(db_session, object_type="api_token", object_id=revoked.token.id)]
    assert actions == ["create", "revoke"]
    with pytest.raises(NotFound):
        service.revoke_api_token(db_session, user=user, token_id=revoked.token.id)


def test_expired_token_is_refused(db_session: Session) -> None:
    user = make_user(db_session)
    issued = make_token(db_session, user, expires_in_days=1)
    issued.token.expires_at = utcnow() - dt.timedelta(seconds=1)
    db_session.flush()
    with pytest.raises(AuthenticationFailed, match="expired"):
        service.user_for_api_token(db_session, issued.secret)


def test_token_of_an_inactive_user_is_refused(db_session: Session) -> None:
    user = make_user(db_session)
    issued = make_token(db_session, user)
    user.is_active = False
    db_session.flush()
    with pytest.raises(AuthenticationFailed):
        service.user_for_api_token(db_session, issued.secret)


@pytest.mark.parametrize("secret", ["", "not-a-token", "bh_unknown"])
def test_unknown_token_is_refused(db_session: Session, secret: str) -> None:
    make_token(db_session, make_user(db_session))
    with pytest.raises(AuthenticationFailed):
        service.user_for_api_token(db_session, secret)


def test_someone_elses_token_cannot_be_revoked(db_session: Session) -> None:
    owner = make_user(db_session)
    intruder = make_user(db_session)
    issued = make_token(db_session, owner)
    with pytest.raises(NotFound):
        service.revoke_api_token(db_session, user=intruder, token_id=issued.token.id)
    with pytest.raises(NotFound):
        service.revoke_api_token(db_session, user=intruder, token_id=issued.token.id + 1000)
    assert issued.token.revoked_at is None
    assert service.user_for_api_token(db_session, issued.secret) is owner


# --- visibility -------------------------------------------------------------------------------


@pytest.fixture
def organisation(db_session: Session) -> dict[str, User]:
    """A VP over two first-line managers, each with reps; one deal per seller and one unowned deal.

    vp ─┬─ m1 ─┬─ rep_a
        │      └─ rep_b
        └─ m2 ─── rep_c
    """
    vp = make_user(db_session, role=Role.MANAGER, full_name="VP")
    m1 = make_user(db_session, role=Role.MANAGER, manager_id=vp.id, full_name="M1")
    m2 = make_user(db_session, role=Role.MANAGER, manager_id=vp.id, full_name="M2")
    rep_a = make_user(db_session, manager_id=m1.id, full_name="Rep A")
    rep_b = make_user(db_session, manager_id=m1.id, full_name="Rep B")
    rep_c = make_user(db_session, manager_id=m2.id, full_name="Rep C")
    people = {"vp": vp, "m1": m1, "m2": m2, "rep_a": rep_a, "rep_b": rep_b, "rep_c": rep_c}
    for person in people.values():
        make_opportunity(db_session, owner_id=person.id, name=f"Deal of {person.full_name}")
    make_opportunity(db_session, owner_id=None, name="Unowned deal")
    for role in (Role.ADMIN, Role.EXECUTIVE, Role.PLANNER, Role.CONTROLLER):
        people[role.value] = make_user(db_session, role=role, full_name=role.value.title())
    return people


def _visible_deals(session: Session, viewer: User) -> set[str]:
    visibility = service.visibility_for(viewer)
    return set(
        session.scalars(select(Opportunity.name).where(visibility.owned_by_visible(Opportunity.owner_id)))
    )


def test_rep_sees_only_their_own_deals(db_session: Session, organisation: dict[str, User]) -> None:
    assert _visible_deals(db_session, organisation["rep_a"]) == {"Deal of Rep A"}


def test_manager_sees_their_team_but_not_a_sibling_team(
    db_session: Session, organisation: dict[str, User]
) -> None:
    assert _visible_deals(db_session, organisation["m1"]) == {"Deal of M1", "Deal of Rep A", "Deal of Rep B"}
    assert _visible_deals(db_session, organisation["m2"]) == {"Deal of M2", "Deal of Rep C"}


def test_manager_sees_the_whole_reporting_line_two_levels_deep(
    db_session: Session, organisation: dict[str, User]
) -> None:
    assert _visible_deals(db_session, organisation["vp"]) == {
        "Deal of VP",
        "Deal of M1",
        "Deal of M2",
        "Deal of Rep A",
        "Deal of Rep B",
        "Deal of Rep C",
    }


def test_reporting_line_survives_a_cycle(db_session: Session, organisation: dict[str, User]) -> None:
    vp = organisation["vp"]
    vp.manager_id = organisation["rep_c"].id  # bad data from an import: a loop in the tree
    db_session.flush()
    assert len(_visible_deals(db_session, organisation["m2"])) == 6


@pytest.mark.parametrize("role", ["admin", "executive", "planner", "controller"])
def test_organisation_wide_roles_see_everything(
    db_session: Session, organisation: dict[str, User], role: str
) -> None:
    everything = set(db_session.scalars(select(Opportunity.name)))
    assert len(everything) == 7
    assert _visible_deals(db_session, organisation[role]) == everything


def test_may_see_owner_agrees_with_the_query(db_session: Session, organisation: dict[str, User]) -> None:
    m1 = service.visibility_for(organisation["m1"])
    assert m1.may_see_owner(db_session, organisation["rep_a"].id)
    assert m1.may_see_owner(db_session, organisation["m1"].id)
    assert not m1.may_see_owner(db_session, organisation["rep_c"].id)
    assert not m1.may_see_owner(db_session, organisation["vp"].id)
    assert not m1.may_see_owner(db_session, None)
    rep = service.visibility_for(organisation["rep_b"])
    assert rep.may_see_owner(db_session, organisation["rep_b"].id)
    assert not rep.may_see_owner(db_session, organisation["rep_a"].id)
    assert service.visibility_for(organisation["executive"]).may_see_owner(db_session, None)


def test_visible_users_lists_sellers_in_view(db_session: Session, organisation: dict[str, User]) -> None:
    names = [user.full_name for user in service.visible_users(db_session, viewer=organisation["m1"])]
    assert names == ["M1", "Rep A", "Rep B"]
    everyone = [user.full_name for user in service.visible_users(db_session, viewer=organisation["admin"])]
    assert everyone == ["M1", "M2", "Rep A", "Rep B", "Rep C", "VP"]


def test_require_role(db_session: Session) -> None:
    rep = make_user(db_session, role=Role.REP)
    service.require_role(rep, Role.REP, Role.MANAGER)
    with pytest.raises(PermissionDenied) as caught:
        service.require_role(rep, Role.ADMIN)
    assert caught.value.http_status == 403
