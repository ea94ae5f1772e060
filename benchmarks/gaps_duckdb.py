"""The gap detectors written by hand in DuckDB SQL, over Parquet exports of the benchmark's rows.

The counterpart ``bench_gaps.py`` times against ``bridgehead``'s scan: the same twelve detectors
(the same conditions, thresholds, subject keys and evidence) over the same rows,
exported to Parquet, with the signals written into a DuckDB database file. The playbook (process
stages, qualification dimensions, rule thresholds) is configuration, read from the database the
product scanned and handed over as JSON.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bridgehead.deals.process import REQUIRED_FIELD_LABELS

CONFIG = "playbook.json"


def write_parquet(directory: Path, tables: dict[str, dict[str, np.ndarray]]) -> None:
    """The rows the detectors read, typed (dates and timestamps), plus the deal tables the benchmark leaves empty."""
    from bench_metrics import DIRECTIONS, EPOCH, PRODUCTS, STAGES

    directory.mkdir(parents=True, exist_ok=True)
    o, h, a = tables["opportunity"], tables["history"], tables["activity"]
    day0 = np.datetime64("2024-01-01")
    n = len(o["id"])
    no_text = pa.nulls(n, pa.string())
    pq.write_table(
        pa.table(
            {
                "id": o["id"],
                "account_id": o["account_id"],
                "owner_id": o["owner_id"],
                "amount": o["amount"],
                "stage": np.array(STAGES)[o["stage"]],
                "type": no_text,
                "close_date": day0 + o["close_day"].astype("timedelta64[D]"),
                "created_at": EPOCH + o["created_s"].astype("timedelta64[s]"),
                "is_closed": o["is_closed"],
                "is_won": o["is_won"],
                "product": PRODUCTS[o["product"]],
                "primary_competitor": no_text,
                "lead_source": no_text,
            }
        ),
        directory / "opportunity.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "id": h["id"],
                "opportunity_id": h["opportunity_id"],
                "changed_at": EPOCH + h["changed_s"].astype("timedelta64[s]"),
                "close_date": day0 + h["close_day"].astype("timedelta64[D]"),
            }
        ),
        directory / "history.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "id": a["id"],
                "opportunity_id": a["opportunity_id"],
                "account_id": a["account_id"],
                "contact_id": pa.nulls(len(a["id"]), pa.int64()),
                "direction": DIRECTIONS[a["direction"]],
                "occurred_at": EPOCH + a["occurred_s"].astype("timedelta64[s]"),
            }
        ),
        directory / "activity.parquet",
    )
    accounts = tables["account"]["id"]
    pq.write_table(
        pa.table({"id": accounts, "owner_id": pa.nulls(len(accounts), pa.int64())}),
        directory / "account.parquet",
    )
    empty = {
        "stakeholder": {"opportunity_id": pa.int64(), "contact_id": pa.int64(), "role": pa.string()},
        "qualification_entry": {
            "opportunity_id": pa.int64(),
            "dimension_id": pa.int64(),
            "status": pa.string(),
        },
        "action_plan": {"id": pa.int64(), "opportunity_id": pa.int64()},
        "action_step": {"plan_id": pa.int64(), "due_date": pa.date32(), "completed_at": pa.timestamp("s")},
        "handoff": {"opportunity_id": pa.int64(), "status": pa.string()},
        "segment": {"id": pa.int64(), "name": pa.string(), "stance": pa.string(), "is_active": pa.bool_()},
        "segment_member": {"segment_id": pa.int64(), "account_id": pa.int64()},
    }
    for name, columns in empty.items():
        pq.write_table(pa.schema(columns).empty_table(), directory / f"{name}.parquet")


def export_playbook(url: str, directory: Path) -> None:
    """The shipped processes, dimensions and rule thresholds the product's scan used, as JSON."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as connection:

        def rows(sql: str) -> list[dict[str, Any]]:
            return [dict(row._mapping) for row in connection.execute(text(sql))]

        playbook = {
            "processes": rows("SELECT id, opportunity_types, is_default, framework_id FROM sales_process"),
            "stages": rows(
                "SELECT id, process_id, position, name, crm_stage_names, probability, is_closed, is_won,"
                " min_engaged_stakeholders, requires_economic_buyer, required_dimensions, minimum_status,"
                " required_fields FROM process_stage"
            ),
            "dimensions": rows("SELECT id, framework_id, key, name, position FROM qualification_dimension"),
            "rules": rows("SELECT kind, enabled, severity, thresholds FROM gap_rule"),
        }
    engine.dispose()
    for table in playbook.values():
        for row in table:
            for key, value in row.items():
                if isinstance(value, str) and value[:1] in "[{":
                    row[key] = json.loads(value)
    (directory / CONFIG).write_text(json.dumps(playbook, default=str))


# The words a rep reads for a required field: the product's own table (data, not detector logic).
FIELD_LABELS = REQUIRED_FIELD_LABELS
RANK = {"unknown": 0, "identified": 1, "validated": 2}


def _playbook_tables(connection: Any, playbook: dict[str, Any]) -> None:
    """Small tables of the configuration: stage names, requirements, process types."""
    processes = playbook["processes"]
    default = next(p["id"] for p in sorted(processes, key=lambda p: p["id"]) if p["is_default"])
    types = [
        (p["id"], kind.strip().lower())
        for p in processes
        if not p["is_default"]
        for kind in p["opportunity_types"]
        if kind.strip()
    ]
    connection.execute("CREATE TEMP TABLE process_type (process_id BIGINT, type VARCHAR)")
    if types:
        connection.executemany("INSERT INTO process_type VALUES (?, ?)", types)
    connection.execute(
        "CREATE TEMP TABLE stage (id BIGINT, process_id BIGINT, position INT, name VARCHAR, probability INT,"
        " is_closed BOOLEAN, is_won BOOLEAN, min_engaged INT, requires_eb BOOLEAN, minimum_status VARCHAR)"
    )
    connection.execute(
        "CREATE TEMP TABLE stage_name (process_id BIGINT, position INT, stage_id BIGINT, name VARCHAR)"
    )
    connection.execute(
        "CREATE TEMP TABLE requirement (stage_id BIGINT, kind VARCHAR, position INT, dimension_id BIGINT,"
        " field VARCHAR, label VARCHAR, minimum_rank INT, required_count INT)"
    )
    framework_of = {p["id"]: p["framework_id"] for p in processes}
    dimensions = {(d["framework_id"], d["key"]): d for d in playbook["dimensions"]}
    for s in playbook["stages"]:
        connection.execute(
            "INSERT INTO stage VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                s["id"],
                s["process_id"],
                s["position"],
                s["name"],
                s["probability"],
                bool(s["is_closed"]),
                bool(s["is_won"]),
                s["min_engaged_stakeholders"],
                bool(s["requires_economic_buyer"]),
                s["minimum_status"],
            ],
        )
        if s["is_closed"] and not s["is_won"]:
            continue
        names = {s["name"].strip().lower()} | {n.strip().lower() for n in s["crm_stage_names"]}
        connection.executemany(
            "INSERT INTO stage_name VALUES (?, ?, ?, ?)",
            [(s["process_id"], s["position"], s["id"], name) for name in sorted(names)],
        )
        if s["is_closed"]:
            continue
        framework = framework_of[s["process_id"]]
        required = [
            dimensions[(framework, k)] for k in s["required_dimensions"] if (framework, k) in dimensions
        ]
        for position, d in enumerate(required):
            connection.execute(
                "INSERT INTO requirement VALUES (?, 'dimension', ?, ?, NULL, ?, ?, ?)",
                [s["id"], position, d["id"], d["name"], RANK[s["minimum_status"]], len(required)],
            )
        fields = [f for f in s["required_fields"] if f in FIELD_LABELS]
        for position, f in enumerate(fields):
            connection.execute(
                "INSERT INTO requirement VALUES (?, 'field', ?, NULL, ?, ?, NULL, ?)",
                [s["id"], position, f, FIELD_LABELS.get(f, f), len(fields)],
            )
    connection.execute(f"CREATE TEMP TABLE default_process AS SELECT {int(default)} AS id")


DETECTORS_SQL = """
CREATE TEMP TABLE deal_stage AS
WITH o AS (
  SELECT id, lower(trim(coalesce(type, ''))) AS deal_type, lower(trim(stage)) AS stage_name
  FROM opp WHERE NOT is_closed OR is_won
), p AS (
  SELECT o.id, o.stage_name, coalesce(pt.process_id, (SELECT id FROM default_process)) AS process_id
  FROM o LEFT JOIN (SELECT type, min(process_id) AS process_id FROM process_type GROUP BY type) pt
    ON pt.type = o.deal_type
)
SELECT p.id AS opportunity_id, arg_min(n.stage_id, n.position) AS stage_id
FROM p JOIN stage_name n ON n.process_id = p.process_id AND n.name = p.stage_name GROUP BY p.id;

CREATE TEMP TABLE staged AS
SELECT o.id, o.account_id, o.owner_id, o.amount, o.close_date, o.product, o.primary_competitor,
       o.lead_source, o.type, s.id AS stage_id, s.name AS stage, s.probability, s.min_engaged,
       s.requires_eb, s.minimum_status
FROM deal_stage d JOIN opp o ON o.id = d.opportunity_id JOIN stage s ON s.id = d.stage_id
WHERE NOT o.is_closed AND NOT s.is_closed;

CREATE TEMP TABLE engaged_person AS
SELECT st.opportunity_id, st.role FROM stakeholder st
WHERE st.contact_id IN (SELECT contact_id FROM act WHERE occurred_at >= TIMESTAMP '{window_start}');

CREATE TABLE signal AS
WITH single_threaded AS (
  SELECT d.*, coalesce(e.engaged, 0) AS engaged
  FROM staged d LEFT JOIN (SELECT opportunity_id, count(*) AS engaged FROM engaged_person GROUP BY 1) e
    ON e.opportunity_id = d.id
  WHERE d.min_engaged > 0 AND coalesce(e.engaged, 0) < d.min_engaged
), no_economic_buyer AS (
  SELECT d.*, d.id IN (SELECT opportunity_id FROM stakeholder WHERE role = 'economic_buyer') AS on_map
  FROM staged d
  WHERE d.requires_eb AND d.id NOT IN (SELECT opportunity_id FROM engaged_person WHERE role = 'economic_buyer')
), inbound AS (
  SELECT i.opportunity_id, i.occurred_at FROM act i
  WHERE i.direction = 'inbound' AND i.opportunity_id IS NOT NULL
    AND i.occurred_at >= TIMESTAMP '{follow_up_since}' AND i.occurred_at <= TIMESTAMP '{now}'
), last_outbound AS (
  SELECT opportunity_id, max(occurred_at) AS answered_until FROM act
  WHERE direction = 'outbound' AND opportunity_id IN (SELECT opportunity_id FROM inbound) GROUP BY 1
), slow_follow_up AS (
  SELECT o.id, o.account_id, o.owner_id, o.amount, u.first_at, u.unanswered
  FROM (
    SELECT i.opportunity_id, min(i.occurred_at) AS first_at, count(*) AS unanswered
    FROM inbound i LEFT JOIN last_outbound a USING (opportunity_id)
    WHERE a.answered_until IS NULL OR a.answered_until < i.occurred_at GROUP BY 1
  ) u JOIN opp o ON o.id = u.opportunity_id
  WHERE NOT o.is_closed AND u.first_at < TIMESTAMP '{follow_up_due}'
), stale_deal AS (
  SELECT o.id, o.account_id, o.owner_id, o.amount, l.last_at, coalesce(l.last_at, o.created_at) AS idle_since
  FROM opp o LEFT JOIN (
    SELECT opportunity_id, max(occurred_at) AS last_at FROM act WHERE occurred_at <= TIMESTAMP '{now}' GROUP BY 1
  ) l ON l.opportunity_id = o.id
  WHERE NOT o.is_closed AND o.created_at < TIMESTAMP '{stale_before}'
    AND coalesce(l.last_at, o.created_at) < TIMESTAMP '{stale_before}'
), qualification_incomplete AS (
  SELECT d.*, u.missing_count, u.required_count, u.missing FROM staged d JOIN (
    SELECT d.id, count(*) AS missing_count, max(r.required_count) AS required_count,
           string_agg(r.label, ', ' ORDER BY r.position) AS missing
    FROM staged d JOIN requirement r ON r.stage_id = d.stage_id AND r.kind = 'dimension'
    WHERE NOT EXISTS (
      SELECT 1 FROM qualification_entry q WHERE q.opportunity_id = d.id AND q.dimension_id = r.dimension_id
        AND CASE q.status WHEN 'identified' THEN 1 WHEN 'validated' THEN 2 ELSE 0 END >= r.minimum_rank)
    GROUP BY d.id
  ) u ON u.id = d.id
), close_date_pushed AS (
  SELECT o.id, o.account_id, o.owner_id, o.amount, o.close_date, p.pushes, p.first FROM (
    SELECT opportunity_id, count(*) AS pushes, min(first) AS first FROM (
      SELECT h.opportunity_id, h.close_date,
             lag(h.close_date) OVER (PARTITION BY h.opportunity_id ORDER BY h.changed_at, h.id) AS previous,
             first_value(h.close_date) OVER (PARTITION BY h.opportunity_id ORDER BY h.changed_at, h.id) AS first
      FROM hist h SEMI JOIN opp o ON o.id = h.opportunity_id AND NOT o.is_closed
    ) WHERE close_date > previous GROUP BY 1 HAVING count(*) >= {min_pushes}
  ) p JOIN opp o ON o.id = p.opportunity_id
), close_date_past AS (
  SELECT id, account_id, owner_id, amount, close_date
  FROM opp WHERE NOT is_closed AND close_date < DATE '{past_before}'
), missing_fields AS (
  SELECT d.*, u.missing_count, u.missing FROM staged d JOIN (
    SELECT d.id, count(*) AS missing_count, string_agg(r.label, ', ' ORDER BY r.position) AS missing
    FROM staged d JOIN requirement r ON r.stage_id = d.stage_id AND r.kind = 'field'
    WHERE CASE r.field WHEN 'amount' THEN d.amount IS NULL WHEN 'close_date' THEN d.close_date IS NULL
      WHEN 'product' THEN d.product IS NULL WHEN 'primary_competitor' THEN d.primary_competitor IS NULL
      WHEN 'account_id' THEN d.account_id IS NULL WHEN 'type' THEN d.type IS NULL
      WHEN 'lead_source' THEN d.lead_source IS NULL ELSE false END
    GROUP BY d.id
  ) u ON u.id = d.id
), deprioritised AS (
  SELECT m.account_id, min(s.name) AS segment FROM segment_member m JOIN segment s ON s.id = m.segment_id
  WHERE s.stance = 'deprioritise' AND s.is_active GROUP BY 1
), off_strategy_deals AS (
  SELECT o.id, o.account_id, o.owner_id, o.amount, p.segment
  FROM opp o JOIN deprioritised p ON p.account_id = o.account_id WHERE NOT o.is_closed
), off_strategy_accounts AS (
  SELECT a.id, a.owner_id, p.segment, r.activities FROM account a
  JOIN (SELECT account_id, count(*) AS activities FROM act
        WHERE occurred_at >= TIMESTAMP '{activity_since}' AND occurred_at <= TIMESTAMP '{now}'
          AND account_id IS NOT NULL GROUP BY 1 HAVING count(*) >= {min_activities}) r ON r.account_id = a.id
  JOIN deprioritised p ON p.account_id = a.id
  WHERE a.id NOT IN (SELECT account_id FROM opp WHERE NOT is_closed AND account_id IS NOT NULL)
), no_action_plan AS (
  SELECT d.* FROM staged d WHERE d.probability >= {nap_late}
    AND d.id NOT IN (SELECT opportunity_id FROM action_plan)
), action_plan_overdue AS (
  SELECT d.*, s.overdue, s.oldest_due FROM staged d JOIN (
    SELECT p.opportunity_id, count(*) AS overdue, min(s.due_date) AS oldest_due
    FROM action_step s JOIN action_plan p ON p.id = s.plan_id
    WHERE s.completed_at IS NULL AND s.due_date < DATE '{overdue_before}' GROUP BY 1
  ) s ON s.opportunity_id = d.id WHERE d.probability >= {apo_late}
), handoff_not_accepted AS (
  SELECT o.id, o.account_id, o.owner_id, o.amount, o.close_date AS won_on, h.status AS handoff
  FROM opp o LEFT JOIN handoff h ON h.opportunity_id = o.id
  WHERE o.is_won AND o.close_date <= DATE '{handoff_newest}' AND o.close_date >= DATE '{handoff_oldest}'
    AND (h.status IS NULL OR h.status <> 'accepted')
), hits AS (
  SELECT 'single_threaded' AS kind, id, account_id, owner_id, amount,
    json_object('engaged', engaged, 'stage', stage, 'stage_requires', min_engaged, 'segment', NULL,
      'segment_requires', NULL, 'required', min_engaged, 'window_days', {window_days}) AS evidence
  FROM single_threaded
  UNION ALL
  SELECT 'no_economic_buyer', id, account_id, owner_id, amount,
    json_object('stage', stage, 'economic_buyer_on_map', on_map, 'window_days', {window_days})
  FROM no_economic_buyer
  UNION ALL
  SELECT 'slow_follow_up', id, account_id, owner_id, amount,
    json_object('unanswered', unanswered, 'first_inbound_at', CAST(first_at AS VARCHAR),
      'follow_up_hours', {follow_up_hours})
  FROM slow_follow_up
  UNION ALL
  SELECT 'stale_deal', id, account_id, owner_id, amount,
    json_object('last_activity_at', last_at, 'idle_since', idle_since, 'stale_days', {stale_days})
  FROM stale_deal
  UNION ALL
  SELECT 'qualification_incomplete', id, account_id, owner_id, amount,
    json_object('stage', stage, 'minimum_status', minimum_status, 'missing', missing,
      'missing_count', missing_count, 'required_count', required_count)
  FROM qualification_incomplete
  UNION ALL
  SELECT 'close_date_pushed', id, account_id, owner_id, amount,
    json_object('pushes', pushes, 'first_close_date', first, 'close_date', close_date, 'min_pushes', {min_pushes})
  FROM close_date_pushed
  UNION ALL
  SELECT 'close_date_past', id, account_id, owner_id, amount,
    json_object('close_date', close_date)
  FROM close_date_past
  UNION ALL
  SELECT 'missing_fields', id, account_id, owner_id, amount,
    json_object('stage', stage, 'missing', missing, 'missing_count', missing_count)
  FROM missing_fields
  UNION ALL
  SELECT 'off_strategy', id, account_id, owner_id, amount,
    json_object('segment', segment, 'subject', 'opportunity')
  FROM off_strategy_deals
  UNION ALL
  SELECT 'no_action_plan', id, account_id, owner_id, amount,
    json_object('stage', stage, 'late_stage_probability', {nap_late})
  FROM no_action_plan
  UNION ALL
  SELECT 'action_plan_overdue', id, account_id, owner_id, amount,
    json_object('stage', stage, 'overdue_steps', overdue, 'oldest_due_date', oldest_due)
  FROM action_plan_overdue
  UNION ALL
  SELECT 'handoff_not_accepted', id, account_id, owner_id, amount,
    json_object('won_on', won_on, 'handoff_status', coalesce(handoff, 'none'))
  FROM handoff_not_accepted
)
SELECT kind, severity, 'opportunity:' || id AS subject_key, id AS opportunity_id, NULL::BIGINT AS account_id, owner_id,
       coalesce(amount, 0) AS amount_at_risk, evidence,
       TIMESTAMP '{now}' AS raised_at, TIMESTAMP '{now}' AS last_seen_at
FROM hits JOIN severity USING (kind)
UNION ALL
SELECT 'off_strategy', severity, 'account:' || id, NULL, id, owner_id, 0,
  json_object('segment', segment, 'activities', activities, 'activity_days', {activity_days},
    'subject', 'account'),
  TIMESTAMP '{now}', TIMESTAMP '{now}'
FROM off_strategy_accounts JOIN severity ON severity.kind = 'off_strategy';
"""


def measure(directory: str, now: dt.datetime, output: str) -> dict[str, Any]:
    """Run the hand-written detectors; signals written into the DuckDB file ``output``."""
    import time

    import duckdb

    start = time.perf_counter()
    source = Path(directory)
    playbook = json.loads((source / CONFIG).read_text())
    rules = {rule["kind"]: rule for rule in playbook["rules"]}

    def number(kind: str, key: str, default: int) -> int:
        return int((rules[kind]["thresholds"] or {}).get(key, default))

    connection = duckdb.connect(output)
    for view, file in (
        ("opp", "opportunity"),
        ("hist", "history"),
        ("act", "activity"),
        ("account", "account"),
        ("stakeholder", "stakeholder"),
        ("qualification_entry", "qualification_entry"),
        ("action_plan", "action_plan"),
        ("action_step", "action_step"),
        ("handoff", "handoff"),
        ("segment", "segment"),
        ("segment_member", "segment_member"),
    ):
        connection.execute(f"CREATE TEMP VIEW {view} AS SELECT * FROM '{source / file}.parquet'")  # noqa: S608
    _playbook_tables(connection, playbook)
    connection.execute("CREATE TEMP TABLE severity (kind VARCHAR, severity VARCHAR)")
    connection.executemany(
        "INSERT INTO severity VALUES (?, ?)", [(k, r["severity"]) for k, r in rules.items() if r["enabled"]]
    )
    naive = now.replace(tzinfo=None)
    today = naive.date()
    day = dt.timedelta(days=1)
    params = {
        "now": naive,
        "today": today,
        "window_days": 90,
        "window_start": naive - 90 * day,
        "follow_up_hours": number("slow_follow_up", "follow_up_hours", 24),
        "follow_up_since": naive - number("slow_follow_up", "lookback_days", 30) * day,
        "follow_up_due": naive - dt.timedelta(hours=number("slow_follow_up", "follow_up_hours", 24)),
        "stale_days": number("stale_deal", "stale_days", 21),
        "stale_before": naive - number("stale_deal", "stale_days", 21) * day,
        "min_pushes": number("close_date_pushed", "min_pushes", 2),
        "past_before": today - number("close_date_past", "grace_days", 0) * day,
        "activity_days": number("off_strategy", "activity_days", 30),
        "activity_since": naive - number("off_strategy", "activity_days", 30) * day,
        "min_activities": number("off_strategy", "min_activities", 3),
        "nap_late": number("no_action_plan", "late_stage_probability", 60),
        "apo_late": number("action_plan_overdue", "late_stage_probability", 60),
        "overdue_before": today - number("action_plan_overdue", "grace_days", 0) * day,
        "handoff_newest": today - number("handoff_not_accepted", "grace_days", 3) * day,
        "handoff_oldest": today - number("handoff_not_accepted", "lookback_days", 90) * day,
    }
    for statement in DETECTORS_SQL.format(**params).split(";\n"):
        if statement.strip():
            connection.execute(statement)
    detected = time.perf_counter() - start
    # The signals written into the database file itself, as SQLite's commit does (its WAL is
    # checkpointed into the file before the commit returns): without this, DuckDB's closing
    # checkpoint fell outside its time.
    connection.execute("CHECKPOINT")
    seconds = time.perf_counter() - start
    counts = dict(connection.execute("SELECT kind, count(*) FROM signal GROUP BY kind").fetchall())
    connection.close()
    return {
        "seconds": seconds,
        "seconds_before_checkpoint": detected,
        "counts": counts,
        "version": f"DuckDB {duckdb.__version__}",
    }
