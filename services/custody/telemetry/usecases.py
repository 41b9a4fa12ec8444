"""Telemetry ingest: set-based per consumed batch (one COPY, one upsert of latest values, one fact per passport)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from contracts import topics
from contracts.telemetry import InServiceDataUpdated, LatestValue, TelemetryMetric, TelemetryReported
from services.common.unit_of_work import Inbound, UnitOfWork
from services.custody.domain.readings import check_readings
from services.custody.telemetry import store


async def record_readings(uow: UnitOfWork, items: list[Inbound[TelemetryReported]]) -> None:
    """Check each message's readings (refused whole when one breaks a rule), store the rest, and publish the
    latest values of each minted passport; readings of passports not minted yet are kept and parked."""
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
    stored, latest_rows = await store.store_readings(
        uow.conn,
        [
            (i.payload.passport_id, r.metric.value, r.measured_at, r.value, i.payload.source_system)
            for i in accepted
            for r in i.payload.readings
        ],
    )
    tenants = await store.tenants_of(uow.conn, sorted({i.payload.passport_id for i in accepted}))
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
