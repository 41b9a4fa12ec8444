"""A regulator reads the authorities tier: it may not filter or group an OEM's passports by owner-only data (the
product family, extension fields), which would reveal those values through what matches."""

from __future__ import annotations

import httpx
import pytest

from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import new_key
from tests.support import ServiceProcess

REFUSED = [
    ("/reporting/v1/passports", {"ext.supplier_lot": "S-9"}, "ext.supplier_lot"),
    ("/reporting/v1/passports", {"product_family": "VX-400"}, "product_family"),
    ("/reporting/v1/passports:count", {"group_by": "chemistry,product_family"}, "product_family"),
    ("/reporting/v1/passports:count", {"group_by": "ext.supplier_lot"}, "ext.supplier_lot"),
    ("/reporting/v1/reports/population", {"product_family": "VX-400"}, "product_family"),
]
ALLOWED = [
    ("/reporting/v1/passports", {"chemistry": "NMC811", "status": "original"}),
    ("/reporting/v1/passports:count", {"group_by": "chemistry,stage,current_handler"}),
    ("/reporting/v1/reports/population", {"model": "VX-400"}),
]


@pytest.mark.parametrize(("path", "params", "field"), REFUSED)
async def test_a_regulator_may_not_filter_on_owner_only_data(
    platform: dict[str, ServiceProcess], settings: Settings, tenant: tuple[str, str], path: str, params: dict[str, str],
    field: str,
) -> None:  # fmt: skip
    tenant_name, oem_key = tenant
    regulator = new_key(settings, Role.regulator)
    async with httpx.AsyncClient(base_url=platform["reporting"].base_url, timeout=10) as http:
        refused = await http.get(path, params={**params, "tenant": tenant_name}, headers={"X-API-Key": regulator})
        assert refused.status_code == 403, refused.text
        body = refused.json()
        assert body["reason"] == "dimension_not_permitted"
        assert body["field"] == field
        # The owner may.
        owner = await http.get(path, params=params, headers={"X-API-Key": oem_key})
        assert owner.status_code == 200, owner.text


@pytest.mark.parametrize(("path", "params"), ALLOWED)
async def test_a_regulator_filters_on_what_its_tier_reads(
    platform: dict[str, ServiceProcess], settings: Settings, tenant: tuple[str, str], path: str, params: dict[str, str]
) -> None:
    regulator = new_key(settings, Role.regulator)
    async with httpx.AsyncClient(base_url=platform["reporting"].base_url, timeout=10) as http:
        allowed = await http.get(path, params={**params, "tenant": tenant[0]}, headers={"X-API-Key": regulator})
        assert allowed.status_code == 200, allowed.text
