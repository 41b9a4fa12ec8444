"""Realistic treatment batches, refiner reports and passports for recovery's unit tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from bpass.examples import valid_static_payload
from contracts.attributes import BatteryCategory
from contracts.errors import ValidationFailed
from contracts.recovery import (
    OutputDestination,
    OutputFraction,
    RecoveredMaterial,
    RecoveryChemistry,
    RefinedProduct,
    RefinedProductKind,
    RefinerFeed,
    RefinerReportSubmitted,
    TreatmentBatchReported,
    TreatmentInput,
    TreatmentOutput,
    TreatmentProcess,
)
from services.recovery.domain.passports import InputReference, KnownPassport

M = RecoveredMaterial
T = TypeVar("T")
RECYCLER = "recycler-hydrovolt"
REFINER = "refiner-nordic"


def passport(
    category: BatteryCategory = BatteryCategory.ev, *, tenant: str = "acme-cells", **overrides: Any
) -> KnownPassport:
    static = valid_static_payload(category)
    static.update(overrides)
    pid = f"urn:uuid:{uuid.uuid4()}"
    return KnownPassport(pid, tenant, f"VX-{pid[-8:]}", "battery", static)


def batch(
    inputs: list[TreatmentInput],
    outputs: list[TreatmentOutput] | None = None,
    *,
    batch_id: str = "TB-2026-0042",
    losses_kg: str | None = None,
    completed: datetime = datetime(2026, 3, 4, 17, tzinfo=UTC),
) -> TreatmentBatchReported:
    total = sum((i.mass_kg for i in inputs), Decimal(0))
    if outputs is None:
        outputs = default_outputs(total)
    return TreatmentBatchReported(
        batch_id=batch_id,
        recycler_id=RECYCLER,
        processes=[TreatmentProcess.mechanical],
        started_at=datetime(2026, 3, 2, 5, tzinfo=UTC),
        completed_at=completed,
        inputs=inputs,
        outputs=outputs,
        losses_kg=Decimal(losses_kg) if losses_kg is not None else None,
    )


# What the builder's NMC passport declares, kg per kg (`passport()`, EV): Co 0.0090, Ni 0.0750, Li 0.0058, Mn 0.0090,
# graphite 0.098, Cu 0.090, Al 0.190. The default lots hold a little less of each: recovery credits no more than
# the inputs declare plus the assay tolerance (`mass_balance_exceeded`).
NMC_BLACK_MASS_ASSAY = {M.cobalt: "2.0", M.nickel: "16.5", M.lithium: "1.3", M.manganese: "2.0", M.graphite: "22.0"}
NMC_METALS_ASSAY = {M.copper: "34", M.aluminium: "60"}


def default_outputs(
    total: Decimal,
    *,
    lot: str = "BM-0042-A",
    black_mass_assay: dict[RecoveredMaterial, str] | None = None,
    metals_assay: dict[RecoveredMaterial, str] | None = None,
) -> list[TreatmentOutput]:
    """Black mass 40 %, copper/aluminium 25 %, plastics to energy recovery 10 % of the input; the rest is lost.

    The assays fit inputs of the builder's NMC passports (or richer NMC scrap); give others for other inputs.
    """
    bm_assay = black_mass_assay if black_mass_assay is not None else NMC_BLACK_MASS_ASSAY
    cu_assay = metals_assay if metals_assay is not None else NMC_METALS_ASSAY
    return [
        TreatmentOutput(
            fraction=OutputFraction.black_mass,
            destination=OutputDestination.recycling,
            lot_id=lot,
            mass_kg=(total * Decimal("0.40")).quantize(Decimal("0.1")),
            assay_pct={m: Decimal(v) for m, v in bm_assay.items()},
        ),
        TreatmentOutput(
            fraction=OutputFraction.copper,
            destination=OutputDestination.recycling,
            lot_id=f"{lot}-CU",
            mass_kg=(total * Decimal("0.25")).quantize(Decimal("0.1")),
            assay_pct={m: Decimal(v) for m, v in cu_assay.items()},
        ),
        TreatmentOutput(
            fraction=OutputFraction.plastics,
            destination=OutputDestination.energy_recovery,
            mass_kg=(total * Decimal("0.10")).quantize(Decimal("0.1")),
        ),
    ]


def passport_input(p: KnownPassport, mass_kg: str = "512.5", **kw: Any) -> TreatmentInput:
    return TreatmentInput(passport_id=p.passport_id, mass_kg=Decimal(mass_kg), **kw)


def scrap_input(mass_kg: str, chemistry: RecoveryChemistry = RecoveryChemistry.nmc811, **kw: Any) -> TreatmentInput:
    return TreatmentInput(
        unidentified_reference=f"SCRAP-{uuid.uuid4().hex[:6]}", chemistry=chemistry, mass_kg=Decimal(mass_kg), **kw
    )


def refs(*items: KnownPassport | None) -> list[InputReference]:
    return [InputReference(passport=p) for p in items]


def refiner_report(
    feeds: list[tuple[str, str]], products: list[tuple[str, RefinedProductKind, str, dict[str, str]]], **kw: Any
) -> RefinerReportSubmitted:
    return RefinerReportSubmitted(
        report_id=kw.pop("report_id", "RR-2026-03"),
        refiner_id=REFINER,
        period_start=datetime(2026, 3, 1, tzinfo=UTC),
        period_end=datetime(2026, 3, 31, tzinfo=UTC),
        inputs=[RefinerFeed(recycler_id=RECYCLER, lot_id=lot, mass_kg=Decimal(mass)) for lot, mass in feeds],
        products=[
            RefinedProduct(
                product_lot_id=lot_id,
                product=kind,
                mass_kg=Decimal(mass),
                metal_content_pct={M(k): Decimal(v) for k, v in content.items()},
            )
            for lot_id, kind, mass, content in products
        ],
        **kw,
    )


def attempt(work: Callable[[], T]) -> tuple[T | None, set[str]]:
    """The result, or None and the reasons it was refused for."""
    try:
        return work(), set()
    except ValidationFailed as failed:
        return None, {v.reason for v in failed.violations}
