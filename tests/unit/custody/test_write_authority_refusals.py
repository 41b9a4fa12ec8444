"""Write authority as a refused party reads it: who the platform takes the writer for (its source or its registry
record) and, for each row of the rule table, the exact field, reason and sentence of the refusal, which says where
the battery is without naming who holds it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts.custody import HandlerRecord, VerificationState
from services.custody.domain.authority import (
    Actor,
    ActorKind,
    Write,
    actor_of,
    authority_violations,
    handler_actor,
    source_party,
)
from services.custody.domain.transitions import CustodyState

pytestmark = pytest.mark.unit

TENANT = "acme"


def record(handler_id: str, roles: list[str], identifiers: list[tuple[str, str]] | None = None) -> HandlerRecord:
    return HandlerRecord.model_validate(
        {
            "handler_id": handler_id,
            "name": handler_id,
            "roles": roles,
            "identifiers": [{"scheme": s, "value": v} for s, v in identifiers or []],
            "state": VerificationState.verified,
            "version": 1,
            "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
        }
    )


def test_a_handler_is_taken_with_its_registry_roles_and_the_tenants_it_is_a_delegate_of() -> None:
    plant = record("plant", ["carrier", "collector"], [("oem_delegate", "acme"), ("gln", "4012345000009")])
    assert handler_actor("plant", plant) == Actor(
        ActorKind.handler, "plant", frozenset({"carrier", "collector"}), frozenset({"acme"})
    )
    assert handler_actor("unknown", None) == Actor(ActorKind.handler, "unknown", frozenset(), frozenset())


def test_an_oem_or_authority_source_speaks_for_itself_any_other_for_the_reporting_handler() -> None:
    assert source_party("urn:bpass:tenant:acme") == (ActorKind.oem, "acme")
    assert source_party("urn:bpass:tenant:acme:mes:line-2") == (ActorKind.oem, "acme")
    assert source_party("urn:bpass:authority:kba:desk-1") == (ActorKind.authority, "kba")
    assert source_party("urn:bpass:handler:plant") is None
    handlers = {"plant": record("plant", ["carrier"])}
    assert actor_of("urn:bpass:tenant:acme:mes", "plant", handlers) == Actor(ActorKind.oem, "acme")
    assert actor_of("urn:bpass:authority:kba", "plant", handlers) == Actor(ActorKind.authority, "kba")
    assert actor_of("urn:bpass:handler:plant", "plant", handlers) == Actor(
        ActorKind.handler, "plant", frozenset({"carrier"})
    )
    assert actor_of("urn:bpass:handler:other", "other", handlers) == Actor(ActorKind.handler, "other")


HELD = CustodyState(holder="holder", stage="in_service")
WITH_PRODUCER = CustodyState(stage="placed_on_market")
IN_TRANSIT = CustodyState(holder="holder", in_transit=True, pending_from="holder", pending_to="consignee")
WASTE = CustodyState(holder="collector-a", stage="collected")

STRANGER = Actor(ActorKind.handler, "stranger", frozenset({"carrier"}))
COLLECTOR = Actor(ActorKind.handler, "collector-b", frozenset({"collector"}))
OEM = Actor(ActorKind.oem, TENANT)
OTHER_OEM = Actor(ActorKind.oem, "globex")

CASES = {
    "an OEM moving custody": (
        Write("dispatch", "plant"),
        OEM,
        HELD,
        (
            "kind",
            "handler_only",
            "dispatch moves custody and is reported by a registered handler; acme is not one (an OEM reports "
            "transfers through its delegate handler).",
        ),
    ),
    "a handover reported by another than the giver": (
        Write("handover", "stranger", "holder", "stranger"),
        STRANGER,
        HELD,
        ("handler_id", "not_holder", "A handover is reported by the handler handing over (holder), not by stranger."),
    ),
    "a dispatch by a handler that holds nothing, with its sender named": (
        Write("dispatch", "stranger", "stranger", "consignee"),
        STRANGER,
        HELD,
        ("from_handler_id", "not_holder", "stranger may not dispatch this battery: another handler holds it."),
    ),
    "a dispatch by a handler that holds nothing": (
        Write("dispatch", "stranger", None, "consignee"),
        STRANGER,
        WITH_PRODUCER,
        ("handler_id", "not_holder", "stranger may not dispatch this battery: it is with its producer."),
    ),
    "a receipt reported for another receiver": (
        Write("receipt", "stranger", None, "consignee"),
        STRANGER,
        IN_TRANSIT,
        ("to_handler_id", "not_consignee", "A receipt is reported by its receiver consignee, not by stranger."),
    ),
    "a receipt by a handler the battery was not sent to": (
        Write("receipt", "stranger"),
        STRANGER,
        IN_TRANSIT,
        (
            "handler_id",
            "not_consignee",
            "stranger is not the consignee of this battery: another handler holds it, in transit to a named consignee.",
        ),
    ),
    "a collection by a handler that is not a collector": (
        Write("collection", "stranger"),
        STRANGER,
        HELD,
        ("handler_id", "collector_only", "stranger is not a registered collector; only collectors collect waste."),
    ),
    "a collection of a battery in transit to another": (
        Write("collection", "collector-b"),
        COLLECTOR,
        IN_TRANSIT,
        (
            "handler_id",
            "not_consignee",
            "collector-b may not collect this battery: another handler holds it, in transit to a named consignee.",
        ),
    ),
    "a collection of waste another operator holds": (
        Write("collection", "collector-b"),
        COLLECTOR,
        WASTE,
        (
            "handler_id",
            "not_holder",
            "collector-b may not collect this battery: it is waste and another handler holds it.",
        ),
    ),
    "a treatment start by a handler that does not hold it": (
        Write("treatment_start", "stranger"),
        STRANGER,
        HELD,
        ("handler_id", "not_holder", "stranger may not record treatment_start: another handler holds it."),
    ),
    "placing on the market by another OEM": (
        Write("placed_on_market", "globex"),
        OTHER_OEM,
        WITH_PRODUCER,
        (
            "kind",
            "stage_owner_only",
            "placed_on_market changes the battery's stage and is recorded by its producer or the producer's "
            "delegate, not by globex.",
        ),
    ),
    "a theft reported by a stranger": (
        Write("stolen", "stranger"),
        STRANGER,
        HELD,
        (
            "kind",
            "holder_or_authority_only",
            "stolen is recorded by the holder or an authority, not stranger: another handler holds it.",
        ),
    ),
    "a recall by a handler": (
        Write("recalled", "stranger"),
        STRANGER,
        HELD,
        (
            "kind",
            "owner_or_authority_only",
            "recalled is recorded by the battery's producer, the producer's delegate or an authority, not by stranger.",
        ),
    ),
    "an observation by a stranger": (
        Write("inspected", "stranger"),
        STRANGER,
        WITH_PRODUCER,
        ("handler_id", "not_holder", "stranger may not record inspected on this battery: it is with its producer."),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_refusal_names_its_field_its_reason_and_where_the_battery_is(case: str) -> None:
    write, actor, state, expected = CASES[case]
    found = authority_violations(write, actor, TENANT, state)
    assert [(v.field, v.reason, v.message) for v in found] == [expected]


def test_the_consignee_and_the_holder_may_record_a_receipt_and_nobody_else_without_a_rule() -> None:
    consignee = Actor(ActorKind.handler, "consignee")
    holder = Actor(ActorKind.handler, "holder")
    assert authority_violations(Write("receipt", "consignee"), consignee, TENANT, IN_TRANSIT) == []
    assert authority_violations(Write("receipt", "holder"), holder, TENANT, HELD) == []
    collector_record = record("collector-a", ["collector"])
    recycler = Actor(ActorKind.handler, "recycler", frozenset({"recycler"}))
    from_collector = Write("receipt", "recycler", "collector-a")
    assert authority_violations(from_collector, recycler, TENANT, WASTE, collector_record) == []
    assert authority_violations(from_collector, recycler, TENANT, WASTE, record("collector-a", ["carrier"])) != []
    assert authority_violations(from_collector, recycler, TENANT, WASTE, None) != []
    assert authority_violations(from_collector, STRANGER, TENANT, WASTE, collector_record) != []
    in_transit_waste = CustodyState("collector-a", True, "collector-a", None, "collected")
    assert authority_violations(from_collector, recycler, TENANT, in_transit_waste, collector_record) != []
