"""Regressions of "the passport tells the truth", over Kafka and HTTP against the real stack: a battery whose life is
reported months late and backwards reads as it happened.

Before: versions were stamped with the projection's clock (an `as_of` in the months the battery was in service
answered 404, versions 2-9 shared one `valid_from`); custody steps moved the stage before the status fact came, so
collections were filed as `in_treatment` and the recycled battery had no `recycled` entry.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from contracts import topics
from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import new_key
from tests.support import ServiceProcess, eventually, send_fact
from tests.unit.reporting.factories import batteries, ceased, custody_chain, minted, status_changed

MONTH = timedelta(days=30)


async def test_a_life_reported_late_and_backwards_reads_as_it_happened(
    reporting: ServiceProcess, settings: Settings
) -> None:
    tenant = f"oem-{uuid.uuid4().hex[:10]}"
    key = new_key(settings, Role.oem_admin, tenant)
    born = datetime.now(UTC).replace(microsecond=0) - 12 * MONTH
    mint = minted(batteries(1)[0], tenant, at=born)
    pid = mint.passport_id
    placed, in_service, collected, treated, recycled = (born + n * MONTH for n in (1, 2, 8, 9, 10))
    collection, treatment = custody_chain(
        pid, tenant, ["collection", "treatment_start"], at=collected - timedelta(days=1)
    )
    facts: list[tuple[Any, Any]] = [
        (topics.PASSPORT_MINTED, mint),
        (topics.CUSTODY_PASSPORT_STATUS, status_changed(pid, tenant, "placed_on_market", placed, sequence=1)),
        (topics.CUSTODY_PASSPORT_STATUS, status_changed(pid, tenant, "in_service", in_service, sequence=1)),
        (topics.CUSTODY_RECORDED, collection),
        (topics.CUSTODY_PASSPORT_STATUS, status_changed(pid, tenant, "collected", collected, sequence=1)),
        (topics.CUSTODY_RECORDED, treatment),
        (topics.CUSTODY_PASSPORT_STATUS, status_changed(pid, tenant, "in_treatment", treated, sequence=2)),
        (topics.PASSPORT_CEASED, ceased(pid, tenant, mint.subject.battery_identifier, recycled)),
    ]
    # the minting first (it creates the passport), then everything else newest first
    for topic, fact in [facts[0], *reversed(facts[1:])]:
        await send_fact(settings, topic, fact, pid)

    async with httpx.AsyncClient(base_url=reporting.base_url, timeout=10, headers={"X-API-Key": key}) as http:

        async def settled() -> dict[str, Any] | None:
            response = await http.get(f"/reporting/v1/passports/{pid}")
            body: dict[str, Any] = response.json() if response.status_code == 200 else {}
            history = body.get("status_history") or []
            return body if len(history) == 5 and len(body.get("custody_timeline") or []) == 2 else None

        state = await eventually(settled, timeout=60, what="the whole life projected")
        assert state["stage"] == "recycled"
        assert state["ceased"] is True
        assert [(h["stage"], h["status"], h["occurred_at"]) for h in state["status_history"]] == [
            ("placed_on_market", "original", placed.isoformat()),
            ("in_service", "original", in_service.isoformat()),
            ("collected", "waste", collected.isoformat()),
            ("in_treatment", "waste", treated.isoformat()),
            ("recycled", "waste", recycled.isoformat()),
        ]
        assert state["in_service"]["placed_on_market_at"] == placed.isoformat()
        assert state["valid_from"] == recycled.isoformat()

        # as_of reads event time: each month of its life shows the stage it was in then
        for instant, stage, status in [
            (born + timedelta(days=3), "manufactured", "original"),
            (placed + timedelta(days=3), "placed_on_market", "original"),
            (in_service + 2 * MONTH, "in_service", "original"),
            (collected + timedelta(hours=1), "collected", "waste"),
            (treated + timedelta(days=3), "in_treatment", "waste"),
            (recycled + timedelta(days=3), "recycled", "waste"),
        ]:
            response = await http.get(f"/reporting/v1/passports/{pid}", params={"as_of": instant.isoformat()})
            assert response.status_code == 200, (instant, response.text)
            assert (response.json()["stage"], response.json()["status"]) == (stage, status), instant
        before_birth = await http.get(f"/reporting/v1/passports/{pid}", params={"as_of": (born - MONTH).isoformat()})
        assert before_birth.status_code == 404

        # the versions that make its history: one per change, in event-time order, each with its own valid_from
        versions = (await http.get(f"/reporting/v1/passports/{pid}/versions")).json()["versions"]
        valid_from = [datetime.fromisoformat(v["valid_from"].replace("Z", "+00:00")) for v in versions]
        assert valid_from == sorted(valid_from)
        assert {placed, in_service, collected, treated, recycled} <= set(valid_from)

        # known_at reads record time: before anything was reported, nothing was shown
        known_before = await http.get(
            f"/reporting/v1/passports/{pid}", params={"known_at": (datetime.now(UTC) - 2 * MONTH).isoformat()}
        )
        assert known_before.status_code == 404
