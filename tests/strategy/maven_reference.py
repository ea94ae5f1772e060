"""An independent reading of the Maven accounts with pandas, to check segment and ICP results against.

It reads the raw CSV itself (not through Bridgehead) and applies the two source fixes the Maven
mapping declares (a misspelt sector, a misspelt country), so both sides start from the same facts.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
from sqlalchemy.orm import Session

from bridgehead.connectors.engine import ImportReport
from tests.connectors.support import MAPPINGS, MAVEN_DIR, import_mapping

MAVEN_MAPPING = MAPPINGS / "maven-crm.toml"


def maven_accounts(directory: Path = MAVEN_DIR) -> pd.DataFrame:
    """The accounts CSV with the mapping's fixes, revenue in dollars as Decimal, names as the index."""
    frame = pd.read_csv(directory / "accounts.csv", dtype={"year_established": "Int64"})
    frame["sector"] = frame["sector"].replace({"technolgy": "technology"})
    frame["office_location"] = frame["office_location"].replace({"Philipines": "Philippines"})
    # Published in USD millions; Decimal keeps the cents the database keeps.
    frame["revenue_dollars"] = frame["revenue"].map(lambda value: Decimal(str(value)) * 1_000_000)
    return frame.set_index("account", drop=False)


def import_maven(session: Session, directory: Path = MAVEN_DIR) -> ImportReport:
    """Import the Maven CRM files through the example mapping, as the command-line operator."""
    report = import_mapping(session, directory, MAVEN_MAPPING)
    assert report.status == "committed", report.problems[:3]
    return report
