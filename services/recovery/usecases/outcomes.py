"""What the recovery use cases answer (HTTP bodies; stored with each batch and report)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from contracts.recovery import (
    DeclaredContent,
    OutputFraction,
    RecoveredMaterial,
    RecoveryChemistry,
    RecoveryFlag,
    RefinedProductKind,
    WasteOrigin,
)


class InputSummary(BaseModel):
    index: int = Field(description="Position in `inputs`.")
    reference: str = Field(description="Passport id, or the unidentified lot's reference.")
    passport_id: str | None = Field(description="Passport, when identified.")
    chemistry: RecoveryChemistry = Field(description="Chemistry it was treated as.")
    category_group: str = Field(description="Annex XII category.")
    origin: WasteOrigin = Field(description="Pre- or post-consumer.")
    mass_kg: Decimal = Field(description="Weighed mass, kg.")
    contents: list[DeclaredContent] = Field(description="Declared content per material, with its basis.")
    flags: list[RecoveryFlag] = Field(description="Defaults used and differences noticed.")


class LotSummary(BaseModel):
    lot_id: str = Field(description="Recycler lot.")
    fraction: OutputFraction = Field(description="What it is.")
    mass_kg: Decimal = Field(description="Mass, kg.")
    material_kg: dict[RecoveredMaterial, Decimal] = Field(description="Material content (mass × assay), kg.")


class TreatmentBatchOutcome(BaseModel):
    recycler_id: str
    batch_id: str
    status: Literal["accepted", "unchanged"] = Field(description="`unchanged`: the same batch was sent before.")
    completed_at: datetime
    input_kg: Decimal
    recycled_output_kg: Decimal = Field(description="Battery-origin mass of outputs going to recycling, kg.")
    residues_kg: Decimal = Field(description="Battery-origin mass of outputs not going to recycling, kg.")
    additives_kg: Decimal
    losses_kg: Decimal
    recycling_efficiency_pct: Decimal = Field(description="recycled_output_kg ÷ input_kg (Annex XII Part B).")
    passports_ceased: int
    flags: list[RecoveryFlag]
    inputs: list[InputSummary]
    lots: list[LotSummary]


class ProductSummary(BaseModel):
    product_lot_id: str
    product: RefinedProductKind
    mass_kg: Decimal
    metal_kg: dict[RecoveredMaterial, Decimal]


class FeedSummary(BaseModel):
    recycler_id: str
    lot_id: str
    batch_id: str
    mass_kg: Decimal
    remaining_kg: Decimal = Field(description="Lot mass not yet refined after this report, kg.")


class RefinerReportOutcome(BaseModel):
    refiner_id: str
    report_id: str
    status: Literal["accepted", "unchanged"]
    products: list[ProductSummary]
    feeds: list[FeedSummary]
    passports_attributed: int
    unidentified_kg: dict[RecoveredMaterial, Decimal] = Field(
        description="Refined material attributed to inputs without a passport, kg."
    )
