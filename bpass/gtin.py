"""Demo and simulation tenants mint under GS1 example prefixes: their OEM declares the prefix and the platform
operator verifies it (shared: every demo tenant uses the same example GTINs), as a real tenant's would be."""

from __future__ import annotations

import httpx

EXAMPLE_PREFIX = "9506000"  # bpass.examples.EXAMPLE_GTIN
SIMULATION_PREFIX = "950600"  # bpass.simulate's model GTINs (0950600 + six digits)


class PrefixNotVerified(RuntimeError):
    """The platform refused to declare or verify the prefix."""


async def ensure_verified_prefix(
    http: httpx.AsyncClient, identity_url: str, oem_key: str, operator_key: str | None, prefix: str
) -> str:
    """Declare `prefix` as the OEM and verify it as the operator; returns the OEM's tenant. Without an operator key
    the prefix must already be verified (else minting under it is refused `gtin_prefix_not_owned`)."""
    identity_url = identity_url.rstrip("/")
    declared = await http.post(
        f"{identity_url}/identity/v1/gtin-prefixes", json={"prefix": prefix}, headers={"X-API-Key": oem_key}
    )
    if declared.status_code != 201:
        raise PrefixNotVerified(f"declaring GS1 prefix {prefix}: {declared.status_code} {declared.text[:300]}")
    tenant = str(declared.json()["tenant"])
    if declared.json()["state"] == "verified" or operator_key is None:
        return tenant
    verified = await http.post(
        f"{identity_url}/identity/v1/tenants/{tenant}/gtin-prefixes/{prefix}/verify",
        json={"shared": True, "reason": "GS1 example prefix (demo)"},
        headers={"X-API-Key": operator_key},
    )
    if verified.status_code != 200:
        raise PrefixNotVerified(f"verifying GS1 prefix {prefix}: {verified.status_code} {verified.text[:300]}")
    return tenant
