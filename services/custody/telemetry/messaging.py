"""Telemetry from BMS and fleets on `bpass.custody.telemetry.v1` (topic adapter)."""

from __future__ import annotations

from contracts.telemetry import TelemetryReported
from services.common.unit_of_work import Inbound, UnitOfWork
from services.custody.telemetry.usecases import record_readings


async def on_telemetry(uow: UnitOfWork, items: list[Inbound[TelemetryReported]]) -> None:
    await record_readings(uow, items)
