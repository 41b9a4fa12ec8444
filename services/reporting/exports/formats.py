"""Export file formats built from read-model states (no I/O): CSV, JSON, Battery Pass 1.2 JSON."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

import orjson

from services.reporting.domain.batterypass import ASPECTS, to_batterypass
from services.reporting.domain.dimensions import dimensions

CSV_COLUMNS = (
    "passport_id",
    "battery_identifier",
    "public_uri",
    "kind",
    "category",
    "model",
    "product_family",
    "chemistry",
    "batch",
    "plant",
    "status",
    "stage",
    "placed_on_market_at",
    "current_handler_id",
    "minted_at",
    "ceased",
    "version",
    "manufacturer",
    "weight_kg",
    "rated_capacity_ah",
    "certified_usable_energy_kwh",
    "carbon_footprint_kg_co2e_per_kwh",
    "custody_steps",
    "recovered_kg",
    "extensions",
)


def csv_row(state: dict[str, Any]) -> list[Any]:
    dims = dimensions(state)
    static = state.get("static_data") or {}
    recovered = (state.get("recovery") or {}).get("recovered_kg_by_material") or {}
    return [
        state.get("passport_id"),
        dims.battery_identifier,
        dims.public_uri,
        dims.kind,
        dims.category,
        dims.model,
        dims.product_family,
        dims.chemistry,
        dims.batch,
        dims.plant,
        dims.status,
        dims.stage,
        dims.placed_on_market_at.isoformat() if dims.placed_on_market_at else None,
        dims.current_handler_id,
        dims.minted_at.isoformat() if dims.minted_at else None,
        dims.ceased,
        state.get("version"),
        (static.get("manufacturer") or {}).get("name"),
        static.get("weight_kg"),
        static.get("rated_capacity_ah"),
        static.get("certified_usable_energy_kwh"),
        static.get("carbon_footprint_kg_co2e_per_kwh"),
        len(state.get("custody_timeline") or []),
        ";".join(f"{k}={v}" for k, v in sorted(recovered.items())),
        orjson.dumps(state.get("extensions") or {}, option=orjson.OPT_SORT_KEYS).decode(),
    ]


class CsvWriter:
    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\r\n")
        self.writer.writerow(CSV_COLUMNS)

    def add(self, states: Iterable[dict[str, Any]]) -> None:
        for state in states:
            self.writer.writerow(["" if v is None else v for v in csv_row(state)])

    def finish(self) -> bytes:
        return self.buffer.getvalue().encode("utf-8")


class JsonWriter:
    """`{"format", "tenant", "generated_at", "filters", "passports": [...]}`, streamed piecewise."""

    def __init__(self, header: dict[str, Any], *, batterypass: bool) -> None:
        self.batterypass = batterypass
        head = dict(header)
        if batterypass:
            head["format"] = "batterypass-1.2"
            head["aspects"] = ASPECTS
            head["note"] = (
                "Each passport's `aspects` validate against the Battery Pass 1.2 JSON Schemas of the same name; "
                "`not_representable` lists what the published schemas cannot hold."
            )
        else:
            head["format"] = "bpass-passports/1"
        self.parts = [orjson.dumps(head)[:-1], b', "passports": [']
        self.count = 0

    def add(self, states: Iterable[dict[str, Any]]) -> None:
        for state in states:
            body = to_batterypass(state) if self.batterypass else state
            self.parts.append((b"," if self.count else b"") + orjson.dumps(body))
            self.count += 1

    def finish(self) -> bytes:
        return b"".join([*self.parts, b"]}"])
