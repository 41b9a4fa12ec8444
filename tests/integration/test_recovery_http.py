"""Recovery over HTTP, against the real service processes: the same use cases as the topics, Annex XII reports,
recycled-content claims, roles and cross-tenant 404s."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from contracts import topics
from contracts.attributes import BatteryCategory
from contracts.recovery import (
    RecoveredMaterial,
    RefinedProduct,
    RefinedProductKind,
    RefinerFeed,
    RefinerReportSubmitted,
)
from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import new_key
from tests.integration.recovery_support import recycler_holding
from tests.integration.test_recovery_flow import mint, treatment_batch
from tests.support import ServiceProcess, eventually, read_topic

M = RecoveredMaterial
D = Decimal


def body(message: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(message.model_dump_json())
    return data


async def test_recyclers_refiners_and_oems_over_http(
    platform: dict[str, ServiceProcess], settings: Settings, tenant: tuple[str, str], db: asyncpg.Connection
) -> None:
    tenant_name, oem_key = tenant
    identity, recovery = platform["identity"], platform["recovery"]
    base = f"{recovery.base_url}/recovery/v1"
    tag = uuid.uuid4().hex[:8]
    recycler, refiner = f"recycler-{tag}", f"refiner-{tag}"
    recycler_key = new_key(settings, Role.recycler, recycler)
    refiner_key = new_key(settings, Role.refiner, refiner)
    regulator_key = new_key(settings, Role.regulator)
    other_oem_key = new_key(settings, Role.oem_admin, f"oem-{uuid.uuid4().hex[:10]}")
    async with httpx.AsyncClient(timeout=10) as http:
        oem = {"X-API-Key": oem_key}
        nmc, _ = await _mint(http, identity, oem)
        lfp, lfp_identifier = await _mint(http, identity, oem, BatteryCategory.industrial)
        for passport_id in (nmc, lfp):
            await eventually(
                lambda p=passport_id: _ok(http.get(f"{base}/passports/{p}", headers=oem)),  # type: ignore[misc]
                what="recovery to know the passport",
            )
        await recycler_holding(settings, platform, db, recycler, [nmc, lfp], refiner=refiner)

        batch = body(treatment_batch(recycler, f"TB-{tag}", nmc, lfp_identifier))
        as_recycler = {"X-API-Key": recycler_key}
        # Only recyclers report batches, and only their own.
        assert (await http.post(f"{base}/treatment-batches", json=batch, headers=oem)).status_code == 403
        foreign = await http.post(f"{base}/treatment-batches", json={**batch, "recycler_id": "someone-else"},
                                  headers=as_recycler)  # fmt: skip
        assert foreign.status_code == 422
        assert foreign.json()["violations"][0]["reason"] == "recycler_mismatch"

        created = await http.post(f"{base}/treatment-batches", json=batch, headers=as_recycler)
        assert created.status_code == 201, created.text
        outcome = created.json()
        assert outcome["status"] == "accepted"
        assert outcome["recycling_efficiency_pct"] == "65.22"
        assert outcome["passports_ceased"] == 2
        assert outcome["inputs"][1]["passport_id"] == lfp
        again = await http.post(f"{base}/treatment-batches", json=batch, headers=as_recycler)
        assert again.status_code == 200
        assert again.json()["status"] == "unchanged"
        residues_only = {**batch, "batch_id": f"TB-{tag}-2", "outputs": batch["outputs"][-2:], "losses_kg": None}
        twice = await http.post(f"{base}/treatment-batches", json=residues_only, headers=as_recycler)
        assert twice.status_code == 422
        assert {v["reason"] for v in twice.json()["violations"]} == {"passport_already_recycled"}
        assert (await http.get(f"{base}/treatment-batches/{recycler}/TB-{tag}", headers=as_recycler)).status_code == 200
        other_recycler = {"X-API-Key": new_key(settings, Role.recycler, f"recycler-{uuid.uuid4().hex[:6]}")}
        assert (
            await http.get(f"{base}/treatment-batches/{recycler}/TB-{tag}", headers=other_recycler)
        ).status_code == 404

        report = RefinerReportSubmitted(
            report_id=f"RR-{tag}",
            refiner_id=refiner,
            period_start=datetime(2026, 3, 5, tzinfo=UTC),
            period_end=datetime(2026, 3, 31, tzinfo=UTC),
            inputs=[RefinerFeed(recycler_id=recycler, lot_id=f"TB-{tag}-BM", mass_kg=D("560.0"))],
            products=[
                RefinedProduct(
                    product_lot_id=f"CS-{tag}",
                    product=RefinedProductKind.cobalt_sulphate,
                    mass_kg=D("28.0"),
                    metal_content_pct={M.cobalt: D("20.9")},
                )
            ],
        )
        refined = await http.post(f"{base}/refiner-reports", json=body(report), headers={"X-API-Key": refiner_key})
        assert refined.status_code == 201, refined.text
        assert refined.json()["feeds"][0]["remaining_kg"] == "0.0"
        # Refined cobalt: 5.852 kg, of which the pre-consumer scrap's share is not any passport's.
        assert refined.json()["products"][0]["metal_kg"] == {"cobalt": "5.852"}

        # Annex XII: a regulator sees every recycler; a recycler its own, as JSON or CSV.
        as_regulator = {"X-API-Key": regulator_key}
        annex = await http.get(f"{base}/reports/annex-xii", params={"recycler": recycler}, headers=as_regulator)
        assert annex.status_code == 200
        rows = {(r["scope"], r["category_group"], r.get("chemistry")): r for r in annex.json()["rows"]}
        batch_row = rows[("treatment_batch", "lithium_based", None)]
        assert batch_row["recycling_efficiency"]["pct"] == "65.22"
        assert batch_row["recycling_efficiency"]["target_pct"] == "65"
        assert batch_row["recycling_efficiency"]["met"] is True
        cobalt = batch_row["materials"]["cobalt"]
        assert cobalt["status"] == "final"
        assert cobalt["refined_kg"] == "5.852"
        assert rows[("chemistry", "lithium_based", "lfp")]["input_kg"] == "1250.000"
        text = await http.get(
            f"{base}/reports/annex-xii", params={"format": "csv", "chemistry": "nmc811"}, headers=as_recycler
        )
        assert text.headers["content-type"].startswith("text/csv")
        lines = list(csv.DictReader(io.StringIO(text.text)))
        assert {line["recycler_id"] for line in lines if line["scope"] == "treatment_batch"} == {recycler}
        assert {line["chemistry"] for line in lines if line["scope"] == "chemistry"} == {"nmc811"}
        forbidden = await http.get(f"{base}/reports/annex-xii", params={"recycler": "x"}, headers=as_recycler)
        assert forbidden.status_code == 403
        assert (await http.get(f"{base}/reports/annex-xii", headers=oem)).status_code == 403

        # Recycled content: the OEM claims post-consumer cobalt of the product lot (3.836 kg of its 5.852 kg is
        # the passport's; the rest came from pre-consumer scrap); no kilogram is claimed twice.
        claim = {
            "battery_model": f"VX-400 {tag}",
            "manufacturing_plant": "GLN 4006381000023",
            "year": 2031,
            "content_totals_kg": {"cobalt": "15"},
            "sources": [
                {"refiner_id": refiner, "product_lot_id": f"CS-{tag}", "material": "cobalt",
                 "origin": "post_consumer", "mass_kg": "3"},
            ],
        }  # fmt: skip
        assert (await http.post(f"{base}/recycled-content/claims", json=claim, headers=as_recycler)).status_code == 403
        made = await http.post(f"{base}/recycled-content/claims", json=claim, headers=oem)
        assert made.status_code == 201, made.text
        assessed = made.json()
        share = assessed["shares"][0]
        assert (share["share_pct"], share["post_consumer_share_pct"]) == ("20.00", "20.00")
        assert [(m["target_set"], m["met"]) for m in share["minimums"]] == [("2031", True), ("2036", False)]
        assert (await http.post(f"{base}/recycled-content/claims", json=claim, headers=oem)).status_code == 200
        changed = await http.post(
            f"{base}/recycled-content/claims", json={**claim, "content_totals_kg": {"cobalt": "40"}}, headers=oem
        )
        assert changed.status_code == 409
        greedy = {**claim, "sources": [{**claim["sources"][0], "mass_kg": "1"}]}  # type: ignore[dict-item]
        refused = await http.post(f"{base}/recycled-content/claims", json=greedy, headers={"X-API-Key": other_oem_key})
        assert refused.status_code == 422, refused.text
        assert refused.json()["violations"][0]["reason"] == "insufficient_recovered_material"
        claim_url = f"{base}/recycled-content/claims/{assessed['claim_id']}"
        assert (await http.get(claim_url, headers={"X-API-Key": other_oem_key})).status_code == 404
        assert (await http.get(claim_url, headers=oem)).json()["claim_id"] == assessed["claim_id"]
        listed = await http.get(f"{base}/recycled-content/claims", headers=oem)
        assert [c["claim_id"] for c in listed.json()["claims"]] == [assessed["claim_id"]]

    async def fact() -> list[Any] | None:
        records = await read_topic(settings, topics.RECYCLED_CONTENT_ASSESSED.name)
        mine = [json.loads(r.value) for r in records if r.key == assessed["claim_id"].encode()]
        return mine or None

    [published] = await eventually(fact, what="the RecycledContentAssessed fact")
    assert published["tenant"] == tenant_name


async def _ok(request: Any) -> bool:
    response: httpx.Response = await request
    return response.status_code == 200


async def _mint(
    http: httpx.AsyncClient,
    identity: ServiceProcess,
    headers: dict[str, str],
    category: BatteryCategory = BatteryCategory.ev,
) -> tuple[str, str]:
    http.headers.update(headers)
    try:
        return await mint(http, identity, category)
    finally:
        for name in headers:
            del http.headers[name]
