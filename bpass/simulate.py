"""`bpass simulate`: a realistic population played through the same public contracts real partners use.

Roles: the OEM declares its product families' extension schemas and mints over HTTP (`POST
/identity/v1/passports:bulk` with `defaults`); a platform operator registers and verifies the handlers
(`/custody/v1/handlers`), the OEM's carrier and dealer as its delegates; carriers, dealers, collectors and a
recycler publish custody events on `bpass.custody.events.v1` as `urn:bpass:handler:<id>`; the recycler reports
treatment batches and a refiner its refined products on the recovery inbound topics. With `shuffle` they arrive
out of order and partly late (`bpass.simulate_schedule` says exactly how); with `backdate_days` the lifecycles lie
further in the past. At the end the simulator reads every `bpass.<service>.rejected.v1` topic for what it sent and
fails (exit 1) when anything was refused or flagged, and compares the read model of a sample of the batteries to
what it sent (`bpass.simulate_check`): any disagreement fails it too.

Idempotent per `--run` label: identifiers, dates (anchored at a fixed instant, never at "now") and CloudEvents
ids derive from the label, so a rerun mints nothing (identity returns the existing passports) and every event
it republishes has the id the inbox already holds and is dropped before any transition rule sees it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from bpass.examples import valid_static_payload
from bpass.gtin import SIMULATION_PREFIX, ensure_verified_prefix
from bpass.simulate_check import DEFAULT_SAMPLE, CheckResult, check_read_model
from bpass.simulate_readings import bms_readings
from bpass.simulate_schedule import Truth, custody_arrivals, interleave, late_merge, shuffled, truth
from contracts import topics
from contracts.base import Message
from contracts.custody import CustodyEventKind, CustodyEventReported, CustodyTargets
from contracts.envelope import Envelope
from contracts.passport_data import BatteryCategory
from contracts.recovery import RecoveredMaterial, RecoveryChemistry, RefinerReportSubmitted, TreatmentBatchReported
from contracts.telemetry import Reading, TelemetryMetric, TelemetryReported
from services.common.settings import Settings
from services.recovery.domain.composition import passport_profile, resolve_chemistry

# Every simulated date lies before this fixed instant: a rerun next month publishes byte-identical events.
ANCHOR = datetime(2026, 9, 30, 12, 0, tzinfo=UTC)
PERMITS_FROM = "2015-01-01T00:00:00+00:00"

PLANTS = (
    ("GLN 4006381000023", "Werkstraße 1", "38440", "Wolfsburg", "DE"),
    ("GLN 4006381000030", "Industriestraße 7", "38239", "Salzgitter", "DE"),
    ("GLN 5901234000017", "ul. Fabryczna 3", "55-040", "Wrocław", "PL"),
)
STAGES = ("manufactured", "placed_on_market", "in_service", "collected", "in_treatment", "recycled")
STAGE_WEIGHTS = (8, 10, 45, 12, 8, 17)
WASTE_CODE = "16 06 05"
WASTE_CODES = ["16 06 01*", "16 06 02*", "16 06 05", "20 01 33*", "20 01 34"]


def _gtin(body13: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body13)))
    return body13 + str((10 - total % 10) % 10)


@dataclass(frozen=True)
class Model:
    code: str
    category: BatteryCategory
    name: str
    family: str
    chemistry: tuple[str, str]
    weight_kg: str
    weight: int  # share of the population

    @property
    def gtin(self) -> str:
        return _gtin("0950600" + str(abs(hash_int(self.code)) % 1_000_000).zfill(6))

    @property
    def recovery_chemistry(self) -> str:
        return self.chemistry[0].lower()


def hash_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:6], "big")


NMC811 = ("NMC811", "Lithium nickel manganese cobalt oxide (8:1:1) / graphite")
NMC622 = ("NMC622", "Lithium nickel manganese cobalt oxide (6:2:2) / graphite")
LFP = ("LFP", "Lithium iron phosphate / graphite")
NCA = ("NCA", "Lithium nickel cobalt aluminium oxide / graphite")
EV, LMT, IND, STAT = (BatteryCategory.ev, BatteryCategory.lmt, BatteryCategory.industrial, BatteryCategory.stationary)
CATALOG = (
    Model("E8", EV, "VX-400 NMC811 82 kWh", "vx-400", NMC811, "512.5", 22),
    Model("E6", EV, "VX-300 NMC622 64 kWh", "vx-300", NMC622, "430.0", 14),
    Model("EL", EV, "VX-250 LFP 60 kWh", "vx-250", LFP, "455.0", 14),
    Model("EN", EV, "VX-500 NCA 95 kWh", "vx-500", NCA, "540.0", 6),
    Model("LB", LMT, "VX-E36 e-bike 500 Wh", "vx-e36", NMC811, "3.1", 18),
    Model("LS", LMT, "VX-S48 scooter 1.5 kWh", "vx-s48", LFP, "11.5", 8),
    Model("IF", IND, "VX-F80 LFP forklift 46 kWh", "vx-f80", LFP, "1250", 6),
    Model("SH", STAT, "VX-H10 LFP home storage 10.24 kWh", "vx-h10", LFP, "95", 12),
)
# What a recycler recovers of each material its inputs hold (the rest is lost): recovery refuses a batch whose
# lots hold more than the inputs' passports declare (plus an assay tolerance), so the assays stay below that.
RECOVERED_SHARE = Decimal("0.95")
BLACK_MASS_MATERIALS = ("nickel", "cobalt", "lithium", "manganese", "graphite")


@cache
def declared_content(model: Model) -> dict[str, Decimal]:
    """kg per kg of battery of each recoverable material, as the model's passports declare it, read the way
    recovery reads a passport (its material composition, else the chemistry's typical content)."""
    static = model_static(model)
    chemistry, _ = resolve_chemistry(static, RecoveryChemistry(model.recovery_chemistry), "static_data")
    profile, _ = passport_profile(static, chemistry or RecoveryChemistry(model.recovery_chemistry), "static_data")
    return {material.value: content.kg_per_kg for material, content in profile.items() if content.kg_per_kg > 0}


CARRIER, DEALER, COLLECTOR, RECYCLER, REFINER = (
    "sim-carrier-rhenus",
    "sim-dealer-autohaus",
    "sim-collector-ear",
    "sim-recycler-hydro",
    "sim-refiner-nordic",
)
HANDLERS = (
    (CARRIER, "Rhenus Battery Logistics (simulated)", ["carrier"]),
    (DEALER, "Autohaus Mitte (simulated)", ["carrier"]),
    (COLLECTOR, "EAR Collection Network (simulated)", ["collector", "carrier"]),
    (RECYCLER, "Hydrovolt Recycling (simulated)", ["recycler"]),
    (REFINER, "Nordic Refining (simulated)", ["refiner"]),
)
EXTENSION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "colour": {"type": "string", "enum": ["graphite", "silver", "blue"], "x-public": True},
        "warranty_tier": {"type": "string", "enum": ["standard", "premium"]},
        "sim_run": {"type": "string", "maxLength": 40},
    },
}


@dataclass(frozen=True)
class Endpoints:
    """HTTP base URL per service (all the gateway's in a running platform)."""

    identity: str
    custody: str
    recovery: str
    reporting: str

    @classmethod
    def gateway(cls, base_url: str) -> Endpoints:
        return cls(base_url, base_url, base_url, base_url)


def run_code(run: str) -> str:
    """The run label as the identifier prefix (upper case letters and digits, at most 6)."""
    code = re.sub(r"[^A-Z0-9]", "", run.upper())[:6]
    return code or "SIM"


def model_static(model: Model) -> dict[str, Any]:
    """Model-level static data (sent once per bulk request as `defaults.static_data`)."""
    rng = random.Random(f"model:{model.code}")
    payload = valid_static_payload(model.category)
    payload["battery_model"] = model.name
    payload["weight_kg"] = model.weight_kg
    payload["battery_chemistry"] = {"short_name": model.chemistry[0], "clear_name": model.chemistry[1]}
    lfp = model.chemistry[0] == "LFP"
    for material, base in (("nickel", 0 if lfp else 4), ("cobalt", 0 if lfp else 8), ("lithium", 3)):
        payload[f"pre_consumer_recycled_{material}_share_pct"] = str(round(base * rng.uniform(0.6, 1.4), 1))
        payload[f"post_consumer_recycled_{material}_share_pct"] = str(round(base * rng.uniform(0.8, 1.9), 1))
    payload["carbon_footprint_kg_co2e_per_kwh"] = str(round(rng.uniform(48, 78), 1))
    payload.pop("manufacturing_date", None)
    payload.pop("manufacturing_place", None)
    return payload


@dataclass(frozen=True)
class Battery:
    index: int
    identifier: str
    model: Model
    batch: str
    plant: tuple[str, ...]
    target_stage: str
    manufactured: date
    gaps: tuple[int, ...]  # days between lifecycle steps
    colour: str
    mass_factor: float


# Lifecycle steps after manufacture (days after the previous step): dispatch, receipt, placed on market,
# in service, collection, handover to the recycler, treatment start, treatment completed.
GAP_RANGES = ((2, 10), (1, 4), (1, 30), (3, 60), (300, 1000), (5, 30), (2, 20), (2, 6))
STEPS_FOR_STAGE = {"manufactured": 0, "placed_on_market": 3, "in_service": 4, "collected": 5, "in_treatment": 7}
STEPS_FOR_STAGE["recycled"] = 8


# Custody accepts no event before its handlers' permits (PERMITS_FROM): with the longest lifecycle (about 1,170
# days) this still starts after 2015-01-01, and well after custody's lower bound on event times (2000-01-01).
MAX_BACKDATE_DAYS = 3000


def population(run: str, batteries: int, seed: int, backdate_days: int | None = None) -> Iterator[Battery]:
    """The simulated batteries: deterministic for (run, batteries index, seed, backdate_days).

    Each lifecycle's latest step lies some days before ANCHOR: by default 1-90 days for a battery still with its
    dealer and 1-400 days otherwise; with `backdate_days` N, between N/2 and N days (past-dated facts, as partners'
    systems send them late)."""
    if backdate_days is not None and not 1 <= backdate_days <= MAX_BACKDATE_DAYS:
        raise SimulationError(f"backdate_days must lie between 1 and {MAX_BACKDATE_DAYS}, not {backdate_days}")
    code = run_code(run)
    weights = [m.weight for m in CATALOG]
    for i in range(batteries):
        rng = random.Random(f"{run}:{seed}:{i}")
        model = rng.choices(CATALOG, weights)[0]
        target = rng.choices(STAGES, STAGE_WEIGHTS)[0]
        gaps = tuple(rng.randint(lo, hi) for lo, hi in GAP_RANGES)
        span = sum(gaps[: STEPS_FOR_STAGE[target]])
        slack = rng.randint(1, 90 if target in ("manufactured", "placed_on_market") else 400)
        if backdate_days is not None:  # its own generator: the other choices stay those of the default
            slack = random.Random(f"{run}:{seed}:{i}:backdate").randint(max(1, backdate_days // 2), backdate_days)
        yield Battery(
            index=i,
            identifier=f"{code}{model.code}{i:07d}",
            model=model,
            batch=f"{code}-{model.code}-{i // 250:03d}",
            plant=PLANTS[rng.randrange(len(PLANTS))],
            target_stage=target,
            manufactured=(ANCHOR - timedelta(days=span + slack)).date(),
            gaps=gaps,
            colour=rng.choice(("graphite", "silver", "blue")),
            mass_factor=rng.uniform(0.98, 1.02),
        )


def mint_item(battery: Battery, run: str) -> dict[str, Any]:
    gln, street, postal, city, country = battery.plant
    return {
        "subject": {
            "kind": "battery",
            "battery_identifier": battery.identifier,
            "batch_number": battery.batch,
            "gtin": battery.model.gtin,
        },
        "static_data": {
            "manufacturing_date": battery.manufactured.isoformat(),
            "manufacturing_place": {
                "facility_identifier": gln,
                "postal_address": {
                    "street_address": street,
                    "postal_code": postal,
                    "locality": city,
                    "country_code": country,
                },
            },
        },
        "extensions": {
            "colour": battery.colour,
            "warranty_tier": "premium" if battery.index % 5 == 0 else "standard",
            "sim_run": run,
        },
    }


def mint_request(model: Model, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "defaults": {
            "category": model.category.value,
            "product_family": model.family,
            "static_data": model_static(model),
        },
        "passports": items,
    }


def lifecycle(battery: Battery, passport_id: str) -> tuple[list[tuple[str, CustodyEventReported]], datetime]:
    """(reporting handler, event) in order up to the battery's target stage, and when treatment completes."""
    steps = STEPS_FOR_STAGE[battery.target_stage]
    targets = CustodyTargets(passport_ids=[passport_id])
    at = datetime.combine(battery.manufactured, datetime.min.time(), UTC) + timedelta(hours=8)
    times = []
    for gap in battery.gaps:
        at = at + timedelta(days=gap, minutes=battery.index % 600)
        times.append(at)
    mass = Decimal(battery.model.weight_kg)
    plan: list[tuple[str, dict[str, Any]]] = [
        (CARRIER, {"kind": CustodyEventKind.dispatch, "to_handler_id": DEALER,
                   "transport_document": f"CMR-{battery.identifier}", "mass_kg": mass, "quantity": 1}),
        (DEALER, {"kind": CustodyEventKind.receipt, "from_handler_id": CARRIER}),
        (DEALER, {"kind": CustodyEventKind.placed_on_market}),
        (DEALER, {"kind": CustodyEventKind.in_service}),
        (COLLECTOR, {"kind": CustodyEventKind.collection, "ewc_code": WASTE_CODE, "operation": "R13",
                     "mass_kg": mass}),
        (COLLECTOR, {"kind": CustodyEventKind.handover, "from_handler_id": COLLECTOR, "to_handler_id": RECYCLER,
                     "ewc_code": WASTE_CODE, "operation": "R13", "mass_kg": mass}),
        (RECYCLER, {"kind": CustodyEventKind.treatment_start, "ewc_code": WASTE_CODE, "operation": "R4"}),
    ]  # fmt: skip
    # dispatch and receipt share the first two gaps; placed on market follows receipt
    events = [
        (handler, CustodyEventReported(occurred_at=times[n], handler_id=handler, targets=targets, **extra))
        for n, (handler, extra) in enumerate(plan[: min(steps, len(plan))])
    ]
    return events, times[7]


BMS = "sim-bms"  # the source_system of the readings: the dealer's fleet system reading the batteries' BMS
READINGS_IN_SERVICE = 3


def telemetry(
    battery: Battery, passport_id: str, events: list[tuple[str, CustodyEventReported]]
) -> list[TelemetryReported]:
    """The BMS readings of a battery put into service, one message per instant, in measured order: a few random
    instants between its putting into service and its collection (or the anchor), each with every metric of the
    readings contract (bpass.simulate_readings: state of health ageing ~3 %/year, and what follows from it)."""
    times = {e.kind.value: e.occurred_at for _, e in events}
    start = times.get("in_service")
    if start is None:
        return []
    end = times.get("collection", ANCHOR)
    span_min = int((end - start) / timedelta(minutes=1))
    if span_min < 2 * 24 * 60:
        return []
    rng = random.Random(f"telemetry:{battery.identifier}")
    offsets = sorted(rng.sample(range(24 * 60, span_min - 60), READINGS_IN_SERVICE))
    static = model_static(battery.model)
    readings = []
    for minutes in offsets:
        at = start + timedelta(minutes=minutes)
        values = bms_readings(static, minutes / 525_600, rng)
        readings.append(
            TelemetryReported(
                passport_id=passport_id,
                source_system=f"{BMS}-{battery.model.family}",
                readings=[Reading(metric=metric, value=value, measured_at=at) for metric, value in values.items()],
            )
        )
    return readings


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<44}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )


# The OEM's contracted carrier and its dealer act for it (registry identifier `oem_delegate` = the tenant): custody's
# write authority lets only the producer's delegates ship a battery from the plant and report its placing on the
# market and putting into service.
DELEGATES = frozenset({CARRIER, DEALER})
DELEGATE_SCHEME = "oem_delegate"
MAX_DELEGATIONS = 20  # a registration holds at most 50 identifiers; each OEM that ran the simulator adds one


def handler_registration(
    handler_id: str, name: str, roles: list[str], delegate_of: Iterable[str] = ()
) -> dict[str, Any]:
    identifiers = [{"scheme": "simulation", "value": handler_id}]
    identifiers += [{"scheme": DELEGATE_SCHEME, "value": tenant} for tenant in dict.fromkeys(delegate_of)]
    return {
        "handler_id": handler_id,
        "name": name,
        "roles": roles,
        "identifiers": identifiers,
        "sites": [],
        "permits": [
            {
                "permit_type": "environmental_permit",
                "number": f"SIM-{handler_id}",
                "issuing_authority": "Simulated Authority",
                "valid_from": PERMITS_FROM,
                "waste_codes": WASTE_CODES,
                "operations": ["R4", "R12", "R13"],
            }
        ],
    }


def event_id(*parts: str) -> str:
    """A deterministic CloudEvents id: the same step of the same run always has the same id."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _round(value: float) -> Decimal:
    return Decimal(str(round(value, 1)))


def treatment_batch(
    run: str, number: int, members: list[tuple[Battery, str]], completed: datetime
) -> TreatmentBatchReported:
    """A recycler's batch over batteries of one chemistry; outputs + losses balance the inputs exactly."""
    code = run_code(run)
    chemistry = members[0][0].model.recovery_chemistry
    masses = [_round(float(b.model.weight_kg) * b.mass_factor) for b, _ in members]
    total = sum(masses, Decimal(0))
    held: dict[str, Decimal] = {}  # kg of each material the inputs hold, as declared
    for (battery, _), mass in zip(members, masses, strict=True):
        for material, per_kg in declared_content(battery.model).items():
            held[material] = held.get(material, Decimal(0)) + per_kg * mass
    recovered = {material: kg * RECOVERED_SHARE for material, kg in held.items()}
    in_black_mass = {m: recovered[m] for m in BLACK_MASS_MATERIALS if m in recovered}
    # the metals and graphite are 80 % of an NMC/NCA black mass, 45 % of an LFP one (iron phosphate, binder)
    black_mass = _round(float(sum(in_black_mass.values(), Decimal(0))) / (0.45 if chemistry == "lfp" else 0.80))
    bm = black_mass or Decimal(1)
    # assays rounded down: a lot never holds more than was recovered
    assay = {m: str((kg / bm * 100).quantize(Decimal("0.01"), rounding=ROUND_DOWN)) for m, kg in in_black_mass.items()}
    copper = (recovered.get("copper", Decimal(0)) / Decimal("0.97")).quantize(Decimal("0.1"), rounding=ROUND_DOWN)
    aluminium = (recovered.get("aluminium", Decimal(0)) / Decimal("0.96")).quantize(Decimal("0.1"), rounding=ROUND_DOWN)
    ferrous = _round(float(total) * 0.12)
    plastics = _round(float(total) * 0.08)
    out = black_mass + copper + aluminium + ferrous + plastics
    losses = max(Decimal(0), total - out)
    metal_lots = [
        {"fraction": fraction, "destination": "recycling", "lot_id": f"{prefix}-{code}-{number:04d}",
         "mass_kg": str(mass), "assay_pct": {fraction: pct}}
        for fraction, prefix, mass, pct in (("copper", "CU", copper, "97"), ("aluminium", "AL", aluminium, "96"))
        if mass > 0
    ]  # fmt: skip
    return TreatmentBatchReported.model_validate(
        {
            "batch_id": f"TB-{code}-{number:04d}",
            "recycler_id": RECYCLER,
            "processes": ["mechanical", "hydrometallurgical"],
            "started_at": (completed - timedelta(days=2)).isoformat(),
            "completed_at": completed.isoformat(),
            "inputs": [
                {"passport_id": pid, "mass_kg": str(m), "origin": "post_consumer", "chemistry": chemistry,
                 "transport_document": f"CMR-{b.identifier}"}
                for (b, pid), m in zip(members, masses, strict=True)
            ],
            "outputs": [
                {"fraction": "black_mass", "destination": "recycling", "lot_id": f"BM-{code}-{number:04d}",
                 "mass_kg": str(black_mass), "assay_pct": assay},
                *metal_lots,
                {"fraction": "ferrous", "destination": "recycling", "lot_id": f"FE-{code}-{number:04d}",
                 "mass_kg": str(ferrous)},
                {"fraction": "plastics", "destination": "energy_recovery", "mass_kg": str(plastics)},
            ],
            "losses_kg": str(losses),
        }
    )  # fmt: skip


# (product, metal, metal content % (below stoichiometric), share of the fed metal recovered)
PRODUCTS = (
    ("nickel_sulphate", "nickel", Decimal("22.0"), Decimal("0.95")),
    ("cobalt_sulphate", "cobalt", Decimal("20.5"), Decimal("0.95")),
    ("lithium_carbonate", "lithium", Decimal("18.6"), Decimal("0.80")),
)


def refiner_report(run: str, batch: TreatmentBatchReported) -> RefinerReportSubmitted | None:
    """The refiner's report on the black mass lot of one treatment batch."""
    lot = batch.outputs[0]
    number = batch.batch_id.rsplit("-", 1)[-1]
    code = run_code(run)
    products = []
    for product, metal, content, recovered in PRODUCTS:
        pct = lot.assay_pct.get(RecoveredMaterial(metal))
        if not pct:
            continue
        metal_kg = lot.mass_kg * pct / 100 * recovered
        # Rounded down: a product may never hold more metal than the lot did (small lots are a few grams).
        mass = (metal_kg * 100 / content).quantize(Decimal("0.001"), rounding=ROUND_DOWN)
        if mass <= 0:
            continue
        products.append({"product_lot_id": f"{product[:2].upper()}-{code}-{number}", "product": product,
                         "mass_kg": str(mass), "metal_content_pct": {metal: str(content)}})  # fmt: skip
    if not products:
        return None
    end = batch.completed_at + timedelta(days=20)
    return RefinerReportSubmitted.model_validate(
        {
            "report_id": f"RR-{code}-{number}",
            "refiner_id": REFINER,
            "period_start": (batch.completed_at + timedelta(days=1)).isoformat(),
            "period_end": end.isoformat(),
            "inputs": [{"recycler_id": RECYCLER, "lot_id": lot.lot_id, "mass_kg": str(lot.mass_kg)}],
            "products": products,
        }
    )


@dataclass(frozen=True)
class Outgoing:
    """One message to publish: topic, Kafka key, payload, the handler it comes from, its CloudEvents id."""

    topic: str
    key: str
    message: Message
    handler: str
    ce_id: str


@dataclass
class Sent:
    """What the simulator published, to find its own refusals on the rejected topics."""

    ids: set[str] = field(default_factory=set)
    counts: Counter[str] = field(default_factory=Counter)


class Simulator:
    def __init__(self, settings: Settings, endpoints: Endpoints, oem_key: str, operator_key: str | None,
                 console_progress: bool = True) -> None:  # fmt: skip
        self.settings = settings
        self.endpoints = endpoints
        self.oem_key = oem_key
        self.operator_key = operator_key
        self.sent = Sent()
        self.notes: list[str] = []
        self.progress_enabled = console_progress
        self.producer = AIOKafkaProducer(
            **settings.kafka_client_options(), acks="all", enable_idempotence=True, linger_ms=20,
            request_timeout_ms=30_000, max_batch_size=1_048_576,
        )  # fmt: skip
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(120, connect=10))

    def url(self, service: str, path: str) -> str:
        base: str = getattr(self.endpoints, service)
        return base.rstrip("/") + path

    def oem(self) -> dict[str, str]:
        return {"X-API-Key": self.oem_key}

    async def send(self, topic: str, key: str, message: Message, handler: str, ce_id: str) -> asyncio.Future[Any]:
        envelope = Envelope(id=ce_id, source=f"urn:bpass:handler:{handler}", type=message.event_type, subject=key,
                            time=ANCHOR)  # fmt: skip
        self.sent.ids.add(ce_id)
        self.sent.counts[topic] += 1
        body = message.model_dump_json().encode()
        future: asyncio.Future[Any] = await self.producer.send(
            self.settings.topic(topic), value=body, key=key.encode(), headers=envelope.to_headers()
        )
        return future

    async def publish(self, messages: list[Outgoing], bar: Progress, task: TaskID) -> None:
        """Send `messages` in this order (per key, Kafka keeps it) and wait until the broker has them all."""
        futures = []
        for m in messages:
            futures.append(await self.send(m.topic, m.key, m.message, m.handler, m.ce_id))
            bar.advance(task)
        await asyncio.gather(*futures)

    async def wait_known(self, passport_id: str, timeout: float) -> None:
        """Until custody answers for the passport (it consumed its minted fact)."""
        deadline = time.monotonic() + timeout
        url = self.url("custody", f"/custody/v1/passports/{passport_id}/custody-log")
        while True:
            r = await self.http.get(url, headers=self.oem(), params={"limit": 1})
            if r.status_code == 200:
                return
            if r.status_code != 404 or time.monotonic() > deadline:
                raise SimulationError(f"custody does not know {passport_id}: {r.status_code} {r.text[:200]}")
            await asyncio.sleep(0.2)

    # --- operator -----------------------------------------------------------------------------------------
    async def tenant(self, passport_id: str) -> str:
        """The OEM's tenant, as identity tells its owner."""
        r = await self.http.get(self.url("identity", f"/identity/v1/passports/{passport_id}"), headers=self.oem())
        if r.status_code != 200 or not r.json().get("tenant"):
            raise SimulationError(f"reading passport {passport_id} from identity: {r.status_code} {r.text[:300]}")
        return str(r.json()["tenant"])

    async def register_handlers(self, tenant: str) -> None:
        """Register and verify the handlers; the OEM's delegates act for `tenant` (as well as any they did)."""
        if not self.operator_key:
            self.notes.append("no operator key: handlers are assumed registered and verified")
            return
        headers = {"X-API-Key": self.operator_key}
        for handler_id, name, roles in HANDLERS:
            delegate_of = [tenant] if handler_id in DELEGATES else []
            registration = handler_registration(handler_id, name, roles, delegate_of)
            r = await self.http.post(self.url("custody", "/custody/v1/handlers"), json=registration, headers=headers)
            if r.status_code == 409 and r.json().get("reason") == "handler_exists":
                existing = r.json().get("handler") or {}
                if delegate_of:  # keep the latest tenants it acted for (earlier runs of other OEMs), this one last
                    before = [i.get("value") for i in existing.get("identifiers") or []
                              if i.get("scheme") == DELEGATE_SCHEME and i.get("value") != tenant]  # fmt: skip
                    delegate_of = [*before, tenant][-MAX_DELEGATIONS:]
                    registration = handler_registration(handler_id, name, roles, delegate_of)
                details = {k: v for k, v in registration.items() if k != "handler_id"}
                if _norm(existing) != _norm(details):
                    put = await self.http.put(self.url("custody", f"/custody/v1/handlers/{handler_id}"),
                                              json=details, headers=headers)  # fmt: skip
                    if put.status_code != 200:
                        raise SimulationError(f"amending handler {handler_id}: {put.status_code} {put.text[:300]}")
                if existing.get("state") == "verified":
                    continue
            elif r.status_code != 201:
                raise SimulationError(f"registering handler {handler_id}: {r.status_code} {r.text[:300]}")
            v = await self.http.post(self.url("custody", f"/custody/v1/handlers/{handler_id}/verify"),
                                     json={"reason": "simulation"}, headers=headers)  # fmt: skip
            if v.status_code not in (200, 409):
                raise SimulationError(f"verifying handler {handler_id}: {v.status_code} {v.text[:300]}")


class SimulationError(Exception):
    """The platform refused a request the simulator needs."""


def _norm(record: dict[str, Any]) -> str:
    """The handler details the simulator sets (permits without their validity timestamps), comparable."""
    out: dict[str, Any] = {"name": record.get("name"), "roles": sorted(record.get("roles") or [])}
    out["identifiers"] = sorted((i.get("scheme"), i.get("value")) for i in record.get("identifiers") or [])
    out["permits"] = [
        (p.get("number"), sorted(p.get("waste_codes") or []), sorted(p.get("operations") or []))
        for p in record.get("permits") or []
    ]
    return json.dumps(out, sort_keys=True, default=str)


REJECTED_TOPICS = ("bpass.identity.rejected.v1", "bpass.custody.rejected.v1", "bpass.recovery.rejected.v1")


class Kafka:
    """Offsets, consumer-group lag and the rejected topics, read as any partner could."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.consumer = AIOKafkaConsumer(**settings.kafka_client_options(), enable_auto_commit=False,
                                         request_timeout_ms=30_000)  # fmt: skip
        self.admin = AIOKafkaAdminClient(**settings.kafka_client_options(), request_timeout_ms=30_000)

    async def start(self) -> None:
        await self.consumer.start()
        await self.admin.start()

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def ends(self, names: list[str]) -> dict[TopicPartition, int]:
        cluster = await self.consumer._client.fetch_all_metadata()
        parts = []
        for name in names:
            physical = self.settings.topic(name)
            parts += [TopicPartition(physical, p) for p in cluster.partitions_for_topic(physical) or set()]
        return dict(await self.consumer.end_offsets(parts)) if parts else {}

    async def wait_consumed(self, service: str, names: list[str], timeout: float = 120) -> None:
        """Until `service`'s consumer group has committed past everything on `names` now."""
        target = await self.ends(names)
        deadline = time.monotonic() + timeout
        group = self.settings.group_id(service)
        while True:
            committed = await self.admin.list_consumer_group_offsets(group)
            behind = {
                tp: end
                for tp, end in target.items()
                if end > 0 and (committed.get(tp) is None or committed[tp].offset < end)
            }
            if not behind:
                return
            if time.monotonic() > deadline:
                raise SimulationError(
                    f"{service} did not consume {sorted(str(t) for t in behind)} within {timeout:.0f} s"
                )
            await asyncio.sleep(0.25)

    async def wait_settled(self, groups: dict[str, list[str]], timeout: float = 120, quiet_s: float = 1.0) -> None:
        """Until each service in `groups` has consumed everything on its topics and, for `quiet_s` after that, no
        topic of theirs nor a rejected topic grew: what the services publish in turn (through their outbox
        relays) has arrived and been consumed too, and every refusal is on its topic."""
        names = sorted({name for topics_of in groups.values() for name in topics_of} | set(REJECTED_TOPICS))
        deadline = time.monotonic() + timeout
        while True:
            before = await self.ends(names)
            for service, topics_of in groups.items():
                await self.wait_consumed(service, topics_of, max(1.0, deadline - time.monotonic()))
            await asyncio.sleep(quiet_s)
            if await self.ends(names) == before:
                return
            if time.monotonic() > deadline:
                raise SimulationError(f"the platform did not settle within {timeout:.0f} s: {', '.join(names)} grow")

    async def read(self, start: dict[TopicPartition, int], sent: set[str]) -> list[dict[str, Any]]:
        """Refusals (and flagged acceptances) of messages in `sent`, published since `start`."""
        end = await self.ends(list(REJECTED_TOPICS))
        wanted = {tp: (start.get(tp, 0), e) for tp, e in end.items() if e > start.get(tp, 0)}
        found: list[dict[str, Any]] = []
        if not wanted:
            return found
        self.consumer.assign(list(wanted))
        for tp, (begin, _) in wanted.items():
            self.consumer.seek(tp, begin)
        remaining = dict(wanted)
        deadline = time.monotonic() + 60
        while remaining and time.monotonic() < deadline:
            batches = await self.consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, records in batches.items():
                for record in records:
                    headers = {k: v.decode(errors="replace") for k, v in record.headers or ()}
                    body = json.loads(record.value or b"{}")
                    if body.get("rejected_ce_id") in sent:
                        found.append(
                            {
                                "topic": tp.topic,
                                "outcome": headers.get("bpass_outcome", headers.get("outcome", "rejected")),
                                **body,
                            }
                        )
                    if record.offset + 1 >= remaining.get(tp, (0, 0))[1]:
                        remaining.pop(tp, None)
        return found


def _keys(keys_file: Path | None) -> dict[str, Any]:
    if keys_file is None or not keys_file.exists():
        return {}
    data: dict[str, Any] = json.loads(keys_file.read_text(encoding="utf-8"))
    return data


async def run_simulation(
    settings: Settings,
    *,
    batteries: int,
    run: str,
    oem_key: str | None = None,
    operator_key: str | None = None,
    base_url: str | None = None,
    endpoints: Endpoints | None = None,
    keys_file: Path | None = None,
    seed: int = 7,
    chunk: int = 1000,
    batch_size: int = 40,
    timeout: float = 180,
    progress: bool = True,
    shuffle: bool = False,
    backdate_days: int | None = None,
    check_sample: int = DEFAULT_SAMPLE,
) -> dict[str, Any]:
    """Play the population through the platform; returns counts, refusals, the reporting stage counts and the end
    check (`check`: the read model of `check_sample` batteries against what was sent; 0: no check).

    `shuffle`: publish in the seeded out-of-order arrival of `bpass.simulate_schedule`; `backdate_days`: every
    lifecycle ends between N/2 and N days before ANCHOR (see `population`)."""
    keys = _keys(keys_file or settings.api_keys_file.with_name("demo-keys.json"))
    oem_key = oem_key or keys.get("oem", {}).get("key")
    operator_key = operator_key or keys.get("operator", {}).get("key")
    if not oem_key:
        raise SimulationError("no OEM key: pass --tenant-key or create the demo keys (var/local/demo-keys.json)")
    endpoints = endpoints or Endpoints.gateway(base_url or settings.gateway_url)  # default: BPASS_HTTP_PORT's gateway
    started = time.monotonic()
    sim = Simulator(settings, endpoints, oem_key, operator_key)
    kafka = Kafka(settings)
    people = list(population(run, batteries, seed, backdate_days))
    order = random.Random(f"{run}:{seed}:arrival") if shuffle else None
    truths: dict[str, Truth] = {}
    check: CheckResult | None = None
    counts: Counter[str] = Counter()
    print(
        f"==> simulating {batteries} batteries (run {run!r}) against {endpoints.identity}, {settings.kafka_bootstrap}"
        + (", shuffled arrival" if shuffle else "")
        + (f", lifecycles ending {backdate_days // 2}-{backdate_days} days before the anchor" if backdate_days else "")
    )
    await kafka.start()
    await sim.producer.start()
    try:
        start_offsets = await kafka.ends(list(REJECTED_TOPICS))
        with Progress(*_progress().columns, disable=not progress) as bar:
            # 1. OEM: its GS1 company prefix (verified by the operator), extension schemas, then mint per model
            await ensure_verified_prefix(sim.http, endpoints.identity, oem_key, operator_key, SIMULATION_PREFIX)
            families = sorted({m.family for m in CATALOG})
            t = bar.add_task("OEM declares extension schemas", total=len(families))
            for family in families:
                r = await sim.http.put(sim.url("identity", f"/identity/v1/product-families/{family}/extension-schema"),
                                       json=EXTENSION_SCHEMA, headers=sim.oem())  # fmt: skip
                if r.status_code not in (200, 201):
                    raise SimulationError(f"extension schema of {family}: {r.status_code} {r.text[:300]}")
                bar.advance(t)
            t = bar.add_task("OEM mints passports (HTTP bulk)", total=len(people))
            ids: dict[str, str] = {}
            requests = []
            for model in CATALOG:
                mine = [b for b in people if b.model is model]
                for offset in range(0, len(mine), chunk):
                    requests.append((model, mine[offset : offset + chunk]))
            gate = asyncio.Semaphore(2)
            lasts: list[str] = []

            async def mint(model: Model, part: list[Battery]) -> None:
                async with gate:
                    body = mint_request(model, [mint_item(b, run) for b in part])
                    r = await sim.http.post(
                        sim.url("identity", "/identity/v1/passports:bulk"), json=body, headers=sim.oem()
                    )
                if r.status_code != 200:
                    raise SimulationError(f"minting failed ({r.status_code}): {r.text[:800]}")
                answer = r.json()
                counts["minted"] += answer.get("minted", 0)
                counts["already_minted"] += answer.get("existing", 0)
                for item in answer["passports"]:
                    ids[item["battery_identifier"]] = item["passport_id"]
                lasts.append(answer["passports"][-1]["passport_id"])
                bar.advance(t, len(part))

            await asyncio.gather(*(mint(m, p) for m, p in requests))
            # Custody must know every passport before its steps arrive: a step that races the minted fact is
            # parked and (a custody race, see the report) may stay parked. Facts leave identity in commit order,
            # so once custody knows the last passport of every request, all facts are on Kafka.
            t = bar.add_task("custody + recovery learn the passports", total=len(lasts))
            for pid in lasts:
                await sim.wait_known(pid, timeout)
                bar.advance(t)
            await kafka.wait_consumed("custody", [topics.PASSPORT_MINTED.name], timeout)
            await kafka.wait_consumed("recovery", [topics.PASSPORT_MINTED.name], timeout)
            # 2. operator: handler registry (the OEM's carrier and dealer as its delegates: the tenant is needed)
            t = bar.add_task("operator registers + verifies handlers", total=len(HANDLERS))
            if lasts:
                await sim.register_handlers(await sim.tenant(lasts[0]))
            bar.update(t, completed=len(HANDLERS))
            # 3. carriers, dealers, collectors, the recycler: custody events on Kafka (in the arrival order of
            # bpass.simulate_schedule: event order, or with `shuffle` interleaved and partly held back)
            recycled: dict[str, list[tuple[Battery, str, datetime]]] = {}
            plans: list[tuple[str, list[tuple[str, CustodyEventReported]]]] = []
            for battery in people:
                pid = ids[battery.identifier]
                events, completed = lifecycle(battery, pid)
                plans.append((pid, events))
                if battery.target_stage == "recycled":
                    recycled.setdefault(battery.model.recovery_chemistry, []).append((battery, pid, completed))
            first, late = custody_arrivals(order, [[e.kind.value for _, e in events] for _, events in plans])

            def custody_send(b: int, n: int) -> Outgoing:
                pid, events = plans[b]
                handler, event = events[n]
                ce_id = event_id("sim", run, people[b].identifier, str(n), event.kind.value)
                return Outgoing(topics.CUSTODY_EVENTS.name, pid, event, handler, ce_id)

            # the BMS readings of the batteries in service, one message each (shuffled: any order, among the steps)
            readings = [telemetry(people[b], pid, events) for b, (pid, events) in enumerate(plans)]

            def bms_send(b: int, k: int, message: TelemetryReported) -> Outgoing:
                ce_id = event_id("sim", run, people[b].identifier, "telemetry", str(k))
                return Outgoing(topics.TELEMETRY.name, plans[b][0], message, DEALER, ce_id)

            per_battery = [[bms_send(b, k, m) for k, m in enumerate(ms)] for b, ms in enumerate(readings)]
            bms = (
                interleave(order, [shuffled(order, sent) for sent in per_battery])
                if order
                else [o for sent in per_battery for o in sent]
            )
            steps = [custody_send(b, n) for b, n in first]
            counts["custody_events"] = len(first) + len(late)
            counts["custody_events_held_back"] = len(late)
            counts["telemetry_messages"] = len(bms)
            t = bar.add_task("handlers + BMS publish custody events, readings", total=len(steps) + len(bms))
            await sim.publish(interleave(order, [steps, bms]) if order else steps + bms, bar, t)
            # 4. the recycler's treatment batches, once recovery knows the passports and custody has the steps
            batches: list[TreatmentBatchReported] = []
            number = 0
            for chemistry in sorted(recycled):
                members = recycled[chemistry]
                for offset in range(0, len(members), batch_size):
                    group = members[offset : offset + batch_size]
                    number += 1
                    completed = max(c for _, _, c in group)
                    batches.append(treatment_batch(run, number, [(b, p) for b, p, _ in group], completed))
            t = bar.add_task("platform applies mints + custody", total=None)
            await kafka.wait_consumed("recovery", [topics.PASSPORT_MINTED.name], timeout)
            await kafka.wait_consumed("custody", [topics.CUSTODY_EVENTS.name, topics.PASSPORT_MINTED.name], timeout)
            # Recovery believes a recycler only for passports in its custody (its copy of custody's facts): a batch
            # ahead of them would be parked until they arrive, so let them arrive first.
            await kafka.wait_consumed(
                "recovery", [topics.CUSTODY_HANDLER_REGISTRY.name, topics.CUSTODY_RECORDED.name], timeout
            )
            bar.update(t, total=1, completed=1)
            t = bar.add_task("recycler reports treatment batches", total=len(batches))
            await sim.publish(
                [Outgoing(topics.TREATMENT_BATCHES.name, tb.batch_id, tb, RECYCLER,
                          event_id("sim", run, "batch", tb.batch_id)) for tb in shuffled(order, batches)],
                bar, t,
            )  # fmt: skip
            counts["treatment_batches"] = len(batches)
            await kafka.wait_consumed(
                "recovery", [topics.TREATMENT_BATCHES.name, topics.CUSTODY_RECORDED.name], timeout
            )
            if late:
                # The held-back observations must reach reporting after the ceased facts: let those be folded.
                t = bar.add_task("reporting folds the ceased passports", total=None)
                await kafka.wait_settled(
                    {"recovery": [topics.TREATMENT_BATCHES.name, topics.CUSTODY_RECORDED.name],
                     "reporting": [topics.CUSTODY_PASSPORT_STATUS.name, topics.PASSPORT_CEASED.name]},
                    timeout,
                )  # fmt: skip
                bar.update(t, total=1, completed=1)
            # 5. the refiner refines two batches in three; the held-back custody observations arrive among them
            reports = [rr for i, tb in enumerate(batches) if i % 3 != 2 and (rr := refiner_report(run, tb)) is not None]
            refiner_topic = topics.REFINER_REPORTS.name
            refined = [
                Outgoing(refiner_topic, rr.report_id, rr, REFINER, event_id("sim", run, "refiner", rr.report_id))
                for rr in shuffled(order, reports)
            ]
            t = bar.add_task("refiner reports + late custody events", total=len(refined) + len(late))
            await sim.publish(late_merge(order, [custody_send(b, n) for b, n in late], refined), bar, t)
            counts["refiner_reports"] = len(reports)
            ceased_at = {pid: tb.completed_at for tb in batches for pid in (i.passport_id for i in tb.inputs)}
            truths = {
                pid: truth(
                    people[b].identifier,
                    [(e.kind.value, e.occurred_at) for _, e in events],
                    ceased_at.get(pid),
                    [
                        (r.measured_at, r.value)
                        for m in readings[b]
                        for r in m.readings
                        if r.metric is TelemetryMetric.state_of_health_pct
                    ],
                )
                for b, (pid, events) in enumerate(plans)
            }
            # 6. everything consumed; then read the refusals
            t = bar.add_task("waiting for the platform to settle", total=None)
            await kafka.wait_consumed("recovery", [topics.REFINER_REPORTS.name], timeout)
            # Custody's status changes and recovery's attributions and ceased facts leave through outbox relays
            # after their inputs were consumed: settled means every topic stopped growing and is read.
            await kafka.wait_settled(
                {
                    "custody": [topics.CUSTODY_EVENTS.name, topics.TELEMETRY.name],
                    "recovery": [topics.TREATMENT_BATCHES.name, topics.REFINER_REPORTS.name,
                                 topics.CUSTODY_RECORDED.name],
                    "reporting": [topics.PASSPORT_MINTED.name, topics.CUSTODY_RECORDED.name,
                                  topics.CUSTODY_PASSPORT_STATUS.name, topics.RECOVERY_ATTRIBUTED.name,
                                  topics.PASSPORT_CEASED.name, topics.IN_SERVICE_DATA.name],
                },
                timeout,
            )  # fmt: skip
            bar.update(t, total=1, completed=1)
            if check_sample > 0:
                check = await check_read_model(
                    sim.http, lambda path: sim.url("reporting", path), sim.oem(), truths, sample=check_sample,
                    rng=random.Random(f"{run}:{seed}:check"), progress=bar,
                )  # fmt: skip
        refusals = await kafka.read(start_offsets, sim.sent.ids)
        stages = await _stage_counts(sim, run)
    finally:
        await sim.producer.stop()
        await kafka.stop()
        await sim.http.aclose()
    elapsed = time.monotonic() - started
    reasons = Counter(
        f"{r['topic']}: {v['reason']} ({r['outcome']})" for r in refusals for v in r.get("violations", [])
    )
    print(
        f"==> simulated {batteries} batteries in {elapsed:.1f} s: {counts['minted']} minted, "
        f"{counts['already_minted']} already there, {counts['custody_events']} custody events, "
        f"{counts['telemetry_messages']} BMS readings, "
        f"{counts['treatment_batches']} treatment batches, {counts['refiner_reports']} refiner reports"
    )
    print("    stages (reporting, this run): " + ", ".join(f"{k} {v}" for k, v in sorted(stages.items())))
    if refusals:
        print(f"    REFUSED: {len(refusals)} message(s) the simulator sent")
        for reason, n in reasons.most_common():
            print(f"      {n:6d}  {reason}")
    else:
        print("    no refusals on the rejected topics")
    if check is not None:
        print("==> end check (read model vs what was sent): " + "\n    ".join(check.summary()))
    print(f"    dashboard: {endpoints.reporting}/dashboard  (sign in with the demo OEM key)")
    return {"counts": dict(counts), "refusals": refusals, "reasons": dict(reasons), "stages": stages,
            "seconds": elapsed, "passport_ids": ids, "check": check,
            "disagreements": check.disagreements if check else []}  # fmt: skip


async def _stage_counts(sim: Simulator, run: str) -> dict[str, int]:
    r = await sim.http.get(sim.url("reporting", "/reporting/v1/passports:count"),
                           params={"group_by": "ext.sim_run,stage"}, headers=sim.oem())  # fmt: skip
    if r.status_code != 200:
        raise SimulationError(f"counting passports: {r.status_code} {r.text[:300]}")
    out: dict[str, int] = {}
    for g in r.json()["groups"]:
        if g.get("ext.sim_run") == run or g.get("ext_sim_run") == run:
            out[str(g.get("stage"))] = out.get(str(g.get("stage")), 0) + int(g["count"])
    if not out:  # grouping by extension unavailable: count the tenant's stages
        r = await sim.http.get(sim.url("reporting", "/reporting/v1/passports:count"), params={"group_by": "stage"},
                               headers=sim.oem())  # fmt: skip
        out = {str(g.get("stage")): int(g["count"]) for g in r.json()["groups"]}
    return out
