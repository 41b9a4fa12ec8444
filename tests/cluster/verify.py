"""What the platform made of a load's ledger, read back from every service and from the tenant's change stream:
lost (accepted, never recorded), duplicated (recorded more than once), broken chains, missing stream versions."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from contracts import topics
from services.common.settings import Settings
from tests.cluster.load import Ledger
from tests.support import headers_of, read_topic


@dataclass
class Outcome:
    mints: int = 0
    events: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    broken_chains: list[str] = field(default_factory=list)
    missing_versions: list[str] = field(default_factory=list)
    stream_messages: int = 0
    stream_redeliveries: int = 0  # the same message (one CloudEvents id) published again by a restarted relay

    def problems(self) -> dict[str, list[str]]:
        found = {
            "lost": self.lost,
            "duplicated": self.duplicated,
            "broken chains": self.broken_chains,
            "missing change-stream versions": self.missing_versions,
        }
        return {what: items[:10] for what, items in found.items() if items}


async def examine(
    settings: Settings, ledger: Ledger, *, custody_url: str, reporting_url: str, tenant_key: str
) -> Outcome:
    outcome = Outcome(mints=len(ledger.minted), events=len(ledger.events))
    passports = sorted(ledger.minted.values())
    expected = ledger.events_of()
    conn = await asyncpg.connect(settings.database_url, timeout=10)
    try:
        # identity: one passport per accepted battery identifier, the one the mint answered with.
        rows = await conn.fetch(
            "SELECT battery_identifier, array_agg(passport_id) AS ids FROM identity.passports "
            "WHERE tenant = $1 GROUP BY battery_identifier",
            ledger.tenant,
        )
        minted = {r["battery_identifier"]: list(r["ids"]) for r in rows}
        for identifier, passport_id in ledger.minted.items():
            ids = minted.get(identifier, [])
            if not ids:
                outcome.lost.append(f"mint {identifier}")
            elif ids != [passport_id]:
                outcome.duplicated.append(f"mint {identifier}: {ids}")
        # custody: one log entry per accepted event (by its CloudEvents id), none for anything else.
        rows = await conn.fetch(
            "SELECT source_event_id, count(*) AS n FROM custody.custody_log WHERE passport_id = ANY($1::text[]) "
            "GROUP BY source_event_id",
            passports,
        )
        recorded = {r["source_event_id"]: r["n"] for r in rows}
        outcome.lost += [f"event {e}" for e in ledger.events if e not in recorded]
        outcome.duplicated += [f"event {e} x{n}" for e, n in recorded.items() if n > 1]
        outcome.duplicated += [f"event {e} never sent" for e in recorded if e not in ledger.events]
    finally:
        await conn.close()

    views = await _check_views(outcome, reporting_url, tenant_key, expected)
    await _check_chains(outcome, custody_url, tenant_key, expected)
    _check_stream(outcome, await read_topic(settings, topics.tenant_passport_changes(ledger.tenant), timeout=60), views)
    return outcome


async def _check_views(
    outcome: Outcome, reporting_url: str, tenant_key: str, expected: dict[str, int]
) -> dict[str, int]:
    """reporting: every passport projected, with every custody step; its current version, per passport."""
    limit = asyncio.Semaphore(4)
    versions: dict[str, int] = {}

    async def read(http: httpx.AsyncClient, passport_id: str) -> None:
        async with limit:
            response = await http.get(f"{reporting_url}/reporting/v1/passports/{passport_id}")
        if response.status_code != 200:
            outcome.lost.append(f"reporting view of {passport_id}: {response.status_code}")
            return
        view = response.json()
        versions[passport_id] = view["version"]
        steps = len(view.get("custody_timeline") or [])
        if steps != expected[passport_id]:
            problem = f"reporting {passport_id}: {steps} custody steps, {expected[passport_id]} accepted"
            (outcome.lost if steps < expected[passport_id] else outcome.duplicated).append(problem)

    async with httpx.AsyncClient(timeout=30, headers={"X-API-Key": tenant_key}) as http:
        await asyncio.gather(*(read(http, p) for p in expected))
    return versions


async def _check_chains(outcome: Outcome, custody_url: str, tenant_key: str, expected: dict[str, int]) -> None:
    """custody's own verification of each passport's hash chain, over HTTP."""
    limit = asyncio.Semaphore(4)

    async def verify(http: httpx.AsyncClient, passport_id: str) -> None:
        async with limit:
            response = await http.get(f"{custody_url}/custody/v1/passports/{passport_id}/custody-log/verification")
        body: dict[str, Any] = response.json() if response.status_code == 200 else {}
        if not body.get("intact") or body.get("entries") != expected[passport_id]:
            outcome.broken_chains.append(f"{passport_id}: {response.status_code} {body or response.text[:200]}")

    async with httpx.AsyncClient(timeout=30, headers={"X-API-Key": tenant_key}) as http:
        await asyncio.gather(*(verify(http, p) for p in expected if expected[p]))


def _check_stream(outcome: Outcome, records: list[Any], versions: dict[str, int]) -> None:
    """Every version of every passport once on the tenant's change stream; the same message again (one CloudEvents
    id) is a relay's redelivery, which subscribers drop; one version under two ids is a duplicate."""
    ids_of: dict[tuple[str, int], set[str]] = defaultdict(set)
    seen: Counter[str] = Counter()
    for record in records:
        body = json.loads(record.value)
        ce_id = headers_of(record)["ce_id"]
        seen[ce_id] += 1
        ids_of[(body["passport_id"], body["version"])].add(ce_id)
    outcome.stream_messages = len(records)
    outcome.stream_redeliveries = sum(n - 1 for n in seen.values())
    for (passport_id, version), ids in ids_of.items():
        if len(ids) > 1:
            outcome.duplicated.append(f"change stream {passport_id} v{version} under {len(ids)} ids")
    for passport_id, version in versions.items():
        missing = [v for v in range(1, version + 1) if (passport_id, v) not in ids_of]
        if missing:
            outcome.missing_versions.append(f"{passport_id}: versions {missing[:5]} of {version}")
