"""Salvirt imports with its attributes mapped onto qualification; the product finds who wins more often.

Imported once per backend through the shipped mapping; the after-import step flags the won deals
whose qualification does not meet Closed Won. Win rates are computed by the product's function
and compared with pandas over the raw CSV.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator

import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bridgehead.crm.models import Opportunity
from bridgehead.deals.models import QualificationEntry, QualificationStatus, StageComplianceFlag
from bridgehead.deals.qualification import parse_field_rules, qualified_win_rates, qualify_from_fields
from tests.connectors.support import MAPPINGS, SALVIRT_FILE, fresh_database, import_mapping

QUALIFICATION_MAPPING = MAPPINGS / "salvirt-qualification.toml"
IS_SALVIRT = Opportunity.external_id.like("salvirt:%")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def salvirt(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A database of each backend with Salvirt imported and its qualification derived."""
    with fresh_database(request.param, tmp_path_factory.mktemp("salvirt")) as engine:
        with Session(engine) as session:
            report = import_mapping(session, SALVIRT_FILE, MAPPINGS / "salvirt-b2b.toml")
            assert report.ok, report.problems[:3]
            framework, rules = parse_field_rules(tomllib.loads(QUALIFICATION_MAPPING.read_text()))
            qualify_from_fields(session, framework_key=framework, rules=rules)
            session.commit()
        yield engine


def test_every_deal_gets_an_entry_per_mapped_attribute(salvirt: Engine) -> None:
    with Session(salvirt) as session:
        per_deal = session.execute(
            select(QualificationEntry.opportunity_id, func.count()).group_by(
                QualificationEntry.opportunity_id
            )
        ).all()
        assert len(per_deal) == 448
        assert {count for _, count in per_deal} == {7}
        evidence = session.scalar(
            select(QualificationEntry.evidence)
            .join(Opportunity, Opportunity.id == QualificationEntry.opportunity_id)
            .where(Opportunity.external_id == "salvirt:2", QualificationEntry.evidence.like("Authority:%"))
        )
        assert evidence == "Authority: Mid"


def test_won_deals_without_closed_won_qualification_were_flagged_on_import(salvirt: Engine) -> None:
    with Session(salvirt) as session:
        flagged = session.scalar(select(func.count(func.distinct(StageComplianceFlag.opportunity_id))))
        won = session.scalar(
            select(func.count()).select_from(Opportunity).where(IS_SALVIRT, Opportunity.is_won)
        )
        lost_flagged = session.scalar(
            select(func.count())
            .select_from(StageComplianceFlag)
            .join(Opportunity, Opportunity.id == StageComplianceFlag.opportunity_id)
            .where(Opportunity.is_won.is_(False))
        )
        # The import ran before any qualification existed: every won deal misses Closed Won's needs.
        assert flagged == won
        assert lost_flagged == 0


def test_validated_economic_buyer_and_no_competitor_win_more_often(salvirt: Engine) -> None:
    with Session(salvirt) as session:
        (won_in, closed_in), (won_out, closed_out) = qualified_win_rates(
            session,
            framework_key="meddpicc",
            requirements={
                "economic_buyer": QualificationStatus.VALIDATED,
                "competition": QualificationStatus.VALIDATED,
            },
            condition=IS_SALVIRT,
        )
    raw = pd.read_csv(SALVIRT_FILE, sep=";")
    raw["won"] = raw["Status"].str.strip() == "Won"
    cohort = (raw["Authority"] == "High") & (raw["Competitors"] == "No")
    assert (won_in, closed_in) == (int(raw[cohort]["won"].sum()), int(cohort.sum()))
    assert (won_out, closed_out) == (int(raw[~cohort]["won"].sum()), int((~cohort).sum()))
    assert won_in / closed_in > won_out / closed_out
