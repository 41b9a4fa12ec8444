"""Parsing of the EPCIS query language's extension-field and sensor parameters (no I/O): what each parameter
becomes, unit conversion, the extension fields an event is searched by, and the refusals with their reasons."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.custody.domain.epcis.query import QueryParameterError, parse_query
from services.custody.domain.epcis.query_filters import (
    ExtensionCondition,
    SensorCondition,
    extension_fields,
    in_units,
)


def test_extension_fields_by_prefix_and_by_iri() -> None:
    query = parse_query(
        [
            ("EQ_example:batch", "B1|B2"),
            ("EQ_http://ns.example.com/epcis#batch", "B3"),
            ("GT_INNER_example:cycles", "100"),
            ("LE_example:serviced", "2026-01-01T00:00:00+01:00"),
            ("EXISTS_INNER_example:cell", ""),
        ]
    )
    assert set(query.extensions) == {
        ExtensionCondition("EQ", ("example:batch",), False, strings=("B1", "B2")),
        ExtensionCondition(
            "EQ", ("http://ns.example.com/epcis#batch", "http://ns.example.com/epcisbatch"), False, strings=("B3",)
        ),
        ExtensionCondition("GT", ("example:cycles",), True, number=Decimal(100)),
        ExtensionCondition("LE", ("example:serviced",), False, instant=datetime(2025, 12, 31, 23, 0, tzinfo=UTC)),
        ExtensionCondition("EXISTS", ("example:cell",), True),
    }
    assert query.exists == ()


def test_sensor_parameters() -> None:
    query = parse_query(
        [
            ("EQ_type", "Temperature|gs1:Voltage"),
            ("GE_value_CEL", "20.5"),
            ("EQ_maxValue_VLT", "4.2|4.3"),
            ("LT_percRank", "90"),
            ("GE_time", "2026-05-01T00:00:00Z"),
            ("EQ_booleanValue", "false"),
            ("EQ_hexBinaryValue", "f0a1"),
        ]
    )
    by_field = {c.field: c for c in query.sensor}
    assert by_field["type"].strings == (
        "Temperature",
        "gs1:Temperature",
        "https://gs1.org/voc/Temperature",
        "Voltage",
        "gs1:Voltage",
        "https://gs1.org/voc/Voltage",
    )
    assert by_field["value"] == SensorCondition("value", "GE", numbers=(Decimal("20.5"),), uom="CEL")
    assert by_field["maxValue"] == SensorCondition(
        "maxValue", "EQ", numbers=(Decimal("4.2"), Decimal("4.3")), uom="VLT"
    )
    assert by_field["percRank"] == SensorCondition("percRank", "LT", numbers=(Decimal(90),))
    assert by_field["time"].instant == datetime(2026, 5, 1, tzinfo=UTC)
    assert by_field["booleanValue"].boolean is False
    assert by_field["hexBinaryValue"].strings == ("F0A1",)


def test_a_bound_is_expressed_in_every_unit_of_its_quantity() -> None:
    assert dict(in_units(Decimal(35), "CEL")) == {"CEL": Decimal(35), "FAH": Decimal(95), "KEL": Decimal("308.15")}
    assert dict(in_units(Decimal(2), "KWH"))["WHR"] == Decimal(2000)
    assert in_units(Decimal(7), "A93") == [("A93", Decimal(7))]  # a unit without conversions: itself


def test_an_event_is_searched_by_its_fields_as_written_and_by_their_iris() -> None:
    event = {
        "type": "ObjectEvent",
        "ex:batch": "B1",
        "ex:cell": {"ex:chemistry": "LFP", "plain": 1},
        "https://other.example/full": 3,
    }
    assert extension_fields(event, {"ex": "https://ex.example/ns/"}) == {
        "ex:batch": "B1",
        "https://ex.example/ns/batch": "B1",
        "ex:cell": {"ex:chemistry": "LFP", "plain": 1},
        "https://ex.example/ns/cell": {"https://ex.example/ns/chemistry": "LFP", "plain": 1},
        "https://other.example/full": 3,
    }


@pytest.mark.parametrize(
    ("pairs", "parameter", "reason"),
    [
        ([("GE_value_Celsius", "1")], "GE_value_Celsius", "invalid_query_uom"),
        ([("GE_value_CEL", "1"), ("GE_value_CEL", "2")], "GE_value_CEL", "invalid_query_comparand"),
        ([("GE_value_CEL", "NaN")], "GE_value_CEL", "invalid_query_comparand"),
        ([("EQ_value_CEL", "1|x")], "EQ_value_CEL", "invalid_query_comparand"),
        ([("GT_ex:n", "tomorrow")], "GT_ex:n", "invalid_query_comparand"),
        ([("EQ_booleanValue", "1")], "EQ_booleanValue", "invalid_query_comparand"),
        ([("GE_time", "2026-05-01")], "GE_time", "invalid_query_comparand"),
        ([("EXISTS_INNER_ex:n", "yes")], "EXISTS_INNER_ex:n", "invalid_query_comparand"),
        ([("EQ_:n", "x")], "EQ_:n", "invalid_query_field_name"),
        ([("EQ_http://ns.example.com#", "x")], "EQ_http://ns.example.com#", "invalid_query_field_name"),
        ([("EQ_type", "")], "EQ_type", "empty_query_parameter_value"),
        ([("GE_colour", "1")], "GE_colour", "unknown_query_parameter"),
        ([("EQ_value", "1")], "EQ_value", "unknown_query_parameter"),
    ],
)
def test_a_malformed_filter_is_refused_naming_it(pairs: list[tuple[str, str]], parameter: str, reason: str) -> None:
    with pytest.raises(QueryParameterError) as refused:
        parse_query(pairs)
    assert (refused.value.parameter, refused.value.reason) == (parameter, reason)
