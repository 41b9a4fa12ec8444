"""Recovery through the real Kafka, PostgreSQL and service processes.

An OEM mints passports at identity (HTTP); a recycler publishes a treatment batch and a refiner a report on
recovery's inbound topics; the owner reads the attribution over HTTP, the facts arrive on their topics, the
ledger in PostgreSQL sums exactly; a batch that does not balance is answered on `bpass.recovery.rejected.v1`.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from bpass.examples import valid_static_data
from contracts import topics
from contracts.attributes import BatteryCategory
from contracts.base import Message
from contracts.identity import PassportSpec
from contracts.passport_data import BatteryKind, PassportSubject
from contracts.recovery import (
    EvidenceDocument,
    OutputDestination,
    OutputFraction,
    RecoveredMaterial,
    RecoveryChemistry,
    RefinedProduct,
    RefinedProductKind,
    RefinerFeed,
    RefinerReportSubmitted,
    TreatmentBatchReported,
    TreatmentInput,
    TreatmentOutput,
    TreatmentProcess,
    WasteOrigin,
)
from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import new_key
from tests.integration.recovery_support import recycler_holding
from tests.support import ServiceProcess, cloudevent_headers, eventually, headers_of, publish, read_topic

M = RecoveredMaterial
D = Decimal
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def spec(identifier: str, category: BatteryCategory) -> dict[str, Any]:
    return PassportSpec(
        subject=PassportSubject(kind=BatteryKind.battery, battery_identifier=identifier),
        category=category,
        static_data=valid_static_data(category),
    ).model_dump(mode="json", exclude_none=True)


async def mint(http: httpx.AsyncClient, identity: ServiceProcess, category: BatteryCategory) -> tuple[str, str]:
    identifier = f"RC-{uuid.uuid4().hex[:12]}"
    response = await http.post(f"{identity.base_url}/identity/v1/passports", json=spec(identifier, category))
    assert response.status_code == 201, response.text
    return response.json()["passport_id"], identifier


async def send(settings: Settings, topic: str, message: Message, *, source: str, key: str) -> str:
    event_id = str(uuid.uuid4())
    await publish(
        settings,
        topic,
        message.model_dump_json().encode(),
        key=key,
        headers=cloudevent_headers(message, source=source, event_id=event_id),
    )
    return event_id


def treatment_batch(recycler: str, batch_id: str, nmc: str, lfp_identifier: str) -> TreatmentBatchReported:
    # 512.5 kg NMC811 EV battery + 1250 kg LFP forklift battery + 200 kg NMC production scrap = 1962.5 kg.
    return TreatmentBatchReported(
        batch_id=batch_id,
        recycler_id=recycler,
        processes=[TreatmentProcess.mechanical],
        started_at=datetime(2026, 3, 2, 6, tzinfo=UTC),
        completed_at=datetime(2026, 3, 4, 17, tzinfo=UTC),
        inputs=[
            TreatmentInput(passport_id=nmc, mass_kg=D("512.5"), diwass_id="DIWASS-DE-2026-000812"),
            TreatmentInput(battery_identifier=lfp_identifier, mass_kg=D("1250"), diwass_id="DIWASS-DE-2026-000813"),
            TreatmentInput(
                unidentified_reference="SCRAP-2026-117",
                chemistry=RecoveryChemistry.nmc811,
                origin=WasteOrigin.pre_consumer,
                mass_kg=D("200"),
            ),
        ],
        outputs=[
            TreatmentOutput(
                fraction=OutputFraction.black_mass,
                destination=OutputDestination.recycling,
                lot_id=f"{batch_id}-BM",
                mass_kg=D("560.0"),
                assay_pct={M.cobalt: D("1.1"), M.nickel: D("8.4"), M.lithium: D("2.9"), M.graphite: D("38")},
            ),
            TreatmentOutput(
                fraction=OutputFraction.copper,
                destination=OutputDestination.recycling,
                lot_id=f"{batch_id}-CU",
                mass_kg=D("300.0"),
                assay_pct={M.copper: D("44"), M.aluminium: D("52")},
            ),
            TreatmentOutput(
                fraction=OutputFraction.ferrous,
                destination=OutputDestination.recycling,
                lot_id=f"{batch_id}-FE",
                mass_kg=D("420.0"),
            ),
            TreatmentOutput(
                fraction=OutputFraction.plastics, destination=OutputDestination.energy_recovery, mass_kg=D("190.0")
            ),
            TreatmentOutput(
                fraction=OutputFraction.electrolyte, destination=OutputDestination.disposal, mass_kg=D("95.0")
            ),
        ],
        losses_kg=D("397.5"),
        evidence=[EvidenceDocument(uri=f"https://recycler.example/{batch_id}/assay.pdf", sha256=SHA)],
    )


async def test_batch_and_refiner_report_attribute_recovered_material_back_to_passports(
    platform: dict[str, ServiceProcess], settings: Settings, tenant: tuple[str, str], db: asyncpg.Connection
) -> None:
    tenant_name, oem_key = tenant
    identity, recovery = platform["identity"], platform["recovery"]
    tag = uuid.uuid4().hex[:8]
    recycler, refiner = f"recycler-{tag}", f"refiner-{tag}"
    batch_id = f"TB-{tag}"
    async with httpx.AsyncClient(timeout=10, headers={"X-API-Key": oem_key}) as http:
        nmc, _ = await mint(http, identity, BatteryCategory.ev)
        lfp, lfp_identifier = await mint(http, identity, BatteryCategory.industrial)

        async def known(passport_id: str) -> bool:
            r = await http.get(f"{recovery.base_url}/recovery/v1/passports/{passport_id}")
            return r.status_code == 200

        for passport_id in (nmc, lfp):
            await eventually(lambda p=passport_id: known(p), what=f"recovery to know {passport_id}")  # type: ignore[misc]
        # Verified at custody, the recycler received both batteries (custody step); recovery has both facts.
        await recycler_holding(settings, platform, db, recycler, [nmc, lfp], refiner=refiner)

        # A recycler reports the batch on the inbound topic; a second one that does not balance is refused.
        batch = treatment_batch(recycler, batch_id, nmc, lfp_identifier)
        await send(settings, topics.TREATMENT_BATCHES.name, batch, source=f"urn:bpass:handler:{recycler}", key=batch_id)
        unbalanced = [TreatmentInput(unidentified_reference="S-1", chemistry=RecoveryChemistry.lfp, mass_kg=D(100))]
        bad = batch.model_copy(
            update={
                "batch_id": f"{batch_id}-X",
                "inputs": unbalanced,
                "outputs": [
                    o.model_copy(update={"lot_id": f"X-{o.lot_id}" if o.lot_id else None}) for o in batch.outputs
                ],
                "losses_kg": None,
            }
        )
        bad_id = await send(
            settings, topics.TREATMENT_BATCHES.name, bad, source=f"urn:bpass:handler:{recycler}", key=bad.batch_id
        )

        # Evidence must come from a handler: a tenant cannot report a treatment batch.
        impostor_id = await send(
            settings, topics.TREATMENT_BATCHES.name, bad, source=f"urn:bpass:tenant:{tenant_name}", key=bad.batch_id
        )

        async def attribution(passport_id: str, stage: str) -> dict[str, Any] | None:
            r = await http.get(f"{recovery.base_url}/recovery/v1/passports/{passport_id}/attribution")
            body: dict[str, Any] = r.json()
            return body if r.status_code == 200 and any(ln["stage"] == stage for ln in body["lines"]) else None

        view = await eventually(lambda: attribution(nmc, "treatment"), what="the treatment attribution")
        assert view["status"] == "ceased"
        assert view["treatment"]["batch_id"] == batch_id
        assert view["treatment"]["reported_by"] == f"urn:bpass:handler:{recycler}"
        assert view["treatment"]["diwass_id"] == "DIWASS-DE-2026-000812"
        declared = {c["material"]: c for c in view["declared"]}
        assert declared["nickel"] == {
            "material": "nickel",
            "kg_per_kg": "0.075000",
            "declared_kg": "38.438",
            "basis": "passport_declared",
            "sources": ["material_composition.0 Nickel: 7.5 % of the battery × 1.000000 kg/kg"],
        }
        assert declared["copper"]["basis"] == "chemistry_default"
        nickel_line = next(ln for ln in view["lines"] if ln["material"] == "nickel")
        step = nickel_line["steps"][0]
        # The NMC battery declares 38.438 of the 57.745 kg nickel declared by the batch (LFP declares none).
        assert (step["pool_kg"], step["weight_kg"], step["total_weight_kg"]) == ("47.040", "38.438", "57.745")
        assert nickel_line["amount_kg"] == "31.312"
        assert "largest remainder" in nickel_line["explanation"]

        # The refiner refines most of the black mass lot into cobalt sulphate and lithium carbonate.
        report = RefinerReportSubmitted(
            report_id=f"RR-{tag}",
            refiner_id=refiner,
            period_start=datetime(2026, 3, 5, tzinfo=UTC),
            period_end=datetime(2026, 3, 31, tzinfo=UTC),
            inputs=[RefinerFeed(recycler_id=recycler, lot_id=f"{batch_id}-BM", mass_kg=D("500.0"))],
            products=[
                RefinedProduct(
                    product_lot_id=f"CS-{tag}",
                    product=RefinedProductKind.cobalt_sulphate,
                    mass_kg=D("25.0"),
                    metal_content_pct={M.cobalt: D("20.9")},
                ),
                RefinedProduct(
                    product_lot_id=f"LC-{tag}",
                    product=RefinedProductKind.lithium_carbonate,
                    mass_kg=D("60.0"),
                    metal_content_pct={M.lithium: D("18.7")},
                ),
            ],
        )
        await send(settings, topics.REFINER_REPORTS.name, report, source=f"urn:bpass:handler:{refiner}", key=tag)
        view = await eventually(lambda: attribution(nmc, "refining"), what="the refining attribution")
        refined = [ln for ln in view["lines"] if ln["stage"] == "refining"]
        assert {ln["product_lot_id"] for ln in refined} == {f"CS-{tag}", f"LC-{tag}"}
        assert [s["level"] for s in refined[0]["steps"]] == ["product_to_lot", "lot_to_input"]

        # Another tenant sees none of it.
        stranger = new_key(settings, Role.oem_admin, f"oem-{uuid.uuid4().hex[:10]}")
        hidden = await http.get(
            f"{recovery.base_url}/recovery/v1/passports/{nmc}/attribution", headers={"X-API-Key": stranger}
        )
        assert hidden.status_code == 404

    # The ledger sums exactly: every pool, treatment and refining, equals the sum of its lines.
    await _check_ledger_sums_exactly(db, recycler, batch_id, tag)

    # Facts: both passports ceased, attributed at treatment and at refining; the bad batch rejected.
    async def facts() -> dict[str, Any] | None:
        ceased = [
            r for r in await read_topic(settings, topics.PASSPORT_CEASED.name) if r.key in (nmc.encode(), lfp.encode())
        ]
        attributed = [r for r in await read_topic(settings, topics.RECOVERY_ATTRIBUTED.name) if r.key == nmc.encode()]
        rejected = {json.loads(r.value)["rejected_ce_id"]: json.loads(r.value)
                    for r in await read_topic(settings, topics.RECOVERY_REJECTED.name)}  # fmt: skip
        done = len(ceased) == 2 and len(attributed) == 2 and {bad_id, impostor_id} <= set(rejected)
        return {"ceased": ceased, "attributed": attributed, "rejected": rejected} if done else None

    found = await eventually(facts, what="ceased, attributed and rejected facts")
    ceased = json.loads(next(r for r in found["ceased"] if r.key == nmc.encode()).value)
    assert headers_of(found["ceased"][0])["ce_type"] == "eu.battery-passport.recovery.passport-ceased.v1"
    assert ceased["tenant"] == tenant_name
    assert ceased["reason"] == "recycled"
    assert ceased["ceased_at"].startswith("2026-03-04T17:00:00")
    assert ceased["evidence"] == [
        {
            "uri": f"https://recycler.example/{batch_id}/assay.pdf",
            "sha256": SHA,
            "document_type": None,
            "media_type": None,
        }
    ]
    outcome = {o["material"]: o for o in ceased["recovery_outcome"]}
    assert outcome["nickel"]["in_recycled_fractions_kg"] == "31.312"
    stages = sorted(json.loads(r.value)["stage"] for r in found["attributed"])
    assert stages == ["refining", "treatment"]
    violations = found["rejected"][bad_id]["violations"]
    assert [(v["field"], v["reason"]) for v in violations] == [("outputs", "outputs_exceed_inputs")]
    violations = found["rejected"][impostor_id]["violations"]
    assert [(v["field"], v["reason"]) for v in violations] == [("headers.ce_source", "source_not_a_handler")]


async def _check_ledger_sums_exactly(db: asyncpg.Connection, recycler: str, batch_id: str, tag: str) -> None:
    lots = await db.fetch(
        "SELECT id, material_kg FROM recovery.recycler_lots WHERE recycler_id = $1 AND lot_id LIKE $2",
        recycler,
        f"{batch_id}-%",
    )
    sums = await db.fetch(
        """SELECT lot, material, sum(amount_kg) AS kg FROM recovery.attribution_lines
           WHERE stage = 'treatment' AND lot = ANY($1::bigint[]) GROUP BY 1, 2""",
        [r["id"] for r in lots],
    )
    attributed = {(r["lot"], r["material"]): r["kg"] for r in sums}
    pools = {(r["id"], m): D(kg) for r in lots for m, kg in json.loads(r["material_kg"]).items() if D(kg) > 0}
    assert attributed == pools
    products = await db.fetch(
        "SELECT id, metal_kg FROM recovery.refined_products WHERE product_lot_id IN ($1, $2)", f"CS-{tag}", f"LC-{tag}"
    )
    refined = await db.fetch(
        """SELECT product, material, origin, sum(amount_kg) AS kg FROM recovery.attribution_lines
           WHERE stage = 'refining' AND product = ANY($1::bigint[]) GROUP BY 1, 2, 3""",
        [r["id"] for r in products],
    )
    by_product: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for r in refined:
        by_product[(r["product"], r["material"])] += r["kg"]
    assert by_product == {(r["id"], m): D(kg) for r in products for m, kg in json.loads(r["metal_kg"]).items()}
    # The production scrap is pre-consumer: its share of the cobalt sulphate is kept apart.
    assert {r["origin"] for r in refined} == {"post_consumer", "pre_consumer"}
