"""EPCIS collection and treatment steps carry their waste facts as the platform's extension fields (`wasteCode`,
`wasteOperation` in https://w3id.org/battery-passport/epcis/), against the real custody service: a collector's
collecting event is recorded when the code is one its permit covers, and refused naming the extension field when
the code is missing or not covered (CBV has no field for it; the permit check needs it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import PORT_BASE, new_key
from tests.integration.test_custody_epcis import capture, document, entries, mint_gs1, object_event
from tests.integration.test_custody_events import Custody, custody_alone, register, uid

NAMESPACE = "https://w3id.org/battery-passport/epcis/"


@pytest.fixture(scope="module")
async def custody(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Custody]:
    async with custody_alone(settings, tmp_path_factory.mktemp("custody-epcis-waste"), PORT_BASE + 101) as running:
        yield running


def collecting(serial: str, **extension: str) -> dict[str, Any]:
    event = object_event(serial, biz_step="collecting", time="2026-03-02T10:00:00.000Z")
    event["disposition"] = "in_progress"
    return {**event, **extension}


def with_prefix(body: dict[str, Any]) -> dict[str, Any]:
    body["@context"] = [*body["@context"], {"bp": NAMESPACE}]
    return body


async def test_a_collection_with_a_covered_waste_code_is_recorded_with_it(custody: Custody) -> None:
    collector = uid("collector")
    await register(custody, collector, roles=["collector"])
    key = new_key(custody.settings, Role.collector, collector)
    passport_id, serial = await mint_gs1(custody, uid("oem"))

    job = await capture(custody, key, with_prefix(document(collecting(serial, **{"bp:wasteCode": "16 06 05"}))))

    assert job["success"] is True, job["errors"]
    assert job["events"][0]["outcome"] == "recorded", job["events"]
    [entry] = await entries(custody, passport_id)
    assert entry["kind"] == "collection"
    assert entry["content"]["epcis"]["waste_code"] == "16 06 05"


async def test_a_collection_without_a_waste_code_is_refused_naming_the_extension_field(custody: Custody) -> None:
    collector = uid("collector")
    await register(custody, collector, roles=["collector"])
    key = new_key(custody.settings, Role.collector, collector)
    passport_id, serial = await mint_gs1(custody, uid("oem"))

    bare = await capture(custody, key, with_prefix(document(collecting(serial))))
    assert bare["success"] is False
    [error] = bare["errors"][0]["violations"]
    assert error["reason"] == "waste_code_required"
    assert error["field"] == "bp:wasteCode"  # the document's own prefix of the namespace
    assert NAMESPACE + "wasteCode" in error["message"]

    uncovered = await capture(custody, key, document(collecting(serial, **{NAMESPACE + "wasteCode": "20 01 33*"})))
    assert uncovered["success"] is False
    [error] = uncovered["errors"][0]["violations"]
    assert error["reason"] == "permit_does_not_cover_waste_code"
    assert error["field"] == NAMESPACE + "wasteCode"  # no prefix declared: the IRI
    assert await entries(custody, passport_id) == []

    by_operation = await capture(custody, key, document(collecting(serial, **{NAMESPACE + "wasteOperation": "R4"})))
    assert by_operation["success"] is True, by_operation["errors"]
    [entry] = await entries(custody, passport_id)
    assert entry["content"]["epcis"]["waste_operation"] == "R4"
