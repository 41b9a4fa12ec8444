"""Importing another platform's Battery Pass 1.2 export over HTTP, against the running services: passports minted
by tenant A, exported by reporting as batterypass-json and downloaded, are imported into tenant B (another operator,
as a partner moving passports between platforms would); B's passports hold A's static data. The same document
imported again answers `already_present` with the same passports, into A its own passports. Refusals name the place
in the imported document and a stable reason."""

from __future__ import annotations

import random
import uuid
from typing import Any

import httpx

from bpass.examples import valid_static_payload
from contracts.attributes import BatteryCategory
from contracts.passport_data import StaticPassportData
from services.common.auth import Role
from services.common.settings import Settings
from services.identity.domain.identifiers import gtin_check_digit
from services.identity.domain.imports import batterypass, catenax
from tests.conftest import new_key
from tests.support import ServiceProcess, eventually, verified_gtin_prefix

# What the Battery Pass 1.2 aspects have no place for: the importer gives it (as its model data) in `defaults`.
MODEL_ONLY = (
    "battery_model",
    "critical_raw_materials",
    "declaration_of_conformity_id",
    "original_power_capability_w",
    "round_trip_efficiency_at_50_pct_cycle_life_pct",
    "cycle_life_reference_test",
    "idle_temperature_lower_c",
    "manufacturer",  # its trade name
    "manufacturing_place",  # its facility identifier
)
# What the Catena-X 6.1.0 aspect has no place for (companies named by BPN, recycled shares only summed, hazard
# classes...): given in `defaults` as well.
CATENAX_MODEL_ONLY = (
    "manufacturer",
    "manufacturing_place",
    "spare_part_sources",
    "hazardous_substances",
    "critical_raw_materials",
    "absolute_carbon_footprint_t_co2e",
    "supply_chain_index",
    "renewable_content_share_pct",
    "maximum_permitted_power_w",
    "power_to_energy_ratio_w_per_wh",
    "cycle_life_reference_test",
    "cycle_life_test_c_rate",
    *(f"{kind}_consumer_recycled_{m}_share_pct" for kind in ("pre", "post") for m in ("nickel", "cobalt", "lithium")),
    "pre_consumer_recycled_lead_share_pct",
    "post_consumer_recycled_lead_share_pct",
)
GENERAL = "aspects.GeneralProductInformation"


async def _done(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> dict[str, Any] | None:
    job = (await http.get(url, headers=headers)).json()
    return job if job["status"] in ("done", "failed") else None


async def export_of(http: httpx.AsyncClient, reporting: str, key: dict[str, str], format_: str) -> dict[str, Any]:
    """Reporting's export of the tenant's passports in `format_`, downloaded."""
    started = await http.post(f"{reporting}/reporting/v1/exports", json={"format": format_}, headers=key)
    assert started.status_code == 202, started.text
    job = await eventually(
        lambda: _done(http, f"{reporting}{started.headers['location']}", key), timeout=60, what=f"the {format_} export"
    )
    assert job["status"] == "done", job
    download = await http.get(f"{reporting}{job['links']['download']}", headers=key)
    assert download.status_code == 200, download.text
    return dict(download.json())


async def assert_same_passports(
    http: httpx.AsyncClient,
    identity: str,
    pairs: list[tuple[str, str]],
    keys: tuple[dict[str, str], dict[str, str]],
    lossy: set[str],
) -> None:
    """Each (original, copy): the same category, battery identifier and static data (but the fields carried lossily)."""
    for original_id, copy_id in pairs:
        original = (await http.get(f"{identity}/identity/v1/passports/{original_id}", headers=keys[0])).json()
        copy = (await http.get(f"{identity}/identity/v1/passports/{copy_id}", headers=keys[1])).json()
        assert copy["category"] == original["category"]
        assert copy["battery_identifier"] == original["battery_identifier"]
        theirs = StaticPassportData.model_validate(original["static_data"])
        ours = StaticPassportData.model_validate(copy["static_data"])
        for name in StaticPassportData.model_fields:
            if name not in lossy:
                assert getattr(ours, name) == getattr(theirs, name), (copy["battery_identifier"], name)


async def test_an_export_imported_into_another_tenant_holds_the_same_data(
    platform: dict[str, ServiceProcess], settings: Settings, tenant: tuple[str, str]
) -> None:
    identity, reporting = platform["identity"].base_url, platform["reporting"].base_url
    _, key_a = tenant
    key_b = new_key(settings, Role.oem_admin, f"oem-{uuid.uuid4().hex[:10]}")
    payload = valid_static_payload(BatteryCategory.ev)
    serials = [f"IMP-{uuid.uuid4().hex[:10]}" for _ in range(3)]
    bulk = {
        "defaults": {"category": "ev", "static_data": payload},
        "passports": [
            {"subject": {"kind": "battery", "battery_identifier": serial}, "static_data": {"weight_kg": f"51{i}.5"}}
            for i, serial in enumerate(serials)
        ],
    }
    async with httpx.AsyncClient(timeout=60) as http:
        a = {"X-API-Key": key_a}
        b = {"X-API-Key": key_b}
        minted = await http.post(f"{identity}/identity/v1/passports:bulk", json=bulk, headers=a)
        assert minted.status_code == 200, minted.text
        originals = {p["battery_identifier"]: p["passport_id"] for p in minted.json()["passports"]}

        async def projected() -> bool | None:
            for pid in originals.values():
                if (await http.get(f"{reporting}/reporting/v1/passports/{pid}", headers=a)).status_code != 200:
                    return None
            return True

        await eventually(projected, timeout=60, what="reporting to show the minted passports")
        document = await export_of(http, reporting, a, "batterypass-json")
        assert document["format"] == "batterypass-1.2"
        assert len(document["passports"]) == len(serials)

        body = {
            "format": "batterypass-1.2",
            "document": document,
            "defaults": {"static_data": {name: payload[name] for name in MODEL_ONLY if name in payload}},
        }
        imported = await http.post(f"{identity}/identity/v1/passports:import", json=body, headers=b)
        assert imported.status_code == 200, imported.text
        answer = imported.json()
        assert answer["totals"] == {"passports": 3, "minted": 3, "already_present": 0, "refused": 0}, answer
        assert {p["status"] for p in answer["passports"]} == {"minted"}
        header_fields = {v["field"] for v in answer["not_imported"]}
        assert "document.tenant" in header_fields
        for result in answer["passports"]:
            listed = {(v["field"], v["reason"]) for v in result["not_imported"]}
            assert (f"{result['field']}.passport_id", "assigned_by_platform") in listed
        copies = {p["battery_identifier"]: p["passport_id"] for p in answer["passports"]}
        assert set(copies) == set(serials)
        assert not set(copies.values()) & set(originals.values())

        pairs = [(originals[serial], copies[serial]) for serial in serials]
        await assert_same_passports(http, identity, pairs, (a, b), set(batterypass.LOSSY))

        # Again: nothing minted twice; into the exporting tenant: its own passports.
        again = (await http.post(f"{identity}/identity/v1/passports:import", json=body, headers=b)).json()
        assert again["totals"]["already_present"] == 3, again
        assert {p["battery_identifier"]: p["passport_id"] for p in again["passports"]} == copies
        home = (await http.post(f"{identity}/identity/v1/passports:import", json=body, headers=a)).json()
        assert home["totals"]["already_present"] == 3, home
        assert {p["battery_identifier"]: p["passport_id"] for p in home["passports"]} == originals

        # The Catena-X export of the same passports, into a third tenant.
        c = {"X-API-Key": new_key(settings, Role.oem_admin, f"oem-{uuid.uuid4().hex[:10]}")}
        aspects = await export_of(http, reporting, a, "catenax-batterypass-6.1")
        model_data = {name: payload[name] for name in CATENAX_MODEL_ONLY if name in payload}
        body = {"format": "catenax-batterypass-6.1", "document": aspects, "defaults": {"static_data": model_data}}
        imported = await http.post(f"{identity}/identity/v1/passports:import", json=body, headers=c)
        assert imported.status_code == 200, imported.text
        answer = imported.json()
        assert answer["totals"] == {"passports": 3, "minted": 3, "already_present": 0, "refused": 0}, answer
        thirds = {p["battery_identifier"]: p["passport_id"] for p in answer["passports"]}
        pairs = [(originals[serial], thirds[serial]) for serial in serials]
        await assert_same_passports(http, identity, pairs, (a, c), set(catenax.LOSSY))


async def test_refusals_name_the_field_in_the_document_and_a_reason(
    platform: dict[str, ServiceProcess], settings: Settings, tenant: tuple[str, str]
) -> None:
    identity = platform["identity"].base_url
    owner, _ = tenant
    prefix = "77" + "".join(random.choices("0123456789", k=7))
    await verified_gtin_prefix(identity, settings.api_keys_file, owner, prefix, shared=False)
    body13 = f"{prefix}123"
    gtin = f"0{body13}{gtin_check_digit(body13)}"
    importer = {"X-API-Key": new_key(settings, Role.oem_admin, f"oem-{uuid.uuid4().hex[:10]}")}
    payload = valid_static_payload(BatteryCategory.ev)

    def passport(product_identifier: str | None) -> dict[str, Any]:
        general: dict[str, Any] = {"batteryCategory": "ev", "batteryMass": 512.5}
        if product_identifier is not None:
            general["productIdentifier"] = product_identifier
        return {"aspects": {"GeneralProductInformation": general}}

    async with httpx.AsyncClient(base_url=identity, timeout=60, headers=importer) as http:
        wrong = await http.post(
            "/identity/v1/passports:import",
            json={"format": "batterypass-1.2", "document": {"format": "bpass-passports/1", "passports": []}},
        )
        assert wrong.status_code == 422, wrong.text
        assert wrong.headers["content-type"].startswith("application/problem+json")
        assert (wrong.json()["field"], wrong.json()["reason"]) == ("document.format", "not_the_declared_format")

        document = {
            "format": "batterypass-1.2",
            "passports": [
                passport(f"OK-{uuid.uuid4().hex[:8]}"),
                passport(None),
                passport(f"https://id.example.test/01/{gtin}/21/S{uuid.uuid4().hex[:8]}"),
            ],
        }
        body = {"format": "batterypass-1.2", "document": document, "defaults": {"static_data": payload}}
        answer = await http.post("/identity/v1/passports:import", json=body)
        assert answer.status_code == 200, answer.text
        results = answer.json()["passports"]
        assert answer.json()["totals"] == {"passports": 3, "minted": 1, "already_present": 0, "refused": 2}
        assert [r["status"] for r in results] == ["minted", "refused", "refused"]
        assert [(v["field"], v["reason"]) for v in results[1]["violations"]] == [
            (f"document.passports.1.{GENERAL}.productIdentifier", "battery_identifier_missing")
        ]
        assert [(v["field"], v["reason"]) for v in results[2]["violations"]] == [
            (f"document.passports.2.{GENERAL}.productIdentifier", "gtin_prefix_not_owned")
        ]
