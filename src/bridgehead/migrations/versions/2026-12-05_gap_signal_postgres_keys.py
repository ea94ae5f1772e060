"""Gap scan (issue 7): on PostgreSQL, gap_signal's foreign keys become triggers on the tables they named.

A first full scan wrote 1.4 million signals at 1,000,000 deals with the signal table's five
foreign keys set aside, and added them back afterwards (2.2-2.3 s of checking). Setting a key
aside drops its triggers on the referenced table, and dropping a trigger locks that table against
readers: until the scan committed (10-13 s at that size), every request that read a deal, an
account or a user (signing in included) waited. With the keys in place instead, every inserted
signal would queue five checks (about 1 us each, NULL or not).

Signals are derived data, written only by the scan (INSERT ... SELECT from the deals, accounts
and owners it reads) and by people acknowledging or snoozing them. As on SQLite since migration
0016, the ON DELETE actions are now triggers, here statement-level ones over each statement's
deleted rows: a deleted deal or account takes its signals along; a deleted user leaves the
signals without an owner, acknowledger or snoozer. TRUNCATE does the same (a key used to refuse
it). SQLite is unchanged: its acknowledger and snoozer keys stay, and are cheap there.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 23:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEYS = {
    "fk_gap_signal_opportunity_id_opportunity": (
        "FOREIGN KEY (opportunity_id) REFERENCES opportunity (id) ON DELETE CASCADE"
    ),
    "fk_gap_signal_account_id_account": "FOREIGN KEY (account_id) REFERENCES account (id) ON DELETE CASCADE",
    "fk_gap_signal_owner_id_user": 'FOREIGN KEY (owner_id) REFERENCES "user" (id) ON DELETE SET NULL',
    "fk_gap_signal_acknowledged_by_id_user": (
        'FOREIGN KEY (acknowledged_by_id) REFERENCES "user" (id) ON DELETE SET NULL'
    ),
    "fk_gap_signal_snoozed_by_id_user": 'FOREIGN KEY (snoozed_by_id) REFERENCES "user" (id) ON DELETE SET NULL',
}
_PEOPLE = ("owner_id", "acknowledged_by_id", "snoozed_by_id")


def _unset_people(gone: str) -> str:
    """One UPDATE clearing every reference to the users in ``gone`` (a subquery of ids)."""
    sets = ", ".join(
        f"{column} = CASE WHEN {column} IN ({gone}) THEN NULL ELSE {column} END" for column in _PEOPLE
    )
    where = " OR ".join(f"{column} IN ({gone})" for column in _PEOPLE)
    return f"UPDATE gap_signal SET {sets} WHERE {where}"  # noqa: S608


# name: (trigger timing and table, function body)
_TRIGGERS = {
    "gap_signal_opportunity_deleted": (
        "AFTER DELETE ON opportunity REFERENCING OLD TABLE AS deleted_rows FOR EACH STATEMENT",
        "DELETE FROM gap_signal WHERE opportunity_id IN (SELECT id FROM deleted_rows)",
    ),
    "gap_signal_opportunity_truncated": (
        "AFTER TRUNCATE ON opportunity FOR EACH STATEMENT",
        "DELETE FROM gap_signal WHERE opportunity_id IS NOT NULL",
    ),
    "gap_signal_account_deleted": (
        "AFTER DELETE ON account REFERENCING OLD TABLE AS deleted_rows FOR EACH STATEMENT",
        "DELETE FROM gap_signal WHERE account_id IN (SELECT id FROM deleted_rows)",
    ),
    "gap_signal_account_truncated": (
        "AFTER TRUNCATE ON account FOR EACH STATEMENT",
        "DELETE FROM gap_signal WHERE account_id IS NOT NULL",
    ),
    "gap_signal_user_deleted": (
        'AFTER DELETE ON "user" REFERENCING OLD TABLE AS deleted_rows FOR EACH STATEMENT',
        _unset_people("SELECT id FROM deleted_rows"),
    ),
    "gap_signal_user_truncated": (
        'AFTER TRUNCATE ON "user" FOR EACH STATEMENT',
        "UPDATE gap_signal SET owner_id = NULL, acknowledged_by_id = NULL, snoozed_by_id = NULL "
        "WHERE owner_id IS NOT NULL OR acknowledged_by_id IS NOT NULL OR snoozed_by_id IS NOT NULL",
    ),
}


def upgrade() -> None:
    """PostgreSQL: drop the five keys, create the triggers doing their ON DELETE actions."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE gap_signal " + ", ".join(f"DROP CONSTRAINT IF EXISTS {name}" for name in _KEYS))
    for name, (timing, body) in _TRIGGERS.items():
        op.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body}; RETURN NULL; END $$"
        )
        op.execute(f"CREATE TRIGGER {name} {timing} EXECUTE FUNCTION {name}()")


def downgrade() -> None:
    """PostgreSQL: drop the triggers, clear what no key would allow, and add the keys back."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, (timing, _body) in _TRIGGERS.items():
        table = timing.split(" ON ", 1)[1].split(" ", 1)[0]
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    # A signal written while a deal or account was being deleted in another transaction can
    # outlive it without a key; the keys would refuse such rows. NOT EXISTS, not NOT IN: a
    # million ids do not fit a hashed NOT IN's work memory, and its fallback compares every pair.
    for column, table in (("opportunity_id", "opportunity"), ("account_id", "account")):
        op.execute(
            f"DELETE FROM gap_signal s WHERE s.{column} IS NOT NULL "  # noqa: S608
            f"AND NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id = s.{column})"
        )
    for column in _PEOPLE:
        op.execute(
            f"UPDATE gap_signal s SET {column} = NULL WHERE s.{column} IS NOT NULL "  # noqa: S608
            f'AND NOT EXISTS (SELECT 1 FROM "user" u WHERE u.id = s.{column})'
        )
    op.execute(
        "ALTER TABLE gap_signal " + ", ".join(f"ADD CONSTRAINT {name} {key}" for name, key in _KEYS.items())
    )
