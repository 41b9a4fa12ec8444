"""The EPCIS 2.0 query language: parameters -> EventQuery, each bad parameter refused with a stable reason naming
it; the indexed fields of an event; page tokens (signed, bound to query and reader); who sees what."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.common.auth import Principal, Role
from services.custody.domain.epcis import query as q
from services.custody.domain.epcis.query import QueryParameterError, index_fields, parse_query
from services.custody.query.store import Cursor, Visibility
from services.custody.query.usecases import PageState, decode_token, encode_token, query_context, visibility_of
from tests.unit.custody.epcis_fixtures import all_fixture_events, require_fixtures

SGTIN_URN = "urn:epc:id:sgtin:0614141.107346.2017"
SGTIN_DL = "https://id.gs1.org/01/10614141073464/21/2017"


def refused(pairs: list[tuple[str, str]]) -> QueryParameterError:
    with pytest.raises(QueryParameterError) as caught:
        parse_query(pairs)
    return caught.value


def test_every_supported_parameter_lands_in_its_field() -> None:
    query = parse_query(
        [
            ("eventType", "ObjectEvent|AggregationEvent"),
            ("GE_eventTime", "2026-03-01T10:00:00+01:00"),
            ("LT_eventTime", "2026-03-02T00:00:00Z"),
            ("GE_recordTime", "2026-01-01T00:00:00Z"),
            ("LT_recordTime", "2027-01-01T00:00:00Z"),
            ("EQ_action", "OBSERVE"),
            ("EQ_bizStep", "urn:epcglobal:cbv:bizstep:shipping"),
            ("EQ_bizStep", "https://ref.gs1.org/cbv/BizStep-receiving"),
            ("EQ_disposition", "in_transit"),
            ("EQ_readPoint", "urn:epc:id:sgln:0614141.00777.0"),
            ("EQ_bizLocation", "urn:epc:id:sgln:0614141.00888.0"),
            ("MATCH_epc", SGTIN_URN),
            ("MATCH_anyEPC", "urn:a|urn:b"),
            ("MATCH_parentID", "urn:p"),
            ("MATCH_inputEPC", "urn:i"),
            ("MATCH_outputEPC", "urn:o"),
            ("EQ_bizTransaction_urn:epcglobal:cbv:btt:po", "urn:po:1"),
            ("EQ_source_owning_party", "urn:s"),
            ("EQ_destination_location", "urn:d"),
            ("EXISTS_errorDeclaration", ""),
            ("orderBy", "recordTime"),
            ("orderDirection", "ASC"),
            ("eventCountLimit", "7"),
            ("perPage", "3"),
        ]
    )
    assert query.event_types == ("ObjectEvent", "AggregationEvent")
    assert query.ge_event_time == datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    assert query.lt_event_time == datetime(2026, 3, 2, tzinfo=UTC)
    assert query.ge_record_time == datetime(2026, 1, 1, tzinfo=UTC)
    assert query.lt_record_time == datetime(2027, 1, 1, tzinfo=UTC)
    assert query.actions == ("OBSERVE",)
    assert query.biz_steps == ("shipping", "receiving")  # URN and Web URI compare as the bare CBV term
    assert query.dispositions == ("in_transit",)
    assert query.read_points == ("urn:epc:id:sgln:0614141.00777.0",)
    assert query.biz_locations == ("urn:epc:id:sgln:0614141.00888.0",)
    assert query.match_epc == (SGTIN_URN,)
    assert query.match_any_epc == ("urn:a", "urn:b")
    assert query.match_parent_id == ("urn:p",)
    assert query.match_input_epc == ("urn:i",)
    assert query.match_output_epc == ("urn:o",)
    assert query.biz_transactions == (("po", ("urn:po:1",)),)
    assert query.sources == (("owning_party", ("urn:s",)),)
    assert query.destinations == (("location", ("urn:d",)),)
    assert query.exists == ("errorDeclaration",)
    assert query.order_by == "recordTime"
    assert query.descending is False
    assert query.event_count_limit == 7
    assert query.max_event_count is None
    assert query.per_page == 3


def test_defaults_follow_the_standard() -> None:
    query = parse_query([])
    assert query.order_by == "eventTime"
    assert query.descending is True
    assert query.per_page == q.DEFAULT_PER_PAGE
    assert query.next_page_token is None


@pytest.mark.parametrize(
    ("pairs", "parameter", "reason"),
    [
        ([("EQ_color", "red")], "EQ_color", q.UNKNOWN_PARAMETER),
        ([("eventtype", "ObjectEvent")], "eventtype", q.UNKNOWN_PARAMETER),
        ([("eventType", "ThingEvent")], "eventType", q.INVALID_VALUE),
        ([("GE_eventTime", "yesterday")], "GE_eventTime", q.INVALID_TIME),
        ([("LT_recordTime", "2026-03-01T10:00:00")], "LT_recordTime", q.INVALID_TIME),  # no offset
        (
            [("GE_eventTime", "2026-03-01T10:00:00Z"), ("GE_eventTime", "2026-03-02T10:00:00Z")],
            "GE_eventTime",
            q.REPEATED_PARAMETER,
        ),
        ([("EQ_action", "CREATE")], "EQ_action", q.INVALID_VALUE),
        ([("EQ_bizStep", "shipping|")], "EQ_bizStep", q.EMPTY_VALUE),
        ([("MATCH_epc", "urn:epc:idpat:sgtin:0614141.*.*")], "MATCH_epc", q.INVALID_VALUE),
        (
            [("MATCH_anyEPC", "|".join(f"urn:x:{i}" for i in range(q.MAX_VALUES + 1)))],
            "MATCH_anyEPC",
            q.TOO_MANY_VALUES,
        ),
        ([("EQ_source_", "urn:s")], "EQ_source_", q.UNKNOWN_PARAMETER),
        ([("EXISTS_colour", "")], "EXISTS_colour", q.UNKNOWN_PARAMETER),
        ([("EXISTS_bizStep", "yes")], "EXISTS_bizStep", q.INVALID_VALUE),
        ([("orderBy", "bizStep")], "orderBy", q.INVALID_VALUE),
        ([("orderDirection", "down")], "orderDirection", q.INVALID_VALUE),
        ([("eventCountLimit", "0")], "eventCountLimit", q.INVALID_NUMBER),
        ([("maxEventCount", "-3")], "maxEventCount", q.INVALID_NUMBER),
        ([("perPage", "ten")], "perPage", q.INVALID_NUMBER),
        ([("perPage", str(q.MAX_PER_PAGE + 1))], "perPage", q.INVALID_NUMBER),
        ([("eventCountLimit", "5"), ("maxEventCount", "5")], "eventCountLimit", q.CONFLICTING_LIMITS),
        ([("nextPageToken", "")], "nextPageToken", q.EMPTY_VALUE),
    ],
)
def test_a_bad_parameter_is_refused_naming_it(pairs: list[tuple[str, str]], parameter: str, reason: str) -> None:
    error = refused(pairs)
    assert (error.parameter, error.reason) == (parameter, reason)
    assert error.message


def test_the_fingerprint_leaves_paging_aside_and_ignores_order() -> None:
    one = parse_query([("EQ_action", "ADD"), ("eventType", "ObjectEvent"), ("perPage", "2")])
    two = parse_query([("eventType", "ObjectEvent"), ("EQ_action", "ADD"), ("nextPageToken", "x")])
    assert one.fingerprint == two.fingerprint
    assert one.fingerprint != parse_query([("EQ_action", "DELETE")]).fingerprint


def test_indexed_fields_hold_every_identifier_form_and_bare_terms() -> None:
    fields = index_fields(
        {
            "type": "AggregationEvent",
            "eventTime": "2026-03-01T10:00:00.000+01:00",
            "eventTimeZoneOffset": "+01:00",
            "action": "ADD",
            "parentID": "urn:epc:id:sscc:0614141.1234567890",
            "childEPCs": [SGTIN_URN],
            "bizStep": "urn:epcglobal:cbv:bizstep:packing",
            "disposition": "https://ref.gs1.org/cbv/Disp-in_progress",
            "readPoint": {"id": "urn:epc:id:sgln:0614141.00777.0"},
            "bizTransactionList": [{"type": "po", "bizTransaction": "urn:po:1"}, {"bizTransaction": "urn:x"}],
            "sourceList": [{"type": "urn:epcglobal:cbv:sdt:owning_party", "source": "urn:epc:id:pgln:0614141.00001"}],
        }
    )
    assert fields.event_type == "AggregationEvent"
    assert fields.action == "ADD"
    assert fields.event_time == datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    assert fields.epcs == sorted([SGTIN_URN, SGTIN_DL])  # childEPCs count as EPCs, in both forms
    assert len(fields.parent_ids) == 2
    assert "urn:epc:id:sscc:0614141.1234567890" in fields.parent_ids
    assert (fields.biz_step, fields.disposition) == ("packing", "in_progress")
    assert fields.read_point == "urn:epc:id:sgln:0614141.00777.0"
    assert fields.biz_location is None
    assert fields.biz_transactions == [" urn:x", "po urn:po:1"]
    assert "owning_party urn:epc:id:pgln:0614141.00001" in fields.sources
    assert fields.input_epcs == []
    assert fields.destinations == []


KEY = b"k" * 32
READER = Principal(tenant="carrier-1", role=Role.carrier, key_id="key-1")
STATE = PageState(Cursor(datetime(2026, 3, 1, 10, tzinfo=UTC), 42), 30)


def test_a_page_token_round_trips() -> None:
    query = parse_query([("EQ_bizStep", "shipping")])
    token = encode_token(KEY, query, READER, STATE)
    assert decode_token(KEY, query, READER, token) == STATE


@pytest.mark.parametrize("what", ["altered", "other key", "other query", "other reader", "garbage"])
def test_a_page_token_is_refused_when_not_ours(what: str) -> None:
    query = parse_query([("EQ_bizStep", "shipping")])
    token = encode_token(KEY, query, READER, STATE)
    payload, signature = token.split(".")
    key, reader = KEY, READER
    if what == "altered":
        token = f"{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{signature}"
    elif what == "other key":
        key = b"j" * 32
    elif what == "other query":
        query = parse_query([("EQ_bizStep", "receiving")])
    elif what == "other reader":
        reader = Principal(tenant="carrier-2", role=Role.carrier, key_id="key-2")
    else:
        token = "not-a-token"  # noqa: S105 - a page cursor, not a credential
    with pytest.raises(QueryParameterError) as caught:
        decode_token(key, query, reader, token)
    assert (caught.value.parameter, caught.value.reason) == ("nextPageToken", "invalid_next_page_token")


@pytest.mark.parametrize(
    ("role", "tenant", "expected"),
    [
        (Role.platform_operator, None, Visibility(all_events=True)),
        (Role.regulator, None, Visibility(all_events=True)),
        (Role.oem_admin, "oem-1", Visibility(tenant="oem-1")),
        (Role.oem_user, "oem-1", Visibility(tenant="oem-1")),
        (Role.auditor, "oem-1", Visibility(tenant="oem-1")),
        (Role.recycler, "rec-1", Visibility(handler="rec-1")),
        (Role.carrier, None, Visibility()),  # a handler key naming no handler sees nothing
        (Role.public, None, Visibility()),
    ],
)
def test_visibility_by_role(role: Role, tenant: str | None, expected: Visibility) -> None:
    assert visibility_of(Principal(tenant=tenant, role=role, key_id="k")) == expected


def test_the_query_context_keeps_the_documents_extra_entries_once() -> None:
    extra = {"ex": "https://example.com/ns/"}
    merged = query_context(
        [["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld", extra], [extra], "https://x.test/c"]
    )
    assert merged == ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld", extra, "https://x.test/c"]


def test_every_fixture_event_is_indexed_by_its_own_fields() -> None:
    require_fixtures()
    for fixture in all_fixture_events():
        fields = index_fields(fixture.event)
        assert fields.event_type == fixture.event["type"], fixture.name
        for name in ("epcList", "childEPCs"):
            for epc in fixture.event.get(name) or []:
                assert epc in fields.epcs, (fixture.name, epc)
        for name, column in (("inputEPCList", fields.input_epcs), ("outputEPCList", fields.output_epcs)):
            assert set(fixture.event.get(name) or []) <= set(column), fixture.name
        assert fields.read_point == (fixture.event.get("readPoint") or {}).get("id"), fixture.name
