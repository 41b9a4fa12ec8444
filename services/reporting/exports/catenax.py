"""The `catenax-batterypass-6.1` export file: one Catena-X BatteryPass 6.1.0 aspect per passport, each with its
conformance report against the committed schema, and at the end a summary of how many conform (no I/O)."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from functools import cache
from typing import Any

import orjson

from services.reporting.domain.batterypass_platform import platform_member
from services.reporting.domain.catenax import ASPECT_URN, catenax_passport
from services.reporting.domain.catenax_context import platform_fields
from services.reporting.domain.conformance import EXTERNAL, UpstreamDefect, conformance, schema_errors

SCHEMA = EXTERNAL / "catenax-batterypass-6.1.0" / "BatteryPass-6.1.0-schema.json"
ASPECT = "BatteryPass"
# No rule of the 6.1.0 schema refuses a truthful value (contracts/external/catenax-batterypass-6.1.0/SOURCES.md):
# what it cannot get from the platform is a missing required member, reported with why.
DEFECTS: tuple[UpstreamDefect, ...] = ()
FORMAT = "catenax-batterypass-6.1"


@cache
def schema_reference() -> dict[str, str]:
    return {
        "path": "contracts/external/catenax-batterypass-6.1.0/BatteryPass-6.1.0-schema.json",
        "sha256": hashlib.sha256(SCHEMA.read_bytes()).hexdigest(),
        "dialect": "http://json-schema.org/draft-04/schema",
    }


def catenax_entry(state: dict[str, Any]) -> dict[str, Any]:
    """`{passport_id, aspect, conformance, platform}`; the report lists each missing required member once
    (`missing`, with why) and keeps under `errors` only the others (none expected: a wrong value would be a bug of
    the mapping); `platform` holds what the aspect has no member for (batterypass_platform)."""
    aspect, gaps = catenax_passport(state)
    errors = schema_errors(SCHEMA, aspect, aspect=ASPECT)
    report = conformance(errors, defects=DEFECTS, missing_reasons={ASPECT + p: why for p, why in gaps.items()})
    report["errors"] = [e for e in report["errors"] if e["rule"] != "required"]
    return {
        "passport_id": state.get("passport_id"),
        "aspect": aspect,
        "conformance": report,
        "platform": platform_member(state, platform_fields(state.get("static_data") or {})),
    }


class CatenaxWriter:
    """`{"format", "aspect", "schema", ..., "passports": [...], "summary": {...}}`, streamed piecewise."""

    def __init__(self, header: dict[str, Any]) -> None:
        head = {
            **header,
            "format": FORMAT,
            "aspect": ASPECT_URN,
            "schema": schema_reference(),
            "note": "Each passport's `aspect` is validated against the schema named here (draft-04, `required` "
            "included); its `conformance` says whether it is valid strictly and, for each required member it lacks, "
            "why the platform cannot fill it truthfully. `summary` at the end counts them. Each passport's `platform` "
            "holds what bpass holds that the aspect has no member for (not part of the Catena-X model, no schema is "
            "applied to it); importing the file into bpass reads it. Mapping: "
            "docs/exports/catenax-batterypass-6.1.md.",
        }
        self.parts = [orjson.dumps(head)[:-1], b', "passports": [']
        self.count = 0
        self.valid_strict = 0
        self.valid_except_defects = 0
        self.missing: Counter[str] = Counter()

    def add(self, states: Iterable[dict[str, Any]]) -> None:
        for state in states:
            entry = catenax_entry(state)
            report = entry["conformance"]
            self.valid_strict += bool(report["valid_strict"])
            self.valid_except_defects += bool(report["valid_except_upstream_defects"])
            self.missing.update(m["field"] for m in report["missing"])
            self.parts.append((b"," if self.count else b"") + orjson.dumps(entry))
            self.count += 1

    def summary(self) -> dict[str, Any]:
        return {
            "passports": self.count,
            "valid_strict": self.valid_strict,
            "valid_except_upstream_defects": self.valid_except_defects,
            "not_valid": self.count - self.valid_strict,
            "missing_required": dict(sorted(self.missing.items(), key=lambda item: (-item[1], item[0]))),
        }

    def finish(self) -> bytes:
        return b"".join([*self.parts, b'], "summary": ', orjson.dumps(self.summary()), b"}"])
