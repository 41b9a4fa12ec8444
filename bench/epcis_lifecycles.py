"""Battery lifecycles as EPCIS 2.0 events, for the EPCIS query benchmark: deterministic per (seed, battery number).

A battery of one of the OEM tenants is commissioned and packed at its OEM's plant, shipped to one of the OEM's
dealers (both the OEM's delegates), received, sold and installed there, then inspected with sensor readings
(state of health, temperature, voltage) every one to three months while in service. Some reach their end of
life within the two years: removed, shipped to a collector, received there, loaded onto a pallet, shipped to a
recycler, received and transformed into black mass. Each event is captured by the handler that performs it (its
`capturer`), in an order custody's rules accept: the same events whether captured over HTTP or bulk-loaded.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from services.custody.domain.epcis.identifiers import gs1_check_digit

GENERATOR_VERSION = 1
EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/epcis-context.jsonld"
COMPANY_PREFIX = "9521234"  # GS1 demo prefix (952)
# Event times: two years up to a week before the benchmark's reference day (never ahead of receipt).
FIRST_DAY = datetime(2024, 11, 30, tzinfo=UTC)
LAST_DAY = datetime(2026, 11, 30, tzinfo=UTC)
TENANTS = ("oem-voltaris", "oem-northcell", "oem-ampera", "oem-lithica")
DEALERS_PER_TENANT = 2
COLLECTORS = ("collector-ecoloop", "collector-recobat", "collector-wastewise")
RECYCLERS = ("recycler-hydrovolt", "recycler-blackmass")
END_OF_LIFE_SHARE = 0.3
FIRST_STEPS = timedelta(days=45)  # commissioning to installation take at most 41 days
END_OF_LIFE_STEPS = timedelta(days=75)  # removal to transformation take at most 71 days
BLACK_MASS_GTIN = f"0{COMPANY_PREFIX}90000" + gs1_check_digit(f"0{COMPANY_PREFIX}90000")  # the recyclers' output


def _gln(number: int) -> str:
    digits = f"{COMPANY_PREFIX}{number:05d}"
    return digits + gs1_check_digit(digits)


@dataclass(frozen=True)
class Handler:
    handler_id: str
    roles: tuple[str, ...]
    gln: str
    delegate_of: str | None = None

    @property
    def pgln(self) -> str:
        return f"https://id.gs1.org/417/{self.gln}"

    def sgln(self, extension: int = 0) -> str:
        return f"https://id.gs1.org/414/{self.gln}" + (f"/254/{extension}" if extension else "")


def handlers() -> list[Handler]:
    """Every handler of the generated world: per tenant a plant and its dealers, then collectors and recyclers."""
    found: list[Handler] = []
    number = 100
    for tenant in TENANTS:
        found.append(Handler(f"plant-{tenant[4:]}", ("carrier",), _gln(number), tenant))
        number += 1
        for d in range(DEALERS_PER_TENANT):
            found.append(Handler(f"dealer-{tenant[4:]}-{d}", ("carrier", "repairer"), _gln(number), tenant))
            number += 1
    for collector in COLLECTORS:
        found.append(Handler(collector, ("carrier", "collector"), _gln(number)))
        number += 1
    for recycler in RECYCLERS:
        found.append(Handler(recycler, ("carrier", "recycler"), _gln(number)))
        number += 1
    return found


HANDLERS = {h.handler_id: h for h in handlers()}


def gtin_of(tenant: str) -> str:
    """The GTIN of the tenant's battery model."""
    digits = f"0{COMPANY_PREFIX}{TENANTS.index(tenant) + 1:05d}"
    return digits + gs1_check_digit(digits)


@dataclass(frozen=True)
class Battery:
    number: int
    tenant: str
    passport_id: str
    serial: str
    minted_at: datetime

    @property
    def gtin(self) -> str:
        return gtin_of(self.tenant)

    @property
    def epc(self) -> str:
        return f"https://id.gs1.org/01/{self.gtin}/21/{self.serial}"


@dataclass
class Lifecycle:
    battery: Battery
    # (capturer handler id, event), in time order
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def _rng(seed: int, number: int) -> random.Random:
    return random.Random(seed * 1_000_003 + number)


def battery(seed: int, number: int) -> Battery:
    rng = _rng(seed, number)
    tenant = TENANTS[number % len(TENANTS)]
    passport_id = f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}"
    start = FIRST_DAY + timedelta(seconds=rng.uniform(0, (LAST_DAY - FIRST_DAY - FIRST_STEPS).total_seconds()))
    return Battery(number, tenant, passport_id, f"B{seed % 1000:03d}{number:08d}", start - timedelta(days=2))


def _time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _sscc(rng: random.Random) -> str:
    digits = f"1{COMPANY_PREFIX}{rng.randrange(10**9):09d}"
    return f"https://id.gs1.org/00/{digits}{gs1_check_digit(digits)}"


class _Writer:
    def __init__(self, lifecycle: Lifecycle, rng: random.Random, at: datetime) -> None:
        self.lifecycle, self.rng, self.at = lifecycle, rng, at

    def later(self, low_hours: float, high_hours: float) -> datetime:
        self.at += timedelta(hours=self.rng.uniform(low_hours, high_hours))
        return self.at

    def event(self, capturer: str, kind: str, biz_step: str, disposition: str | None, **fields: Any) -> None:
        event: dict[str, Any] = {
            "type": kind,
            "eventID": f"urn:uuid:{uuid.UUID(int=self.rng.getrandbits(128), version=4)}",
            "eventTime": _time(self.at),
            "eventTimeZoneOffset": "+01:00",
        }
        if kind != "TransformationEvent":
            event["action"] = fields.pop("action", "OBSERVE")
        event["bizStep"] = biz_step
        if disposition:
            event["disposition"] = disposition
        event.update(fields)
        self.lifecycle.events.append((capturer, event))


def _shipment(from_: Handler, to: Handler, rng: random.Random) -> dict[str, Any]:
    return {
        "sourceList": [{"type": "owning_party", "source": from_.pgln}],
        "destinationList": [{"type": "owning_party", "destination": to.pgln}],
        "bizTransactionList": [
            {"type": "desadv", "bizTransaction": f"urn:epcglobal:cbv:bt:{from_.gln}:DA-{rng.randrange(10**8):08d}"}
        ],
    }


def _sensors(at: datetime, health_pct: float, rng: random.Random, device: str) -> list[dict[str, Any]]:
    return [
        {
            "sensorMetadata": {"time": _time(at), "deviceID": device},
            "sensorReport": [
                {"type": "gs1:Temperature", "value": round(rng.uniform(12, 38), 1), "uom": "CEL"},
                {"type": "gs1:Voltage", "value": round(rng.uniform(355, 405), 1), "uom": "VLT"},
                {"type": "gs1:Percentage", "value": round(health_pct, 1), "uom": "P1"},
            ],
        }
    ]


def lifecycle(seed: int, number: int) -> Lifecycle:
    """The events of battery `number` (deterministic for the seed)."""
    item = battery(seed, number)
    rng = _rng(seed, number + 10**9)
    life = Lifecycle(item)
    tenant = item.tenant[4:]
    plant = HANDLERS[f"plant-{tenant}"]
    dealer = HANDLERS[f"dealer-{tenant}-{rng.randrange(DEALERS_PER_TENANT)}"]
    w = _Writer(life, rng, item.minted_at + timedelta(days=2))
    epc = [item.epc]
    w.event(plant.handler_id, "ObjectEvent", "commissioning", "active", action="ADD", epcList=epc,
            readPoint={"id": plant.sgln(1)}, bizLocation={"id": plant.sgln()})  # fmt: skip
    w.later(1, 6)
    w.event(plant.handler_id, "AggregationEvent", "packing", "in_progress", action="ADD", parentID=_sscc(rng),
            childEPCs=epc, readPoint={"id": plant.sgln(2)}, bizLocation={"id": plant.sgln()})  # fmt: skip
    w.later(4, 48)
    w.event(plant.handler_id, "ObjectEvent", "shipping", "in_transit", epcList=epc, readPoint={"id": plant.sgln(3)},
            **_shipment(plant, dealer, rng))  # fmt: skip
    w.later(24, 96)
    w.event(dealer.handler_id, "ObjectEvent", "receiving", "in_progress", epcList=epc,
            readPoint={"id": dealer.sgln(1)}, bizLocation={"id": dealer.sgln()},
            **_shipment(plant, dealer, rng))  # fmt: skip
    w.later(24, 24 * 30)
    w.event(dealer.handler_id, "ObjectEvent", "retail_selling", "retail_sold", epcList=epc,
            bizLocation={"id": dealer.sgln()})  # fmt: skip
    w.later(2, 72)
    w.event(dealer.handler_id, "ObjectEvent", "installing", "active", epcList=epc, bizLocation={"id": dealer.sgln()})
    end_of_life = rng.random() < END_OF_LIFE_SHARE and LAST_DAY - w.at > 2 * END_OF_LIFE_STEPS
    service_end = LAST_DAY
    if end_of_life:
        service_end = w.at + (LAST_DAY - END_OF_LIFE_STEPS - w.at) * rng.uniform(0.3, 1.0)
    health = rng.uniform(98, 100)
    device = f"https://id.gs1.org/8004/{COMPANY_PREFIX}BMS{number:08d}"
    while True:
        w.later(24 * 30, 24 * 90)
        if w.at >= service_end:
            w.at = service_end  # removed (or still in service) at the end of service
            break
        health -= rng.uniform(0.2, 1.5)
        w.event(dealer.handler_id, "ObjectEvent", "inspecting", "active", epcList=epc,
                readPoint={"id": dealer.sgln(2)}, bizLocation={"id": dealer.sgln()},
                sensorElementList=_sensors(w.at, health, rng, device))  # fmt: skip
    if not end_of_life:
        return life
    collector = HANDLERS[COLLECTORS[rng.randrange(len(COLLECTORS))]]
    recycler = HANDLERS[RECYCLERS[rng.randrange(len(RECYCLERS))]]
    w.event(dealer.handler_id, "ObjectEvent", "removing", "in_progress", epcList=epc, bizLocation={"id": dealer.sgln()})
    w.later(24, 24 * 10)
    w.event(dealer.handler_id, "ObjectEvent", "shipping", "in_transit", epcList=epc, readPoint={"id": dealer.sgln(3)},
            **_shipment(dealer, collector, rng))  # fmt: skip
    w.later(12, 72)
    # Received, not `collecting`: an EPCIS collection carries no EWC waste code, which custody requires of one.
    w.event(collector.handler_id, "ObjectEvent", "receiving", "in_progress", epcList=epc,
            readPoint={"id": collector.sgln(1)}, bizLocation={"id": collector.sgln()},
            **_shipment(dealer, collector, rng))  # fmt: skip
    w.later(24, 24 * 20)
    w.event(collector.handler_id, "AggregationEvent", "loading", "in_progress", action="ADD", parentID=_sscc(rng),
            childEPCs=epc, readPoint={"id": collector.sgln(2)}, bizLocation={"id": collector.sgln()})  # fmt: skip
    w.later(2, 48)
    w.event(collector.handler_id, "ObjectEvent", "shipping", "in_transit", epcList=epc,
            readPoint={"id": collector.sgln(3)}, **_shipment(collector, recycler, rng))  # fmt: skip
    w.later(12, 96)
    w.event(recycler.handler_id, "ObjectEvent", "receiving", "in_progress", epcList=epc,
            readPoint={"id": recycler.sgln(1)}, bizLocation={"id": recycler.sgln()},
            **_shipment(collector, recycler, rng))  # fmt: skip
    w.later(24, 24 * 30)
    lot = f"BM{rng.randrange(10**6):06d}"
    w.event(recycler.handler_id, "TransformationEvent", "disassembling", "in_progress", inputEPCList=epc,
            outputQuantityList=[{"epcClass": f"https://id.gs1.org/01/{BLACK_MASS_GTIN}/10/{lot}",
                                 "quantity": round(rng.uniform(180, 320), 1), "uom": "KGM"}],
            readPoint={"id": recycler.sgln(2)}, bizLocation={"id": recycler.sgln()})  # fmt: skip
    return life


def document(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@context": [EPCIS_CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-12-01T00:00:00Z",
        "epcisBody": {"eventList": events},
    }
