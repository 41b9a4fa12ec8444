"""PassportMinted v2 against the real stack: a fact that only names its static data document by digest is resolved
from the document an earlier fact carried; one whose document never arrived is refused with `static_data_unknown`.
Both readers of static data, reporting and recovery, are checked."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import httpx

from contracts import topics
from contracts.identity import PassportMinted
from services.common.settings import Settings
from services.common.static_documents import STATIC_DATA_UNKNOWN
from tests.support import ServiceProcess, eventually, read_topic, send_fact
from tests.unit.reporting.factories import batteries, minted


def naming_only(carrying: PassportMinted, *, digest: str | None = None) -> PassportMinted:
    """Another passport of the same model, as identity publishes it after the first on a partition."""
    pid = f"urn:uuid:{uuid.uuid4()}"
    body = carrying.model_dump(mode="json")
    body["subject"]["battery_identifier"] = f"DOC-{uuid.uuid4().hex[:12]}"
    body["subject"]["gtin"] = None
    return PassportMinted.model_validate(
        {
            **body,
            "passport_id": pid,
            "public_uri": f"https://passport.example.test/p/{pid[9:]}",
            "static_data": None,
            "static_data_digest": digest or carrying.static_data_digest,
        }
    )


async def test_a_fact_naming_a_document_seen_before_resolves_and_an_unknown_one_is_refused(
    platform: dict[str, ServiceProcess], settings: Settings, tenant: tuple[str, str], db: asyncpg.Connection
) -> None:
    tenant_name, oem_key = tenant
    reporting = platform["reporting"].base_url
    carrying = minted(batteries(1)[0], tenant_name)
    assert carrying.static_data is not None
    document = carrying.static_data.model_dump(mode="json", exclude_none=True)

    async with httpx.AsyncClient(timeout=10, headers={"X-API-Key": oem_key}) as http:

        async def projected(pid: str) -> dict[str, Any] | None:
            response = await http.get(f"{reporting}/reporting/v1/passports/{pid}")
            return response.json() if response.status_code == 200 else None

        async def recovery_knows(pid: str) -> dict[str, Any] | None:
            static = await db.fetchval("SELECT static_data FROM recovery.known_passports WHERE passport_id = $1", pid)
            return None if static is None else dict(json.loads(static))

        # The first fact carries the document; both readers keep it.
        await send_fact(settings, topics.PASSPORT_MINTED, carrying, carrying.passport_id)
        first = await eventually(lambda: projected(carrying.passport_id), what="the carrying fact projected")
        assert first["static_data"] == document
        assert await eventually(lambda: recovery_knows(carrying.passport_id), what="recovery's copy") == document

        # A later fact only names it: resolved from what each reader kept.
        later = naming_only(carrying)
        assert later.static_data is None
        await send_fact(settings, topics.PASSPORT_MINTED, later, later.passport_id)
        second = await eventually(lambda: projected(later.passport_id), what="the naming fact projected")
        assert second["static_data"] == document
        assert second["battery_identifier"] == later.subject.battery_identifier
        assert await eventually(lambda: recovery_knows(later.passport_id), what="recovery's copy") == document

        # A fact naming a document nobody carried is refused by both, with the field and the reason.
        orphan = naming_only(carrying, digest="sha256:" + uuid.uuid4().hex * 2)
        await send_fact(settings, topics.PASSPORT_MINTED, orphan, orphan.passport_id)

        async def refused(topic: str) -> list[tuple[str, str]] | None:
            for record in await read_topic(settings, topic):
                if record.key == orphan.passport_id.encode():
                    refusal = json.loads(record.value)
                    return [(v["field"], v["reason"]) for v in refusal["violations"]]
            return None

        expected = [("static_data_digest", STATIC_DATA_UNKNOWN)]
        assert await eventually(lambda: refused(topics.REPORTING_REJECTED.name), what="reporting's refusal") == expected
        assert await eventually(lambda: refused(topics.RECOVERY_REJECTED.name), what="recovery's refusal") == expected
        assert (await http.get(f"{reporting}/reporting/v1/passports/{orphan.passport_id}")).status_code == 404
        assert await recovery_knows(orphan.passport_id) is None
