"""Telemetry ingest: set-based per consumed batch (one COPY, one upsert of latest values, one fact per passport)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from contracts import topics
from contracts.telemetry import InServiceDataUpdated, LatestValue, TelemetryMetric, TelemetryReported
from services.common.unit_of_work import Inbound, UnitOfWork
from services.custody.telemetry.rules import check_readings

STAGE_SQL = """
CREATE TEMP TABLE IF NOT EXISTS telemetry_stage (
    passport_id text, metric text, measured_at timestamptz, value numeric, source_system text
) ON COMMIT DELETE ROWS
"""

STORE_SQL = """
WITH stored AS (
    INSERT INTO telemetry_readings (passport_id, metric, measured_at, value, source_system)
    SELECT passport_id, metric, measured_at, value, source_system FROM telemetry_stage
    ON CONFLICT DO NOTHING
    RETURNING passport_id
)
SELECT passport_id, count(*) AS stored FROM stored GROUP BY passport_id
"""

LATEST_SQL = """
INSERT INTO telemetry_latest (passport_id, metric, value, measured_at, source_system)
SELECT DISTINCT ON (passport_id, metric) passport_id, metric, value, measured_at, source_system
FROM telemetry_stage ORDER BY passport_id, metric, measured_at DESC
ON CONFLICT (passport_id, metric) DO UPDATE
    SET value = EXCLUDED.value, measured_at = EXCLUDED.measured_at, source_system = EXCLUDED.source_system
    WHERE telemetry_latest.measured_at < EXCLUDED.measured_at
RETURNING passport_id, metric, value, measured_at, source_system
"""


async def on_telemetry(uow: UnitOfWork, items: list[Inbound[TelemetryReported]]) -> None:
    now = datetime.now(UTC)
    accepted = []
    for item in uow.each(items):
        violations = check_readings(item.payload, now)
        if violations:
            uow.reject(item, violations)
        else:
            accepted.append(item)
    if not accepted:
        return
    await uow.conn.execute(STAGE_SQL)
    await uow.conn.copy_records_to_table(
        "telemetry_stage",
        records=[
            (i.payload.passport_id, r.metric.value, r.measured_at, r.value, i.payload.source_system)
            for i in accepted
            for r in i.payload.readings
        ],
    )
    stored = {row["passport_id"]: row["stored"] for row in await uow.conn.fetch(STORE_SQL)}
    latest_rows = await uow.conn.fetch(LATEST_SQL)
    passport_ids = sorted({i.payload.passport_id for i in accepted})
    tenants = {
        row["passport_id"]: row["tenant"]
        for row in await uow.conn.fetch(
            "SELECT passport_id, tenant FROM known_passports WHERE passport_id = ANY($1::text[])", passport_ids
        )
    }
    for item in accepted:
        if item.payload.passport_id not in tenants:
            uow.park(item)  # kept in the time series; its latest values reach the passport once it is minted
    latest: dict[str, dict[TelemetryMetric, LatestValue]] = defaultdict(dict)
    for row in latest_rows:
        latest[row["passport_id"]][TelemetryMetric(row["metric"])] = LatestValue(
            value=row["value"], measured_at=row["measured_at"], source_system=row["source_system"]
        )
    by_passport = {i.payload.passport_id: i for i in accepted}
    for passport_id, values in latest.items():
        tenant = tenants.get(passport_id)
        if tenant is None:
            continue
        with uow.tracing(by_passport[passport_id]):
            uow.publish(
                topics.IN_SERVICE_DATA.name,
                InServiceDataUpdated(
                    passport_id=passport_id, tenant=tenant, latest=values, readings_stored=stored.get(passport_id, 0)
                ),
                key=passport_id,
                subject=passport_id,
            )
