"""The `make run` demo: an OEM mints passports, a carrier reports a custody step, the OEM reads it back.

It talks to the platform only through its public surfaces: the HTTP entry URL and the inbound Kafka topics.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from bpass.examples import EXAMPLE_GTIN, valid_static_data
from bpass.gtin import EXAMPLE_PREFIX, ensure_verified_prefix
from contracts import topics
from contracts.custody import CustodyEventKind, CustodyEventReported, CustodyTargets
from contracts.envelope import Envelope
from contracts.identity import PassportSpec
from contracts.passport_data import BatteryCategory, BatteryKind, PassportSubject
from services.common.settings import Settings

CARRIER_ID = "demo-carrier"


def _specs(run: str) -> list[PassportSpec]:
    return [
        PassportSpec(
            subject=PassportSubject(kind=BatteryKind.battery, battery_identifier=f"DEMO-EV-{run}", gtin=EXAMPLE_GTIN),
            category=BatteryCategory.ev,
            product_family="demo-ev-pack",
            static_data=valid_static_data(BatteryCategory.ev),
        ),
        PassportSpec(
            subject=PassportSubject(kind=BatteryKind.battery, battery_identifier=f"DEMO-LMT-{run}"),
            category=BatteryCategory.lmt,
            product_family="demo-ebike",
            static_data=valid_static_data(BatteryCategory.lmt),
        ),
        PassportSpec(
            subject=PassportSubject(kind=BatteryKind.battery, battery_identifier=f"DEMO-IND-{run}"),
            category=BatteryCategory.industrial,
            product_family="demo-storage",
            static_data=valid_static_data(BatteryCategory.industrial),
        ),
    ]


def _step(text: str) -> None:
    print(f"==> {text}", flush=True)


async def run_demo(settings: Settings, base_url: str | None = None) -> None:
    base_url = base_url or settings.gateway_url  # the gateway of BPASS_HTTP_PORT
    # Each run tells a new battery's story (minting stays idempotent per identifier).
    run = datetime.now(UTC).strftime("%y%m%d%H%M%S")
    keys = json.loads(settings.api_keys_file.with_name("demo-keys.json").read_text(encoding="utf-8"))
    oem_key = keys["oem"]["key"]
    async with httpx.AsyncClient(base_url=base_url, timeout=30, headers={"X-API-Key": oem_key}) as http:
        _step(
            f"the OEM declares GS1 company prefix {EXAMPLE_PREFIX} and the platform operator verifies it "
            f"(POST {base_url}/identity/v1/gtin-prefixes, .../verify): only then may it mint under its GTINs"
        )
        await ensure_verified_prefix(http, base_url, oem_key, keys["operator"]["key"], EXAMPLE_PREFIX)
        _step(f"minting 3 passports as tenant {keys['oem']['tenant']} (POST {base_url}/identity/v1/passports:bulk)")
        body = {"passports": [s.model_dump(mode="json", exclude_none=True) for s in _specs(run)]}
        response = await http.post("/identity/v1/passports:bulk", json=body)
        if response.status_code != 200:
            raise SystemExit(f"minting failed ({response.status_code}): {response.text}")
        minted = response.json()
        for p in minted["passports"]:
            state = "minted" if p["created"] else "already existed"
            print(f"    {p['battery_identifier']:<22} {p['passport_id']}  {state}\n    {'':<22} QR: {p['public_uri']}")
        passport_id = minted["passports"][0]["passport_id"]

        _step(
            f"the platform operator registers and verifies carrier {CARRIER_ID} (POST {base_url}/custody/v1/handlers)"
        )
        await _register_carrier(http, keys["operator"]["key"], keys["oem"]["tenant"])

        _step(f"a carrier publishes a custody event on Kafka topic {topics.CUSTODY_EVENTS.name}")
        event = CustodyEventReported(
            kind=CustodyEventKind.dispatch,
            occurred_at=datetime.now(UTC),
            handler_id=CARRIER_ID,
            targets=CustodyTargets(battery_identifiers=[minted["passports"][0]["public_uri"]]),
            transport_document=f"CMR-{uuid.uuid4().hex[:8].upper()}",
        )
        await _publish(settings, event, key=passport_id)

        _step(f"reading the passport back (GET {base_url}/reporting/v1/passports/{passport_id})")
        view = await _wait_for_custody(http, passport_id)
        if not any(step["handler_id"] == CARRIER_ID for step in view["custody_timeline"]):
            raise SystemExit("the custody step is not on the passport; see var/local/services/custody.log")
        last = view["custody_timeline"][-1]
        print(
            f"    version {view['version']}, stage {view['stage']}, {len(view['custody_timeline'])} custody step(s); "
            f"last: {last['kind']} by {last['handler_id']} at {last['occurred_at']}"
        )
        check = await http.get(f"/custody/v1/passports/{passport_id}/custody-log/verification")
        print(f"    custody chain intact: {check.json()['intact']} (head {check.json()['head_hash'][:16]}…)")

    print(
        f"""
Where to look
  HTTP entry        {base_url}/  (API docs: /identity/docs /custody/docs /recovery/docs /reporting/docs)
  OEM dashboard     {base_url}/dashboard  (sign in with the "oem" key below)
  Public passport   {minted["passports"][0]["public_uri"]}  (what the QR code opens)
  API keys          {settings.api_keys_file.with_name("demo-keys.json")}  (send as X-API-Key)
  Inbound topics    {topics.MINT_REQUESTS.name}, {topics.CUSTODY_EVENTS.name}
  Change stream     {topics.tenant_passport_changes(keys["oem"]["tenant"])}
  Logs              var/local/services/*.log, var/local/kafka/logs/server.log
  Status / stop     make status / make stop"""
    )


async def _register_carrier(http: httpx.AsyncClient, operator_key: str, tenant: str) -> None:
    """Only verified handlers may report custody steps, and only a battery's holder ships it: the carrier is the
    OEM's delegate (registry identifier `oem_delegate`), so it holds the OEM's new batteries. A second run finds
    it registered (409): it is amended to act for this tenant too."""
    headers = {"X-API-Key": operator_key}
    delegation = {"scheme": "oem_delegate", "value": tenant}
    details: dict[str, Any] = {"name": "Demo Carrier Ltd", "roles": ["carrier"], "identifiers": [delegation]}
    registered = await http.post("/custody/v1/handlers", json={"handler_id": CARRIER_ID, **details}, headers=headers)
    if registered.status_code == 409:
        current = await http.get(f"/custody/v1/handlers/{CARRIER_ID}", headers=headers)
        known = current.json().get("identifiers", []) if current.status_code == 200 else []
        if (tenant, "oem_delegate") not in {(i.get("value"), i.get("scheme")) for i in known}:
            details["identifiers"] = [*known, delegation]
            amended = await http.put(f"/custody/v1/handlers/{CARRIER_ID}", json=details, headers=headers)
            if amended.status_code != 200:
                raise SystemExit(f"amending the demo carrier failed ({amended.status_code}): {amended.text}")
    verified = await http.post(f"/custody/v1/handlers/{CARRIER_ID}/verify", headers=headers)
    for response in (registered, verified):
        if response.status_code not in (200, 201, 409):
            raise SystemExit(f"registering the demo carrier failed ({response.status_code}): {response.text}")


async def _publish(settings: Settings, event: CustodyEventReported, *, key: str) -> None:
    producer = AIOKafkaProducer(**settings.kafka_client_options(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        envelope = Envelope(
            id=str(uuid.uuid4()),
            source=f"urn:bpass:handler:{CARRIER_ID}",
            type=event.event_type,
            time=datetime.now(UTC),
        )
        await producer.send_and_wait(
            settings.topic(topics.CUSTODY_EVENTS.name),
            value=event.model_dump_json().encode(),
            key=key.encode(),
            headers=envelope.to_headers(),
        )
    finally:
        await producer.stop()


async def _wait_for_custody(http: httpx.AsyncClient, passport_id: str, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = await http.get(f"/reporting/v1/passports/{passport_id}")
        if response.status_code == 200 and response.json().get("custody_timeline"):
            view: dict[str, Any] = response.json()
            return view
        await asyncio.sleep(0.3)
    raise SystemExit(f"the custody step did not reach the passport within {timeout_s:.0f}s; see var/local/services/")
