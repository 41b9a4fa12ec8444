"""Second-life rules (Art. 77(7)): request form, custody as custody's facts tell it, who may name which
predecessor, and what a retry is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bpass.examples import valid_static_payload
from contracts.attributes import BatteryCategory
from contracts.custody import CustodyEventKind, CustodyRecorded
from contracts.identity import SecondLifeRequest
from services.identity.domain import identifiers, second_life
from services.identity.domain.second_life import CustodyView, Predecessor, RecordedOperation, SecondLifeRefused

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


def pid() -> str:
    return identifiers.new_passport_id()


def request(predecessors: list[str], **changes: Any) -> SecondLifeRequest:
    static = valid_static_payload(BatteryCategory.stationary)
    static.pop("battery_status", None)
    body: dict[str, Any] = {
        "operation": "repurposing",
        "predecessor_ids": predecessors,
        "subject": {"kind": "battery", "battery_identifier": "GS-0001"},
        "category": "stationary",
        "static_data": static,
    }
    body.update(changes)
    return SecondLifeRequest.model_validate(body)


def fact(sequence: int, kind: str, handler: str, *, frm: str | None = None, to: str | None = None) -> CustodyRecorded:
    return CustodyRecorded(
        passport_id="urn:uuid:0190f2a0-0000-7000-8000-000000000001",
        tenant="acme",
        sequence=sequence,
        kind=CustodyEventKind(kind),
        occurred_at=NOW,
        handler_id=handler,
        from_handler_id=frm,
        to_handler_id=to,
        source_event_id=f"e{sequence}",
        entry_hash="a" * 64,
        previous_hash="0" * 64,
    )


def test_request_form_duplicates_bad_ids_status_and_future_are_named() -> None:
    a = pid()
    bad = request(
        [a, a.upper().replace("URN:UUID:", "urn:uuid:"), "not-a-passport"],
        static_data={**valid_static_payload(BatteryCategory.stationary), "battery_status": "original"},
        occurred_at=(NOW + timedelta(days=1)).isoformat(),
    )
    checked = second_life.check_request(bad, now=NOW)
    reasons = {(v.field, v.reason) for v in checked.problems}
    assert ("predecessor_ids.1", "duplicate_predecessor") in reasons
    assert any(field == "predecessor_ids.2" for field, _ in reasons)
    assert ("static_data.battery_status", "status_contradicts_operation") in reasons
    assert ("occurred_at", "date_in_future") in reasons
    assert checked.predecessor_ids == [a]


@pytest.mark.parametrize(
    ("operation", "status"),
    [("repurposing", "repurposed"), ("remanufacturing", "remanufactured"), ("preparing_for_re_use", "re-used")],
)
def test_the_operation_decides_the_status(operation: str, status: str) -> None:
    checked = second_life.check_request(request([pid()], operation=operation), now=NOW)
    assert checked.problems == []
    assert checked.status.value == status


def test_custody_fold_follows_custodys_rules() -> None:
    view = CustodyView(tenant="acme")
    view = second_life.fold_custody(view, fact(1, "dispatch", "carrier", to="gridstack"))
    assert (view.holder, view.in_transit, view.pending_to) == ("carrier", True, "gridstack")
    view = second_life.fold_custody(view, fact(2, "receipt", "gridstack"))
    assert (view.holder, view.in_transit) == ("gridstack", False)
    assert set(view.parties) == {"carrier", "gridstack"}
    same = second_life.fold_custody(view, fact(2, "collection", "someone-else"))
    assert same is view  # a repeated or older entry changes nothing
    view = second_life.fold_custody(view, fact(3, "observation", "inspector"))
    assert view.holder == "gridstack"
    view = second_life.fold_custody(view, fact(4, "handover", "gridstack", frm="gridstack", to="recycler"))
    assert view.holder == "recycler"
    view = second_life.fold_custody(view, fact(5, "treatment_start", "recycler"))
    assert view.in_treatment


def predecessor(passport_id: str, tenant: str = "acme", **custody: Any) -> Predecessor:
    ceased = custody.pop("ceased", False)
    return Predecessor(passport_id, tenant, CustodyView(tenant=tenant, **custody), ceased=ceased)


def refusal(ids: list[str], found: dict[str, Predecessor], tenant: str, owner_admin: bool = False) -> SecondLifeRefused:
    with pytest.raises(SecondLifeRefused) as caught:
        second_life.authorise(ids, found, caller_tenant=tenant, owner_admin=owner_admin)
    return caught.value


def test_the_holder_may_and_the_owning_oem_admin_may() -> None:
    a, b = pid(), pid()
    held = predecessor(a, holder="gridstack", parties=("gridstack",))
    own = predecessor(b, tenant="gridstack")
    second_life.authorise([a], {a: held}, caller_tenant="gridstack", owner_admin=False)
    second_life.authorise([b], {b: own}, caller_tenant="gridstack", owner_admin=True)


def test_unknown_and_invisible_predecessors_are_not_found() -> None:
    a, b = pid(), pid()
    stranger = predecessor(b, holder="someone", parties=("someone",))
    refused = refusal([a, b], {b: stranger}, "gridstack")
    assert refused.status_code == 404
    assert [(v.field, v.reason) for v in refused.violations] == [
        ("predecessor_ids.0", "predecessor_not_found"),
        ("predecessor_ids.1", "predecessor_not_found"),
    ]


def test_not_in_custody_in_transit_ceased_in_treatment_conflict() -> None:
    a, b, c, d, e = (pid() for _ in range(5))
    found = {
        a: predecessor(a, holder="recycler", parties=("gridstack", "recycler")),  # handed on
        b: predecessor(b, holder="gridstack", in_transit=True, pending_to="other", parties=("gridstack",)),
        c: predecessor(c, holder="gridstack", parties=("gridstack",), ceased=True),
        d: predecessor(d, holder="gridstack", parties=("gridstack",), in_treatment=True),
        e: predecessor(e, tenant="gridstack"),  # its own, but the caller is a handler key, not the OEM admin
    }
    refused = refusal([a, b, c, d, e], found, "gridstack")
    assert refused.status_code == 409
    assert [v.reason for v in refused.violations] == [
        "predecessor_not_in_custody",
        "predecessor_not_in_custody",
        "predecessor_ceased",
        "predecessor_in_treatment",
        "predecessor_not_in_custody",
    ]


def test_a_retry_is_the_same_operation_and_predecessors() -> None:
    a, b = pid(), pid()
    recorded = RecordedOperation("urn:uuid:s", "repurposing", (a, b))
    second_life.check_retry(recorded, request([b, a]), [b, a])
    with pytest.raises(SecondLifeRefused) as other:
        second_life.check_retry(recorded, request([a]), [a])
    assert other.value.violations[0].reason == "second_life_conflict"
    with pytest.raises(SecondLifeRefused) as taken:
        second_life.check_retry(None, request([a]), [a])
    assert (taken.value.status_code, taken.value.violations[0].reason) == (409, "battery_identifier_taken")
