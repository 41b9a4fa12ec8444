"""Who may read the legitimate-interest tier for which purpose: the registry's state and roles decide."""

from __future__ import annotations

import pytest

from contracts.custody import HandlerRole
from services.common.access import PURPOSE_ROLES, ReadPurpose, read_entitlement_refusal
from services.common.auth import Principal, Role

CARRIER = Principal(tenant="carrier-1", role=Role.carrier, key_id="k1")


def reason(principal: Principal, purpose: ReadPurpose, state: str | None, roles: set[str]) -> str | None:
    refusal = read_entitlement_refusal(principal, purpose, state, frozenset(roles))
    return None if refusal is None else refusal[0]


def test_every_purpose_has_roles_that_exist_in_the_registry() -> None:
    assert set(PURPOSE_ROLES) == set(ReadPurpose)
    known = {role.value for role in HandlerRole}
    assert all(roles <= known for roles in PURPOSE_ROLES.values())


@pytest.mark.parametrize(
    ("state", "roles", "purpose", "expected"),
    [
        (None, set(), ReadPurpose.transport, "handler_not_registered"),
        ("pending", {"carrier"}, ReadPurpose.transport, "handler_not_verified"),
        ("suspended", {"carrier"}, ReadPurpose.transport, "handler_suspended"),
        ("verified", {"carrier"}, ReadPurpose.transport, None),
        ("verified", {"carrier"}, ReadPurpose.recycling, "purpose_not_allowed_for_role"),
        ("verified", {"carrier"}, ReadPurpose.market_surveillance, "purpose_not_allowed_for_role"),
        ("verified", {"collector"}, ReadPurpose.recycling, None),
        ("verified", {"recycler"}, ReadPurpose.recycling, None),
        ("verified", {"second_life_operator"}, ReadPurpose.repurposing, None),
        ("verified", {"refiner"}, ReadPurpose.refining, None),
        ("verified", {"repairer"}, ReadPurpose.repair, None),
    ],
)
def test_refusals(state: str | None, roles: set[str], purpose: ReadPurpose, expected: str | None) -> None:
    assert reason(CARRIER, purpose, state, roles) == expected


def test_a_key_without_a_handler_is_not_registered() -> None:
    keyless = Principal(tenant=None, role=Role.recycler, key_id="k2")
    assert reason(keyless, ReadPurpose.recycling, "verified", {"recycler"}) == "handler_not_registered"
