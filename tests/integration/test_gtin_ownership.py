"""GTIN ownership: a tenant mints passports naming GTINs only under GS1 company prefixes the platform operator
verified for it. Tenant B minted a serial under tenant A's GTIN, A's own mint of that serial was then refused
`gtin_serial_taken` and the public resolver served B's passport; now B is refused `gtin_prefix_not_owned` (HTTP
single and bulk, and Kafka mint requests), naming the field."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bpass.examples import valid_static_data
from contracts import topics
from contracts.attributes import BatteryCategory
from contracts.identity import MintPassportsRequested, PassportSpec
from contracts.passport_data import BatteryKind, PassportSubject
from contracts.rejections import MessageRejected
from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import PORT_BASE, new_key
from tests.integration.test_identity_minting import Identity, identity_service, spec
from tests.support import cloudevent_headers, eventually, publish

PREFIX = "4006381"
GTIN = "04006381333931"  # under PREFIX, valid check digit


@pytest.fixture(scope="module")
async def identity(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Identity]:
    async with identity_service(settings, tmp_path_factory.mktemp("identity-gtin"), PORT_BASE + 62) as service:
        yield service


def violations(response: httpx.Response) -> list[tuple[str, str]]:
    return [(v["field"], v["reason"]) for v in response.json()["violations"]]


async def test_only_the_verified_prefix_holder_mints_under_its_gtins(identity: Identity) -> None:
    owner_name, squatter_name = f"oem-{uuid.uuid4().hex[:8]}", f"oem-{uuid.uuid4().hex[:8]}"
    owner = {"X-API-Key": new_key(identity.settings, Role.oem_admin, owner_name)}
    squatter = {"X-API-Key": new_key(identity.settings, Role.oem_admin, squatter_name)}
    operator = {"X-API-Key": new_key(identity.settings, Role.platform_operator)}
    serial = f"S{uuid.uuid4().hex[:8]}"
    body = spec(serial, gtin=GTIN)
    verify = f"/identity/v1/tenants/{owner_name}/gtin-prefixes/{PREFIX}/verify"
    async with httpx.AsyncClient(base_url=identity.url, timeout=30) as http:
        # The owner declares its prefix; declaring verifies nothing, and nobody but the operator verifies.
        declared = await http.post("/identity/v1/gtin-prefixes", json={"prefix": PREFIX}, headers=owner)
        assert declared.status_code == 201, declared.text
        assert declared.json()["state"] == "declared"
        refused = await http.post("/identity/v1/passports", json=body, headers=owner)
        assert refused.status_code == 422, refused.text
        assert violations(refused) == [("subject.gtin", "gtin_prefix_not_owned")]
        assert (await http.post(verify, json={}, headers=owner)).status_code == 403
        verified = await http.post(verify, json={"reason": "GS1 licence seen"}, headers=operator)
        assert verified.status_code == 200, verified.text
        assert verified.json()["state"] == "verified"

        # The squatter, first: refused on the single and the bulk route.
        squat = await http.post("/identity/v1/passports", json=body, headers=squatter)
        assert squat.status_code == 422, squat.text
        assert violations(squat) == [("subject.gtin", "gtin_prefix_not_owned")]
        bulk = {
            "defaults": {"category": "ev", "static_data": spec("x")["static_data"]},
            "passports": [
                {"subject": {"kind": "battery", "battery_identifier": f"{serial}-B"}},
                {"subject": {"kind": "battery", "battery_identifier": serial, "gtin": GTIN}},
            ],
        }
        squat_bulk = await http.post("/identity/v1/passports:bulk", json=bulk, headers=squatter)
        assert squat_bulk.status_code == 422, squat_bulk.text
        assert violations(squat_bulk) == [("passports.1.subject.gtin", "gtin_prefix_not_owned")]

        # The owner mints its serial; the QR URI is its GS1 Digital Link.
        minted = await http.post("/identity/v1/passports", json=body, headers=owner)
        assert minted.status_code == 201, minted.text
        assert minted.json()["public_uri"].endswith(f"/01/{GTIN}/21/{serial}")
        # Without a GTIN anyone mints as before.
        plain = await http.post("/identity/v1/passports", json=spec(f"P{uuid.uuid4().hex[:8]}"), headers=squatter)
        assert plain.status_code == 201, plain.text

        # The prefix (or one overlapping it) is not verified for another tenant unless the operator says shared.
        for prefix in (PREFIX, PREFIX[:5], PREFIX + "33"):
            taken = await http.post(
                f"/identity/v1/tenants/{squatter_name}/gtin-prefixes/{prefix}/verify", json={}, headers=operator
            )
            assert taken.status_code == 409, taken.text
            assert violations(taken) == [("prefix", "gtin_prefix_owned_by_another")]
        listed = await http.get("/identity/v1/gtin-prefixes", headers=owner)
        assert [(p["prefix"], p["state"]) for p in listed.json()["prefixes"]] == [(PREFIX, "verified")]
        assert (await http.get("/identity/v1/gtin-prefixes", headers=squatter)).json()["prefixes"] == []

        # Revoked (the licence lapsed): no more passports under it; those minted stay.
        revoke = f"/identity/v1/tenants/{owner_name}/gtin-prefixes/{PREFIX}/revoke"
        assert (await http.post(revoke, json={}, headers=owner)).status_code == 403
        revoked = await http.post(revoke, json={"reason": "licence lapsed"}, headers=operator)
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["state"] == "revoked"
        after = await http.post("/identity/v1/passports", json=spec(f"R{serial}", gtin=GTIN), headers=owner)
        assert after.status_code == 422, after.text
        assert violations(after) == [("subject.gtin", "gtin_prefix_not_owned")]
        again = await http.post("/identity/v1/passports", json=body, headers=owner)
        assert again.status_code == 200, again.text  # its existing passport, as minting is idempotent
        unknown = await http.post(
            f"/identity/v1/tenants/{squatter_name}/gtin-prefixes/{PREFIX}/revoke", headers=operator
        )
        assert unknown.status_code == 404


async def test_a_mint_request_on_kafka_under_anothers_prefix_is_refused_naming_the_field(identity: Identity) -> None:
    squatter = f"oem-{uuid.uuid4().hex[:8]}"
    serial = f"K{uuid.uuid4().hex[:8]}"
    request = MintPassportsRequested(
        passports=[
            PassportSpec(
                subject=PassportSubject(kind=BatteryKind.battery, battery_identifier=serial, gtin=GTIN),
                category=BatteryCategory.ev,
                static_data=valid_static_data(BatteryCategory.ev),
            )
        ]
    )
    await publish(
        identity.settings,
        topics.MINT_REQUESTS.name,
        request.model_dump_json().encode(),
        key=serial,
        headers=cloudevent_headers(request, source=f"urn:bpass:tenant:{squatter}:mes-1"),
    )

    async def rejected() -> MessageRejected | None:
        for record in await identity.facts(topics.IDENTITY_REJECTED):
            if record.key == serial.encode():
                return MessageRejected.model_validate_json(record.value)
        return None

    refusal = await eventually(rejected, what="the refusal of the squatting mint request")
    assert [(v.field, v.reason) for v in refusal.violations] == [("passports.0.subject.gtin", "gtin_prefix_not_owned")]
    minted: list[Any] = [r for r in await identity.facts(topics.PASSPORT_MINTED) if serial.encode() in (r.value or b"")]
    assert minted == []
