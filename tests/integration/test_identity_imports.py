"""Importing an exported document over HTTP, against the running services: passports minted by tenant A, exported by
reporting as batterypass-json (and catenax-batterypass-6.1) and downloaded, are imported without `defaults` into
another tenant (another operator, as a partner moving passports between platforms would): the aspects and each
passport's `platform` member give A's passports back, identifier, GTIN and full static data. The same document
imported again answers `already_present` with the same passports, into A its own passports. A third party's document
(no `platform`) needs `defaults`. Refusals name the place in the imported document and a stable reason."""

from __future__ import annotations

import random
import uuid
from typing import Any

import httpx

from bpass.examples import EXAMPLE_GTIN, valid_static_payload
from contracts.attributes import BatteryCategory
from contracts.passport_data import StaticPassportData
from services.common.auth import Role
from services.common.settings import Settings
from services.identity.domain.identifiers import gtin_check_digit
from services.identity.domain.imports import batterypass, catenax
from tests.conftest import new_key
from tests.support import ServiceProcess, eventually, verified_gtin_prefix

# What the Battery Pass 1.2 aspects have no place for: a third party's document (no `platform` member) needs it in
# `defaults`; our own export carries it in each passport's `platform` member.
MODEL_ONLY = (
    "battery_model",
    "critical_raw_materials",
    "declaration_of_conformity_id",
    "original_power_capability_w",
    "cycle_life_reference_test",
    "idle_temperature_lower_c",
    "manufacturer",  # its trade name
    "manufacturing_place",  # its facility identifier
    "battery_status",  # `original`, exported as no status is
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
    """Each (original, copy): the same category, battery identifier, GTIN, batch and kind, and the same full static
    data but the fields the aspects carry with a loss (each kept as the document says, which exports the same).
    Numbers compare as numbers: `403` read back from a JSON number is the `403.0` minted."""
    for original_id, copy_id in pairs:
        original = (await http.get(f"{identity}/identity/v1/passports/{original_id}", headers=keys[0])).json()
        copy = (await http.get(f"{identity}/identity/v1/passports/{copy_id}", headers=keys[1])).json()
        for name in ("category", "battery_identifier", "gtin", "batch_number", "kind"):
            assert copy.get(name) == original.get(name), (original["battery_identifier"], name)
        theirs = StaticPassportData.model_validate(original["static_data"]).model_dump(exclude=lossy)
        ours = StaticPassportData.model_validate(copy["static_data"]).model_dump(exclude=lossy)
        assert ours == theirs, original["battery_identifier"]


def third_party(document: dict[str, Any]) -> dict[str, Any]:
    """Our export as another platform writes it: the aspects alone, no `platform` member."""
    entries = [{k: v for k, v in entry.items() if k != "platform"} for entry in document["passports"]]
    return {**document, "passports": entries}


def results_of(answer: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {p["battery_identifier"]: (p["status"], p["passport_id"]) for p in answer["passports"]}


async def test_our_export_imported_into_another_tenant_without_defaults_holds_the_same_data(
    platform: dict[str, ServiceProcess], settings: Settings, tenant: tuple[str, str]
) -> None:
    identity, reporting = platform["identity"].base_url, platform["reporting"].base_url
    name_a, key_a = tenant
    name_b = f"oem-{uuid.uuid4().hex[:10]}"
    key_b = new_key(settings, Role.oem_admin, name_b)
    for name in (name_a, name_b):  # the GS1 example prefix, verified shared for both
        await verified_gtin_prefix(identity, settings.api_keys_file, name)
    payload = valid_static_payload(BatteryCategory.ev)
    serials = [f"IMP-{uuid.uuid4().hex[:10]}" for _ in range(3)]
    with_gtin = f"IMPG-{uuid.uuid4().hex[:10]}"
    bulk = {
        "defaults": {"category": "ev", "product_family": "VX-400", "static_data": payload},
        "passports": [
            *(
                {"subject": {"kind": "battery", "battery_identifier": serial}, "static_data": {"weight_kg": f"51{i}.5"}}
                for i, serial in enumerate(serials)
            ),
            {
                "subject": {
                    "kind": "battery",
                    "battery_identifier": with_gtin,
                    "gtin": EXAMPLE_GTIN,
                    "batch_number": "L7",
                }
            },
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
        assert len(document["passports"]) == 4
        members = {e["platform"]["battery_identifier"]: e["platform"] for e in document["passports"]}
        assert (members[with_gtin]["gtin"], members[with_gtin]["batch_number"]) == (EXAMPLE_GTIN, "L7")
        assert members[serials[0]]["static_data"]["battery_model"] == payload["battery_model"]

        # No defaults: the aspects and the `platform` member give each passport as minted.
        body = {"format": "batterypass-1.2", "document": document}
        imported = await http.post(f"{identity}/identity/v1/passports:import", json=body, headers=b)
        assert imported.status_code == 200, imported.text
        answer = imported.json()
        assert answer["totals"] == {"passports": 4, "minted": 3, "already_present": 0, "refused": 1}, answer
        header_fields = {v["field"] for v in answer["not_imported"]}
        assert "document.tenant" in header_fields
        for result in answer["passports"]:
            listed = {(v["field"], v["reason"]) for v in result["not_imported"]}
            assert (f"{result['field']}.passport_id", "assigned_by_platform") in listed
            assert not [f for f, reason in listed if ".platform." in f and not f.endswith(".platform.note")]
        # The GTIN came with it: on one platform a GTIN + serial has one passport, A's.
        refused = next(p for p in answer["passports"] if p["status"] == "refused")
        assert refused["battery_identifier"] == with_gtin
        assert [(v["field"], v["reason"]) for v in refused["violations"]] == [
            (f"{refused['field']}.{GENERAL}.productIdentifier", "gtin_serial_taken")
        ]
        copies = {p["battery_identifier"]: p["passport_id"] for p in answer["passports"] if p["status"] == "minted"}
        assert set(copies) == set(serials)
        assert not set(copies.values()) & set(originals.values())
        pairs = [(originals[serial], copies[serial]) for serial in serials]
        await assert_same_passports(http, identity, pairs, (a, b), set(batterypass.LOSSY))

        # Again: nothing minted twice; into the exporting tenant: its own passports, the GTIN one included.
        again = (await http.post(f"{identity}/identity/v1/passports:import", json=body, headers=b)).json()
        assert again["totals"]["already_present"] == 3, again
        assert {k: v for k, (s, v) in results_of(again).items() if s == "already_present"} == copies
        home = (await http.post(f"{identity}/identity/v1/passports:import", json=body, headers=a)).json()
        assert home["totals"]["already_present"] == 4, home
        assert {k: v for k, (_, v) in results_of(home).items()} == originals

        # The Catena-X export of the same passports, without defaults, into a third tenant (no GS1 prefix).
        c = {"X-API-Key": new_key(settings, Role.oem_admin, f"oem-{uuid.uuid4().hex[:10]}")}
        aspects = await export_of(http, reporting, a, "catenax-batterypass-6.1")
        body = {"format": "catenax-batterypass-6.1", "document": aspects}
        imported = await http.post(f"{identity}/identity/v1/passports:import", json=body, headers=c)
        assert imported.status_code == 200, imported.text
        answer = imported.json()
        assert answer["totals"] == {"passports": 4, "minted": 3, "already_present": 0, "refused": 1}, answer
        thirds = {k: v for k, (s, v) in results_of(answer).items() if s == "minted"}
        assert set(thirds) == set(serials)
        pairs = [(originals[serial], str(thirds[serial])) for serial in serials]
        await assert_same_passports(http, identity, pairs, (a, c), set(catenax.LOSSY))

        # A third party's document (the aspects alone) needs the defaults, and uses them.
        d = {"X-API-Key": new_key(settings, Role.oem_admin, f"oem-{uuid.uuid4().hex[:10]}")}
        foreign = {"format": "batterypass-1.2", "document": third_party(document)}
        bare = (await http.post(f"{identity}/identity/v1/passports:import", json=foreign, headers=d)).json()
        assert bare["totals"]["refused"] == 4, bare
        assert {(v["field"], v["reason"]) for v in bare["passports"][0]["violations"]} >= {
            ("defaults.static_data.battery_model", "required_for_category")
        }
        foreign["defaults"] = {"static_data": {name: payload[name] for name in MODEL_ONLY if name in payload}}
        given = (await http.post(f"{identity}/identity/v1/passports:import", json=foreign, headers=d)).json()
        assert given["totals"]["minted"] == 4, given
        fourths = {k: str(v) for k, (_, v) in results_of(given).items()}
        pairs = [(originals[serial], fourths[serial]) for serial in serials]
        await assert_same_passports(http, identity, pairs, (a, d), set(batterypass.LOSSY))


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
