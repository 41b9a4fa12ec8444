"""The public tier of a passport (Art. 77(2), Annex XIII 1): what anyone scanning the QR code may read."""

from __future__ import annotations

from typing import Any

from contracts.attributes import AccessTier
from contracts.passport_data import StaticPassportData, field_tier

PUBLIC_FIELDS = tuple(name for name in StaticPassportData.model_fields if field_tier(name) is AccessTier.public)


def public_view(state: dict[str, Any]) -> dict[str, Any]:
    """Only public-tier fields; owner, legitimate-interest and authority fields never leave here."""
    static: dict[str, Any] = state.get("static_data") or {}
    return {
        "passport_id": state.get("passport_id"),
        "battery_identifier": state.get("battery_identifier"),
        "public_uri": state.get("public_uri"),
        "category": state.get("category"),
        "kind": state.get("kind"),
        "ceased": bool(state.get("ceased")),
        "static_data": {name: static[name] for name in PUBLIC_FIELDS if static.get(name) not in (None, [], {})},
        "version": state.get("version"),
    }
