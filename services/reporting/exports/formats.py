"""Export file formats built from read-model states (no I/O): CSV (UTF-8, header row, `true`/`false`, ISO 8601
times), JSON, Battery Pass 1.2 JSON."""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

import orjson

from services.reporting.domain.batterypass import ASPECTS, to_batterypass
from services.reporting.domain.conformance import BATTERYPASS_1_2
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


def csv_cell(value: Any) -> str:
    """One CSV field by the usual conventions: empty for nothing, `true`/`false`, ISO 8601 instants and dates,
    decimals without exponent, anything else as its text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:f}"
    return str(value)


class CsvWriter:
    """RFC 4180 CSV in UTF-8 with a header row: one row a passport (CSV_COLUMNS)."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\r\n")
        self.writer.writerow(CSV_COLUMNS)

    def add(self, states: Iterable[dict[str, Any]]) -> None:
        for state in states:
            self.writer.writerow([csv_cell(v) for v in csv_row(state)])

    def finish(self) -> bytes:
        return self.buffer.getvalue().encode("utf-8")


def rows_to_csv(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """A report's table as CSV (RFC 4180, UTF-8, header row): the columns of every row, in first-seen order;
    fields by csv_cell's conventions. No rows: the empty file."""
    if not rows:
        return b""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(row.get(k)) for k in columns])
    return buffer.getvalue().encode("utf-8")


BATTERYPASS_NOTE = (
    "Each passport's `aspects` hold what the platform holds, in the shape of the Battery Pass 1.2 aspects of the same "
    "name; nothing the passport lacks is filled in. Each aspect was validated against the Battery Pass 1.2 JSON "
    "Schema named in `schemas` (draft-04, `required` included, formats asserted); whether it passes is in "
    "its `conformance`, which lists every schema error, the documented defects of the published schemas among them "
    "(`upstream_defects`, with why), why each missing required member is missing, and what the passport holds that "
    "the schemas have no member for (`not_exported`). `summary`, after `passports`, counts the passports valid "
    "strictly and valid except documented upstream defects. Each passport's `platform` holds what bpass holds that the "
    "aspects have no member for (the GTIN, the battery model...): it is not part of the Battery Pass model, no schema "
    "is applied to it, and it does not count in the conformance; importing the file into bpass reads it."
)


@cache
def batterypass_schemas() -> dict[str, dict[str, str]]:
    """The vendored schema each aspect was validated against, by aspect: path in the repository and SHA-256."""
    return {
        name: {
            "path": f"contracts/external/batterypass-1.2/{name}-schema.json",
            "sha256": hashlib.sha256((BATTERYPASS_1_2 / f"{name}-schema.json").read_bytes()).hexdigest(),
        }
        for name in ASPECTS
    }


class JsonWriter:
    """`{"format", "tenant", "generated_at", "filters", "passports": [...]}`, streamed piecewise; the Battery Pass
    file adds, after `passports`, a `summary` of the passports' conformance counted as they are written."""

    def __init__(self, header: dict[str, Any], *, batterypass: bool) -> None:
        self.batterypass = batterypass
        head = dict(header)
        if batterypass:
            head["format"] = "batterypass-1.2"
            head["aspects"] = ASPECTS
            head["schemas"] = batterypass_schemas()
            head["note"] = BATTERYPASS_NOTE
        else:
            head["format"] = "bpass-passports/1"
        self.parts = [orjson.dumps(head)[:-1], b', "passports": [']
        self.count = 0
        self.valid_strict = 0
        self.valid_except_defects = 0
        self.valid_except_not_applicable = 0
        self.defects: Counter[str] = Counter()
        self.missing: Counter[str] = Counter()

    def add(self, states: Iterable[dict[str, Any]]) -> None:
        for state in states:
            body = to_batterypass(state) if self.batterypass else state
            if self.batterypass:
                report = body["conformance"]
                self.valid_strict += bool(report["valid_strict"])
                self.valid_except_defects += bool(report["valid_except_upstream_defects"])
                self.valid_except_not_applicable += bool(report.get("valid_except_upstream_defects_and_not_applicable"))
                self.defects.update(d["key"] for d in report["upstream_defects"])
                self.missing.update(m["field"] for m in report["missing"])
            self.parts.append((b"," if self.count else b"") + orjson.dumps(body))
            self.count += 1

    def summary(self) -> dict[str, Any] | None:
        """Passports written, valid strictly, valid except documented upstream defects, valid except those and the
        members the longlist marks not applicable to the passport's category; per upstream defect and per missing
        required member, how many passports (Battery Pass files only)."""
        if not self.batterypass:
            return None
        return {
            "passports": self.count,
            "valid_strict": self.valid_strict,
            "valid_except_upstream_defects": self.valid_except_defects,
            "valid_except_upstream_defects_and_not_applicable": self.valid_except_not_applicable,
            "upstream_defects": dict(sorted(self.defects.items())),
            "missing_required": dict(sorted(self.missing.items(), key=lambda item: (-item[1], item[0]))),
        }

    def finish(self) -> bytes:
        summary = self.summary()
        if summary is None:
            return b"".join([*self.parts, b"]}"])
        return b"".join([*self.parts, b'], "summary": ', orjson.dumps(summary), b"}"])
