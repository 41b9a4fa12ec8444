"""Publishers are held to what they may say (issue #7), on the real stack: recovery believes only registered,
verified recyclers and refiners (its copy of custody's handler registry), and a recycler's treatment batch only for
passports in its custody (its copy of custody's log). Refusals carry their reason code on
`bpass.recovery.rejected.v1` or in the HTTP 422; a batch that arrives before the custody of its passports is parked
and decided when the custody facts arrive."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import httpx

from contracts import topics
from contracts.attributes import BatteryCategory
from contracts.recovery import RefinerFeed, RefinerReportSubmitted
from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import new_key
from tests.integration.recovery_support import (
    batch_outcome,
    receive,
    recovery_knows_handler,
    recovery_sees_holder,
    refusals,
    register_handler,
)
from tests.integration.test_recovery_flow import mint, send, treatment_batch
from tests.support import ServiceProcess, eventually


async def _rejections(settings: Settings, event_ids: set[str]) -> dict[str, list[tuple[str, str]]] | None:
    found = {ce_id: violations for ce_id, violations in (await refusals(settings)).items() if ce_id in event_ids}
    return found if set(found) == event_ids else None


async def test_recovery_believes_only_verified_handlers_and_passports_in_the_recyclers_custody(
    platform: dict[str, ServiceProcess], settings: Settings, tenant: tuple[str, str], db: asyncpg.Connection
) -> None:
    _, oem_key = tenant
    identity, custody, recovery = platform["identity"], platform["custody"], platform["recovery"]
    tag = uuid.uuid4().hex[:8]
    recycler, pending, carrier, collector = (f"{r}-{tag}" for r in ("recycler", "pending", "carrier", "collector"))
    unknown_recycler, unknown_refiner = f"nobody-{tag}", f"nobody-refiner-{tag}"
    operator_key = new_key(settings, Role.platform_operator)
    await register_handler(custody, operator_key, recycler, ["recycler"])
    await register_handler(custody, operator_key, pending, ["recycler"], verify=False)
    await register_handler(custody, operator_key, carrier, ["carrier"])
    await register_handler(custody, operator_key, collector, ["collector"])
    async with httpx.AsyncClient(timeout=10, headers={"X-API-Key": oem_key}) as http:
        # An NMC and an LFP battery each, as the batch's assay expects: two NMC batteries would declare less lithium
        # and graphite than its lots hold (mass_balance_exceeded).
        held, held_lfp = (
            await mint(http, identity, BatteryCategory.ev),
            await mint(http, identity, BatteryCategory.industrial),
        )
        early, early_lfp = (
            await mint(http, identity, BatteryCategory.ev),
            await mint(http, identity, BatteryCategory.industrial),
        )
        for passport_id, _ in (held, held_lfp, early, early_lfp):
            await eventually(
                lambda p=passport_id: db.fetchval(  # type: ignore[misc]
                    "SELECT 1 FROM recovery.known_passports WHERE passport_id = $1", p
                ),
                what="recovery to know the passport",
            )
    for handler_id, state in ((recycler, "verified"), (pending, "pending"), (carrier, "verified")):
        await recovery_knows_handler(db, handler_id, state)
    # The collector holds the first two batteries.
    await receive(settings, custody, collector, [held[0], held_lfp[0]])
    await recovery_sees_holder(db, [held[0], held_lfp[0]], collector)

    def batch(by: str, first: tuple[str, str], second: tuple[str, str], suffix: str) -> Any:
        return treatment_batch(by, f"TB-{tag}-{suffix}", first[0], second[1])

    # Topic: an unregistered recycler, an unverified one, and a verified one reporting passports a collector holds.
    sent = {
        await send(settings, topics.TREATMENT_BATCHES.name, b, source=f"urn:bpass:handler:{b.recycler_id}", key=k): k
        for b, k in (
            (batch(unknown_recycler, held, held_lfp, "U"), "unregistered"),
            (batch(pending, held, held_lfp, "P"), "unverified"),
            (batch(recycler, held, held_lfp, "C"), "not_in_custody"),
        )
    }
    refiner_report = RefinerReportSubmitted.model_validate(
        {
            "report_id": f"RR-{tag}",
            "refiner_id": unknown_refiner,
            "period_start": "2026-03-05T00:00:00Z",
            "period_end": "2026-03-31T00:00:00Z",
            "inputs": [RefinerFeed.model_validate({"recycler_id": recycler, "lot_id": "L", "mass_kg": "1"})],
            "products": [
                {"product_lot_id": f"CS-{tag}", "product": "cobalt_sulphate", "mass_kg": "1",
                 "metal_content_pct": {"cobalt": "20"}}
            ],
        }
    )  # fmt: skip
    refiner_id = await send(
        settings, topics.REFINER_REPORTS.name, refiner_report, source=f"urn:bpass:handler:{unknown_refiner}", key=tag
    )
    sent[refiner_id] = "refiner_unregistered"
    refused = await eventually(lambda: _rejections(settings, set(sent)), what="the refusals")
    by_case = {sent[ce_id]: violations for ce_id, violations in refused.items()}
    assert by_case == {
        "unregistered": [("recycler_id", "handler_not_registered")],
        "unverified": [("recycler_id", "handler_not_verified")],
        "not_in_custody": [
            ("inputs.0.passport_id", "not_in_custody"),
            ("inputs.1.battery_identifier", "not_in_custody"),
        ],
        "refiner_unregistered": [("refiner_id", "handler_not_registered")],
    }

    base = f"{recovery.base_url}/recovery/v1"
    async with httpx.AsyncClient(timeout=10) as http:
        # HTTP: a verified carrier's key may be a recycler key, but the registry says it is no recycler.
        as_carrier = {"X-API-Key": new_key(settings, Role.recycler, carrier)}
        answer = await http.post(f"{base}/treatment-batches", json=_body(batch(carrier, held, held_lfp, "R")),
                                 headers=as_carrier)  # fmt: skip
        assert answer.status_code == 422
        assert [(v["field"], v["reason"]) for v in answer.json()["violations"]] == [
            ("recycler_id", "handler_role_not_allowed")
        ]
        # HTTP: no custody step of these passports has reached recovery: refused, the caller can send again.
        as_recycler = {"X-API-Key": new_key(settings, Role.recycler, recycler)}
        answer = await http.post(f"{base}/treatment-batches", json=_body(batch(recycler, early, early_lfp, "H")),
                                 headers=as_recycler)  # fmt: skip
        assert answer.status_code == 422
        violations = answer.json()["violations"]
        assert [(v["field"], v["reason"]) for v in violations] == [
            ("inputs.0.passport_id", "not_in_custody"),
            ("inputs.1.battery_identifier", "not_in_custody"),
        ]
        assert "no custody step" in violations[0]["message"]

        # The collector hands the first two over: now the recycler's batch is accepted.
        await _handover(settings, custody, collector, recycler, [held[0], held_lfp[0]])
        await recovery_sees_holder(db, [held[0], held_lfp[0]], recycler)
        accepted = await http.post(f"{base}/treatment-batches", json=_body(batch(recycler, held, held_lfp, "A")),
                                   headers=as_recycler)  # fmt: skip
        assert accepted.status_code == 201, accepted.text
        assert accepted.json()["passports_ceased"] == 2

    # Topic: a batch before any custody step of its passports is parked, then accepted when the receipt arrives.
    early_batch = batch(recycler, early, early_lfp, "E")
    await send(settings, topics.TREATMENT_BATCHES.name, early_batch, source=f"urn:bpass:handler:{recycler}", key="E")
    waiting = await eventually(
        lambda: db.fetchval(
            "SELECT waiting_for FROM recovery.parked_treatment_batches WHERE recycler_id = $1 AND batch_id = $2",
            recycler,
            early_batch.batch_id,
        ),
        what="the early batch to be parked",
    )
    assert sorted(waiting) == sorted([early[0], early_lfp[0]])
    await receive(settings, custody, recycler, [early[0], early_lfp[0]])
    outcome = await batch_outcome(db, recycler, early_batch.batch_id, what="the parked batch to be accepted")
    assert json.loads(outcome)["passports_ceased"] == 2
    parked = await db.fetchval(
        "SELECT count(*) FROM recovery.parked_treatment_batches WHERE recycler_id = $1", recycler
    )
    assert parked == 0


def _body(message: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(message.model_dump_json())
    return data


async def _handover(
    settings: Settings, custody: ServiceProcess, giver: str, taker: str, passport_ids: list[str]
) -> None:
    key = new_key(settings, Role.collector, giver)
    event = {
        "kind": "handover",
        "occurred_at": "2026-03-01T12:00:00Z",
        "handler_id": giver,
        "from_handler_id": giver,
        "to_handler_id": taker,
        "targets": {"passport_ids": passport_ids},
    }
    async with httpx.AsyncClient(base_url=custody.base_url, timeout=10, headers={"X-API-Key": key}) as http:
        response = await http.post("/custody/v1/events", json=event, headers={"X-Event-Id": str(uuid.uuid4())})
        assert response.status_code == 201, response.text
        assert response.json()["outcome"] == "recorded", response.text
