"""Facts as identity, custody and recovery publish them, for reporting tests (no I/O)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bpass.simulate import Battery, mint_item, model_static, population
from contracts.custody import CustodyEventKind, CustodyRecorded, PassportStage, PassportStatusChanged
from contracts.identity import PassportMinted
from contracts.passport_data import BatteryStatus, PassportSubject, StaticPassportData
from contracts.recovery import PassportCeased

T0 = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)


def passport_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def batteries(n: int, run: str | None = None) -> list[Battery]:
    return list(population(run or uuid.uuid4().hex[:6], n, seed=3))


def full_item(battery: Battery, run: str = "test") -> dict[str, Any]:
    """A mint item with the model's defaults merged in, as identity's minted fact carries it."""
    item: dict[str, Any] = mint_item(battery, run)
    return {
        **item,
        "category": battery.model.category.value,
        "product_family": battery.model.family,
        "static_data": {**model_static(battery.model), **item["static_data"]},
    }


def minted(battery: Battery, tenant: str, pid: str | None = None, at: datetime = T0) -> PassportMinted:
    item = full_item(battery)
    subject = PassportSubject.model_validate(item["subject"])
    base = "https://passport.example.test"
    pid = pid or passport_id()
    uri = f"{base}/01/{subject.gtin}/21/{subject.battery_identifier}" if subject.gtin else f"{base}/p/{pid}"
    return PassportMinted(
        passport_id=pid,
        tenant=tenant,
        subject=subject,
        category=item["category"],
        product_family=item["product_family"],
        public_uri=uri,
        static_data=StaticPassportData.model_validate(item["static_data"]),
        extensions=item["extensions"],
        version=1,
        minted_at=at,
        minted_by="oem_admin:test:key",
    )


def replaced(fact: PassportMinted, **update: Any) -> PassportMinted:
    """The fact with fields replaced and validated again: a new `static_data` gets its digest recomputed
    (`model_copy` would keep the old digest, and consumers refuse a fact whose document disagrees with it)."""
    body = {**dict(fact), **update}
    if "static_data" in update:
        body["static_data_digest"] = None
    return PassportMinted.model_validate(body)


def custody_chain(pid: str, tenant: str, kinds: list[str], at: datetime = T0) -> list[CustodyRecorded]:
    previous = "0" * 64
    out = []
    for seq, kind in enumerate(kinds, start=1):
        entry = hashlib.sha256(f"{pid}{seq}{kind}{previous}".encode()).hexdigest()
        out.append(
            CustodyRecorded(
                passport_id=pid,
                tenant=tenant,
                sequence=seq,
                kind=CustodyEventKind(kind),
                occurred_at=at + timedelta(days=seq),
                handler_id=f"handler-{kind}",
                to_handler_id=f"handler-{kind}",
                source_event_id=str(uuid.uuid4()),
                entry_hash=entry,
                previous_hash=previous,
            )
        )
        previous = entry
    return out


def status_changed(pid: str, tenant: str, stage: str, at: datetime, sequence: int = 1) -> PassportStatusChanged:
    return PassportStatusChanged(
        passport_id=pid,
        tenant=tenant,
        stage=PassportStage(stage),
        status=BatteryStatus.waste if stage in ("collected", "in_treatment") else None,
        occurred_at=at,
        sequence=sequence,
        handler_id="handler-x",
        source_event_id=str(uuid.uuid4()),
    )


def ceased(pid: str, tenant: str, identifier: str, at: datetime) -> PassportCeased:
    return PassportCeased.model_validate(
        {
            "passport_id": pid,
            "tenant": tenant,
            "battery_identifier": identifier,
            "reason": "recycled",
            "legal_basis": "Regulation (EU) 2023/1542 Art. 77(8)",
            "ceased_at": at.isoformat(),
            "recycler_id": "recycler-x",
            "batch_id": "TB-1",
            "processes": ["mechanical"],
            "input_mass_kg": "500",
            "recovery_outcome": [
                {
                    "material": "cobalt",
                    "declared_kg": str(Decimal("4.5")),
                    "basis": "passport_declared",
                    "in_recycled_fractions_kg": "4.1",
                },
                {
                    "material": "nickel",
                    "declared_kg": "37.5",
                    "basis": "passport_declared",
                    "in_recycled_fractions_kg": "35.0",
                },
            ],
            "reported_by": "urn:bpass:handler:recycler-x",
        }
    )
