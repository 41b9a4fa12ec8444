"""Whether an exported document conforms to a published JSON Schema (draft-04), and which of its errors are the
schema's own documented defects. Format-neutral: any vendored schema under `contracts/external/` (Battery Pass
1.2 aspects, Catena-X BatteryPass...) and any allow-list of defects. Pure: the schemas are read once from the
committed files (never from the network, never from `../shared`), nothing else is read or written.

`format` is asserted, not just annotated: draft-04 leaves that to the validator, and a partner's strict validator
may assert it, so a value that would fail there fails here (`date-time`: RFC 3339; `uri`: an absolute URI).
"""

from __future__ import annotations

import ast
import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from jsonschema import Draft4Validator, FormatChecker  # type: ignore[import-untyped]
from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped]

import contracts

EXTERNAL = Path(contracts.__file__).resolve().parent / "external"
BATTERYPASS_1_2 = EXTERNAL / "batterypass-1.2"

_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True  # format applies to strings only; `type` judges the rest
    if not _DATE_TIME.match(value):
        return False
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not value or any(c.isspace() for c in value):
        return False
    parts = urlsplit(value)
    return bool(_SCHEME.match(parts.scheme)) and bool(parts.netloc or parts.path)


FORMATS = FormatChecker(formats=())
FORMATS.checks("date-time")(_is_date_time)
FORMATS.checks("uri")(_is_uri)


@dataclass(frozen=True, order=True)
class SchemaError:
    """One violation. `path`: JSON pointer into the validated document; for `required`, the pointer of the
    member that is missing (`/batteryCondition`), so the field is named either way."""

    aspect: str
    path: str
    rule: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"aspect": self.aspect, "path": self.path, "rule": self.rule, "message": self.message}


@dataclass(frozen=True)
class UpstreamDefect:
    """A documented defect of a published schema: errors with this `aspect` and `rule` at a `path` matching
    the glob `path` are the schema's fault, not the document's."""

    key: str
    aspect: str
    path: str
    rule: str
    reason: str

    def covers(self, error: SchemaError) -> bool:
        return error.aspect == self.aspect and error.rule == self.rule and fnmatchcase(error.path, self.path)


UPSTREAM_DEFECTS: tuple[UpstreamDefect, ...] = (
    UpstreamDefect(
        key="batterypass-1.2/email-pattern",
        aspect="GeneralProductInformation",
        path="/*/emailAddress",
        rule="pattern",
        reason=(
            "The published e-mail pattern ^[w.-]+@[w.-]+.[A-Za-z]{2,}$ lost its backslashes (\\w, \\.): it "
            "accepts only the letter w before the domain and refuses every real address; Circularity's copy of "
            "the same pattern is correct."
        ),
    ),
    UpstreamDefect(
        key="batterypass-1.2/urn-uuid",
        aspect="GeneralProductInformation",
        path="/batteryPassportIdentifier",
        rule="pattern",
        reason=(
            "The published identifier pattern ^urn:[a-z0-9]+:[a-z0-9]+$ allows one colon-free, hyphen-free "
            "segment after the namespace, so it refuses RFC 4122 urn:uuid: identifiers (RFC 9562), which the "
            "passports carry unchanged."
        ),
    ),
    UpstreamDefect(
        key="batterypass-1.2/warranty-gmonth",
        aspect="GeneralProductInformation",
        path="/warrentyPeriod",
        rule="pattern",
        reason=(
            "warrentyPeriod is typed xsd:gMonth (--MM, a month of the year), which cannot hold a warranty "
            "period such as 96 months (the longlist's Date[YYYY-MM] is no period either); the period is exported "
            "as an ISO 8601 duration (P96M), which the pattern refuses."
        ),
    ),
)


def _inline(node: Any, root: Any, seen: tuple[str, ...] = ()) -> Any:
    """The schema with each local `$ref` replaced by what it points to (draft-04 ignores a `$ref`'s siblings), so
    the validator resolves nothing per document: the same rules, some ten times faster. A recursive `$ref` stays."""
    if isinstance(node, list):
        return [_inline(item, root, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/") and ref not in seen:
        target = root
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        return _inline(target, root, (*seen, ref))
    return {key: _inline(value, root, seen) for key, value in node.items()}


@functools.cache
def _validator(schema_path: Path) -> Draft4Validator:
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    Draft4Validator.check_schema(schema)
    return Draft4Validator(_inline(schema, schema), format_checker=FORMATS)


def aspect_of(schema_path: Path) -> str:
    """`GeneralProductInformation-schema.json` -> `GeneralProductInformation`."""
    return schema_path.name.removesuffix(".json").removesuffix("-schema")


def _pointer(parts: Iterable[object]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _leaves(error: ValidationError) -> Iterable[ValidationError]:
    """anyOf / oneOf errors carry the alternatives' errors as context: those name the field and rule."""
    if error.context:
        for sub in error.context:
            yield from _leaves(sub)
    else:
        yield error


def schema_errors(schema_path: Path, document: Any, *, aspect: str | None = None) -> list[SchemaError]:
    """Every error of `document` against the draft-04 schema at `schema_path` (`required` included), sorted.
    Documents repeat (an aspect made of model-level data is the same for every battery of the model): the
    verdict on one is remembered by its canonical JSON."""
    text = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    return list(_errors(schema_path, aspect or aspect_of(schema_path), text))


@functools.lru_cache(maxsize=4096)
def _errors(schema_path: Path, name: str, text: bytes) -> tuple[SchemaError, ...]:
    found: set[SchemaError] = set()
    for top in _validator(schema_path).iter_errors(orjson.loads(text)):
        for error in _leaves(top):
            parts = list(error.absolute_path)
            if error.validator == "required":
                parts.append(ast.literal_eval(error.message.removesuffix(" is a required property")))
            found.add(SchemaError(name, _pointer(parts), str(error.validator), error.message))
    return tuple(sorted(found))


def conformance(
    errors: Sequence[SchemaError],
    *,
    defects: Sequence[UpstreamDefect] = UPSTREAM_DEFECTS,
    missing_reasons: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The verdict on a document's `errors`: `valid_strict` (none at all), `valid_except_upstream_defects` (each
    error covered by a documented defect), `errors` (all, exact; a covered one names its defect),
    `upstream_defects` (those that apply, with their reasons) and `missing` (each missing required member with
    why: `missing_reasons` keyed `<aspect><pointer>`, an ancestor's reason standing for its members)."""
    reasons = missing_reasons or {}
    listed: list[dict[str, Any]] = []
    applied: dict[str, dict[str, Any]] = {}
    missing: list[dict[str, str]] = []
    uncovered = 0
    for error in sorted(errors):
        entry: dict[str, Any] = error.to_dict()
        defect = next((d for d in defects if d.covers(error)), None)
        if defect is None:
            uncovered += 1
        else:
            entry["upstream_defect"] = defect.key
            applied.setdefault(defect.key, {"key": defect.key, "reason": defect.reason, "paths": []})
            applied[defect.key]["paths"].append(f"{error.aspect}{error.path}")
        listed.append(entry)
        if error.rule == "required":
            missing.append({"field": f"{error.aspect}{error.path}", "reason": _reason(error, reasons)})
    return {
        "valid_strict": not errors,
        "valid_except_upstream_defects": uncovered == 0,
        "errors": listed,
        "upstream_defects": list(applied.values()),
        "missing": missing,
    }


def _reason(error: SchemaError, reasons: Mapping[str, str]) -> str:
    key = f"{error.aspect}{error.path}"
    while key:
        if key in reasons:
            return reasons[key]
        key = key.rpartition("/")[0]
    return "the platform holds no value for it"
