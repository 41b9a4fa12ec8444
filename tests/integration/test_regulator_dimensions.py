"""A regulator reads the authorities tier: it may not filter or group an OEM's passports by owner-only data (the
product family, extension fields), which would reveal those values through what matches; what it may count, it
counts right: per tenant it names, the figures of every dimension its tier reads are those of the passports
published for that tenant, while each OEM counts its own passports only."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from contracts import topics
from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import new_key
from tests.support import ServiceProcess, eventually, send_fact
from tests.unit.reporting.factories import T0, batteries, minted, status_changed

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


# Ground truth per passport: what it was minted as (the simulated battery's model) and where its facts moved it.
DIMENSIONS = ("category", "chemistry", "model", "stage", "status")
GROUPED = ("chemistry", "model", "stage", "status")  # at most four dimensions at once
MOVES = {0: "in_service", 1: "collected", 2: "in_treatment"}  # passport index -> the stage its status fact gives


@dataclass
class Tenant:
    name: str
    key: str
    truth: list[dict[str, str]]  # per passport: passport_id, batch and every dimension


async def populate(settings: Settings, http: httpx.AsyncClient, n: int, moved: int) -> Tenant:
    """n passports of a fresh tenant, the first `moved` of them moved on by a status fact; waits until reporting
    shows each passport at its stage (read one by one, not through the counts under test)."""
    name = f"oem-{uuid.uuid4().hex[:10]}"
    key = new_key(settings, Role.oem_admin, name)
    truth = []
    for i, battery in enumerate(batteries(n)):
        fact = minted(battery, name)
        await send_fact(settings, topics.PASSPORT_MINTED, fact, fact.passport_id)
        stage = MOVES[i] if i < moved else "manufactured"
        truth.append(
            {
                "passport_id": fact.passport_id,
                "batch": battery.batch,
                "category": battery.model.category.value,
                "chemistry": battery.model.chemistry[0],
                "model": battery.model.name,
                "stage": stage,
                "status": "waste" if stage in ("collected", "in_treatment") else "original",
            }
        )
    for i, row in enumerate(truth[:moved]):
        fact = status_changed(row["passport_id"], name, MOVES[i], T0 + timedelta(days=1))
        await send_fact(settings, topics.CUSTODY_PASSPORT_STATUS, fact, row["passport_id"])

    async def every_passport_at_its_stage() -> bool:
        for row in truth:
            read = await http.get(f"/reporting/v1/passports/{row['passport_id']}", headers={"X-API-Key": key})
            if read.status_code != 200 or read.json()["stage"] != row["stage"]:
                return False
        return True

    await eventually(every_passport_at_its_stage, what=f"the {n} passports of {name} at their stages")
    return Tenant(name, key, truth)


def counted(truth: list[dict[str, str]], *dimensions: str) -> dict[tuple[str, ...], int]:
    return dict(Counter(tuple(row[d] for d in dimensions) for row in truth))


def groups(body: dict[str, Any], *dimensions: str) -> dict[tuple[str, ...], int]:
    assert body["group_by"] == list(dimensions)
    out = {tuple(g[d] for d in dimensions): g["count"] for g in body["groups"]}
    assert sum(out.values()) == body["total"]
    return out


def nonzero(report_section: dict[str, int]) -> dict[tuple[str, ...], int]:
    return {(k,): v for k, v in report_section.items() if v}


async def test_a_regulators_counts_and_population_report_equal_each_tenants_passports(
    platform: dict[str, ServiceProcess], settings: Settings
) -> None:
    async with httpx.AsyncClient(base_url=platform["reporting"].base_url, timeout=15) as http:
        first = await populate(settings, http, 9, moved=3)
        second = await populate(settings, http, 5, moved=1)
        regulator = {"X-API-Key": new_key(settings, Role.regulator)}
        for tenant in (first, second):
            own = {"tenant": tenant.name}
            cube = await http.get(
                "/reporting/v1/passports:count", params={**own, "group_by": ",".join(GROUPED)}, headers=regulator
            )
            assert cube.status_code == 200, cube.text
            assert cube.json()["tenant"] == tenant.name
            assert groups(cube.json(), *GROUPED) == counted(tenant.truth, *GROUPED)
            for dimension in (*DIMENSIONS, "batch"):
                one = await http.get(
                    "/reporting/v1/passports:count", params={**own, "group_by": dimension}, headers=regulator
                )
                assert groups(one.json(), dimension) == counted(tenant.truth, dimension), dimension
            report = (await http.get("/reporting/v1/reports/population", params=own, headers=regulator)).json()
            assert report["tenant"] == tenant.name
            assert report["total"] == len(tenant.truth)
            for dimension in DIMENSIONS:
                assert nonzero(report[f"by_{dimension}"]) == counted(tenant.truth, dimension), dimension
            # A filter narrows to the passports that match it, in counts and report alike.
            model = tenant.truth[0]["model"]
            matching = [row for row in tenant.truth if row["model"] == model]
            narrowed = await http.get(
                "/reporting/v1/passports:count",
                params={**own, "model": model, "group_by": "stage"},
                headers=regulator,
            )
            assert groups(narrowed.json(), "stage") == counted(matching, "stage")
            by_model = await http.get(
                "/reporting/v1/reports/population", params={**own, "model": model}, headers=regulator
            )
            assert by_model.json()["total"] == len(matching)

        # Each OEM counts its own passports only, and may not name the other tenant.
        for tenant, other in ((first, second), (second, first)):
            owner = {"X-API-Key": tenant.key}
            cube = await http.get(
                "/reporting/v1/passports:count", params={"group_by": "chemistry,stage"}, headers=owner
            )
            assert cube.json()["tenant"] == tenant.name
            assert groups(cube.json(), "chemistry", "stage") == counted(tenant.truth, "chemistry", "stage")
            report = (await http.get("/reporting/v1/reports/population", headers=owner)).json()
            assert report["total"] == len(tenant.truth)
            assert nonzero(report["by_model"]) == counted(tenant.truth, "model")
            for path, params in (
                ("/reporting/v1/passports:count", {"tenant": other.name, "group_by": "stage"}),
                ("/reporting/v1/reports/population", {"tenant": other.name}),
            ):
                refused = await http.get(path, params=params, headers=owner)
                assert (refused.status_code, refused.json()["reason"]) == (404, "tenant_not_found"), path
