"""``bridgehead deals …``: derive qualification from imported fields, check stage compliance."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bridgehead.config import get_settings

deals_app = typer.Typer(help="Deal execution: qualification and stage compliance.", no_args_is_help=True)
console = Console()


@deals_app.command("qualify-from-fields")
def qualify_from_fields_command(
    mapping: Annotated[
        Path, typer.Option(help="TOML mapping of custom fields onto qualification dimensions")
    ],
) -> None:
    """Set qualification of imported deals from their custom fields (manual entries are kept)."""
    from bridgehead.cli import _clean_failures, _session
    from bridgehead.deals.qualification import parse_field_rules, qualify_from_fields
    from bridgehead.errors import ValidationFailed

    with _clean_failures():
        try:
            raw = tomllib.loads(mapping.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ValidationFailed(
                f"the mapping is not valid TOML: {exc}", field="mapping", value=str(mapping)
            ) from None
        framework, rules = parse_field_rules(raw)
        with _session(get_settings()) as session:
            written = qualify_from_fields(session, framework_key=framework, rules=rules)
        console.print(f"{written:,} qualification entries derived from {len(rules)} field rule(s)")


@deals_app.command("check-stages")
def check_stages_command() -> None:
    """Flag every deal whose stage's requirements are unmet (as after an import), and print the count."""
    from bridgehead.cli import _clean_failures, _session
    from bridgehead.deals.compliance import check_stage_compliance

    with _clean_failures(), _session(get_settings()) as session:
        flags = check_stage_compliance(session)
        console.print(f"{flags:,} stage-compliance flags")
