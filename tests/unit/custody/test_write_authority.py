"""Write authority, the pure rule table: who may record which step for which battery (services/custody/domain/
authority.py). A matrix written independently of the implementation, and properties over generated states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.custody import CustodyEventKind, HandlerRecord, VerificationState
from services.custody.domain.authority import (
    REASONS,
    TRANSFER_KINDS,
    Actor,
    ActorKind,
    Write,
    actor_of,
    authority_violations,
    source_party,
)
from services.custody.domain.event_time import EARLIEST, event_time_violations
from services.custody.domain.transitions import CustodyState

pytestmark = pytest.mark.unit

TENANT = "acme"
HOLDER, CONSIGNEE, STRANGER, COLLECTOR, RECYCLER, DELEGATE = (
    "holder",
    "consignee",
    "stranger",
    "collector",
    "recycler",
    "delegate",
)
ALL_KINDS = [k.value for k in CustodyEventKind if k is not CustodyEventKind.error_declaration]


def record(handler_id: str, roles: list[str], delegate_of: list[str] | None = None) -> HandlerRecord:
    return HandlerRecord.model_validate(
        {
            "handler_id": handler_id,
            "name": handler_id,
            "roles": roles,
            "identifiers": [{"scheme": "oem_delegate", "value": t} for t in delegate_of or []],
            "state": VerificationState.verified,
            "version": 1,
            "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
        }
    )


HANDLERS = {
    HOLDER: record(HOLDER, ["carrier"]),
    CONSIGNEE: record(CONSIGNEE, ["carrier"]),
    STRANGER: record(STRANGER, ["carrier"]),
    COLLECTOR: record(COLLECTOR, ["collector"]),
    RECYCLER: record(RECYCLER, ["recycler"]),
    DELEGATE: record(DELEGATE, ["carrier"], [TENANT]),
}
ACTORS = {
    "holder": actor_of(f"urn:bpass:handler:{HOLDER}", HOLDER, HANDLERS),
    "consignee": actor_of(f"urn:bpass:handler:{CONSIGNEE}", CONSIGNEE, HANDLERS),
    "stranger": actor_of(f"urn:bpass:handler:{STRANGER}", STRANGER, HANDLERS),
    "collector": actor_of(f"urn:bpass:handler:{COLLECTOR}", COLLECTOR, HANDLERS),
    "delegate": actor_of(f"urn:bpass:handler:{DELEGATE}", DELEGATE, HANDLERS),
    "own_oem": actor_of(f"urn:bpass:tenant:{TENANT}:mes", TENANT, HANDLERS),
    "other_oem": actor_of("urn:bpass:tenant:globex", "globex", HANDLERS),
    "authority": actor_of("urn:bpass:authority:msa-de", "msa-de", HANDLERS),
}
HELD = CustodyState(holder=HOLDER)
IN_TRANSIT = CustodyState(holder=HOLDER, in_transit=True, pending_from=HOLDER, pending_to=CONSIGNEE)
FRESH = CustodyState()


def write(kind: str, actor: str) -> Write:
    """The step as the actor would report it: transfers name the actor as the from / receiving side."""
    who = ACTORS[actor].id
    if kind == "dispatch":
        return Write(kind, who, to_handler_id=CONSIGNEE)
    if kind == "handover":
        return Write(kind, who, who, CONSIGNEE)
    return Write(kind, who)


def verdict(kind: str, actor: str, state: CustodyState) -> str | None:
    """None when accepted, else the reason code of the first refusal."""
    found = authority_violations(write(kind, actor), ACTORS[actor], TENANT, state)
    return found[0].reason if found else None


# Expected verdicts, by hand from the README's table (None = accepted).
TRANSFER = ["dispatch", "handover", "receipt", "collection", "storage", "treatment_start"]
OBSERVE = ["placed_on_market", "in_service", "stolen", "destroyed", "recalled", "inspected"]
EXPECTED_HELD: dict[str, dict[str, str | None]] = {
    "holder": {
        "dispatch": None, "handover": None, "receipt": None, "collection": "collector_only", "storage": None,
        "treatment_start": None, "placed_on_market": "stage_owner_only", "in_service": "stage_owner_only",
        "stolen": None, "destroyed": None, "recalled": "owner_or_authority_only", "inspected": None,
    },
    "stranger": {
        "dispatch": "not_holder", "handover": "not_holder", "receipt": "not_consignee",
        "collection": "collector_only", "storage": "not_holder", "treatment_start": "not_holder",
        "placed_on_market": "stage_owner_only", "in_service": "stage_owner_only",
        "stolen": "holder_or_authority_only", "destroyed": "holder_or_authority_only",
        "recalled": "owner_or_authority_only", "inspected": "not_holder",
    },
    "collector": {
        "dispatch": "not_holder", "handover": "not_holder", "receipt": "not_consignee", "collection": None,
        "storage": "not_holder", "treatment_start": "not_holder", "placed_on_market": "stage_owner_only",
        "in_service": "stage_owner_only", "stolen": "holder_or_authority_only",
        "destroyed": "holder_or_authority_only", "recalled": "owner_or_authority_only", "inspected": "not_holder",
    },
    "delegate": {
        "dispatch": "not_holder", "handover": "not_holder", "receipt": "not_consignee",
        "collection": "collector_only", "storage": "not_holder", "treatment_start": "not_holder",
        "placed_on_market": None, "in_service": None, "stolen": "holder_or_authority_only",
        "destroyed": "holder_or_authority_only", "recalled": None, "inspected": "not_holder",
    },
    "own_oem": {
        **{k: "handler_only" for k in TRANSFER},
        "placed_on_market": None, "in_service": None, "stolen": "holder_or_authority_only",
        "destroyed": "holder_or_authority_only", "recalled": None, "inspected": "not_holder",
    },
    "other_oem": {
        **{k: "handler_only" for k in TRANSFER},
        "placed_on_market": "stage_owner_only", "in_service": "stage_owner_only",
        "stolen": "holder_or_authority_only", "destroyed": "holder_or_authority_only",
        "recalled": "owner_or_authority_only", "inspected": "not_holder",
    },
    "authority": {
        **{k: "handler_only" for k in TRANSFER},
        "placed_on_market": "stage_owner_only", "in_service": "stage_owner_only", "stolen": None,
        "destroyed": None, "recalled": None, "inspected": None,
    },
}  # fmt: skip


@pytest.mark.parametrize("actor", sorted(EXPECTED_HELD))
@pytest.mark.parametrize("kind", TRANSFER + OBSERVE)
def test_who_may_write_on_a_battery_a_handler_holds(kind: str, actor: str) -> None:
    assert verdict(kind, actor, HELD) == EXPECTED_HELD[actor][kind]


def test_the_consignee_of_a_dispatch_receives_it_and_observes_it_and_nothing_else() -> None:
    accepted = {k for k in TRANSFER + OBSERVE if verdict(k, "consignee", IN_TRANSIT) is None}
    assert accepted == {"receipt", "inspected"}
    # Once it is no longer in transit to it, the former consignee is a stranger.
    assert verdict("receipt", "consignee", HELD) == "not_consignee"


def test_before_the_first_step_the_producer_and_its_delegates_hold_the_battery() -> None:
    for kind in ("dispatch", "handover", "storage", "stolen", "destroyed", "inspected"):
        assert verdict(kind, "delegate", FRESH) is None, kind
        assert verdict(kind, "stranger", FRESH) is not None, kind
    for kind in ("stolen", "destroyed", "placed_on_market", "recalled"):
        assert verdict(kind, "own_oem", FRESH) is None, kind
        assert verdict(kind, "other_oem", FRESH) is not None, kind


def test_a_transfer_is_reported_by_its_from_side_never_by_the_receiver_claiming_it() -> None:
    claimed = Write("handover", CONSIGNEE, HOLDER, CONSIGNEE)
    found = authority_violations(claimed, ACTORS["consignee"], TENANT, IN_TRANSIT)
    assert [(v.field, v.reason) for v in found] == [("handler_id", "not_holder")]
    to_itself = Write("handover", STRANGER, HOLDER, STRANGER)
    assert authority_violations(to_itself, ACTORS["stranger"], TENANT, HELD)[0].reason == "not_holder"
    dispatched_for = Write("dispatch", STRANGER, HOLDER, STRANGER)
    assert authority_violations(dispatched_for, ACTORS["stranger"], TENANT, HELD)[0].reason == "not_holder"
    # A receipt reported for someone else.
    assert authority_violations(Write("receipt", HOLDER, None, CONSIGNEE), ACTORS["holder"], TENANT, IN_TRANSIT)[
        0
    ].reason == ("not_consignee")


def test_a_recycler_receives_waste_from_the_collector_holding_it() -> None:
    recycler = Actor(ActorKind.handler, RECYCLER, frozenset({"recycler"}))
    collected = CustodyState(holder=COLLECTOR, stage="collected")
    from_collector = Write("receipt", RECYCLER, COLLECTOR)
    assert authority_violations(from_collector, recycler, TENANT, collected, HANDLERS[COLLECTOR]) == []
    # Not from a carrier, not without naming the collector, not when the collector's record is unknown.
    carried = CustodyState(holder=HOLDER, stage="collected")
    assert authority_violations(Write("receipt", RECYCLER, HOLDER), recycler, TENANT, carried, HANDLERS[HOLDER])
    assert authority_violations(Write("receipt", RECYCLER), recycler, TENANT, collected, HANDLERS[COLLECTOR])
    assert authority_violations(from_collector, recycler, TENANT, collected, None)
    # Another collector does not "collect" waste a collector holds already; a recycler holding it stores it.
    other = Actor(ActorKind.handler, "k2x", frozenset({"collector"}))
    assert authority_violations(Write("collection", "k2x"), other, TENANT, collected)[0].reason == "not_holder"
    in_transit = CustodyState(holder=HOLDER, in_transit=True, pending_from=HOLDER, pending_to=CONSIGNEE)
    assert authority_violations(Write("collection", "k2x"), other, TENANT, in_transit)[0].reason == "not_consignee"


def test_sources_name_oems_and_authorities_and_handlers_are_read_from_the_registry() -> None:
    assert source_party("urn:bpass:tenant:acme:mes") == (ActorKind.oem, "acme")
    assert source_party("urn:bpass:authority:msa-de") == (ActorKind.authority, "msa-de")
    assert source_party("urn:bpass:handler:acme") is None
    assert ACTORS["delegate"].delegate_of == frozenset({TENANT})
    assert ACTORS["collector"].roles == frozenset({"collector"})
    unknown = actor_of("urn:bpass:handler:x", "x", HANDLERS)
    assert (unknown.kind, unknown.roles, unknown.delegate_of) == (ActorKind.handler, frozenset(), frozenset())


handler_ids = st.sampled_from([HOLDER, CONSIGNEE, STRANGER, COLLECTOR, DELEGATE, "x"])
states = st.builds(
    CustodyState,
    holder=st.none() | handler_ids,
    in_transit=st.booleans(),
    pending_from=st.none() | handler_ids,
    pending_to=st.none() | handler_ids,
    stage=st.none() | st.sampled_from(["placed_on_market", "in_service", "collected", "in_treatment"]),
)


@settings(max_examples=400, deadline=None)
@given(state=states, kind=st.sampled_from(ALL_KINDS), tenant=st.sampled_from([TENANT, "globex"]))
def test_a_handler_that_neither_holds_nor_is_consignee_nor_entitled_may_write_nothing(
    state: CustodyState, kind: str, tenant: str
) -> None:
    stranger = Actor(ActorKind.handler, "zz", frozenset({"carrier"}))
    found = authority_violations(Write(kind, "zz", "zz" if kind == "handover" else None), stranger, tenant, state)
    assert found
    assert {v.reason for v in found} <= REASONS


@settings(max_examples=400, deadline=None)
@given(state=states, kind=st.sampled_from(sorted(TRANSFER_KINDS)), which=st.sampled_from(["own_oem", "authority"]))
def test_oems_and_authorities_never_move_custody(state: CustodyState, kind: str, which: str) -> None:
    actor = ACTORS[which]
    assert [v.reason for v in authority_violations(Write(kind, actor.id), actor, TENANT, state)] == ["handler_only"]


@settings(max_examples=400, deadline=None)
@given(state=states, kind=st.sampled_from(ALL_KINDS))
def test_another_tenants_oem_and_its_delegates_may_write_nothing(state: CustodyState, kind: str) -> None:
    foreign = Actor(ActorKind.handler, "fd", frozenset({"carrier"}), frozenset({"globex"}))
    for actor in (ACTORS["other_oem"], foreign):
        if state.holder == actor.id or state.pending_to == actor.id:
            continue
        assert authority_violations(Write(kind, actor.id), actor, TENANT, state), (actor, kind)


@settings(max_examples=300, deadline=None)
@given(
    occurred=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)),
)
def test_event_times_outside_2000_to_a_day_after_receipt_are_refused(occurred: datetime) -> None:
    received = datetime(2026, 12, 7, 12, tzinfo=UTC)
    found = event_time_violations(occurred, received)
    inside = EARLIEST <= occurred <= received + timedelta(hours=24)
    assert (found == []) == inside
    assert all((v.field, v.reason) == ("occurred_at", "occurred_at_out_of_range") for v in found)


def test_the_window_edges() -> None:
    received = datetime(2026, 12, 7, 12, tzinfo=UTC)
    assert event_time_violations(EARLIEST, received) == []
    assert event_time_violations(EARLIEST - timedelta(microseconds=1), received)
    assert event_time_violations(received + timedelta(hours=24), received) == []
    assert event_time_violations(received + timedelta(hours=24, microseconds=1), received)
    assert event_time_violations(datetime.max.replace(tzinfo=UTC), received)
    assert event_time_violations(datetime.min.replace(tzinfo=UTC), received)
