"""Who may see which fields of a passport (Annex XIII, Art. 77(2)), decided per field, server-side.

One declarative source: the tier of every static-data field comes from the Battery Pass longlist mapping
(`contracts.attributes`, via `contracts.passport_data.field_tier`). HTTP reads, exports and change streams
all filter through `visible_static_data`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from contracts.attributes import AccessTier, can_read
from contracts.passport_data import FIELD_LONGLIST_KEYS, field_tier
from services.common.auth import OEM_ROLES, Principal, Role

LEGITIMATE_INTEREST_ROLES = frozenset({Role.carrier, Role.collector, Role.recycler, Role.refiner, Role.repairer})
AUTHORITY_ROLES = frozenset({Role.regulator})

PURPOSE_MAX_TEXT = 500


class ReadPurpose(StrEnum):
    """Why a reader outside the owning tenant reads a passport (stated with the read, and logged with it)."""

    repair = "repair"
    maintenance = "maintenance"
    repurposing = "repurposing"
    remanufacturing = "remanufacturing"
    preparing_for_reuse = "preparing_for_reuse"
    collection = "collection"
    transport = "transport"
    dismantling = "dismantling"
    recycling = "recycling"
    refining = "refining"
    market_surveillance = "market_surveillance"
    conformity_assessment = "conformity_assessment"
    customs_control = "customs_control"


def purpose_required_message() -> str:
    """The sentence a value-chain operator gets when it reads a passport without stating why."""
    return (
        "State why you read this passport: add the query parameter `purpose` with one of "
        + ", ".join(p.value for p in ReadPurpose)
        + f" (and optionally `purpose_text`, up to {PURPOSE_MAX_TEXT} characters); the read is logged for the"
        " passport's owner and the authorities."
    )


def reader_tier(principal: Principal, passport_tenant: str, *, purpose: str | None = None) -> AccessTier:
    """The tier a principal reads a passport at.

    The owning tenant's OEM roles and auditors it granted read everything; regulators read the
    authorities tier; recyclers, repairers and other value-chain operators read the legitimate-interest tier
    only when they state a purpose (which the caller logs); everyone else reads the public tier.
    """
    if principal.role in OEM_ROLES | {Role.auditor} and principal.tenant == passport_tenant:
        return AccessTier.owner
    if principal.role is Role.platform_operator:
        return AccessTier.owner
    if principal.role in AUTHORITY_ROLES:
        return AccessTier.authorities
    if principal.role in LEGITIMATE_INTEREST_ROLES and purpose:
        return AccessTier.legitimate_interest
    return AccessTier.public


def visible_static_data(static_data: dict[str, Any], tier: AccessTier) -> dict[str, Any]:
    """The static-data fields a reader at `tier` may see; unknown fields are owner-only (fail closed)."""
    if tier is AccessTier.owner:
        return dict(static_data)
    return {
        name: value
        for name, value in static_data.items()
        if name in FIELD_LONGLIST_KEYS and can_read(tier, field_tier(name))
    }


def visible_extensions(extensions: dict[str, Any], public_fields: set[str], tier: AccessTier) -> dict[str, Any]:
    """OEM extension fields are private to the owner unless the family's schema marks them public."""
    if tier is AccessTier.owner:
        return dict(extensions)
    return {name: value for name, value in extensions.items() if name in public_fields}


# --- Who may read the legitimate-interest tier, for which purpose (Art. 77(2)) ---------------------------------------

# Registry roles (contracts.custody.HandlerRole values) whose work each stated purpose belongs to. Authorities'
# purposes name no handler role: a handler key never reads for them.
PURPOSE_ROLES: dict[ReadPurpose, frozenset[str]] = {
    ReadPurpose.repair: frozenset({"repairer"}),
    ReadPurpose.maintenance: frozenset({"repairer"}),
    ReadPurpose.repurposing: frozenset({"repairer", "second_life_operator"}),
    ReadPurpose.remanufacturing: frozenset({"repairer", "second_life_operator"}),
    ReadPurpose.preparing_for_reuse: frozenset({"repairer", "second_life_operator"}),
    ReadPurpose.collection: frozenset({"collector", "carrier"}),
    ReadPurpose.transport: frozenset({"carrier"}),
    ReadPurpose.dismantling: frozenset({"recycler", "repairer", "second_life_operator"}),
    ReadPurpose.recycling: frozenset({"recycler", "collector"}),
    ReadPurpose.refining: frozenset({"refiner"}),
    ReadPurpose.market_surveillance: frozenset(),
    ReadPurpose.conformity_assessment: frozenset(),
    ReadPurpose.customs_control: frozenset(),
}
HANDLER_NOT_REGISTERED = "handler_not_registered"
HANDLER_NOT_VERIFIED = "handler_not_verified"
HANDLER_SUSPENDED = "handler_suspended"
PURPOSE_NOT_ALLOWED_FOR_ROLE = "purpose_not_allowed_for_role"


def read_entitlement_refusal(
    principal: Principal, purpose: ReadPurpose, registry_state: str | None, registry_roles: frozenset[str]
) -> tuple[str, str] | None:
    """Why a value-chain operator's key may not read the legitimate-interest tier for `purpose` (reason code,
    sentence), or None when it may: its handler (the key's tenant) must be registered and verified in the handler
    registry, and the purpose must be the work of one of the roles its registry record holds (the registry, which
    the operator keeps, says what a company does; the key's role does not widen it)."""
    handler = principal.tenant
    if handler is None or registry_state is None:
        return HANDLER_NOT_REGISTERED, (
            f"The key's handler {handler or '(none)'} is not in the handler registry: only registered, verified "
            "operators read the legitimate-interest tier."
        )
    if registry_state == "suspended":
        return (
            HANDLER_SUSPENDED,
            f"Handler {handler} is suspended in the handler registry; it reads the public tier only.",
        )
    if registry_state != "verified":
        return HANDLER_NOT_VERIFIED, f"Handler {handler} is not verified yet; it reads the public tier until it is."
    if not PURPOSE_ROLES[purpose] & registry_roles:
        allowed = ", ".join(sorted(PURPOSE_ROLES[purpose])) or "authorities only"
        return PURPOSE_NOT_ALLOWED_FOR_ROLE, (
            f"The purpose {purpose.value} is the work of: {allowed}; handler {handler} is registered as "
            f"{', '.join(sorted(registry_roles)) or 'nothing'} and may not state it."
        )
    return None
