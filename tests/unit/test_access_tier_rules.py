"""Access tiers decided per reader and per field: which tier each kind of principal reads at, what each tier sees of
static data, extensions and the read-model state (nested sections, unmapped parts owner-only), the tier of a path,
the dimensions a reader may not filter on, and the refusals a value-chain operator reads."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.attributes import AccessTier
from services.common.access import (
    LEGITIMATE_INTEREST_ROLES,
    ReadPurpose,
    purpose_required_message,
    read_entitlement_refusal,
    reader_tier,
    visible_extensions,
    visible_static_data,
)
from services.common.auth import Principal, Role
from services.reporting.domain.tiers import Section, hidden_dimensions, state_for_tier, tier_of_path

P, LI, AU, OW = AccessTier.public, AccessTier.legitimate_interest, AccessTier.authorities, AccessTier.owner


def principal(role: Role, tenant: str | None = None) -> Principal:
    return Principal(tenant=tenant, role=role, key_id="k")


@pytest.mark.parametrize(
    ("role", "tenant", "purpose", "tier"),
    [
        (Role.oem_admin, "acme", None, OW),
        (Role.oem_user, "acme", None, OW),
        (Role.auditor, "acme", None, OW),
        (Role.auditor, "globex", None, P),
        (Role.oem_admin, "globex", "repair", P),
        (Role.platform_operator, None, None, OW),
        (Role.regulator, None, None, AU),
        (Role.regulator, "acme", "market_surveillance", AU),
        *[(role, "h-1", "repair", LI) for role in sorted(LEGITIMATE_INTEREST_ROLES)],
        *[(role, "h-1", None, P) for role in sorted(LEGITIMATE_INTEREST_ROLES)],
        (Role.repairer, "h-1", "", P),
        (Role.public, None, "repair", P),
    ],
)
def test_each_principal_reads_at_its_tier(
    role: Role, tenant: str | None, purpose: str | None, tier: AccessTier
) -> None:
    assert reader_tier(principal(role, tenant), "acme", purpose=purpose) is tier


def test_the_owner_gets_a_copy_of_all_static_data_and_extensions_the_others_only_theirs() -> None:
    static = {"manufacturer": "Acme", "test_reports_url": "https://x", "private_note": "n"}
    owned = visible_static_data(static, OW)
    assert owned == static
    assert owned is not static
    assert visible_static_data(static, AU) == {"manufacturer": "Acme", "test_reports_url": "https://x"}
    assert visible_static_data(static, LI) == {"manufacturer": "Acme"}
    extensions = {"colour": "blue", "cell_supplier": "X"}
    assert visible_extensions(extensions, {"colour"}, OW) == extensions
    assert visible_extensions(extensions, {"colour"}, OW) is not extensions
    assert visible_extensions(extensions, {"colour"}, AU) == {"colour": "blue"}
    assert visible_extensions(extensions, set(), LI) == {}


def test_a_reader_without_a_purpose_is_told_every_purpose_and_the_limit_of_its_text() -> None:
    assert purpose_required_message() == (
        "State why you read this passport: add the query parameter `purpose` with one of repair, maintenance, "
        "repurposing, remanufacturing, preparing_for_reuse, collection, transport, dismantling, recycling, refining, "
        "market_surveillance, conformity_assessment, customs_control (and optionally `purpose_text`, up to 500 "
        "characters); the read is logged for the passport's owner and the authorities."
    )


def test_each_entitlement_refusal_names_the_handler_and_the_rule() -> None:
    carrier = principal(Role.carrier, "carrier-1")
    assert read_entitlement_refusal(carrier, ReadPurpose.transport, None, frozenset()) == (
        "handler_not_registered",
        "The key's handler carrier-1 is not in the handler registry: only registered, verified operators read the "
        "legitimate-interest tier.",
    )
    keyless = principal(Role.carrier)
    refusal = read_entitlement_refusal(keyless, ReadPurpose.transport, "verified", frozenset({"carrier"}))
    assert refusal is not None
    assert refusal[1].startswith("The key's handler (none) is not in the handler registry")
    assert read_entitlement_refusal(carrier, ReadPurpose.transport, "suspended", frozenset({"carrier"})) == (
        "handler_suspended",
        "Handler carrier-1 is suspended in the handler registry; it reads the public tier only.",
    )
    assert read_entitlement_refusal(carrier, ReadPurpose.transport, "pending", frozenset({"carrier"})) == (
        "handler_not_verified",
        "Handler carrier-1 is not verified yet; it reads the public tier until it is.",
    )
    assert read_entitlement_refusal(carrier, ReadPurpose.recycling, "verified", frozenset({"carrier", "refiner"})) == (
        "purpose_not_allowed_for_role",
        "The purpose recycling is the work of: collector, recycler; handler carrier-1 is registered as carrier, "
        "refiner and may not state it.",
    )
    assert read_entitlement_refusal(carrier, ReadPurpose.customs_control, "verified", frozenset()) == (
        "purpose_not_allowed_for_role",
        "The purpose customs_control is the work of: authorities only; handler carrier-1 is registered as nothing "
        "and may not state it.",
    )
    assert read_entitlement_refusal(carrier, ReadPurpose.transport, "verified", frozenset({"carrier"})) is None


def test_a_section_is_readable_from_its_most_open_field_and_an_empty_one_by_the_owner_only() -> None:
    assert Section({"a": AU, "b": LI, "c": OW}).floor is LI
    assert Section({"inner": Section({"x": P}), "y": AU}).floor is P
    assert Section({}).floor is OW


def state() -> dict[str, Any]:
    return {
        "passport_id": "urn:uuid:p",
        "status": "original",
        "custody_timeline": [{"handler": "h"}],
        "product_family": "F1",
        "unmapped_section": {"x": 1},
        "in_service": {
            "put_into_service_at": "2026-01-01",
            "latest": {"state_of_charge_pct": 80, "unmapped_metric": 1},
            "unmapped": 2,
        },
        "recovery": {"outcome": "recycled"},
        "static_data": "not a dict",
    }


def test_each_tier_sees_its_sections_nested_sections_filtered_key_by_key_and_nothing_unmapped() -> None:
    whole = state()
    owner_view = state_for_tier(whole, OW)
    assert owner_view == whole
    assert owner_view is not whole
    assert state_for_tier(whole, AU) == {
        "passport_id": "urn:uuid:p",
        "status": "original",
        "custody_timeline": [{"handler": "h"}],
        "in_service": {"put_into_service_at": "2026-01-01", "latest": {"state_of_charge_pct": 80}},
        "recovery": {"outcome": "recycled"},
        "static_data": "not a dict",  # a section's value of another shape is kept whole, for who may read the section
    }
    assert state_for_tier(whole, LI) == {
        "passport_id": "urn:uuid:p",
        "status": "original",
        "in_service": {"put_into_service_at": "2026-01-01", "latest": {"state_of_charge_pct": 80}},
        "static_data": "not a dict",
    }
    assert state_for_tier(whole, P) == {"passport_id": "urn:uuid:p", "static_data": "not a dict"}


def test_the_tier_of_a_path_is_its_fields_its_sections_floor_or_the_owners_when_unmapped() -> None:
    assert tier_of_path("custody_timeline") is AU
    assert tier_of_path("recovery") is AU
    assert tier_of_path("in_service") is LI
    assert tier_of_path("in_service.latest.state_of_charge_pct") is LI
    assert tier_of_path("status.anything.below") is LI, "below a plain field, the field's tier"
    assert tier_of_path("in_service.unmapped") is OW
    assert tier_of_path("unmapped") is OW


def test_a_reader_may_not_filter_or_group_by_what_it_may_not_read() -> None:
    names = ["status", "current_handler", "product_family", "ext.colour", "no_such_dimension", "kind"]
    assert hidden_dimensions(names, OW) == []
    assert hidden_dimensions(names, AU) == ["product_family", "ext.colour", "no_such_dimension"]
    assert hidden_dimensions(names, LI) == ["current_handler", "product_family", "ext.colour", "no_such_dimension"]
    assert hidden_dimensions(names, P) == [
        "status",
        "current_handler",
        "product_family",
        "ext.colour",
        "no_such_dimension",
    ]
