"""A second-life operator (role repairer, its key's tenant is its handler id) reads the passport it minted through
`POST /identity/v1/second-life` — the owner's view, as any owner — and never another tenant's (404)."""

from __future__ import annotations

import httpx
import pytest

from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import new_key
from tests.integration.test_second_life import deliver, mint_ev, post_until, register, second_life_body, uid
from tests.support import ServiceProcess

pytestmark = pytest.mark.timeout(90)


async def test_a_second_life_operator_reads_its_own_passport_only(
    platform: dict[str, ServiceProcess], settings: Settings, tenant: tuple[str, str]
) -> None:
    oem, oem_key = tenant
    identity, custody = platform["identity"].base_url, platform["custody"].base_url
    operator_id, rival_id, carrier_id = uid("reuse"), uid("reuse"), uid("carrier")
    platform_key = new_key(settings, Role.platform_operator)
    await register(custody, platform_key, operator_id, ["repairer", "second_life_operator"])
    # The OEM's carrier (its delegate: write authority lets it move the OEM's batteries from the plant).
    await register(
        custody, platform_key, carrier_id, ["carrier"], identifiers=[{"scheme": "oem_delegate", "value": oem}]
    )
    carrier_key = new_key(settings, Role.carrier, carrier_id)
    operator = {"X-API-Key": new_key(settings, Role.repairer, operator_id)}
    rival = {"X-API-Key": new_key(settings, Role.repairer, rival_id)}

    async with httpx.AsyncClient(timeout=10, headers={"X-API-Key": oem_key}) as oem_http:
        predecessor = await mint_ev(oem_http, identity)
        untouched = await mint_ev(oem_http, identity)
    await deliver(custody, (carrier_id, carrier_key), (operator_id, operator["X-API-Key"]), [predecessor])
    async with httpx.AsyncClient(base_url=identity, timeout=10) as http:
        # Identity learns from custody's facts that the operator holds the predecessor: retried until it does.
        async with httpx.AsyncClient(base_url=identity, timeout=10, headers=operator) as op:
            made = await post_until(op, "/identity/v1/second-life", second_life_body([predecessor], uid("GS")), 201)
        successor = made.json()["passport_id"]

        own = await http.get(f"/identity/v1/passports/{successor}", headers=operator)
        assert own.status_code == 200, own.text
        assert own.json()["tenant"] == operator_id
        assert own.json()["passport_id"] == successor
        assert own.headers["etag"] == '"1"'
        assert (await http.get(f"/identity/v1/passports/{successor}/versions", headers=operator)).status_code == 200
        assert (await http.get(f"/identity/v1/passports/{successor}/versions/1", headers=operator)).status_code == 200
        assert (await http.get(f"/identity/v1/passports/{successor}/qr.svg", headers=operator)).status_code == 200

        # Never another tenant's: not the OEM's predecessor it holds (its tier there is legitimate interest, read
        # through reporting with a purpose), not the OEM's other passports, not a rival operator's passport.
        for passport_id in (predecessor, untouched):
            refused = await http.get(f"/identity/v1/passports/{passport_id}", headers=operator)
            assert refused.status_code == 404, refused.text
            assert refused.json()["reason"] == "passport_not_found"
        assert (await http.get(f"/identity/v1/passports/{successor}", headers=rival)).status_code == 404
        assert (await http.get(f"/identity/v1/passports/{successor}/versions", headers=rival)).status_code == 404
        # Reading is all: the owner's amendments stay with OEM keys.
        amend = await http.patch(
            f"/identity/v1/passports/{successor}", json={"reason": "x", "static_data": {}}, headers=operator
        )
        assert amend.status_code == 403
