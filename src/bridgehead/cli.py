"""The ``bridgehead`` command: one sub-app per domain, each command its own unit of work."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from bridgehead.config import Settings, get_settings
from bridgehead.connectors.cli import import_app
from bridgehead.connectors.export_cli import export_app
from bridgehead.db import make_engine, make_session_factory, unit_of_work
from bridgehead.deals.cli import deals_app
from bridgehead.errors import BridgeheadError, exit_code_for
from bridgehead.governance.cli import initiatives_app
from bridgehead.intelligence.board.cli import board_command
from bridgehead.intelligence.cli import metrics_command
from bridgehead.intelligence.gaps.cli import gaps_app
from bridgehead.planning.cli import plan_app
from bridgehead.strategy.cli import priorities_app, trace_app
from bridgehead.strategy.segment_cli import segments_app

app = typer.Typer(
    name="bridgehead",
    help="Bridgehead: from sales strategy to live deals.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
users_app = typer.Typer(help="Manage users and their access.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(import_app, name="import", no_args_is_help=True)
app.add_typer(export_app, name="export", no_args_is_help=True)
app.add_typer(initiatives_app, name="initiatives")
app.add_typer(deals_app, name="deals", no_args_is_help=True)
app.command("metrics")(metrics_command)
app.command("board")(board_command)
app.add_typer(priorities_app, name="priorities")
app.add_typer(trace_app, name="trace")
app.add_typer(segments_app, name="segments", no_args_is_help=True)
app.add_typer(gaps_app, name="gaps", no_args_is_help=True)
app.add_typer(plan_app, name="plan", no_args_is_help=True)

console = Console()
error_console = Console(stderr=True)


def _fail(message: str, code: int = 1) -> NoReturn:
    error_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def _clean_failures() -> Iterator[None]:
    """Turn any failure into one line on stderr and a non-zero exit code, never a traceback."""
    try:
        yield
    except typer.Exit:
        raise
    except BridgeheadError as exc:
        details = ", ".join(f"{key}={value}" for key, value in exc.context.items() if value is not None)
        _fail(exc.message + (f" ({details})" if details else ""), exit_code_for(exc))
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        _fail(f"database error: {reason}", 10)
    except SQLAlchemyError as exc:
        _fail(f"database error: {str(exc).splitlines()[0]}", 10)
    except KeyboardInterrupt:
        _fail("interrupted; nothing was committed", 130)
    except OSError as exc:
        _fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), 11)


@contextmanager
def _session(settings: Settings) -> Iterator[Session]:
    """One command, one transaction: committed at the end, rolled back on any failure."""
    _require_schema(settings)
    engine = make_engine(settings)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


def _require_schema(settings: Settings) -> None:
    from bridgehead.migrate import current_revision, head_revision

    engine = make_engine(settings)
    try:
        revision = current_revision(engine)
    finally:
        engine.dispose()
    if revision is None:
        _fail(f"the database at {settings.database_url} is not set up; run 'bridgehead init' first", 12)
    if revision != head_revision():
        _fail(
            f"the database is at revision {revision}, this version needs {head_revision()}; run 'bridgehead init'",
            12,
        )


@app.command()
def init() -> None:
    """Create the database, or upgrade it to this version's schema."""
    from bridgehead.migrate import current_revision, head_revision, upgrade_database

    settings = get_settings()
    with _clean_failures():
        engine = make_engine(settings)
        try:
            before = current_revision(engine)
            upgrade_database(engine)
            after = current_revision(engine)
        finally:
            engine.dispose()
        if before == after:
            console.print(f"Database already at revision {after} (newest: {head_revision()}).")
        else:
            console.print(f"Database {'created' if before is None else 'upgraded'} at revision {after}.")


@app.command()
def demo(
    scale: Annotated[
        float, typer.Option(help="Size relative to the default organisation (10 = ten times larger).")
    ] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same organisation.")] = 7,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing if the database already holds data.")
    ] = False,
) -> None:
    """Load the demo organisation (Meridian Cloud) into an empty database."""
    from bridgehead.demo import database_has_data, load_demo

    settings = get_settings()
    with _clean_failures():
        if if_empty:
            with _session(settings) as session:
                if database_has_data(session):
                    console.print("The database already holds data; demo not loaded.")
                    _print_logins(session)
                    return
        progress = Progress(
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        tasks: dict[str, TaskID] = {}

        def report(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = progress.add_task(step, total=max(total, 1))
            progress.update(tasks[step], completed=done, total=max(total, 1))

        with progress, _session(settings) as session:
            summary = load_demo(session, scale=scale, seed=seed, progress=report)
        table = Table(title="Demo organisation loaded", show_header=True)
        table.add_column("records")
        table.add_column("count", justify="right")
        for label, count in (
            ("org units", summary.org_units),
            ("users", summary.users),
            ("accounts", summary.accounts),
            ("contacts", summary.contacts),
            ("opportunities", summary.opportunities),
            ("stage-history rows", summary.stage_history),
            ("contact roles", summary.contact_roles),
            ("activities", summary.activities),
        ):
            table.add_row(label, f"{count:,}")
        console.print(table)
        with _session(settings) as session:
            _print_logins(session)


def _print_logins(session: Session) -> None:
    from bridgehead.demo import DEMO_PASSWORD, demo_logins

    logins = demo_logins(session)
    if not logins:
        return
    table = Table(title=f"Demo logins (password for all: {DEMO_PASSWORD})")
    table.add_column("role", no_wrap=True)
    table.add_column("e-mail", no_wrap=True)
    table.add_column("who", overflow="fold")
    for login in logins:
        table.add_row(login.role, login.email, f"{login.full_name} — {login.note}")
    console.print(table)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
) -> None:
    """Serve the web app and the API."""
    import uvicorn

    from bridgehead.web.app import create_app, freeze_startup_objects

    settings = get_settings()
    with _clean_failures():
        _require_schema(settings)
        console.print(f"Bridgehead on http://{host}:{port}  (database: {settings.database_url})")
        app = create_app(settings)
        freeze_startup_objects()
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)


@users_app.command("add")
def users_add(
    email: Annotated[str, typer.Argument(help="Sign-in e-mail.")],
    full_name: Annotated[str, typer.Option("--name", help="Full name.")],
    role: Annotated[str, typer.Option(help="admin, executive, planner, manager, rep or controller.")],
    password: Annotated[
        str | None, typer.Option(help="Password (prompted when omitted and a terminal is attached).")
    ] = None,
    manager: Annotated[str | None, typer.Option(help="E-mail of the user's manager.")] = None,
) -> None:
    """Add a user who can sign in."""
    from bridgehead.auth.service import check_role, create_user, get_user_by_email

    settings = get_settings()
    with _clean_failures():
        checked_role = check_role(role)
        secret = password if password is not None else _ask_password()
        with _session(settings) as session:
            manager_user = get_user_by_email(session, manager) if manager else None
            user = create_user(
                session,
                email=email,
                full_name=full_name,
                role=checked_role,
                password=secret,
                manager_id=manager_user.id if manager_user else None,
                org_unit_id=manager_user.org_unit_id if manager_user else None,
            )
            console.print(f"Added {user.full_name} <{user.email}> as {user.role.value} (id {user.id}).")


def _ask_password() -> str:
    if not sys.stdin.isatty():
        _fail("no password given: pass --password or run in a terminal", 2)
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@users_app.command("list")
def users_list(
    role: Annotated[str | None, typer.Option(help="Only users with this role.")] = None,
) -> None:
    """List users with their role and manager."""
    from bridgehead.auth.service import check_role, list_users

    settings = get_settings()
    with _clean_failures(), _session(settings) as session:
        users = list_users(session, role=check_role(role) if role else None)
        names = {user.id: user.full_name for user in users}
        table = Table(title=f"{len(users)} users")
        for column in ("id", "e-mail", "name", "role", "manager", "can sign in"):
            table.add_column(column, justify="right" if column == "id" else "left")
        for user in users:
            table.add_row(
                str(user.id),
                user.email,
                user.full_name,
                user.role.value,
                names.get(user.manager_id, "") if user.manager_id else "",
                "yes" if user.password_hash and user.is_active else "no",
            )
        console.print(table)


@users_app.command("set-password")
def users_set_password(
    email: Annotated[str, typer.Argument(help="The user's e-mail.")],
    password: Annotated[str | None, typer.Option(help="New password (prompted when omitted).")] = None,
) -> None:
    """Set a user's password; their open sessions end."""
    from bridgehead.auth.service import get_user_by_email, set_password

    settings = get_settings()
    with _clean_failures():
        secret = password if password is not None else _ask_password()
        with _session(settings) as session:
            user = get_user_by_email(session, email)
            set_password(session, user=user, password=secret)
            console.print(f"Password of {user.email} changed; their sessions were ended.")


@users_app.command("token")
def users_token(
    email: Annotated[str, typer.Argument(help="The user the token acts as.")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
    expires_in_days: Annotated[
        int | None, typer.Option(help="Days until it expires (default: never).")
    ] = None,
) -> None:
    """Issue a personal API token and print it once."""
    from bridgehead.auth.service import create_api_token, get_user_by_email

    settings = get_settings()
    with _clean_failures(), _session(settings) as session:
        user = get_user_by_email(session, email)
        issued = create_api_token(session, user=user, name=name, expires_in_days=expires_in_days)
        console.print(issued.secret, highlight=False, soft_wrap=True)


def main() -> None:
    """Entry point of the ``bridgehead`` console script."""
    app()
