"""`bpass simulate`: a realistic population played through the same public contracts real partners use.

Roles: OEMs mint over HTTP (`POST /identity/v1/passports:bulk`); a platform operator registers and verifies the
handlers (`/custody/v1/handlers`); carriers, dealers, collectors and recyclers publish custody events on
`bpass.custody.events.v1` as `urn:bpass:handler:<id>`; recyclers report treatment batches on the recovery
inbound topic when the platform has one. Identifiers derive from the run label, so running the same label again
mints nothing twice (identity is idempotent) and the handlers are already registered.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from contracts import topics
from contracts.base import Message
from contracts.custody import CustodyEventKind, CustodyEventReported, CustodyTargets
from contracts.envelope import Envelope
from contracts.passport_data import BatteryCategory
from services.common.settings import Settings
from services.identity.examples import EXAMPLE_GTIN, valid_static_payload

PLANTS = (
    ("GLN 4006381000023", "Werkstraße 1", "38440", "Wolfsburg", "DE"),
    ("GLN 4006381000030", "Industriestraße 7", "38239", "Salzgitter", "DE"),
    ("GLN 5901234000017", "ul. Fabryczna 3", "55-040", "Wrocław", "PL"),
)
STAGE_PLAN = (  # lifecycle stage a battery reaches, with weight
    ("manufactured", 10),
    ("placed_on_market", 10),
    ("in_service", 45),
    ("collected", 12),
    ("in_treatment", 8),
    ("recycled", 15),
)
WASTE_CODES = ["16 06 01*", "16 06 02*", "16 06 05", "20 01 33*", "20 01 34"]


@dataclass(frozen=True)
class Model:
    code: str
    category: BatteryCategory
    name: str
    family: str
    chemistry: tuple[str, str]
    weight_kg: str
    weight: int  # share of the population
    gtin: str | None = None


NMC811 = ("NMC811", "Lithium nickel manganese cobalt oxide (8:1:1) / graphite")
NMC622 = ("NMC622", "Lithium nickel manganese cobalt oxide (6:2:2) / graphite")
LFP = ("LFP", "Lithium iron phosphate / graphite")
NCA = ("NCA", "Lithium nickel cobalt aluminium oxide / graphite")
EV, LMT, IND, STAT = (BatteryCategory.ev, BatteryCategory.lmt, BatteryCategory.industrial, BatteryCategory.stationary)
CATALOG = (
    Model("E8", EV, "VX-400 NMC811 82 kWh", "vx-400", NMC811, "512.5", 22, EXAMPLE_GTIN),
    Model("E6", EV, "VX-300 NMC622 64 kWh", "vx-300", NMC622, "430.0", 14),
    Model("EL", EV, "VX-250 LFP 60 kWh", "vx-250", LFP, "455.0", 14),
    Model("EN", EV, "VX-500 NCA 95 kWh", "vx-500", NCA, "540.0", 6),
    Model("LB", LMT, "VX-E36 e-bike 500 Wh", "vx-e36", NMC811, "3.1", 18),
    Model("LS", LMT, "VX-S48 scooter 1.5 kWh", "vx-s48", LFP, "11.5", 8),
    Model("IF", IND, "VX-F80 LFP forklift 46 kWh", "vx-f80", LFP, "1250", 6),
    Model("SH", STAT, "VX-H10 LFP home storage 10.24 kWh", "vx-h10", LFP, "95", 12),
)

HANDLERS = (
    ("sim-carrier-rhenus", "Rhenus Battery Logistics (simulated)", ["carrier"]),
    ("sim-dealer-autohaus", "Autohaus Mitte (simulated)", ["carrier"]),
    ("sim-collector-ear", "EAR Collection Network (simulated)", ["collector", "carrier"]),
    ("sim-recycler-hydro", "Hydrovolt Recycling (simulated)", ["recycler"]),
    ("sim-refiner-nordic", "Nordic Refining (simulated)", ["refiner"]),
)


def run_code(run: str) -> str:
    """The run label as the identifier prefix (upper case letters and digits, at most 6)."""
    code = re.sub(r"[^A-Z0-9]", "", run.upper())[:6]
    return code or "SIM"


def static_payload(model: Model, plant: tuple[str, ...], rng: random.Random) -> dict[str, Any]:
    payload = valid_static_payload(model.category)
    gln, street, postal, city, country = plant
    payload["battery_model"] = model.name
    payload["weight_kg"] = model.weight_kg
    payload["battery_chemistry"] = {"short_name": model.chemistry[0], "clear_name": model.chemistry[1]}
    payload["manufacturing_place"] = {
        "facility_identifier": gln,
        "postal_address": {"street_address": street, "postal_code": postal, "locality": city, "country_code": country},
    }
    lfp = model.chemistry[0] == "LFP"
    for material, base in (("nickel", 0 if lfp else 4), ("cobalt", 0 if lfp else 8), ("lithium", 3)):
        payload[f"pre_consumer_recycled_{material}_share_pct"] = str(round(base * rng.uniform(0.6, 1.4), 1))
        payload[f"post_consumer_recycled_{material}_share_pct"] = str(round(base * rng.uniform(0.8, 1.9), 1))
    payload["carbon_footprint_kg_co2e_per_kwh"] = str(round(rng.uniform(48, 78), 1))
    year = rng.choice((2024, 2025, 2026))
    payload["manufacturing_date"] = f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return payload


@dataclass(frozen=True)
class Battery:
    index: int
    identifier: str
    model: Model
    batch: str
    plant: tuple[str, ...]
    target_stage: str
    static: dict[str, Any]
    colour: str


def population(run: str, batteries: int, seed: int) -> Iterator[Battery]:
    """The simulated batteries: deterministic for (run, batteries, seed)."""
    rng = random.Random(f"{run}:{seed}")
    code = run_code(run)
    stages = [s for s, _ in STAGE_PLAN]
    stage_weights = [w for _, w in STAGE_PLAN]
    weights = [m.weight for m in CATALOG]
    for i in range(batteries):
        model = rng.choices(CATALOG, weights)[0]
        plant = PLANTS[rng.randrange(len(PLANTS))]
        batch = f"{code}-{model.code}-{i // 250:03d}"
        yield Battery(
            index=i,
            identifier=f"{code}{model.code}{i:07d}",
            model=model,
            batch=batch,
            plant=plant,
            target_stage=rng.choices(stages, stage_weights)[0],
            static=static_payload(model, plant, rng),
            colour=rng.choice(("graphite", "silver", "blue")),
        )


def mint_item(battery: Battery) -> dict[str, Any]:
    subject: dict[str, Any] = {
        "kind": "battery",
        "battery_identifier": battery.identifier,
        "batch_number": battery.batch,
    }
    if battery.model.gtin:
        subject["gtin"] = battery.model.gtin
    return {
        "subject": subject,
        "category": battery.model.category.value,
        "product_family": battery.model.family,
        "static_data": battery.static,
        "extensions": {"colour": battery.colour, "warranty_tier": "premium" if battery.index % 5 == 0 else "standard"},
    }


def lifecycle_events(battery: Battery, passport_id: str, start: datetime) -> list[tuple[str, CustodyEventReported]]:
    """(reporting handler, event) in order, up to the battery's target stage."""
    order = [s for s, _ in STAGE_PLAN]
    reach = order.index(battery.target_stage)
    targets = CustodyTargets(passport_ids=[passport_id])
    at = start
    events: list[tuple[str, CustodyEventReported]] = []

    def add(handler: str, kind: CustodyEventKind, days: int, **extra: Any) -> None:
        nonlocal at
        at = at + timedelta(days=days, minutes=battery.index % 600)
        events.append(
            (handler, CustodyEventReported(kind=kind, occurred_at=at, handler_id=handler, targets=targets, **extra))
        )

    if reach >= 1:
        add(
            "sim-carrier-rhenus",
            CustodyEventKind.dispatch,
            2,
            to_handler_id="sim-dealer-autohaus",
            transport_document=f"CMR-{battery.identifier}",
        )
        add("sim-dealer-autohaus", CustodyEventKind.receipt, 3, from_handler_id="sim-carrier-rhenus")
        add("sim-dealer-autohaus", CustodyEventKind.placed_on_market, 1)
    if reach >= 2:
        add("sim-dealer-autohaus", CustodyEventKind.in_service, 20)
    if reach >= 3:
        add(
            "sim-collector-ear",
            CustodyEventKind.collection,
            700 + battery.index % 300,
            ewc_code="16 06 05",
            operation="R13",
        )
    if reach >= 4:
        add(
            "sim-collector-ear",
            CustodyEventKind.handover,
            15,
            from_handler_id="sim-collector-ear",
            to_handler_id="sim-recycler-hydro",
            ewc_code="16 06 05",
            operation="R13",
        )
        add("sim-recycler-hydro", CustodyEventKind.treatment_start, 10, ewc_code="16 06 05", operation="R4")
    return events  # fmt: skip


def handler_registration(handler_id: str, name: str, roles: list[str]) -> dict[str, Any]:
    return {
        "handler_id": handler_id,
        "name": name,
        "roles": roles,
        "identifiers": [{"scheme": "simulation", "value": handler_id}],
        "sites": [],
        "permits": [
            {
                "permit_type": "environmental_permit",
                "number": f"SIM-{handler_id}",
                "issuing_authority": "Simulated Authority",
                "valid_from": "2020-01-01T00:00:00+00:00",
                "waste_codes": WASTE_CODES,
                "operations": ["R4", "R12", "R13"],
            }
        ],
    }


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<34}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )


async def register_handlers(http: httpx.AsyncClient, operator_key: str) -> list[str]:
    notes = []
    headers = {"X-API-Key": operator_key}
    for handler_id, name, roles in HANDLERS:
        r = await http.post("/custody/v1/handlers", json=handler_registration(handler_id, name, roles), headers=headers)
        if r.status_code not in (200, 201, 409):
            notes.append(f"registering {handler_id}: {r.status_code} {r.text[:200]}")
            continue
        v = await http.post(f"/custody/v1/handlers/{handler_id}/verify", json={"reason": "simulation"}, headers=headers)
        if v.status_code not in (200, 409):
            notes.append(f"verifying {handler_id}: {v.status_code} {v.text[:200]}")
    return notes


async def _send(
    producer: AIOKafkaProducer, settings: Settings, topic: str, key: str, message: Message, source: str
) -> Any:
    body = message.model_dump_json().encode()
    # Deterministic ids: replaying the same run publishes the same CloudEvents, which inboxes drop.
    event_id = hashlib.sha256(b"%s|%s|" % (source.encode(), key.encode()) + body).hexdigest()[:32]
    envelope = Envelope(id=event_id, source=source, type=message.event_type, subject=key, time=datetime.now(UTC))
    return await producer.send(settings.topic(topic), value=body, key=key.encode(), headers=envelope.to_headers())


def recovery_topic() -> topics.Topic | None:
    for topic in topics.ALL:
        if topic.kind is topics.TopicKind.inbound and topic.payload.__name__ == "TreatmentBatchReported":
            return topic
    return None


def share(total: Decimal, fraction: str) -> str:
    return str(round(total * Decimal(fraction), 1))


def treatment_batch(run: str, number: int, members: list[tuple[Battery, str]], completed: datetime) -> Message | None:
    """A recycler's treatment batch over the batteries it recycled (None when the contract refuses it)."""
    from contracts.recovery import TreatmentBatchReported

    total = sum((Decimal(b.model.weight_kg) for b, _ in members), Decimal(0))
    lfp = all(b.model.chemistry[0] == "LFP" for b, _ in members)
    assay = {"lithium": "3.1", "copper": "4.0"} if lfp else {"nickel": "18.5", "cobalt": "6.2", "lithium": "3.4"}
    try:
        return TreatmentBatchReported.model_validate(
            {
                "batch_id": f"TB-{run_code(run)}-{number:04d}",
                "recycler_id": "sim-recycler-hydro",
                "processes": ["mechanical", "hydrometallurgical"],
                "started_at": (completed - timedelta(days=2)).isoformat(),
                "completed_at": completed.isoformat(),
                "inputs": [
                    {"passport_id": pid, "mass_kg": b.model.weight_kg, "origin": "post_consumer",
                     "chemistry": b.model.chemistry[0].lower() if b.model.chemistry[0] != "NMC622" else "nmc622"}
                    for b, pid in members
                ],
                "outputs": [
                    {"fraction": "black_mass", "destination": "recycling", "lot_id": f"BM-{run_code(run)}-{number:04d}",
                     "mass_kg": str(round(total * Decimal("0.38"), 1)), "assay_pct": assay},
                    {"fraction": "aluminium", "destination": "recycling", "mass_kg": share(total, "0.12")},
                    {"fraction": "copper", "destination": "recycling", "mass_kg": share(total, "0.08")},
                    {"fraction": "plastics", "destination": "energy_recovery", "mass_kg": share(total, "0.1")},
                ],
                "losses_kg": str(round(total * Decimal("0.32"), 1)),
            }
        )  # fmt: skip
    except ValidationError as exc:
        print(f"    recovery contract refused the simulated batch: {exc.errors()[0]['msg']}")
        return None


async def run_simulation(
    settings: Settings,
    *,
    batteries: int,
    run: str,
    oem_key: str | None,
    base_url: str,
    seed: int = 7,
    chunk: int = 500,
) -> dict[str, int]:
    keys_path = settings.api_keys_file.with_name("demo-keys.json")
    keys = json.loads(keys_path.read_text(encoding="utf-8")) if keys_path.exists() else {}
    oem_key = oem_key or keys.get("oem", {}).get("key")
    operator_key = keys.get("operator", {}).get("key")
    if not oem_key:
        raise SystemExit(f"no OEM key: pass --tenant-key or create the demo keys ({keys_path})")
    population_list = list(population(run, batteries, seed))
    topic: topics.Topic | None = None
    counts = {"minted": 0, "existing": 0, "custody_events": 0, "treatment_batches": 0}
    start = datetime.now(UTC) - timedelta(days=1100)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True,
                                linger_ms=20, request_timeout_ms=30_000)  # fmt: skip
    async with httpx.AsyncClient(base_url=base_url, timeout=120, headers={"X-API-Key": oem_key}) as http:
        print(f"==> simulating {batteries} batteries (run {run!r}) against {base_url} and {settings.kafka_bootstrap}")
        if operator_key:
            for note in await register_handlers(http, operator_key):
                print(f"    {note}")
        ids: dict[str, str] = {}
        await producer.start()
        try:
            with _progress() as progress:
                minting = progress.add_task("OEM mints passports (HTTP)", total=len(population_list))
                for offset in range(0, len(population_list), chunk):
                    part = population_list[offset : offset + chunk]
                    response = await http.post(
                        "/identity/v1/passports:bulk", json={"passports": [mint_item(b) for b in part]}
                    )
                    if response.status_code != 200:
                        raise SystemExit(f"minting failed ({response.status_code}): {response.text[:500]}")
                    body = response.json()
                    counts["minted"] += body.get("minted", 0)
                    counts["existing"] += body.get("existing", 0)
                    for item in body["passports"]:
                        ids[item["battery_identifier"]] = item["passport_id"]
                    progress.advance(minting, len(part))
                moving = progress.add_task("carriers, dealers, collectors (Kafka)", total=len(population_list))
                futures = []
                recycled: list[tuple[Battery, str]] = []
                for battery in population_list:
                    pid = ids.get(battery.identifier)
                    if pid is None:
                        continue
                    for handler, event in lifecycle_events(battery, pid, start):
                        futures.append(await _send(producer, settings, topics.CUSTODY_EVENTS.name, pid, event,
                                                   f"urn:bpass:handler:{handler}"))  # fmt: skip
                        counts["custody_events"] += 1
                    if battery.target_stage == "recycled":
                        recycled.append((battery, pid))
                    progress.advance(moving)
                    if len(futures) >= 2000:
                        await asyncio.gather(*futures)
                        futures.clear()
                await asyncio.gather(*futures)
                topic = recovery_topic()
                if topic is not None and recycled:
                    recycling = progress.add_task("recyclers report treatment batches", total=len(recycled))
                    for number, offset in enumerate(range(0, len(recycled), 50), start=1):
                        members = recycled[offset : offset + 50]
                        message = treatment_batch(run, number, members, datetime.now(UTC) - timedelta(hours=1))
                        if message is not None:
                            await (await _send(producer, settings, topic.name, f"TB-{run_code(run)}-{number:04d}",
                                               message, "urn:bpass:handler:sim-recycler-hydro"))  # fmt: skip
                            counts["treatment_batches"] += 1
                        progress.advance(recycling, len(members))
        finally:
            await producer.stop()
    print(
        f"==> simulated {batteries} batteries: {counts['minted']} minted, {counts['existing']} already there, "
        f"{counts['custody_events']} custody events, {counts['treatment_batches']} treatment batches"
    )
    if topic is None:
        print("    (no recovery inbound topic registered yet: recycled batteries stay in treatment)")
    print(f"    dashboard: {base_url}/dashboard  (sign in with the demo OEM key)")
    return counts
