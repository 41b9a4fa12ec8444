"""What an OEM supplies when it mints a passport: the subject (battery, pack or batch) and its static data.

`StaticPassportData` holds the model-level (static) attributes of the Battery Pass longlist v1.2 that the OEM
knows at mint time. Every field is optional here: which ones are mandatory depends on the battery category
and is decided by the identity service's rules (`services.identity.domain.static_data.validate_static_data`),
which read `contracts.attributes`. Every field names the longlist attribute it carries in its JSON Schema
(`longlist_key`), so access control can map each field to its tier (`field_tier`). A few fields refine an
attribute without being required by it (`longlist_detail: true`, e.g. power capability at 80 % SOC).

Quantities are `Decimal` with the unit in the field name, bounded to physically sane ranges; dates are
calendar dates; links are http(s) URLs; unknown fields are rejected.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

import orjson
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StringConstraints
from pydantic.config import JsonDict

from contracts.attributes import AccessTier, BatteryCategory, by_key

__all__ = [
    "FIELD_LONGLIST_KEYS",
    "GS1_CHARSET_82",
    "GS1_CHARSET_82_PATTERN",
    "AccessTier",
    "BatteryCategory",
    "BatteryChemistry",
    "BatteryKind",
    "BatteryStatus",
    "ComponentPart",
    "CompositionComponent",
    "DismantlingDocument",
    "DocumentType",
    "EconomicOperator",
    "HazardousSubstance",
    "ManufacturingPlace",
    "MaterialEntry",
    "PassportSubject",
    "PostalAddress",
    "SparePartSource",
    "StaticPassportData",
    "field_tier",
    "fields_of_key",
    "is_detail_field",
    "longlist_key_of",
]

# GS1 AI encodable character set 82 (GS1 General Specifications, figure 7.11-1); AI 21 (serial) and AI 10
# (batch/lot) values are drawn from it. ISO/IEC 15459 identifiers encoded as GS1 keys must keep to it.
GS1_CHARSET_82 = frozenset("!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")
GS1_CHARSET_82_PATTERN = r"^[!\"%&'()*+,./0-9:;<=>?A-Z_a-z-]+$"

Gs1Identifier = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=GS1_CHARSET_82_PATTERN)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
CasNumber = Annotated[str, StringConstraints(pattern=r"^[0-9]{2,7}-[0-9]{2}-[0-9]$")]
EmailAddress = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")]


def _longlist(key: str, *, detail: bool = False) -> JsonDict:
    """JSON Schema extension naming the longlist attribute a field carries (see `contracts.attributes`)."""
    by_key(key)  # fail at import on a key that is not in the longlist
    extra: JsonDict = {"longlist_key": key}
    if detail:
        extra["longlist_detail"] = True
    return extra


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BatteryKind(StrEnum):
    """What the passport is issued for: one battery, a pack of modules/cells, or a production batch."""

    battery = "battery"
    pack = "pack"
    batch = "batch"


class BatteryStatus(StrEnum):
    """Battery status per Annex XIII 4(c) (longlist #11)."""

    original = "original"
    repurposed = "repurposed"
    re_used = "re-used"
    remanufactured = "remanufactured"
    waste = "waste"


class CompositionComponent(StrEnum):
    """Part of the battery a material or substance is located in."""

    cathode = "cathode"
    anode = "anode"
    electrolyte = "electrolyte"
    separator = "separator"
    casing = "casing"
    other = "other"


class DocumentType(StrEnum):
    """Kind of dismantling and removal document (Battery Pass `Documenttype`)."""

    bill_of_material = "bill_of_material"
    model_3d = "model_3d"
    dismantling_manual = "dismantling_manual"
    removal_manual = "removal_manual"
    other_manual = "other_manual"
    drawing = "drawing"


class PostalAddress(_Contract):
    street_address: ShortText = Field(description="Street and number.", examples=["Industriestraße 12"])
    postal_code: str = Field(min_length=1, max_length=20, description="Postal code.", examples=["38440"])
    locality: ShortText = Field(description="City or town.", examples=["Wolfsburg"])
    country_code: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 country code.", examples=["DE"])


class EconomicOperator(_Contract):
    """Manufacturer or operator identification (Annex VI Part A(1)): name, trade name, address, contacts."""

    identifier: ShortText | None = Field(
        None,
        description="Unique operator identifier (e.g. GLN, LEI, EORI), written with its scheme.",
        examples=["GLN 4006381000016"],
    )
    name: ShortText = Field(description="Legal name.", examples=["Voltaris Batteries GmbH"])
    registered_trade_name: ShortText | None = Field(
        None, description="Registered trade name or trademark.", examples=["Voltaris"]
    )
    postal_address: PostalAddress = Field(
        description="Postal address of the single contact point.",
        examples=[
            {
                "street_address": "Industriestraße 12",
                "postal_code": "38440",
                "locality": "Wolfsburg",
                "country_code": "DE",
            }
        ],
    )
    email: EmailAddress | None = Field(
        None, description="Contact e-mail address.", examples=["passport@voltaris.example"]
    )
    web_address: HttpUrl | None = Field(None, description="Web address.", examples=["https://voltaris.example"])


class ManufacturingPlace(_Contract):
    """Geographical location of the manufacturing plant (Annex VI Part A(3))."""

    facility_identifier: ShortText | None = Field(
        None,
        description="Unique facility identifier, e.g. a GLN of the plant.",
        examples=["GLN 4006381000023"],
    )
    postal_address: PostalAddress = Field(
        description="Address of the plant.",
        examples=[
            {
                "street_address": "Werkstraße 1",
                "postal_code": "38440",
                "locality": "Wolfsburg",
                "country_code": "DE",
            }
        ],
    )


class BatteryChemistry(_Contract):
    short_name: str = Field(
        min_length=1, max_length=50, description="Common abbreviation of the chemistry.", examples=["NMC811"]
    )
    clear_name: ShortText = Field(
        description="Full name naming cathode, anode and electrolyte.",
        examples=["Lithium nickel manganese cobalt oxide (8:1:1) / graphite, LiPF6 electrolyte"],
    )


class MaterialEntry(_Contract):
    """One material of the detailed composition (above 1 % w/w); give its mass, its share, or both."""

    name: ShortText = Field(description="Material name (IUPAC or common name).", examples=["Nickel"])
    component: CompositionComponent = Field(description="Where the material is.", examples=["cathode"])
    cas_number: CasNumber | None = Field(
        None, description="CAS Registry Number, with valid check digit.", examples=["7440-02-0"]
    )
    mass_kg: Decimal | None = Field(
        None, ge=0, le=100_000, allow_inf_nan=False, description="Mass in the battery, kg.", examples=["38.2"]
    )
    share_pct: Decimal | None = Field(
        None, ge=0, le=100, allow_inf_nan=False, description="Share of the battery mass, %.", examples=["8.5"]
    )
    critical_raw_material: bool = Field(
        False, description="Whether it is a critical raw material (Annex VI Part A(10)).", examples=[True]
    )


class HazardousSubstance(_Contract):
    """Hazardous substance other than mercury, cadmium or lead (Annex VI Part A(9), CLP Regulation)."""

    name: ShortText = Field(description="Substance name.", examples=["Lithium hexafluorophosphate"])
    cas_number: CasNumber | None = Field(None, description="CAS Registry Number.", examples=["21324-40-3"])
    hazard_classes: list[ShortText] = Field(
        min_length=1,
        max_length=20,
        description="CLP hazard classes and categories.",
        examples=[["Acute Tox. 3", "Skin Corr. 1A"]],
    )
    concentration_pct: Decimal | None = Field(
        None, ge=0, le=100, allow_inf_nan=False, description="Concentration, % w/w.", examples=["1.2"]
    )
    location: CompositionComponent | None = Field(None, description="Where it is.", examples=["electrolyte"])


class DismantlingDocument(_Contract):
    document_type: DocumentType = Field(description="Kind of document.", examples=["dismantling_manual"])
    mime_type: str = Field(
        pattern=r"^[a-z]+/[A-Za-z0-9.+-]+$", description="MIME type (RFC 2046).", examples=["application/pdf"]
    )
    url: HttpUrl = Field(description="Where it is.", examples=["https://voltaris.example/docs/vx400-dismantling.pdf"])


class ComponentPart(_Contract):
    part_name: ShortText = Field(description="Component name.", examples=["Battery management unit"])
    part_number: str = Field(min_length=1, max_length=64, description="Part number.", examples=["VX-BMU-0042"])


class SparePartSource(_Contract):
    """Source of spare parts (Annex XIII 2(b)): contact details and the part numbers it supplies."""

    name: ShortText = Field(description="Supplier name.", examples=["Voltaris Service GmbH"])
    postal_address: PostalAddress = Field(
        description="Postal address.",
        examples=[
            {
                "street_address": "Servicestraße 3",
                "postal_code": "38440",
                "locality": "Wolfsburg",
                "country_code": "DE",
            }
        ],
    )
    email: EmailAddress | None = Field(None, description="E-mail address.", examples=["parts@voltaris.example"])
    web_address: HttpUrl | None = Field(None, description="Web address.", examples=["https://parts.voltaris.example"])
    part_numbers: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        default_factory=list,
        max_length=10_000,
        description="Part numbers it supplies.",
        examples=[["VX-BMU-0042"]],
    )


class StaticPassportData(_Contract):
    """Model-level (static) passport data supplied by the OEM at mint, per Battery Pass longlist v1.2.

    None means not given; whether a field must be given depends on the battery category (see module docs).
    """

    # --- Identifiers and product data ---------------------------------------------------------------------
    operator: EconomicOperator | None = Field(
        None,
        description="Economic operator placing the battery on the market, when not the manufacturer.",
        examples=[None],
        json_schema_extra=_longlist("operator_identifier"),
    )
    manufacturer: EconomicOperator | None = Field(
        None,
        description="Manufacturer identification: name, trade name, postal address, web and e-mail.",
        examples=[
            {
                "name": "Voltaris Batteries GmbH",
                "postal_address": {
                    "street_address": "Industriestraße 12",
                    "postal_code": "38440",
                    "locality": "Wolfsburg",
                    "country_code": "DE",
                },
            }
        ],
        json_schema_extra=_longlist("manufacturer_identifier"),
    )
    manufacturing_place: ManufacturingPlace | None = Field(
        None,
        description="Manufacturing plant.",
        examples=[
            {
                "postal_address": {
                    "street_address": "Werkstraße 1",
                    "postal_code": "38440",
                    "locality": "Wolfsburg",
                    "country_code": "DE",
                }
            }
        ],
        json_schema_extra=_longlist("manufacturing_place"),
    )
    manufacturing_date: date | None = Field(
        None,
        description="Date of manufacture (the regulation requires month and year; give the day too).",
        examples=["2026-03-14"],
        json_schema_extra=_longlist("manufacturing_date"),
    )
    warranty_period_months: int | None = Field(
        None,
        ge=0,
        le=1200,
        description="Period of the commercial warranty, in months.",
        examples=[96],
        json_schema_extra=_longlist("warranty_period"),
    )
    battery_category: BatteryCategory | None = Field(
        None,
        description="Battery category; must equal the category the passport is minted for.",
        examples=["ev"],
        json_schema_extra=_longlist("battery_category"),
    )
    battery_model: ShortText | None = Field(
        None,
        description="Battery model designation, as in the carbon footprint declaration and the label.",
        examples=["VX-400 NMC811 82 kWh"],
        json_schema_extra=_longlist("general_battery_and_manufacturer_information"),
    )
    weight_kg: Decimal | None = Field(
        None,
        gt=0,
        le=100_000,
        allow_inf_nan=False,
        description="Battery weight (mass), kg.",
        examples=["512.5"],
        json_schema_extra=_longlist("battery_mass"),
    )
    battery_status: BatteryStatus | None = Field(
        None,
        description="Status at mint; None means `original`. The platform changes it afterwards.",
        examples=["original"],
        json_schema_extra=_longlist("battery_status"),
    )

    # --- Symbols, labels and documentation of conformity --------------------------------------------------
    separate_collection_symbol_url: HttpUrl | None = Field(
        None,
        description="Graphic of the separate collection symbol (crossed-out wheeled bin) as on the label.",
        examples=["https://voltaris.example/labels/separate-collection.svg"],
        json_schema_extra=_longlist("separate_collection_symbol"),
    )
    cadmium_and_lead_symbol_urls: list[HttpUrl] | None = Field(
        None,
        max_length=2,
        description="Graphics of the Cd / Pb symbols on the label; an empty list states that none applies "
        "(cadmium ≤ 0.002 % and lead ≤ 0.004 %).",
        examples=[[]],
        json_schema_extra=_longlist("cadmium_and_lead_symbols"),
    )
    carbon_footprint_label_url: HttpUrl | None = Field(
        None,
        description="Graphic of the carbon footprint label.",
        examples=["https://voltaris.example/labels/vx400-carbon-footprint.svg"],
        json_schema_extra=_longlist("carbon_footprint_label"),
    )
    extinguishing_agents: list[ShortText] | None = Field(
        None,
        min_length=1,
        max_length=10,
        description="Usable extinguishing agents (with class per EN 2 where applicable).",
        examples=[["Water (class A)", "CO2"]],
        json_schema_extra=_longlist("extinguishing_agent"),
    )
    labels_meaning_url: HttpUrl | None = Field(
        None,
        description="Document explaining the meaning of the labels and symbols on the battery and packaging.",
        examples=["https://voltaris.example/docs/vx400-labels.pdf"],
        json_schema_extra=_longlist("meaning_of_labels_and_symbols"),
    )
    declaration_of_conformity_url: HttpUrl | None = Field(
        None,
        description="EU declaration of conformity (PDF).",
        examples=["https://voltaris.example/docs/vx400-doc.pdf"],
        json_schema_extra=_longlist("eu_declaration_of_conformity"),
    )
    declaration_of_conformity_id: ShortText | None = Field(
        None,
        description="Identification number of the EU declaration of conformity.",
        examples=["DoC-VX400-2026-01"],
        json_schema_extra=_longlist("eu_declaration_of_conformity", detail=True),
    )
    test_reports_url: HttpUrl | None = Field(
        None,
        description="Results of test reports proving compliance (readable by authorities only).",
        examples=["https://voltaris.example/restricted/vx400-test-reports.pdf"],
        json_schema_extra=_longlist("test_report_results"),
    )

    # --- Battery carbon footprint -------------------------------------------------------------------------
    carbon_footprint_kg_co2e_per_kwh: Decimal | None = Field(
        None,
        ge=0,
        le=10_000,
        allow_inf_nan=False,
        description="Carbon footprint per functional unit (kWh over the service life), kg CO2e/kWh.",
        examples=["61.3"],
        json_schema_extra=_longlist("carbon_footprint_per_functional_unit"),
    )
    carbon_footprint_raw_material_share_pct: Decimal | None = Field(
        None,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="Share of raw material acquisition and pre-processing in the carbon footprint, %.",
        examples=["62.0"],
        json_schema_extra=_longlist("carbon_footprint_raw_material_contribution"),
    )
    carbon_footprint_production_share_pct: Decimal | None = Field(
        None,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="Share of main product production in the carbon footprint, %.",
        examples=["30.5"],
        json_schema_extra=_longlist("carbon_footprint_production_contribution"),
    )
    carbon_footprint_distribution_share_pct: Decimal | None = Field(
        None,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="Share of distribution in the carbon footprint, %.",
        examples=["2.5"],
        json_schema_extra=_longlist("carbon_footprint_distribution_contribution"),
    )
    carbon_footprint_end_of_life_share_pct: Decimal | None = Field(
        None,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="Share of end of life and recycling in the carbon footprint, %.",
        examples=["5.0"],
        json_schema_extra=_longlist("carbon_footprint_end_of_life_contribution"),
    )
    carbon_footprint_performance_class: str | None = Field(
        None,
        min_length=1,
        max_length=16,
        description="Carbon footprint performance class (Art. 7(2)), as defined by the delegated act.",
        examples=["B"],
        json_schema_extra=_longlist("carbon_footprint_performance_class"),
    )
    carbon_footprint_study_url: HttpUrl | None = Field(
        None,
        description="Web link to the public carbon footprint study.",
        examples=["https://voltaris.example/docs/vx400-cfb-study.pdf"],
        json_schema_extra=_longlist("carbon_footprint_study"),
    )
    absolute_carbon_footprint_t_co2e: Decimal | None = Field(
        None,
        ge=0,
        le=1_000_000,
        allow_inf_nan=False,
        description="Absolute carbon footprint of one battery, t CO2e.",
        examples=["8.4"],
        json_schema_extra=_longlist("absolute_carbon_footprint"),
    )

    # --- Supply chain due diligence -----------------------------------------------------------------------
    due_diligence_report_url: HttpUrl | None = Field(
        None,
        description="Current annual supply chain due diligence report (Art. 52(3)).",
        examples=["https://voltaris.example/docs/due-diligence-2026.pdf"],
        json_schema_extra=_longlist("due_diligence_report"),
    )
    third_party_assurances_url: HttpUrl | None = Field(
        None,
        description="Third-party assurances of recognised supply chain due diligence schemes.",
        examples=["https://voltaris.example/docs/assurances.pdf"],
        json_schema_extra=_longlist("third_party_assurances"),
    )
    supply_chain_index: Decimal | None = Field(
        None,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="Supply chain due diligence index, 0..100 (the GBA indices are in development).",
        examples=["72"],
        json_schema_extra=_longlist("supply_chain_indices"),
    )

    # --- Battery materials and composition ----------------------------------------------------------------
    battery_chemistry: BatteryChemistry | None = Field(
        None,
        description="Battery chemistry.",
        examples=[{"short_name": "LFP", "clear_name": "Lithium iron phosphate / graphite"}],
        json_schema_extra=_longlist("battery_chemistry"),
    )
    critical_raw_materials: list[ShortText] | None = Field(
        None,
        max_length=50,
        description="Critical raw materials present above 0.1 % w/w; an empty list states there are none.",
        examples=[["Cobalt", "Lithium", "Natural graphite", "Nickel"]],
        json_schema_extra=_longlist("critical_raw_materials"),
    )
    material_composition: list[MaterialEntry] | None = Field(
        None,
        min_length=1,
        max_length=1000,
        description="Detailed composition: materials of cathode, anode, electrolyte, others above 1 % w/w.",
        examples=[[{"name": "Nickel", "component": "cathode", "cas_number": "7440-02-0", "mass_kg": "38.2"}]],
        json_schema_extra=_longlist("cathode_anode_electrolyte_materials"),
    )
    hazardous_substances: list[HazardousSubstance] | None = Field(
        None,
        max_length=500,
        description="Hazardous substances other than Hg, Cd, Pb; an empty list states that there are none.",
        examples=[[{"name": "Lithium hexafluorophosphate", "hazard_classes": ["Acute Tox. 3"]}]],
        json_schema_extra=_longlist("hazardous_substances"),
    )
    hazardous_substance_impacts: list[LongText] | None = Field(
        None,
        max_length=200,
        description="Impact of the substances on environment, human health and safety (H and P statements).",
        examples=[["H301: Toxic if swallowed", "P280: Wear protective gloves"]],
        json_schema_extra=_longlist("hazardous_substances_impact"),
    )

    # --- Circularity and resource efficiency --------------------------------------------------------------
    dismantling_documents: list[DismantlingDocument] | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="Manuals for removal and disassembly of the battery pack, drawings, bill of material.",
        examples=[
            [
                {
                    "document_type": "dismantling_manual",
                    "mime_type": "application/pdf",
                    "url": "https://voltaris.example/docs/vx400-dismantling.pdf",
                }
            ]
        ],
        json_schema_extra=_longlist("dismantling_information"),
    )
    component_part_numbers: list[ComponentPart] | None = Field(
        None,
        min_length=1,
        max_length=10_000,
        description="Part numbers of the battery's components.",
        examples=[[{"part_name": "Battery management unit", "part_number": "VX-BMU-0042"}]],
        json_schema_extra=_longlist("component_part_numbers"),
    )
    spare_part_sources: list[SparePartSource] | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="Sources of spare parts with their contact details.",
        examples=[
            [
                {
                    "name": "Voltaris Service GmbH",
                    "postal_address": {
                        "street_address": "Servicestraße 3",
                        "postal_code": "38440",
                        "locality": "Wolfsburg",
                        "country_code": "DE",
                    },
                }
            ]
        ],
        json_schema_extra=_longlist("spare_part_sources"),
    )
    safety_instructions_url: HttpUrl | None = Field(
        None,
        description="Safety measures (instruction manual, PDF).",
        examples=["https://voltaris.example/docs/vx400-safety.pdf"],
        json_schema_extra=_longlist("safety_measures"),
    )
    pre_consumer_recycled_nickel_share_pct: Decimal | None = Field(
        None,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="Share of nickel in active materials recovered from manufacturing waste, %.",
        examples=["4.0"],
        json_schema_extra=_longlist("pre_consumer_recycled_nickel_share"),
    )
    pre_consumer_recycled_cobalt_share_pct: Decimal | None = Field(
        None,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="Share of cobalt in active materials recovered from manufacturing waste, %.",
        examples=["6.0"],
        json_schema_extra=_longlist("pre_consumer_recycled_cobalt_share"),
    )
    pre_consumer_recycled_lithium_share_pct: Decimal | None = Field(
        None,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="Share of lithium in active materials recovered from manufacturing waste, %.",
        examples=["2.0"],
        json_schema_extra=_longlist("pre_consumer_recycled_lithium_share"),
    )
    pre_consumer_recycled_lead_share_pct: Decimal | None = Field(
        None,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="Share of lead recovered from manufacturing waste, %.",
        examples=["0"],
        json_schema_extra=_longlist("pre_consumer_recycled_lead_share"),
    )
    post_consumer_recycled_nickel_share_pct: Decimal | None = Field(
        None,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="Share of nickel in active materials recovered from post-consumer waste, %.",
        examples=["3.0"],
        json_schema_extra=_longlist("post_consumer_recycled_nickel_share"),
    )
    post_consumer_recycled_cobalt_share_pct: Decimal | None = Field(
        None,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="Share of cobalt in active materials recovered from post-consumer waste, %.",
        examples=["10.0"],
        json_schema_extra=_longlist("post_consumer_recycled_cobalt_share"),
    )
    post_consumer_recycled_lithium_share_pct: Decimal | None = Field(
        None,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="Share of lithium in active materials recovered from post-consumer waste, %.",
        examples=["4.0"],
        json_schema_extra=_longlist("post_consumer_recycled_lithium_share"),
    )
    post_consumer_recycled_lead_share_pct: Decimal | None = Field(
        None,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="Share of lead recovered from post-consumer waste, %.",
        examples=["0"],
        json_schema_extra=_longlist("post_consumer_recycled_lead_share"),
    )
    renewable_content_share_pct: Decimal | None = Field(
        None,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="Share of renewable content, %.",
        examples=["0"],
        json_schema_extra=_longlist("renewable_content_share"),
    )
    waste_prevention_info_url: HttpUrl | None = Field(
        None,
        description="Role of end-users in waste prevention: good practice for a long use phase, re-use etc.",
        examples=["https://voltaris.example/docs/waste-prevention.pdf"],
        json_schema_extra=_longlist("end_user_waste_prevention_information"),
    )
    separate_collection_info_url: HttpUrl | None = Field(
        None,
        description="Role of end-users in the separate collection of waste batteries.",
        examples=["https://voltaris.example/docs/separate-collection.pdf"],
        json_schema_extra=_longlist("end_user_separate_collection_information"),
    )
    end_of_life_info_url: HttpUrl | None = Field(
        None,
        description="Collection, take-back, preparing for re-use and repurposing, treatment at end of life.",
        examples=["https://voltaris.example/docs/end-of-life.pdf"],
        json_schema_extra=_longlist("end_of_life_information"),
    )

    # --- Performance and durability -----------------------------------------------------------------------
    rated_capacity_ah: Decimal | None = Field(
        None,
        gt=0,
        le=1_000_000,
        allow_inf_nan=False,
        description="Rated capacity, Ah.",
        examples=["228"],
        json_schema_extra=_longlist("rated_capacity"),
    )
    certified_usable_energy_kwh: Decimal | None = Field(
        None,
        ge=0,
        le=100_000,
        allow_inf_nan=False,
        description="Certified usable battery energy (EV only), kWh.",
        examples=["77.0"],
        json_schema_extra=_longlist("certified_usable_energy"),
    )
    minimum_voltage_v: Decimal | None = Field(
        None,
        ge=0,
        le=2000,
        allow_inf_nan=False,
        description="Minimum voltage, V.",
        examples=["270"],
        json_schema_extra=_longlist("minimum_voltage"),
    )
    nominal_voltage_v: Decimal | None = Field(
        None,
        gt=0,
        le=2000,
        allow_inf_nan=False,
        description="Nominal voltage, V.",
        examples=["360"],
        json_schema_extra=_longlist("nominal_voltage"),
    )
    maximum_voltage_v: Decimal | None = Field(
        None,
        gt=0,
        le=2000,
        allow_inf_nan=False,
        description="Maximum voltage, V.",
        examples=["403"],
        json_schema_extra=_longlist("maximum_voltage"),
    )
    original_power_capability_w: Decimal | None = Field(
        None,
        ge=0,
        le=1_000_000_000,
        allow_inf_nan=False,
        description="Original power capability, W.",
        examples=["250000"],
        json_schema_extra=_longlist("original_power_capability"),
    )
    power_capability_at_80_pct_soc_w: Decimal | None = Field(
        None,
        ge=0,
        le=1_000_000_000,
        allow_inf_nan=False,
        description="Original power capability measured at 80 % state of charge, W.",
        examples=["250000"],
        json_schema_extra=_longlist("original_power_capability", detail=True),
    )
    power_capability_at_20_pct_soc_w: Decimal | None = Field(
        None,
        ge=0,
        le=1_000_000_000,
        allow_inf_nan=False,
        description="Original power capability measured at 20 % state of charge, W.",
        examples=["180000"],
        json_schema_extra=_longlist("original_power_capability", detail=True),
    )
    maximum_permitted_power_w: Decimal | None = Field(
        None,
        ge=0,
        le=1_000_000_000,
        allow_inf_nan=False,
        description="Maximum permitted battery power, W.",
        examples=["270000"],
        json_schema_extra=_longlist("maximum_permitted_power"),
    )
    power_to_energy_ratio_w_per_wh: Decimal | None = Field(
        None,
        ge=0,
        le=1000,
        allow_inf_nan=False,
        description="Ratio between nominal battery power and battery energy, W/Wh.",
        examples=["3.1"],
        json_schema_extra=_longlist("power_to_energy_ratio"),
    )
    initial_round_trip_efficiency_pct: Decimal | None = Field(
        None,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="Initial round trip energy efficiency, %.",
        examples=["95.0"],
        json_schema_extra=_longlist("initial_round_trip_efficiency"),
    )
    round_trip_efficiency_at_50_pct_cycle_life_pct: Decimal | None = Field(
        None,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="Round trip energy efficiency at 50 % of cycle life, %.",
        examples=["92.0"],
        json_schema_extra=_longlist("round_trip_efficiency_at_50_percent_cycle_life"),
    )
    initial_self_discharge_rate_pct_per_month: Decimal | None = Field(
        None,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="Initial self-discharge rate (LMT and stationary only), % per month.",
        examples=["2.0"],
        json_schema_extra=_longlist("initial_self_discharge_rate"),
    )
    initial_internal_resistance_pack_ohm: Decimal | None = Field(
        None,
        ge=0,
        le=10_000,
        allow_inf_nan=False,
        description="Initial internal resistance of the pack, Ω.",
        examples=["0.085"],
        json_schema_extra=_longlist("initial_internal_resistance"),
    )
    initial_internal_resistance_cell_ohm: Decimal | None = Field(
        None,
        ge=0,
        le=10_000,
        allow_inf_nan=False,
        description="Initial internal resistance of a cell, Ω.",
        examples=["0.00075"],
        json_schema_extra=_longlist("initial_internal_resistance"),
    )
    initial_internal_resistance_module_ohm: Decimal | None = Field(
        None,
        ge=0,
        le=10_000,
        allow_inf_nan=False,
        description="Initial internal resistance of a module (recommended), Ω.",
        examples=["0.0072"],
        json_schema_extra=_longlist("initial_internal_resistance", detail=True),
    )
    expected_lifetime_years: Decimal | None = Field(
        None,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="Expected lifetime in calendar years under the reference conditions.",
        examples=["12"],
        json_schema_extra=_longlist("expected_lifetime_years"),
    )
    expected_lifetime_cycles: int | None = Field(
        None,
        ge=0,
        le=1_000_000,
        description="Expected lifetime in full charge-discharge cycles under the reference test.",
        examples=[2000],
        json_schema_extra=_longlist("expected_lifetime_cycles"),
    )
    cycle_life_reference_test: ShortText | None = Field(
        None,
        description="Reference test used for the expected lifetime in cycles.",
        examples=["IEC 62660-1:2018 cycle life test"],
        json_schema_extra=_longlist("cycle_life_reference_test"),
    )
    cycle_life_test_c_rate: Decimal | None = Field(
        None,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="C-rate of the cycle-life reference test, A/Ah.",
        examples=["0.33"],
        json_schema_extra=_longlist("cycle_life_test_c_rate"),
    )
    capacity_threshold_for_exhaustion_pct: Decimal | None = Field(
        None,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="State of certified energy above which the battery counts as operational (EV only), %.",
        examples=["70"],
        json_schema_extra=_longlist("capacity_threshold_for_exhaustion"),
    )
    idle_temperature_lower_c: Decimal | None = Field(
        None,
        ge=-100,
        le=200,
        allow_inf_nan=False,
        description="Lower boundary of the temperature range the battery withstands when idle, °C.",
        examples=["-20"],
        json_schema_extra=_longlist("idle_temperature_lower_boundary"),
    )
    idle_temperature_upper_c: Decimal | None = Field(
        None,
        ge=-100,
        le=200,
        allow_inf_nan=False,
        description="Upper boundary of the temperature range the battery withstands when idle, °C.",
        examples=["60"],
        json_schema_extra=_longlist("idle_temperature_upper_boundary"),
    )


class PassportSubject(_Contract):
    """The physical thing a passport is minted for, identified within the OEM's namespace."""

    kind: BatteryKind = Field(description="Battery, pack or batch.", examples=["battery"])
    battery_identifier: Gs1Identifier = Field(
        description="The OEM's serial within its namespace (ISO/IEC 15459), 1–64 characters of the GS1 "
        "82-character set; at most 20 when a GTIN is given, since it becomes GS1 AI 21.",
        examples=["VX400-000123"],
    )
    gtin: str | None = Field(
        None,
        pattern=r"^[0-9]+$",
        max_length=32,
        description="GTIN-8, -12, -13 or -14 of the battery model, digits only, with valid check digit.",
        examples=["09506000134352"],
    )
    batch_number: str | None = Field(
        None,
        min_length=1,
        max_length=20,
        pattern=GS1_CHARSET_82_PATTERN,
        description="Production batch / lot (GS1 AI 10).",
        examples=["L2026-03"],
    )
    member_identifiers: list[Gs1Identifier] = Field(
        default_factory=list,
        max_length=10_000,
        description="For a pack: identifiers of the modules/cells it contains; for a batch: of its "
        "batteries. Empty for a single battery.",
        examples=[["VX400-M-0001", "VX400-M-0002"]],
    )


def _field_extras() -> dict[str, JsonDict]:
    extras: dict[str, JsonDict] = {}
    for name, info in StaticPassportData.model_fields.items():
        if not isinstance(info.json_schema_extra, dict) or "longlist_key" not in info.json_schema_extra:
            raise RuntimeError(f"StaticPassportData.{name} names no longlist_key")
        extras[name] = info.json_schema_extra
    return extras


_FIELD_EXTRAS = _field_extras()

FIELD_LONGLIST_KEYS: Mapping[str, str] = {name: str(extra["longlist_key"]) for name, extra in _FIELD_EXTRAS.items()}
"""StaticPassportData field name -> longlist key of the attribute it carries."""


def longlist_key_of(field_name: str) -> str:
    """The longlist key a StaticPassportData field carries; KeyError for an unknown field."""
    return FIELD_LONGLIST_KEYS[field_name]


def is_detail_field(field_name: str) -> bool:
    """Whether the field only refines its attribute (never required for it to count as given)."""
    return bool(_FIELD_EXTRAS[field_name].get("longlist_detail", False))


def fields_of_key(key: str, *, include_details: bool = False) -> tuple[str, ...]:
    """StaticPassportData fields that carry the attribute `key`, in declaration order."""
    return tuple(
        name
        for name, field_key in FIELD_LONGLIST_KEYS.items()
        if field_key == key and (include_details or not is_detail_field(name))
    )


def field_tier(field_name: str) -> AccessTier:
    """Access tier of a StaticPassportData field: the tier of the longlist attribute it carries."""
    return by_key(longlist_key_of(field_name)).access_tier


STATIC_DATA_DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"


def static_data_document_digest(document: Mapping[str, object]) -> str:
    """Content digest of a static data document in its JSON form (as `model_dump(mode="json",
    exclude_none=True)` gives it): `sha256:` + hex SHA-256 of its compact JSON with sorted keys."""
    return "sha256:" + hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()


def static_data_digest(data: StaticPassportData) -> str:
    """The digest a `PassportMinted` fact names its static data document by."""
    return static_data_document_digest(data.model_dump(mode="json", exclude_none=True))
