"""`bpass simulate` against the four services as processes: no refusals, every stage, recovery outcomes, and a read
model that tells what was sent although it arrived out of order and months late."""

from __future__ import annotations

import uuid

import httpx
import pytest

from bpass.simulate import Endpoints, run_simulation
from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import new_key
from tests.support import ServiceProcess


# two runs of the whole platform, each with its end check (about a minute each on a quiet machine)
@pytest.mark.timeout(600)
async def test_shuffled_backdated_simulation_reaches_every_stage_and_the_read_model_tells_what_was_sent(
    settings: Settings, tenant: tuple[str, str], platform: dict[str, ServiceProcess]
) -> None:
    _, oem_key = tenant
    operator_key = new_key(settings, Role.platform_operator)
    endpoints = Endpoints(**{name: process.base_url for name, process in platform.items()})
    run = f"t{uuid.uuid4().hex[:5]}"

    result = await run_simulation(
        settings,
        batteries=60,
        run=run,
        oem_key=oem_key,
        operator_key=operator_key,
        endpoints=endpoints,
        timeout=60,
        progress=False,
        shuffle=True,
        backdate_days=500,
    )

    assert result["refusals"] == [], result["reasons"]
    assert result["counts"]["custody_events_held_back"] > 0, result["counts"]
    assert result["counts"]["telemetry_messages"] > 0, result["counts"]
    check = result["check"]
    assert (check.checked, check.disagreements) == (60, []), "\n".join(check.summary(limit=200))
    assert check.as_of_reads >= 60
    assert result["counts"]["minted"] == 60
    stages = result["stages"]
    assert sum(stages.values()) == 60
    assert {"manufactured", "in_service", "collected", "recycled"} <= set(stages), stages

    async with httpx.AsyncClient(base_url=endpoints.reporting, headers={"X-API-Key": oem_key}, timeout=10) as http:
        counts = (await http.get("/reporting/v1/passports:count", params={"group_by": "stage"})).json()
        assert counts["total"] == 60
        assert len(counts["groups"]) >= 4
        page = (await http.get("/reporting/v1/passports", params={"stage": "recycled", "limit": 5})).json()
        assert page["items"], page
        recycled = (await http.get(f"/reporting/v1/passports/{page['items'][0]['passport_id']}")).json()
        assert recycled["ceased"] is True
        outcome = (recycled.get("recovery") or {}).get("outcome") or []
        assert any(float(line["in_recycled_fractions_kg"]) > 0 for line in outcome), recycled.get("recovery")

    # A rerun of the same label (in event order this time) adds nothing, is refused nothing, and still agrees.
    again = await run_simulation(
        settings,
        batteries=60,
        run=run,
        oem_key=oem_key,
        operator_key=operator_key,
        endpoints=endpoints,
        timeout=60,
        progress=False,
        backdate_days=500,
    )
    assert again["counts"]["minted"] == 0
    assert again["counts"]["already_minted"] == 60
    assert again["refusals"] == []
    assert again["stages"] == stages
    assert again["disagreements"] == [], "\n".join(again["check"].summary(limit=200))
