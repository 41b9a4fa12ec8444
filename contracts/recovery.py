"""Recovery: treatment batches and refiner reports in; attribution, recycled-content and end-of-passport facts out.

Inbound (partners publish, the platform validates and answers refusals on `bpass.recovery.rejected.v1`):

- `TreatmentBatchReported` on `bpass.recovery.treatment-batches.v1`: a recycler's treatment batch — which
  passports (or unidentified lots) went in with their weighed masses, the process, and every output fraction
  with its mass, destination and assay. The same body is accepted over HTTP (`POST /recovery/v1/treatment-batches`).
- `RefinerReportSubmitted` on `bpass.recovery.refiner-reports.v1`: what a refiner produced (cobalt sulphate,
  lithium carbonate, …, with metal content) from which recycler lots (`POST /recovery/v1/refiner-reports`).

Facts (recovery publishes):

- `RecoveryAttributed` on `bpass.recovery.recovery-attributed.v1`, keyed by passport id: recovered material
  attributed to one passport, line by line, with every allocation step.
- `PassportCeased` on `bpass.recovery.passport-ceased.v1`, keyed by passport id: the battery was recycled and
  its passport ceases (Art. 77(8)).
- `RecycledContentAssessed` on `bpass.recovery.recycled-content-assessed.v1`, keyed by claim id: an OEM's
  recycled-content claim (Art. 8) checked against attributed recovered material.

Masses are `Decimal` kilograms, shares `Decimal` percent; the platform computes allocations at a quantum of
0.001 kg. Times are aware datetimes.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.base import Message

MassKg = Annotated[Decimal, Field(ge=0, le=100_000_000, allow_inf_nan=False)]
PositiveMassKg = Annotated[Decimal, Field(gt=0, le=100_000_000, allow_inf_nan=False)]
SharePct = Annotated[Decimal, Field(ge=0, le=100, allow_inf_nan=False)]
Reference = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/#-]*$")]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecoveryChemistry(StrEnum):
    """Battery chemistry as recovery distinguishes it (composition defaults and Annex XII categories)."""

    nmc111 = "nmc111"
    nmc532 = "nmc532"
    nmc622 = "nmc622"
    nmc811 = "nmc811"
    nca = "nca"
    lfp = "lfp"
    lmo = "lmo"
    lto = "lto"
    lead_acid = "lead_acid"
    nimh = "nimh"
    nicd = "nicd"
    other = "other"


class ChemistryGroup(StrEnum):
    """Annex XII Part B recycling-efficiency categories."""

    lithium_based = "lithium_based"
    lead_acid = "lead_acid"
    nickel_cadmium = "nickel_cadmium"
    other = "other"


class TreatmentProcess(StrEnum):
    mechanical = "mechanical"
    pyrometallurgical = "pyrometallurgical"
    hydrometallurgical = "hydrometallurgical"


class RecoveredMaterial(StrEnum):
    """Materials recovery accounts for (assays, declared content, attribution)."""

    cobalt = "cobalt"
    nickel = "nickel"
    lithium = "lithium"
    copper = "copper"
    lead = "lead"
    manganese = "manganese"
    aluminium = "aluminium"
    graphite = "graphite"


class OutputFraction(StrEnum):
    """What an output of a treatment batch is."""

    black_mass = "black_mass"
    alloy = "alloy"
    matte = "matte"
    copper = "copper"
    aluminium = "aluminium"
    ferrous = "ferrous"
    lead_bullion = "lead_bullion"
    lead_compounds = "lead_compounds"
    plastics = "plastics"
    electrolyte = "electrolyte"
    slag = "slag"
    dust = "dust"
    other = "other"


class OutputDestination(StrEnum):
    """Where an output goes. Only `recycling` counts as recycled (Annex XII Part B); the others are residues."""

    recycling = "recycling"
    energy_recovery = "energy_recovery"
    backfilling = "backfilling"
    disposal = "disposal"


class WasteOrigin(StrEnum):
    """Pre-consumer: manufacturing waste; post-consumer: waste batteries after use (Art. 8)."""

    post_consumer = "post_consumer"
    pre_consumer = "pre_consumer"


class RefinedProductKind(StrEnum):
    cobalt_sulphate = "cobalt_sulphate"
    nickel_sulphate = "nickel_sulphate"
    manganese_sulphate = "manganese_sulphate"
    lithium_carbonate = "lithium_carbonate"
    lithium_hydroxide = "lithium_hydroxide"
    mixed_hydroxide_precipitate = "mixed_hydroxide_precipitate"
    cobalt_metal = "cobalt_metal"
    nickel_metal = "nickel_metal"
    copper_cathode = "copper_cathode"
    refined_lead = "refined_lead"
    aluminium = "aluminium"
    graphite = "graphite"
    other = "other"


class ContentBasis(StrEnum):
    """Where a weight of an allocation comes from."""

    passport_declared = "passport_declared"
    chemistry_default = "chemistry_default"
    input_mass = "input_mass"
    assay = "assay"


class AttributionStage(StrEnum):
    treatment = "treatment"
    refining = "refining"


class AllocationLevel(StrEnum):
    product_to_lot = "product_to_lot"
    lot_to_input = "lot_to_input"


class EvidenceDocument(_Part):
    """A document backing the report: weighbridge ticket, assay certificate, mass balance statement, …"""

    uri: str = Field(
        min_length=3,
        max_length=2000,
        pattern=r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$",
        description="Where the document is (https, s3, urn, …).",
        examples=["https://recycler.example/evidence/TB-2026-0042/assay.pdf"],
    )
    sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 of the document's bytes, lower-case hex.",
        examples=["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"],
    )
    document_type: str | None = Field(
        default=None, max_length=100, description="What the document is.", examples=["assay_certificate"]
    )
    media_type: str | None = Field(
        default=None,
        pattern=r"^[a-z]+/[A-Za-z0-9.+-]+$",
        description="MIME type.",
        examples=["application/pdf"],
    )


class TreatmentInput(_Part):
    """One thing that went into the batch: a passport (by id, identifier or URI) or an unidentified lot."""

    passport_id: str | None = Field(
        default=None,
        pattern=r"^urn:uuid:[0-9a-fA-F-]{36}$",
        description="Passport id; give this, `battery_identifier` or `unidentified_reference`.",
        examples=["urn:uuid:01936f0e-7d3c-7a31-9c2e-5b4f0f2a9d11"],
    )
    battery_identifier: str | None = Field(
        default=None,
        min_length=1,
        max_length=300,
        description="The OEM's battery identifier or the passport's Digital Link URI.",
        examples=["VX400-000123"],
    )
    unidentified_reference: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="For material without a passport (e.g. production scrap, pre-2027 batteries): the "
        "recycler's reference of the lot. Its recovered material is accounted but attributed to no passport.",
        examples=["SCRAP-2026-117"],
    )
    chemistry: RecoveryChemistry | None = Field(
        default=None,
        description="Chemistry as sorted by the recycler; required for unidentified lots. For a passport, "
        "the passport's chemistry wins and a difference is flagged.",
        examples=["nmc811"],
    )
    origin: WasteOrigin = Field(
        default=WasteOrigin.post_consumer,
        description="Pre- or post-consumer waste (Art. 8).",
        examples=["post_consumer"],
    )
    mass_kg: PositiveMassKg = Field(description="Mass as weighed at the gate, kg.", examples=["505.2"])
    dwts_id: str | None = Field(
        default=None, max_length=100, description="UK Digital Waste Tracking id of the inbound shipment."
    )
    diwass_id: str | None = Field(
        default=None,
        max_length=100,
        description="EU DIWASS movement document id of the inbound shipment.",
        examples=["DIWASS-DE-2026-000812"],
    )
    transport_document: str | None = Field(
        default=None, max_length=200, description="CMR / waybill reference.", examples=["CMR-77812"]
    )


class TreatmentOutput(_Part):
    """One output of the batch: a fraction going to recycling (a lot refiners can reference) or a residue."""

    fraction: OutputFraction = Field(description="What it is.", examples=["black_mass"])
    destination: OutputDestination = Field(
        description="Where it goes; only `recycling` counts as recycled.", examples=["recycling"]
    )
    lot_id: Reference | None = Field(
        default=None,
        description="The recycler's lot id, unique per recycler; required for outputs going to recycling "
        "(refiner reports reference it).",
        examples=["BM-2026-0042-A"],
    )
    mass_kg: PositiveMassKg = Field(description="Mass as weighed, kg.", examples=["212.4"])
    additive_mass_kg: MassKg = Field(
        default=Decimal(0),
        description="Part of `mass_kg` that comes from process additives (fluxes, reductants, reagents), "
        "not from the batteries; excluded from recycling efficiency and mass balance.",
        examples=["0"],
    )
    assay_pct: dict[RecoveredMaterial, SharePct] = Field(
        default_factory=dict,
        description="Content of each material, % of `mass_kg`; required for recycled black mass, alloy, "
        "matte, lead and metal fractions.",
        examples=[{"cobalt": "6.1", "nickel": "21.4", "lithium": "3.2", "manganese": "2.9", "graphite": "28.5"}],
    )


class TreatmentBatchReported(Message):
    """A recycler reports a treatment batch (`bpass.recovery.treatment-batches.v1`, keyed by `batch_id`).

    The publisher is the recycler: `ce_source` must be `urn:bpass:handler:<recycler_id>`. Masses must balance:
    battery-origin outputs plus declared losses equal the inputs (within 1 %), and never exceed them.
    """

    event_type = "eu.battery-passport.recovery.treatment-batch-reported.v1"

    batch_id: Reference = Field(description="The recycler's batch id, unique per recycler.", examples=["TB-2026-0042"])
    recycler_id: Reference = Field(
        description="Registered handler id of the recycler (the principal).", examples=["recycler-hydrovolt"]
    )
    site_id: str | None = Field(
        default=None, max_length=100, description="Treatment site (GLN or permit id).", examples=["GLN 4012345000016"]
    )
    processes: list[TreatmentProcess] = Field(
        min_length=1, max_length=3, description="Process steps, in order.", examples=[["mechanical"]]
    )
    started_at: AwareDatetime = Field(description="Start of treatment.", examples=["2026-03-02T06:00:00+01:00"])
    completed_at: AwareDatetime = Field(description="End of treatment.", examples=["2026-03-04T18:00:00+01:00"])
    inputs: list[TreatmentInput] = Field(min_length=1, max_length=10_000, description="What went in.")
    outputs: list[TreatmentOutput] = Field(
        min_length=1, max_length=1_000, description="Every output fraction and residue."
    )
    losses_kg: MassKg | None = Field(
        default=None,
        description="Process losses (moisture, off-gas, volatilised electrolyte), kg; computed and flagged "
        "when not given.",
        examples=["31.8"],
    )
    evidence: list[EvidenceDocument] = Field(
        default_factory=list, max_length=100, description="Weighbridge tickets, assay certificates, …"
    )


class RefinerFeed(_Part):
    """Part (or all) of a recycler lot fed to the refinery."""

    recycler_id: Reference = Field(description="Recycler that produced the lot.", examples=["recycler-hydrovolt"])
    lot_id: Reference = Field(description="The recycler's lot id.", examples=["BM-2026-0042-A"])
    mass_kg: PositiveMassKg = Field(description="Mass of the lot fed, kg.", examples=["212.4"])


class RefinedProduct(_Part):
    """A product lot of the refinery with its metal content."""

    product_lot_id: Reference = Field(description="Refiner's product lot id, unique per refiner.", examples=["CS-7781"])
    product: RefinedProductKind = Field(description="What was produced.", examples=["cobalt_sulphate"])
    mass_kg: PositiveMassKg = Field(description="Product mass, kg.", examples=["55.0"])
    metal_content_pct: dict[RecoveredMaterial, SharePct] = Field(
        min_length=1,
        description="Metal content, % of `mass_kg` (e.g. CoSO4·7H2O holds 20.97 % Co, Li2CO3 18.79 % Li).",
        examples=[{"cobalt": "20.9"}],
    )


class RefinerReportSubmitted(Message):
    """A refiner reports what it produced from which recycler lots (`bpass.recovery.refiner-reports.v1`).

    `ce_source` must be `urn:bpass:handler:<refiner_id>`. A lot can be fed up to its mass, across reports; the
    metal in the products must not exceed the metal fed (lot mass × assay).
    """

    event_type = "eu.battery-passport.recovery.refiner-report-submitted.v1"

    report_id: Reference = Field(description="Refiner's report id, unique per refiner.", examples=["RR-2026-03"])
    refiner_id: Reference = Field(description="Registered handler id of the refiner.", examples=["refiner-nordic"])
    site_id: str | None = Field(default=None, max_length=100, description="Refinery site.", examples=["GLN 6411"])
    period_start: AwareDatetime = Field(description="Start of the period reported.", examples=["2026-03-01T00:00Z"])
    period_end: AwareDatetime = Field(description="End of the period reported.", examples=["2026-03-31T23:59Z"])
    inputs: list[RefinerFeed] = Field(min_length=1, max_length=10_000, description="Lots fed.")
    products: list[RefinedProduct] = Field(min_length=1, max_length=1_000, description="What was produced.")
    evidence: list[EvidenceDocument] = Field(default_factory=list, max_length=100, description="Backing documents.")


class RecoveryFlag(_Part):
    """Something accepted but worth knowing: a default used, a difference noticed, a value computed."""

    field: str = Field(description="Dotted path of the field concerned; empty for the whole report.")
    reason: str = Field(description="Stable snake_case code.", examples=["chemistry_default"])
    message: str = Field(description="What was noticed, in one sentence.")


class AllocationStep(_Part):
    """One apportionment: `allocated_kg` is this share of `pool_kg`, pro rata `weight_kg` / `total_weight_kg`,
    rounded by largest remainder at 0.001 kg so that the shares of a pool sum exactly to it."""

    level: AllocationLevel = Field(description="What is shared among what.", examples=["lot_to_input"])
    pool_kg: Decimal = Field(description="Amount shared out, kg.", examples=["12.956"])
    weight_kg: Decimal = Field(description="This share's weight, kg of the material.", examples=["4.613"])
    total_weight_kg: Decimal = Field(description="Sum of all weights of the pool, kg.", examples=["18.452"])
    allocated_kg: Decimal = Field(description="What this share received, kg.", examples=["3.239"])
    basis: ContentBasis = Field(description="Where the weight comes from.", examples=["passport_declared"])


class AttributionLine(_Part):
    material: RecoveredMaterial = Field(description="Material attributed.", examples=["cobalt"])
    amount_kg: Decimal = Field(description="Kg attributed by this line.", examples=["3.239"])
    stage: AttributionStage = Field(description="Recovered in a fraction, or refined.", examples=["treatment"])
    recycler_id: str = Field(description="Recycler of the batch.", examples=["recycler-hydrovolt"])
    batch_id: str = Field(description="Treatment batch.", examples=["TB-2026-0042"])
    lot_id: str = Field(description="Recycler lot the material is in (or came from).", examples=["BM-2026-0042-A"])
    refiner_id: str | None = Field(default=None, description="Refiner (refining stage).", examples=["refiner-nordic"])
    report_id: str | None = Field(default=None, description="Refiner report (refining stage).", examples=["RR-7"])
    product_lot_id: str | None = Field(default=None, description="Refined product lot.", examples=["CS-7781"])
    product: RefinedProductKind | None = Field(default=None, description="Refined product.")
    origin: WasteOrigin = Field(description="Pre- or post-consumer.", examples=["post_consumer"])
    steps: list[AllocationStep] = Field(description="The apportionments that give `amount_kg`, outermost first.")
    explanation: str = Field(description="The line in words.")


class RecoveryAttributed(Message):
    """Recovered material attributed to one passport (`bpass.recovery.recovery-attributed.v1`, key passport id).

    Published once per passport when its treatment batch is accepted (stage `treatment`: material in the
    recycled fractions) and once per refiner report that refines material of its batch (stage `refining`).
    """

    event_type = "eu.battery-passport.recovery.recovery-attributed.v1"

    passport_id: str = Field(description="Passport.", examples=["urn:uuid:01936f0e-7d3c-7a31-9c2e-5b4f0f2a9d11"])
    tenant: str = Field(description="Owning tenant.", examples=["acme-cells"])
    stage: AttributionStage = Field(description="Which step attributed it.", examples=["treatment"])
    recycler_id: str = Field(description="Recycler of the batch.", examples=["recycler-hydrovolt"])
    batch_id: str = Field(description="Treatment batch.", examples=["TB-2026-0042"])
    refiner_id: str | None = Field(default=None, description="Refiner (refining stage).")
    report_id: str | None = Field(default=None, description="Refiner report (refining stage).")
    lines: list[AttributionLine] = Field(description="Every line, each with its allocation steps.")
    totals_kg: dict[RecoveredMaterial, Decimal] = Field(
        description="Sum of `lines` per material, kg.", examples=[{"cobalt": "3.239"}]
    )
    attributed_at: datetime = Field(description="When the platform attributed it (UTC).")


class DeclaredContent(_Part):
    material: RecoveredMaterial = Field(description="Material.", examples=["nickel"])
    kg_per_kg: Decimal = Field(description="Content per kg of battery.", examples=["0.075"])
    declared_kg: Decimal = Field(description="Content of the input: kg_per_kg × input mass.", examples=["37.890"])
    basis: ContentBasis = Field(description="Passport data or chemistry default.", examples=["passport_declared"])


class RecoveryOutcome(_Part):
    material: RecoveredMaterial = Field(description="Material.", examples=["nickel"])
    declared_kg: Decimal = Field(description="Declared content of the battery as treated, kg.", examples=["37.890"])
    basis: ContentBasis = Field(description="Passport data or chemistry default.", examples=["passport_declared"])
    in_recycled_fractions_kg: Decimal = Field(
        description="Attributed to this passport in fractions sent to recycling, kg.", examples=["35.102"]
    )


class PassportCeased(Message):
    """The battery was recycled: its passport ceases (Art. 77(8)) — `bpass.recovery.passport-ceased.v1`.

    Keyed by passport id. For reporting: close the passport (stage `recycled`, read-only from now on, history
    kept), attach `recovery_outcome`, and tell the owner on its change stream. Refined material attributed
    later arrives as `RecoveryAttributed` facts with stage `refining`.
    """

    event_type = "eu.battery-passport.recovery.passport-ceased.v1"

    passport_id: str = Field(
        description="Passport that ceased.", examples=["urn:uuid:01936f0e-7d3c-7a31-9c2e-5b4f0f2a9d11"]
    )
    tenant: str = Field(description="Owning tenant.", examples=["acme-cells"])
    battery_identifier: str = Field(description="The OEM's identifier.", examples=["VX400-000123"])
    reason: str = Field(description="Why it ceased; `recycled`.", examples=["recycled"])
    legal_basis: str = Field(description="Provision.", examples=["Regulation (EU) 2023/1542 Art. 77(8)"])
    ceased_at: datetime = Field(description="When treatment completed (UTC).")
    recycler_id: str = Field(description="Recycler that treated it.", examples=["recycler-hydrovolt"])
    batch_id: str = Field(description="Treatment batch.", examples=["TB-2026-0042"])
    processes: list[TreatmentProcess] = Field(description="Process steps of the batch.", examples=[["mechanical"]])
    chemistry: RecoveryChemistry | None = Field(default=None, description="Chemistry recovery treated it as.")
    input_mass_kg: Decimal = Field(description="Mass weighed into the batch, kg.", examples=["505.2"])
    recovery_outcome: list[RecoveryOutcome] = Field(description="Per material: declared, and in recycled fractions.")
    flags: list[RecoveryFlag] = Field(default_factory=list, description="Defaults used and differences noticed.")
    evidence: list[EvidenceDocument] = Field(default_factory=list, description="The batch's evidence documents.")
    reported_by: str = Field(description="Principal that reported the batch.", examples=["urn:bpass:handler:r1"])


class RecycledContentSource(_Part):
    """Refined material an OEM claims: part of a refiner's product lot, of one origin."""

    refiner_id: Reference = Field(description="Refiner.", examples=["refiner-nordic"])
    product_lot_id: Reference = Field(description="Refiner's product lot.", examples=["CS-7781"])
    material: RecoveredMaterial = Field(description="cobalt, lithium, nickel or lead.", examples=["cobalt"])
    origin: WasteOrigin = Field(description="Pre- or post-consumer.", examples=["post_consumer"])
    mass_kg: PositiveMassKg = Field(description="Kg of the material claimed.", examples=["120.5"])


class RecycledContentClaim(_Part):
    """An OEM's recycled-content claim for a battery model, plant and year (Art. 8)."""

    battery_model: str = Field(min_length=1, max_length=200, description="Battery model.", examples=["VX-400 NMC811"])
    manufacturing_plant: str = Field(
        min_length=1, max_length=200, description="Plant (facility id).", examples=["GLN 4006381000023"]
    )
    year: int = Field(ge=2020, le=2100, description="Production year.", examples=[2031])
    content_totals_kg: dict[RecoveredMaterial, PositiveMassKg] = Field(
        min_length=1,
        description="Denominators: total cobalt, lithium and nickel in the active materials, and total lead "
        "in the batteries, of that model, plant and year, kg.",
        examples=[{"cobalt": "1200", "lithium": "900", "nickel": "9000"}],
    )
    sources: list[RecycledContentSource] = Field(min_length=1, max_length=1_000, description="What is claimed.")


class MinimumComparison(_Part):
    target_set: str = Field(description="Which minimum (Art. 8(2) or 8(3)).", examples=["2031"])
    applies_from: date = Field(description="When it applies.", examples=["2031-08-18"])
    minimum_pct: Decimal = Field(description="Minimum share, %.", examples=["16"])
    met: bool = Field(description="Whether the claimed share reaches it.")


class RecycledContentShare(_Part):
    material: RecoveredMaterial = Field(description="Material.", examples=["cobalt"])
    total_kg: Decimal = Field(description="Denominator given by the OEM, kg.", examples=["1200"])
    pre_consumer_kg: Decimal = Field(description="Claimed from manufacturing waste, kg.", examples=["0"])
    post_consumer_kg: Decimal = Field(description="Claimed from post-consumer waste, kg.", examples=["210"])
    share_pct: Decimal = Field(description="Recycled share, %.", examples=["17.50"])
    pre_consumer_share_pct: Decimal = Field(description="Pre-consumer share, %.", examples=["0.00"])
    post_consumer_share_pct: Decimal = Field(description="Post-consumer share, %.", examples=["17.50"])
    minimums: list[MinimumComparison] = Field(description="Comparison with the 2031 and 2036 minimums.")


class RecycledContentAssessed(Message):
    """A recycled-content claim was accepted and assessed (`bpass.recovery.recycled-content-assessed.v1`,
    keyed by claim id). Its sources are reserved: no other claim, of any tenant, can claim them again."""

    event_type = "eu.battery-passport.recovery.recycled-content-assessed.v1"

    claim_id: str = Field(description="`urn:uuid:` id of the claim.", examples=["urn:uuid:0193…"])
    tenant: str = Field(description="Claiming OEM tenant.", examples=["acme-cells"])
    battery_model: str = Field(description="Battery model.", examples=["VX-400 NMC811"])
    manufacturing_plant: str = Field(description="Plant.", examples=["GLN 4006381000023"])
    year: int = Field(description="Production year.", examples=[2031])
    shares: list[RecycledContentShare] = Field(description="Per material share and comparison with minimums.")
    sources: list[RecycledContentSource] = Field(description="Sources claimed.")
    assessed_at: datetime = Field(description="When (UTC).")
