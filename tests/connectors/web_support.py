"""Helpers for the import pages and API tests: small files, hostile archives, a planner's world."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridgehead.auth.models import Role, User
from bridgehead.connectors.models import ImportRun
from bridgehead.crm.models import Account, Opportunity
from tests.factories import make_account, make_user

# Semicolon-separated, as European spreadsheets save it; line 4 has an amount that is not a number.
DEALS_CSV = (
    b"Deal ID;Deal Name;Company;Deal Stage;Amount;Close Date;Owner\r\n"
    b"D-1;Globex renewal;ACC-GLOBEX;Proposal;12000;2026-03-31;U-RITA\r\n"
    b"D-2;Globex pilot;ACC-GLOBEX;Discovery;5000;2026-04-30;U-RITA\r\n"
    b"D-3;Broken deal;ACC-GLOBEX;Proposal;abc;2026-05-31;U-RITA\r\n"
)
GOOD_DEALS_CSV = b"\r\n".join(DEALS_CSV.split(b"\r\n")[:3]) + b"\r\n"
DEALS_MAPPING = b"""
name = "deals"
[[files]]
path = "deals.csv"
entity = "opportunity"
[files.fields]
id = "Deal ID"
name = "Deal Name"
account = "Company"
stage = "Deal Stage"
amount = "Amount"
close_date = "Close Date"
owner = "Owner"
"""
# The mapping form's choices the suggestions should produce for DEALS_CSV.
SUGGESTED = {
    "id": "Deal ID",
    "name": "Deal Name",
    "account": "Company",
    "stage": "Deal Stage",
    "amount": "Amount",
    "close_date": "Close Date",
    "owner": "Owner",
}


@dataclass
class World:
    """A planner who may import, a rep who may not, and the records the deals file refers to."""

    planner: User
    rep: User
    account: Account


def make_world(db_session: Session) -> World:
    """The planner, the rep (Salesforce-style external id U-RITA) and the account ACC-GLOBEX."""
    planner = make_user(db_session, full_name="Pia Planner", role=Role.PLANNER)
    rep = make_user(db_session, full_name="Rita Rep", external_id="U-RITA")
    account = make_account(db_session, name="Globex", external_id="ACC-GLOBEX", owner_id=rep.id)
    return World(planner=planner, rep=rep, account=account)


def use_upload_root(app: FastAPI, tmp_path: Path) -> Path:
    """Send the app's uploads to a folder of this test's own."""
    root = tmp_path / "uploads"
    app.state.import_root = root
    return root


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    """A zip archive holding ``entries`` (names written exactly as given)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(zipfile.ZipInfo(name), content, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def traversal_zip() -> bytes:
    """An archive whose entry would be written outside the upload folder."""
    return zip_bytes({"Account.csv": b"Id,Name\r\n001,Acme\r\n", "../x.csv": b"Id\r\n1\r\n"})


def bomb_zip() -> bytes:
    """A few kilobytes that expand to 20 MB."""
    return zip_bytes({"Opportunity.csv": b"Id,Name\r\n" + b"0" * (20 * 1024 * 1024)})


def opportunity_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Opportunity)) or 0


def run_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ImportRun)) or 0


def leftover_uploads(root: Path) -> list[Path]:
    """Upload folders still on disk."""
    return list(root.iterdir()) if root.exists() else []
