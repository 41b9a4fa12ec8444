"""The EPCIS query language's extension-field and sensor parameters against the real custody service: the shared
fixtures and a few battery events of the project's own (temperatures in CEL, FAH and KEL, a pack voltage, numeric
and date-time extension fields, nested ones) captured through `POST /epcis/capture`, then queried through
`GET /epcis/events`; each parameter's answer is checked against a reference filter written here from the standard's
wording (known ground truth), and malformed parameters are refused naming the parameter and a stable reason."""

from __future__ import annotations

import json
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from services.common.auth import Role
from services.common.settings import Settings
from services.custody.domain.epcis import context_prefixes
from services.custody.domain.epcis.timestamps import parse_timestamp
from services.custody.query.usecases import KEPT_OUTCOMES
from tests.conftest import PORT_BASE, new_key
from tests.integration.test_custody_epcis import capture
from tests.integration.test_custody_events import Custody, custody_alone, register, uid
from tests.integration.test_epcis_query import canonical
from tests.unit.custody.epcis_fixtures import accepted_documents, load, require_fixtures

Event = dict[str, Any]
NS = "https://battery.example.org/epcis/"


@dataclass(frozen=True)
class Kept:
    event: Event
    prefixes: dict[str, str]
    key: str  # canonical JSON: how a query answer's event is recognised


@dataclass
class Captured:
    key: str
    events: list[Kept]


@pytest.fixture(scope="module")
async def custody(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Custody]:
    async with custody_alone(settings, tmp_path_factory.mktemp("custody-epcis-ext"), PORT_BASE + 92) as running:
        yield running


def battery_event(reports: list[Event], metadata: Event | None = None, extensions: Event | None = None) -> Event:
    element: Event = {"sensorReport": reports}
    if metadata:
        element["sensorMetadata"] = metadata
    return {
        "type": "ObjectEvent",
        "eventID": f"urn:uuid:{uuid.uuid4()}",
        "eventTime": "2026-05-01T10:00:00.000Z",
        "eventTimeZoneOffset": "+00:00",
        "action": "OBSERVE",
        "bizStep": "sensor_reporting",
        "epcList": [f"https://battery.example.org/pack/{uuid.uuid4().hex[:12]}"],
        "sensorElementList": [element],
        **(extensions or {}),
    }


def own_document() -> Event:
    events = [
        # 95 FAH is 35 CEL: above 32 CEL only after conversion
        battery_event([{"type": "Temperature", "value": 95, "uom": "FAH"}], None, {"bat:cycles": 1200}),
        battery_event(
            [{"type": "Temperature", "value": 30, "uom": "CEL"}, {"type": "Voltage", "value": 410, "uom": "VLT"}],
            {"deviceID": "urn:epc:id:giai:4012345.BMS1", "time": "2026-05-01T09:59:00Z"},
            {"bat:cycles": "800", "bat:serviced": "2026-04-01T08:00:00Z"},
        ),
        battery_event(
            [{"type": "Temperature", "value": 310.15, "uom": "KEL"}, {"type": "RelativeHumidity", "value": 80}],
            None,
            {"bat:module": {"bat:cell": {"bat:chemistry": "NMC811", "bat:capacity": 72}}},
        ),
    ]
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld", {"bat": NS}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-05-01T10:00:00Z",
        "epcisBody": {"eventList": events},
    }


def kept(body: Event, job: Event) -> list[Kept]:
    prefixes = context_prefixes(body["@context"])
    events = body["epcisBody"]["eventList"]
    return [
        Kept(events[r["index"]], prefixes, json.dumps(canonical(events[r["index"]]), sort_keys=True))
        for r in job["events"]
        if r["outcome"] in KEPT_OUTCOMES
    ]


@pytest.fixture(scope="module")
async def captured(custody: Custody) -> Captured:
    require_fixtures()
    handler = uid("ext-carrier")
    await register(custody, handler)
    key = new_key(custody.settings, Role.carrier, handler)
    events: list[Kept] = []
    bodies = [
        (load(p), "application/ld+json" if p.suffix == ".jsonld" else "application/json") for p in accepted_documents()
    ]
    for body, media in [*bodies, (own_document(), "application/json")]:
        job = await capture(custody, key, json.dumps(body).encode(), media=media)
        events += kept(body, job)
    return Captured(key, events)


async def answer(custody: Custody, key: str, params: list[tuple[str, str]]) -> set[str]:
    async with custody.http(key) as http:
        response = await http.get(f"/epcis/events?{urllib.parse.urlencode([*params, ('perPage', '1000')])}")
    assert response.status_code == 200, response.text
    assert "Link" not in response.headers
    found = response.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    return {json.dumps(canonical(e), sort_keys=True) for e in found}


# Reference filters, from the standard's wording.


def expanded(kept: Kept) -> dict[str, Any]:
    """The event's top-level fields under their IRIs (the document's prefixes expanded)."""
    out: dict[str, Any] = {}
    for k, v in kept.event.items():
        prefix, colon, local = k.partition(":")
        out[kept.prefixes[prefix] + local if colon and prefix in kept.prefixes else k] = v
    return out


def nested_values(value: Any, key: str) -> list[Any]:
    """The values of `key` anywhere inside `value` (arrays flattened)."""
    found: list[Any] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if k == key:
                found += v if isinstance(v, list) else [v]
            found += nested_values(v, key)
    elif isinstance(value, list):
        for v in value:
            found += nested_values(v, key)
    return found


def as_number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        return Decimal(str(value).strip()) if isinstance(value, (int, float, str)) else None
    except ArithmeticError:
        return None


def reports(event: Event) -> list[Event]:
    """Each sensorReport with what its element's sensorMetadata says of it."""
    out = []
    for element in event.get("sensorElementList") or []:
        metadata = element.get("sensorMetadata") or {}
        for report in element.get("sensorReport") or []:
            merged = {k: metadata[k] for k in ("deviceID", "dataProcessingMethod", "time", "bizRules") if k in metadata}
            out.append({**merged, **report})
    return out


TO_CEL = {
    "CEL": (Fraction(1), Fraction(0)),
    "FAH": (Fraction(5, 9), Fraction(-160, 9)),
    "KEL": (Fraction(1), Fraction("-273.15")),
}


def celsius(report: Event, field: str) -> Fraction | None:
    if (
        report.get("uom") not in TO_CEL
        or isinstance(report.get(field), bool)
        or not isinstance(report.get(field), (int, float))
    ):
        return None
    factor, offset = TO_CEL[report["uom"]]
    return Fraction(str(report[field])) * factor + offset


def lt(value: Any, bound: Any) -> bool:
    return value is not None and bool(value < bound)


def le(value: Any, bound: Any) -> bool:
    return value is not None and bool(value <= bound)


def some_report(*tests: Callable[[Event], bool]) -> Callable[[Kept], bool]:
    return lambda k: any(all(t(r) for t in tests) for r in reports(k.event))


def instant(text: str) -> datetime:
    parsed = parse_timestamp(text)
    assert parsed is not None
    return parsed


CASES: list[tuple[list[tuple[str, str]], Callable[[Kept], bool]]] = [
    (
        [("EQ_example:myField", "Example of a vendor/user extension")],
        lambda k: k.event.get("example:myField") == "Example of a vendor/user extension",
    ),
    (
        [("EQ_http://ns.example.com/epcis/myField", "Example of a vendor/user extension")],
        lambda k: expanded(k).get("http://ns.example.com/epcis/myField") == "Example of a vendor/user extension",
    ),
    (  # EPCIS 1.x spelling: namespace#name, the namespace as the document declared it (no trailing slash)
        [("EQ_http://ns.example.com/epcis#myField", "Example of a vendor/user extension")],
        lambda k: expanded(k).get("http://ns.example.com/epcismyField") == "Example of a vendor/user extension",
    ),
    ([("GT_ext1:float", "15")], lambda k: (as_number(k.event.get("ext1:float")) or 0) > 15),
    ([("GE_bat:cycles", "1000")], lambda k: (as_number(k.event.get("bat:cycles")) or 0) >= 1000),
    (
        [("LT_bat:cycles", "1000")],
        lambda k: lt(as_number(k.event.get("bat:cycles")), 1000),
    ),
    (
        [(f"LT_{NS}serviced", "2026-04-02T00:00:00+02:00")],
        lambda k: (
            isinstance(expanded(k).get(f"{NS}serviced"), str)
            and instant(expanded(k)[f"{NS}serviced"]) < instant("2026-04-02T00:00:00+02:00")
        ),
    ),
    (
        [("LT_ext1:time", "2014-01-01T00:00:00Z")],
        lambda k: "ext1:time" in k.event and instant(k.event["ext1:time"]) < instant("2014-01-01T00:00:00Z"),
    ),
    ([("EXISTS_example:internalData", "")], lambda k: "example:internalData" in k.event),
    (
        [("EXISTS_INNER_ext2:object", "")],
        lambda k: any(nested_values(v, "ext2:object") for n, v in k.event.items() if ":" in n),
    ),
    (
        [("EQ_INNER_example:procedure", "A-1")],
        lambda k: "A-1" in [v for n, x in k.event.items() if ":" in n for v in nested_values(x, "example:procedure")],
    ),
    (
        [(f"EQ_INNER_{NS}chemistry", "NMC811")],
        lambda k: "NMC811" in [v for n, x in k.event.items() if ":" in n for v in nested_values(x, "bat:chemistry")],
    ),
    (
        [("GT_INNER_bat:capacity", "70")],
        lambda k: any(
            (as_number(v) or 0) > 70 for n, x in k.event.items() if ":" in n for v in nested_values(x, "bat:capacity")
        ),
    ),
    ([("EQ_type", "Temperature")], some_report(lambda r: r.get("type") in ("Temperature", "gs1:Temperature"))),
    ([("EQ_type", "AbsoluteHumidity|Speed")], some_report(lambda r: r.get("type") in ("AbsoluteHumidity", "Speed"))),
    (
        [("EQ_deviceID", "urn:epc:id:giai:4000001.111")],
        some_report(lambda r: r.get("deviceID") == "urn:epc:id:giai:4000001.111"),
    ),
    (
        [("EQ_deviceID", "urn:epc:id:giai:4012345.BMS1")],
        some_report(lambda r: r.get("deviceID") == "urn:epc:id:giai:4012345.BMS1"),
    ),
    (
        [("EQ_dataProcessingMethod", "https://example.com/253/4012345000054987")],
        some_report(lambda r: r.get("dataProcessingMethod") == "https://example.com/253/4012345000054987"),
    ),
    (
        [("EQ_bizRules", "https://example.org/253/4012345000054987")],
        some_report(lambda r: r.get("bizRules") == "https://example.org/253/4012345000054987"),
    ),
    (
        [("EQ_microorganism", "https://www.ncbi.nlm.nih.gov/taxonomy/1126011")],
        some_report(lambda r: r.get("microorganism") == "https://www.ncbi.nlm.nih.gov/taxonomy/1126011"),
    ),
    (
        [("EQ_chemicalSubstance", "https://identifiers.org/inchikey:CZMRCDWAGMRECN-UGDNZRGBSA-N")],
        some_report(
            lambda r: r.get("chemicalSubstance") == "https://identifiers.org/inchikey:CZMRCDWAGMRECN-UGDNZRGBSA-N"
        ),
    ),
    ([("EQ_stringValue", "someSensorOutput")], some_report(lambda r: r.get("stringValue") == "someSensorOutput")),
    ([("EQ_hexBinaryValue", "F0F0F0")], some_report(lambda r: str(r.get("hexBinaryValue", "")).upper() == "F0F0F0")),
    (
        [("EQ_uriValue", "https://id.gs1.org/8004/4000001111")],
        some_report(lambda r: r.get("uriValue") == "https://id.gs1.org/8004/4000001111"),
    ),
    ([("EQ_booleanValue", "true")], some_report(lambda r: r.get("booleanValue") is True)),
    ([("GE_value_CEL", "32")], some_report(lambda r: (celsius(r, "value") or -999) >= 32)),
    (
        [("LT_value_CEL", "26.1")],
        some_report(lambda r: lt(celsius(r, "value"), Fraction("26.1"))),
    ),
    ([("GE_value_FAH", "95")], some_report(lambda r: (celsius(r, "value") or -999) >= 35)),
    ([("EQ_value_CEL", "26.1|30")], some_report(lambda r: celsius(r, "value") in (Fraction("26.1"), Fraction(30)))),
    ([("GT_maxValue_CEL", "20")], some_report(lambda r: (celsius(r, "maxValue") or -999) > 20)),
    (
        [("LE_minValue_CEL", "12.4")],
        some_report(lambda r: le(celsius(r, "minValue"), Fraction("12.4"))),
    ),
    ([("GE_meanValue_CEL", "13.2")], some_report(lambda r: (celsius(r, "meanValue") or -999) >= Fraction("13.2"))),
    ([("GT_sDev_CEL", "0.2")], some_report(lambda r: (celsius(r, "sDev") or -999) > Fraction("0.2"))),
    ([("GE_percValue_CEL", "12.7")], some_report(lambda r: (celsius(r, "percValue") or -999) >= Fraction("12.7"))),
    (
        [("GE_percRank", "50")],
        some_report(lambda r: isinstance(r.get("percRank"), (int, float)) and r["percRank"] >= 50),
    ),
    ([("GE_value_VLT", "400")], some_report(lambda r: r.get("uom") == "VLT" and r.get("value", 0) >= 400)),
    (
        [("GE_time", "2019-07-19T13:30:00Z")],
        some_report(lambda r: "time" in r and instant(r["time"]) >= instant("2019-07-19T13:30:00Z")),
    ),
    (  # one and the same report: the temperature above 32 CEL, not any report and any temperature
        [("EQ_type", "RelativeHumidity"), ("GE_value_CEL", "32")],
        some_report(lambda r: r.get("type") == "RelativeHumidity", lambda r: (celsius(r, "value") or -999) >= 32),
    ),
    (
        [("EQ_type", "Temperature"), ("GE_value_CEL", "32"), ("EQ_bizStep", "sensor_reporting")],
        lambda k: (
            k.event.get("bizStep") == "sensor_reporting"
            and some_report(lambda r: r.get("type") == "Temperature", lambda r: (celsius(r, "value") or -999) >= 32)(k)
        ),
    ),
]


@pytest.mark.parametrize(("params", "expected"), CASES, ids=[str(p) for p, _ in CASES])
async def test_a_parameter_answers_its_ground_truth(
    custody: Custody, captured: Captured, params: list[tuple[str, str]], expected: Callable[[Kept], bool]
) -> None:
    truth = {k.key for k in captured.events if expected(k)}
    found = await answer(custody, captured.key, params)
    assert found == truth, params
    # Every case has matches but the one whose conditions no single sensorReport meets together.
    assert bool(truth) != (params == CASES[-2][0]), (params, "the captured events must hold a match")
    assert truth != {k.key for k in captured.events}, (params, "the condition must leave events out")


@pytest.mark.parametrize(
    ("params", "parameter", "reason"),
    [
        ("GE_value_celsius=20", "GE_value_celsius", "invalid_query_uom"),
        ("GE_value_CEL=warm", "GE_value_CEL", "invalid_query_comparand"),
        ("GT_example:batch=soon", "GT_example:batch", "invalid_query_comparand"),
        ("GT_example:batch=1|2", "GT_example:batch", "invalid_query_comparand"),
        ("EQ_booleanValue=yes", "EQ_booleanValue", "invalid_query_comparand"),
        ("LT_time=yesterday", "LT_time", "invalid_query_comparand"),
        ("EXISTS_example:batch=1", "EXISTS_example:batch", "invalid_query_comparand"),
        ("EQ_example:=x", "EQ_example:", "invalid_query_field_name"),
        ("EQ_deviceID=", "EQ_deviceID", "empty_query_parameter_value"),
        ("EQ_colour=red", "EQ_colour", "unknown_query_parameter"),
    ],
)
async def test_a_malformed_filter_is_a_query_parameter_exception(
    custody: Custody, captured: Captured, params: str, parameter: str, reason: str
) -> None:
    async with custody.http(captured.key) as http:
        response = await http.get(f"/epcis/events?{params}")
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["type"] == "epcisException:QueryParameterException"
    assert (body["parameter"], body["reason"]) == (parameter, reason)


async def test_another_party_finds_nothing_by_a_filter(custody: Custody, captured: Captured) -> None:
    other = uid("ext-other")
    await register(custody, other)
    assert await answer(custody, new_key(custody.settings, Role.carrier, other), [("EQ_type", "Temperature")]) == set()
