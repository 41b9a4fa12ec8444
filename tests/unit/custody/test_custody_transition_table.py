"""The custody state machine, row by row of its table: for each step from a given state, the state after it and
every rule it breaks, as the publisher reads it (field, reason code and sentence)."""

from __future__ import annotations

import pytest

from services.custody.domain.transitions import CustodyState, Step, transition

pytestmark = pytest.mark.unit

HELD = CustodyState(holder="plant", stage="in_service")
IN_TRANSIT = CustodyState(
    holder="plant", in_transit=True, pending_from="plant", pending_to="carrier", stage="in_service"
)
UNADDRESSED = CustodyState(holder="plant", in_transit=True, pending_from="plant", pending_to=None, stage="in_service")

IN_TRANSIT_SENTENCE = (
    "The passport was dispatched by plant to carrier and is not received yet; report the receipt first."
)


def after(state: CustodyState, step: Step) -> tuple[CustodyState, list[tuple[str, str, str]]]:
    new, violations = transition(state, step)
    return new, [(v.field, v.reason, v.message) for v in violations]


CASES = {
    "dispatch by the holder": (
        HELD,
        Step("dispatch", "plant", None, "carrier"),
        CustodyState("plant", True, "plant", "carrier", "in_service"),
        [],
    ),
    "dispatch while in transit": (
        IN_TRANSIT,
        Step("dispatch", "plant", None, "other"),
        CustodyState("plant", True, "plant", "other", "in_service"),
        [("kind", "in_transit", IN_TRANSIT_SENTENCE)],
    ),
    "dispatch while in transit to nobody named": (
        UNADDRESSED,
        Step("dispatch", "plant", None, "other"),
        CustodyState("plant", True, "plant", "other", "in_service"),
        [
            (
                "kind",
                "in_transit",
                "The passport was dispatched by plant and is not received yet; report the receipt first.",
            )
        ],
    ),
    "dispatch by another handler": (
        HELD,
        Step("dispatch", "rival", None, "carrier"),
        CustodyState("rival", True, "rival", "carrier", "in_service"),
        [
            (
                "handler_id",
                "not_custodian",
                "rival does not hold custody of this passport; plant does since its last step.",
            )
        ],
    ),
    "dispatch reported for another sender": (
        HELD,
        Step("dispatch", "carrier", "rival", "carrier"),
        CustodyState("rival", True, "rival", "carrier", "in_service"),
        [
            (
                "from_handler_id",
                "not_custodian",
                "rival does not hold custody of this passport; plant does since its last step.",
            )
        ],
    ),
    "first dispatch, nobody holds it yet": (
        CustodyState(),
        Step("dispatch", "plant", None, "carrier"),
        CustodyState("plant", True, "plant", "carrier", None),
        [],
    ),
    "handover without its parties": (
        HELD,
        Step("handover", "plant", "plant", None),
        HELD,
        [("from_handler_id", "handover_parties_missing", "A handover names from_handler_id and to_handler_id.")],
    ),
    "handover reported by neither side": (
        HELD,
        Step("handover", "notary", "plant", "dealer"),
        CustodyState("dealer", False, None, None, "in_service"),
        [("handler_id", "reporter_not_party", "notary is neither side of the handover it reports.")],
    ),
    "handover to another than the consignee": (
        IN_TRANSIT,
        Step("handover", "plant", "plant", "dealer"),
        CustodyState("dealer", False, None, None, "in_service"),
        [("to_handler_id", "handover_contradicts_dispatch", "The passport is in transit to carrier, not to dealer.")],
    ),
    "handover to the consignee, reported by it": (
        IN_TRANSIT,
        Step("handover", "carrier", "plant", "carrier"),
        CustodyState("carrier", False, None, None, "in_service"),
        [],
    ),
    "handover from a party that does not hold it": (
        HELD,
        Step("handover", "rival", "rival", "dealer"),
        CustodyState("dealer", False, None, None, "in_service"),
        [
            (
                "from_handler_id",
                "not_custodian",
                "rival does not hold custody of this passport; plant does since its last step.",
            )
        ],
    ),
    "receipt by the consignee": (
        IN_TRANSIT,
        Step("receipt", "carrier", "plant"),
        CustodyState("carrier", False, None, None, "in_service"),
        [],
    ),
    "receipt by another, from another": (
        IN_TRANSIT,
        Step("receipt", "rival", "elsewhere"),
        CustodyState("rival", False, None, None, "in_service"),
        [
            (
                "handler_id",
                "receipt_contradicts_dispatch",
                "The last dispatch sent the passport to carrier, not to rival.",
            ),
            (
                "from_handler_id",
                "receipt_contradicts_dispatch",
                "The last dispatch came from plant, not from elsewhere.",
            ),
        ],
    ),
    "receipt of an unaddressed dispatch": (
        UNADDRESSED,
        Step("receipt", "anyone"),
        CustodyState("anyone", False, None, None, "in_service"),
        [],
    ),
    "receipt named for its receiver": (
        IN_TRANSIT,
        Step("receipt", "carrier-hub", None, "carrier"),
        CustodyState("carrier", False, None, None, "in_service"),
        [],
    ),
    "receipt of what was never dispatched": (
        HELD,
        Step("receipt", "rival"),
        CustodyState("rival", False, None, None, "in_service"),
        [
            (
                "kind",
                "receipt_without_dispatch",
                "plant holds custody and dispatched nothing; rival cannot have received it.",
            )
        ],
    ),
    "receipt from the holder without a dispatch": (
        HELD,
        Step("receipt", "dealer", "plant"),
        CustodyState("dealer", False, None, None, "in_service"),
        [],
    ),
    "receipt by the holder itself": (
        HELD,
        Step("receipt", "plant"),
        CustodyState("plant", False, None, None, "in_service"),
        [],
    ),
    "collection while in transit to another": (
        IN_TRANSIT,
        Step("collection", "collector"),
        CustodyState("collector", False, None, None, "collected"),
        [("kind", "in_transit", IN_TRANSIT_SENTENCE)],
    ),
    "collection by the consignee": (
        IN_TRANSIT,
        Step("collection", "carrier"),
        CustodyState("carrier", False, None, None, "collected"),
        [],
    ),
    "collection of a battery held by another": (
        HELD,
        Step("collection", "collector"),
        CustodyState("collector", False, None, None, "collected"),
        [],
    ),
    "storage by another handler": (
        HELD,
        Step("storage", "depot"),
        CustodyState("depot", False, None, None, "in_service"),
        [
            (
                "handler_id",
                "not_custodian",
                "depot does not hold custody of this passport; plant does since its last step.",
            )
        ],
    ),
    "storage while in transit": (
        IN_TRANSIT,
        Step("storage", "carrier"),
        CustodyState("carrier", False, None, None, "in_service"),
        [("kind", "in_transit", IN_TRANSIT_SENTENCE)],
    ),
    "treatment start by the holder": (
        HELD,
        Step("treatment_start", "plant"),
        CustodyState("plant", False, None, None, "in_treatment"),
        [],
    ),
    "treatment start when nobody holds it": (
        CustodyState(),
        Step("treatment_start", "recycler"),
        CustodyState("recycler", False, None, None, "in_treatment"),
        [],
    ),
    "an observation changes the stage only": (
        IN_TRANSIT,
        Step("placed_on_market", "anyone"),
        CustodyState("plant", True, "plant", "carrier", "placed_on_market"),
        [],
    ),
    "an observation without a stage keeps it": (
        IN_TRANSIT,
        Step("inspected", "anyone"),
        IN_TRANSIT,
        [],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_step_from_each_state_gives_this_state_and_these_refusals(case: str) -> None:
    state, step, expected_state, expected_violations = CASES[case]
    assert after(state, step) == (expected_state, expected_violations)
