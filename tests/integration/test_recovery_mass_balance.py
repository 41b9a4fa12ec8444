"""Conservation on the real stack: recovery credits no more of a material than the passports declared plus the
assay tolerance (5 %).

A treatment batch whose black mass assay claims 1.5 × the cobalt it should (9.240 kg where the inputs declare
7.035 kg) is refused over HTTP (422) and on the topic (`bpass.recovery.rejected.v1`) with `mass_balance_exceeded`,
naming the field, the material, the declared and the claimed mass; nothing of it is recorded, attributed or
published, and the passports stay active until a batch within the tolerance is accepted. A lot recorded before the
rule with an over-stated assay cannot credit more through refiners either, earlier reports counted.

The batch's own mass balance (inputs − outputs − declared losses within 1 % of the input, either way) holds at its
boundary on the real service too: a gap of exactly 1 % is accepted (flagged), a gram more is refused, whether mass
is unaccounted for or over-accounted, over HTTP and on the topic.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from contracts import topics
from contracts.attributes import BatteryCategory
from contracts.recovery import (
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
from tests.integration.recovery_support import (
    batch_outcome,
    recovery_knows_handler,
    recycler_holding,
    refusals,
    register_handler,
)
from tests.integration.test_recovery_flow import mint, send, treatment_batch
from tests.support import ServiceProcess, eventually, read_topic

M = RecoveredMaterial
D = Decimal
DECLARED_COBALT = D("7.035")  # NMC passport 4.612 kg + NMC scrap 2.423 kg; the LFP battery declares none


def over_claiming(recycler: str, batch_id: str, nmc: str, lfp_identifier: str) -> TreatmentBatchReported:
    """The balanced batch of test_recovery_flow, its black mass assayed at 1.5 × the cobalt (1.65 % of 560 kg)."""
    batch = treatment_batch(recycler, batch_id, nmc, lfp_identifier)
    black_mass = batch.outputs[0]
    assay = {**black_mass.assay_pct, M.cobalt: black_mass.assay_pct[M.cobalt] * D("1.5")}
    outputs = [black_mass.model_copy(update={"assay_pct": assay}), *batch.outputs[1:]]
    return batch.model_copy(update={"outputs": outputs})


def refiner_report(refiner: str, recycler: str, lot_id: str, report_id: str, fed_kg: str, cobalt_kg: str) -> Any:
    """Cobalt sulphate at 20 % cobalt holding exactly `cobalt_kg`, as JSON."""
    report = RefinerReportSubmitted(
        report_id=report_id,
        refiner_id=refiner,
        period_start=datetime(2026, 3, 5, tzinfo=UTC),
        period_end=datetime(2026, 3, 31, tzinfo=UTC),
        inputs=[RefinerFeed(recycler_id=recycler, lot_id=lot_id, mass_kg=D(fed_kg))],
        products=[
            RefinedProduct(
                product_lot_id=f"CS-{report_id}",
                product=RefinedProductKind.cobalt_sulphate,
                mass_kg=D(cobalt_kg) * 5,
                metal_content_pct={M.cobalt: D("20")},
            )
        ],
    )
    return json.loads(report.model_dump_json())


@dataclass(frozen=True)
class Setup:
    tag: str
    recycler: str
    refiner: str
    nmc: str
    lfp: str
    lfp_identifier: str
    as_recycler: dict[str, str]
    as_refiner: dict[str, str]


async def _recycler_holding_two_passports(
    platform: dict[str, ServiceProcess],
    settings: Settings,
    db: asyncpg.Connection,
    http: httpx.AsyncClient,
    oem: dict[str, str],
) -> Setup:
    """An NMC and an LFP passport minted by the OEM, held by a verified recycler; a verified refiner."""
    tag = uuid.uuid4().hex[:8]
    recycler, refiner = f"recycler-{tag}", f"refiner-{tag}"
    http.headers.update(oem)
    try:
        nmc, _ = await mint(http, platform["identity"], BatteryCategory.ev)
        lfp, lfp_identifier = await mint(http, platform["identity"], BatteryCategory.industrial)
    finally:
        del http.headers["X-API-Key"]
    for passport_id in (nmc, lfp):
        await eventually(
            lambda p=passport_id: db.fetchval(  # type: ignore[misc]
                "SELECT 1 FROM recovery.known_passports WHERE passport_id = $1", p
            ),
            what="recovery to know the passport",
        )
    await recycler_holding(settings, platform, db, recycler, [nmc, lfp], refiner=refiner)
    return Setup(
        tag,
        recycler,
        refiner,
        nmc,
        lfp,
        lfp_identifier,
        {"X-API-Key": new_key(settings, Role.recycler, recycler)},
        {"X-API-Key": new_key(settings, Role.refiner, refiner)},
    )


async def test_a_batch_claiming_more_cobalt_than_declared_is_refused_over_http_and_kafka_and_nothing_is_credited(
    platform: dict[str, ServiceProcess], settings: Settings, tenant: tuple[str, str], db: asyncpg.Connection
) -> None:
    _, oem_key = tenant
    base = f"{platform['recovery'].base_url}/recovery/v1"
    async with httpx.AsyncClient(timeout=10) as http:
        oem = {"X-API-Key": oem_key}
        setup = await _recycler_holding_two_passports(platform, settings, db, http, oem)
        tag, recycler, refiner = setup.tag, setup.recycler, setup.refiner
        nmc, lfp, lfp_identifier = setup.nmc, setup.lfp, setup.lfp_identifier
        as_recycler, as_refiner = setup.as_recycler, setup.as_refiner

        # HTTP: 422, the reason naming the assay's field, the material, the declared and the claimed mass.
        over_http = over_claiming(recycler, f"TB-{tag}-H", nmc, lfp_identifier)
        refused = await http.post(
            f"{base}/treatment-batches", json=json.loads(over_http.model_dump_json()), headers=as_recycler
        )
        assert refused.status_code == 422, refused.text
        [violation] = refused.json()["violations"]
        assert (violation["field"], violation["reason"]) == ("outputs.0.assay_pct.cobalt", "mass_balance_exceeded")
        assert "9.240 kg cobalt" in violation["message"]
        assert f"declare {DECLARED_COBALT} kg" in violation["message"]
        assert "at most 7.386 kg" in violation["message"]  # 7.035 × 1.05 = 7.38675

        # Kafka: the same batch (under another id) is answered on recovery's rejected topic, for its sender.
        over_topic = over_claiming(recycler, f"TB-{tag}-K", nmc, lfp_identifier)
        event_id = await send(
            settings,
            topics.TREATMENT_BATCHES.name,
            over_topic,
            source=f"urn:bpass:handler:{recycler}",
            key=over_topic.batch_id,
        )

        async def rejected() -> list[tuple[str, str]] | None:
            return (await refusals(settings)).get(event_id)

        assert await eventually(rejected, what="the refusal on the rejected topic") == [
            ("outputs.0.assay_pct.cobalt", "mass_balance_exceeded")
        ]

        # Nothing of either is recorded or attributed; the passports are not ceased.
        for batch_id in (over_http.batch_id, over_topic.batch_id):
            assert (
                await db.fetchval(
                    "SELECT count(*) FROM recovery.treatment_batches WHERE recycler_id = $1 AND batch_id = $2",
                    recycler,
                    batch_id,
                )
                == 0
            )
        lines = await db.fetchval(
            "SELECT count(*) FROM recovery.attribution_lines WHERE passport_id = ANY($1::text[])", [nmc, lfp]
        )
        assert lines == 0
        statuses = await db.fetch(
            "SELECT ceased_batch FROM recovery.known_passports WHERE passport_id = ANY($1::text[])", [nmc, lfp]
        )
        assert [r["ceased_batch"] for r in statuses] == [None, None]
        view = await http.get(f"{base}/passports/{nmc}/attribution", headers=oem)
        assert view.status_code == 200, view.text
        assert (view.json()["status"], view.json()["lines"]) == ("active", [])

        # The batch as assayed (6.160 kg cobalt, 87.6 % of the declared) is accepted; its facts are the only ones.
        within = treatment_batch(recycler, f"TB-{tag}", nmc, lfp_identifier)
        accepted = await http.post(
            f"{base}/treatment-batches", json=json.loads(within.model_dump_json()), headers=as_recycler
        )
        assert accepted.status_code == 201, accepted.text

        async def facts() -> dict[str, list[dict[str, Any]]] | None:
            found = {
                name: [json.loads(r.value) for r in await read_topic(settings, name) if r.key == nmc.encode()]
                for name in (topics.RECOVERY_ATTRIBUTED.name, topics.PASSPORT_CEASED.name)
            }
            return found if all(found.values()) else None

        published = await eventually(facts, what="the accepted batch's facts")
        assert {f["batch_id"] for fs in published.values() for f in fs} == {within.batch_id}
        [ceased] = published[topics.PASSPORT_CEASED.name]
        cobalt = next(o for o in ceased["recovery_outcome"] if o["material"] == "cobalt")
        assert D(cobalt["in_recycled_fractions_kg"]) <= D(cobalt["declared_kg"]) * D("1.05")

        # A lot recorded before the rule, its assay over-stated at 3 % cobalt (16.8 kg in 560 kg): refiners still
        # credit the batch at most 7.386 kg of cobalt, over all their reports.
        lot_id = f"{within.batch_id}-BM"
        await db.execute(
            """UPDATE recovery.recycler_lots SET assay_pct = jsonb_set(assay_pct, '{cobalt}', '"3.0"')
               WHERE recycler_id = $1 AND lot_id = $2""",
            recycler,
            lot_id,
        )
        too_much = refiner_report(refiner, recycler, lot_id, f"RR-{tag}-0", "300", "7.400")
        refused = await http.post(f"{base}/refiner-reports", json=too_much, headers=as_refiner)
        assert refused.status_code == 422, refused.text
        [violation] = refused.json()["violations"]
        assert (violation["field"], violation["reason"]) == ("inputs.0.lot_id", "mass_balance_exceeded")
        assert "7.400 kg cobalt" in violation["message"]
        first = refiner_report(refiner, recycler, lot_id, f"RR-{tag}-1", "300", "7.000")
        assert (await http.post(f"{base}/refiner-reports", json=first, headers=as_refiner)).status_code == 201
        second = refiner_report(refiner, recycler, lot_id, f"RR-{tag}-2", "260", "0.400")
        refused = await http.post(f"{base}/refiner-reports", json=second, headers=as_refiner)
        assert refused.status_code == 422, refused.text
        [violation] = refused.json()["violations"]
        assert violation["reason"] == "mass_balance_exceeded"
        assert "7.000 kg of earlier reports included" in violation["message"]
        last = refiner_report(refiner, recycler, lot_id, f"RR-{tag}-3", "260", "0.386")
        assert (await http.post(f"{base}/refiner-reports", json=last, headers=as_refiner)).status_code == 201

    refined = await db.fetchval(
        """SELECT sum(a.amount_kg) FROM recovery.attribution_lines a JOIN recovery.treatment_batches b ON b.id = a.batch
           WHERE b.recycler_id = $1 AND b.batch_id = $2 AND a.stage = 'refining' AND a.material = 'cobalt'""",
        recycler,
        within.batch_id,
    )
    assert refined == D("7.386")


async def test_two_refiner_reports_on_lots_of_one_batch_are_checked_one_after_the_other(
    platform: dict[str, ServiceProcess], settings: Settings, tenant: tuple[str, str], db: asyncpg.Connection
) -> None:
    """Two reports feeding two lots of one batch, each within its ceiling alone, not together: they are made to
    arrive while the batch row is locked, and the one decided second sees the first's attribution."""
    _, oem_key = tenant
    base = f"{platform['recovery'].base_url}/recovery/v1"
    async with httpx.AsyncClient(timeout=30) as http:
        setup = await _recycler_holding_two_passports(platform, settings, db, http, {"X-API-Key": oem_key})
        batch = treatment_batch(setup.recycler, f"TB-{setup.tag}", setup.nmc, setup.lfp_identifier)
        accepted = await http.post(
            f"{base}/treatment-batches", json=json.loads(batch.model_dump_json()), headers=setup.as_recycler
        )
        assert accepted.status_code == 201, accepted.text
        # Lots recorded before the rule: the black mass at 3 % cobalt (16.8 kg), the ferrous lot at 2 % (8.4 kg).
        for suffix, pct in (("BM", "3.0"), ("FE", "2.0")):
            await db.execute(
                """UPDATE recovery.recycler_lots SET assay_pct = jsonb_set(assay_pct, '{cobalt}', to_jsonb($3::text))
                   WHERE recycler_id = $1 AND lot_id = $2""",
                setup.recycler,
                f"{batch.batch_id}-{suffix}",
                pct,
            )
        reports = [
            refiner_report(setup.refiner, setup.recycler, f"{batch.batch_id}-{suffix}", f"RR-{setup.tag}-{suffix}",
                           "300", "5.000")
            for suffix in ("BM", "FE")
        ]  # fmt: skip

        holder = await asyncpg.connect(settings.database_url, timeout=10)
        try:
            async with holder.transaction():
                await holder.execute(
                    """SELECT id FROM recovery.treatment_batches WHERE recycler_id = $1 AND batch_id = $2
                       FOR NO KEY UPDATE""",
                    setup.recycler,
                    batch.batch_id,
                )
                holder_xid = await holder.fetchval(
                    "SELECT backend_xid::text FROM pg_stat_activity WHERE pid = pg_backend_pid()"
                )
                posted = [
                    asyncio.ensure_future(http.post(f"{base}/refiner-reports", json=r, headers=setup.as_refiner))
                    for r in reports
                ]

                async def both_waiting() -> bool:
                    waiting = await db.fetchval(
                        """SELECT count(*) FROM pg_locks WHERE NOT granted
                           AND ((locktype = 'transactionid' AND transactionid::text = $1)
                                OR (locktype = 'tuple' AND relation = 'recovery.treatment_batches'::regclass))""",
                        holder_xid,
                    )
                    return bool(waiting >= 2)

                await eventually(both_waiting, what="both reports to wait for the batch row")
        finally:
            await holder.close()
        answers = await asyncio.gather(*posted)

    assert sorted(a.status_code for a in answers) == [201, 422], [a.text for a in answers]
    [refused] = [a for a in answers if a.status_code == 422]
    [violation] = refused.json()["violations"]
    assert violation["reason"] == "mass_balance_exceeded"
    assert "5.000 kg of earlier reports included" in violation["message"]
    refined = await db.fetchval(
        """SELECT sum(a.amount_kg) FROM recovery.attribution_lines a JOIN recovery.treatment_batches b ON b.id = a.batch
           WHERE b.recycler_id = $1 AND b.batch_id = $2 AND a.stage = 'refining' AND a.material = 'cobalt'""",
        setup.recycler,
        batch.batch_id,
    )
    assert refined == D("5.000")


GAP_INPUT_KG = D("1962.5")  # 1 % of it, 19.625 kg, falls between two grams
GAP_OUTPUTS_KG = D("1400.0")


def gap_batch(recycler: str, batch_id: str, gap_kg: Decimal) -> TreatmentBatchReported:
    """Production scrap only (no passport is ceased, so every accepted batch stands alone), its declared losses
    leaving exactly `gap_kg` unaccounted (negative: more accounted for than came in)."""
    return TreatmentBatchReported(
        batch_id=batch_id,
        recycler_id=recycler,
        processes=[TreatmentProcess.mechanical],
        started_at=datetime(2026, 3, 2, 6, tzinfo=UTC),
        completed_at=datetime(2026, 3, 4, 17, tzinfo=UTC),
        inputs=[
            TreatmentInput(
                unidentified_reference=f"SCRAP-{batch_id}",
                chemistry=RecoveryChemistry.nmc811,
                origin=WasteOrigin.pre_consumer,
                mass_kg=GAP_INPUT_KG,
            )
        ],
        outputs=[
            TreatmentOutput(
                fraction=OutputFraction.ferrous,
                destination=OutputDestination.recycling,
                lot_id=f"{batch_id}-FE",
                mass_kg=D("1000.0"),
            ),
            TreatmentOutput(
                fraction=OutputFraction.plastics, destination=OutputDestination.energy_recovery, mass_kg=D("400.0")
            ),
        ],
        losses_kg=GAP_INPUT_KG - GAP_OUTPUTS_KG - gap_kg,
    )


async def test_the_batch_mass_balance_holds_at_one_percent_either_way_over_http_and_kafka(
    platform: dict[str, ServiceProcess], settings: Settings, db: asyncpg.Connection
) -> None:
    tag = uuid.uuid4().hex[:8]
    recycler = f"recycler-{tag}"
    await register_handler(platform["custody"], new_key(settings, Role.platform_operator), recycler, ["recycler"])
    await recovery_knows_handler(db, recycler)
    boundary = GAP_INPUT_KG * D("0.01")
    within, beyond = D("19.625"), D("19.626")  # the boundary itself; the gram after it
    assert within == boundary
    base = f"{platform['recovery'].base_url}/recovery/v1"
    cases = {"unaccounted": D(1), "over-accounted": D(-1)}
    async with httpx.AsyncClient(timeout=10, headers={"X-API-Key": new_key(settings, Role.recycler, recycler)}) as http:
        for direction, sign in cases.items():
            accepted = gap_batch(recycler, f"TB-{tag}-{direction}-in", sign * within)
            response = await http.post(f"{base}/treatment-batches", json=json.loads(accepted.model_dump_json()))
            assert response.status_code == 201, (direction, response.text)
            flags = [(f["field"], f["reason"]) for f in response.json()["flags"]]
            assert ("losses_kg", "mass_balance_difference") in flags, (direction, flags)
            assert D(response.json()["losses_kg"]) == accepted.losses_kg

            refused = gap_batch(recycler, f"TB-{tag}-{direction}-out", sign * beyond)
            response = await http.post(f"{base}/treatment-batches", json=json.loads(refused.model_dump_json()))
            assert response.status_code == 422, (direction, response.text)
            reasons = [(v["field"], v["reason"]) for v in response.json()["violations"]]
            assert reasons == [("losses_kg", "mass_balance_gap")], (direction, reasons)
            assert f"leave {sign * beyond} kg unaccounted, more than 1 % of the inputs" in str(
                response.json()["violations"][0]["message"]
            )

    # On the topic: the same four, under other ids; the two within are recorded, the two beyond answered.
    sent: dict[str, tuple[str, bool]] = {}
    for direction, sign in cases.items():
        for side, gap in (("in", within), ("out", beyond)):
            message = gap_batch(recycler, f"TB-{tag}-{direction}-{side}-K", sign * gap)
            event_id = await send(
                settings, topics.TREATMENT_BATCHES.name, message, source=f"urn:bpass:handler:{recycler}", key=recycler
            )
            sent[message.batch_id] = (event_id, side == "in")
    for batch_id, (event_id, is_within) in sent.items():
        if is_within:
            outcome = json.loads(await batch_outcome(db, recycler, batch_id, what=f"{batch_id} to be recorded"))
            assert "mass_balance_difference" in {f["reason"] for f in outcome["flags"]}, outcome
        else:

            async def refusal(event_id: str = event_id) -> list[tuple[str, str]] | None:
                return (await refusals(settings)).get(event_id)

            assert await eventually(refusal, what=f"{batch_id} to be refused") == [("losses_kg", "mass_balance_gap")]
    recorded = await db.fetch(
        "SELECT batch_id FROM recovery.treatment_batches WHERE recycler_id = $1 ORDER BY batch_id", recycler
    )
    assert [r["batch_id"] for r in recorded] == sorted(
        [f"TB-{tag}-{d}-in" for d in cases] + [f"TB-{tag}-{d}-in-K" for d in cases]
    )
