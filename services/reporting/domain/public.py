"""The public tier of a passport (Art. 77(2), Annex XIII 1): what anyone scanning the QR code may read.

It is the public cut of `tiers` (identification, category, kind, the public static data fields, the extension values
the OEM's schema marks `x-public`) and the end of the passport's life, which `tiers` makes public too: whether it
has ceased, when and why (Art. 77(8)), and the passports that continue it (Art. 77(7)). No I/O.
"""

from __future__ import annotations

from typing import Any

from contracts.attributes import AccessTier
from contracts.passport_data import FIELD_LONGLIST_KEYS, StaticPassportData, field_tier
from services.reporting.domain.tiers import state_for_tier

PUBLIC_FIELDS = tuple(name for name in StaticPassportData.model_fields if field_tier(name) is AccessTier.public)


def public_view(state: dict[str, Any]) -> dict[str, Any]:
    """Only public-tier fields; owner, legitimate-interest and authority fields never leave here."""
    view = state_for_tier(state, AccessTier.public)
    static: dict[str, Any] = view.get("static_data") or {}
    view["static_data"] = {name: static[name] for name in PUBLIC_FIELDS if static.get(name) not in (None, [], {})}
    view["ceased"] = bool(view.get("ceased"))
    view["successor_ids"] = list(view.get("successor_ids") or [])
    view["public_extensions"] = dict(view.get("public_extensions") or {})
    return view


def restricted_fields(state: dict[str, Any]) -> dict[str, list[str]]:
    """The static data fields a passport holds beyond the public ones, by the tier that may read them."""
    restricted: dict[str, list[str]] = {}
    for name, value in (state.get("static_data") or {}).items():
        if value in (None, [], {}):
            continue
        tier = field_tier(name) if name in FIELD_LONGLIST_KEYS else AccessTier.owner
        if tier is not AccessTier.public:
            restricted.setdefault(tier.value, []).append(name)
    return {tier: sorted(names) for tier, names in sorted(restricted.items())}
