"""The single-passport page's content (dashboard/passport_view.py): nested fields as nested sections, the timeline in
event-time order (minted first, ceased last) with who handed to whom."""

from __future__ import annotations

from typing import Any

from services.reporting.dashboard.passport_view import sections, timeline


def state() -> dict[str, Any]:
    return {
        "passport_id": "urn:uuid:1",
        "minted_at": "2026-06-01T09:00:00+00:00",  # learned late: minted after the battery was in service
        "minted_by": "oem_admin:acme:key",
        "ceased_at": "2026-05-20T00:00:00+00:00",
        "custody_timeline": [
            {
                "sequence": 2,
                "kind": "receipt",
                "occurred_at": "2026-02-03T08:00:00+00:00",
                "handler_id": "dealer-9",
                "from_handler_id": "carrier-7",
                "to_handler_id": "dealer-9",
            },
            {
                "sequence": 1,
                "kind": "dispatch",
                "occurred_at": "2026-02-01T08:00:00+00:00",
                "handler_id": "plant-1",
                "from_handler_id": None,
                "to_handler_id": "carrier-7",
            },
        ],
        "status_history": [
            {"occurred_at": "2026-05-01T00:00:00+00:00", "status": "waste", "stage": "in_treatment", "by": "rec-2"},
            {"occurred_at": "2026-03-01T00:00:00+00:00", "status": "original", "stage": "in_service", "by": None},
        ],
        "static_data": {
            "battery_model": "VX-400",
            "manufacturer": {"name": "Acme", "address": {"city": "Ulm", "country": "DE"}},
            "hazardous_substances": [{"name": "cobalt", "cas": "7440-48-4"}, {"name": "nickel", "cas": "7440-02-0"}],
            "extinguishing_agents": ["water", "sand"],
        },
        "recovery": {"recovered_kg_by_material": {"cobalt": "4.1"}},
    }


def test_the_timeline_opens_with_the_minting_and_closes_with_the_cease_in_event_time_between() -> None:
    kinds_and_times = [(ev.kind, ev.at[:10]) for ev in timeline(state())]
    assert kinds_and_times == [
        ("minted", "2026-06-01"),
        ("custody", "2026-02-01"),
        ("custody", "2026-02-03"),
        ("status", "2026-03-01"),
        ("status", "2026-05-01"),
        ("ceased", "2026-05-20"),
    ]


def test_custody_moves_say_from_whom_to_whom() -> None:
    events = [ev for ev in timeline(state()) if ev.kind == "custody"]
    assert events[0].parties == ("plant-1", "carrier-7")  # a dispatch: from whoever dispatched
    assert "plant-1 → carrier-7" in events[0].text
    assert events[1].parties == ("carrier-7", "dealer-9")
    assert "recorded by" not in events[1].text  # the receiver recorded it: already named


def test_nested_fields_are_nested_sections_lists_of_records_tables() -> None:
    found = {s.key: s for s in sections(state())}
    # top-level values first; the timeline's parts (custody, status history) are shown elsewhere
    assert list(found) == ["passport", "static_data", "recovery"]
    assert ("minted by", "oem_admin:acme:key") in found["passport"].fields
    static = found["static_data"]
    assert ("battery model", "VX-400") in static.fields
    assert ("extinguishing agents", "water, sand") in static.fields
    manufacturer = static.children[0]
    assert (manufacturer.title, manufacturer.depth) == ("manufacturer", 4)
    assert ("name", "Acme") in manufacturer.fields
    address = manufacturer.children[0]
    assert (address.title, address.depth, address.fields) == ("address", 5, [("city", "Ulm"), ("country", "DE")])
    title, columns, rows = static.tables[0]
    assert (title, columns) == ("hazardous substances", ["name", "cas"])
    assert rows == [["cobalt", "7440-48-4"], ["nickel", "7440-02-0"]]
    assert found["recovery"].children[0].fields == [("cobalt", "4.1")]
