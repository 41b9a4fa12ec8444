"""bpass_chain_verifications_total (alert BpassCustodyChainBroken): custody counts each verification of a custody
log's hash chain by result, on its /metrics, from zero."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families

from contracts.custody import CustodyEventKind
from services.common.settings import Settings
from tests.conftest import PORT_BASE
from tests.integration.test_custody_events import (
    Custody,
    custody_alone,
    event,
    mint,
    register,
    send,
    uid,
    verification,
    wait_log,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def custody(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Custody]:
    async with custody_alone(settings, tmp_path_factory.mktemp("chain-metric"), PORT_BASE + 57) as running:
        yield running


async def verifications(custody: Custody) -> dict[str, float]:
    async with custody.http() as http:
        response = await http.get("/custody/metrics")
    assert response.status_code == 200, response.text
    return {
        sample.labels["result"]: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == "bpass_chain_verifications_total" and sample.labels["service"] == "custody"
    }


async def test_each_verification_is_counted_by_result_from_zero(custody: Custody) -> None:
    assert await verifications(custody) == {"intact": 0, "broken": 0}
    tenant, carrier = uid("oem"), uid("carrier")
    await register(custody, carrier, delegate_of=[tenant])
    passport_id, _ = await mint(custody, tenant)
    for day, kind in enumerate((CustodyEventKind.dispatch, CustodyEventKind.receipt)):
        await send(custody, event(kind, carrier, passport_id, occurred_at=datetime(2026, 3, 1 + day, tzinfo=UTC)))
        await wait_log(custody, passport_id, day + 1)
    assert (await verification(custody, passport_id))["intact"] is True
    assert await verifications(custody) == {"intact": 1, "broken": 0}

    table = "custody.custody_log"
    content = await custody.db.fetchval(
        f"SELECT content FROM {table} WHERE passport_id = $1 AND sequence = 2", passport_id
    )
    altered = json.loads(content) if isinstance(content, str) else content
    altered["handler_id"] = "someone-else"
    await custody.db.execute(
        f"UPDATE {table} SET content = $2::jsonb WHERE passport_id = $1 AND sequence = 2",
        passport_id,
        json.dumps(altered),
    )
    assert (await verification(custody, passport_id))["intact"] is False
    assert await verifications(custody) == {"intact": 1, "broken": 1}
