"""GS1 company prefixes a tenant may mint under: the ownership rule (table `gtin_prefixes`: store/gtin_prefixes.py).

A GTIN-14's company prefix follows its indicator digit; a tenant mints a passport naming a GTIN only when one of its
*verified* prefixes starts that part. A tenant with no verified prefix mints no GTIN at all (passports without a
GTIN are unaffected: their URI is `/p/<passport id>`). The platform operator verifies a prefix after checking the
GS1 licence; a prefix already verified for another tenant (or overlapping one) is verified again only when the
operator says it is shared (a brand owner and its contract manufacturer)."""

from __future__ import annotations

from collections.abc import Iterable

from contracts.errors import Violation

GTIN_PREFIX_NOT_OWNED = "gtin_prefix_not_owned"
GTIN_PREFIX_OWNED_BY_ANOTHER = "gtin_prefix_owned_by_another"
PREFIX_PATTERN = r"^[0-9]{4,12}$"


def company_part(gtin14: str) -> str:
    """The digits of a GTIN-14 after its indicator digit (where the GS1 company prefix starts)."""
    return gtin14[1:]


def owned(gtin14: str, prefixes: Iterable[str]) -> bool:
    part = company_part(gtin14)
    return any(part.startswith(prefix) for prefix in prefixes)


def not_owned(field: str, gtin14: str) -> Violation:
    return Violation(
        field=field,
        reason=GTIN_PREFIX_NOT_OWNED,
        message=f"GTIN {gtin14} is not under a GS1 company prefix verified for your tenant: declare your prefix "
        "(POST /identity/v1/gtin-prefixes) and have the platform operator verify it, or mint without a GTIN.",
    )
