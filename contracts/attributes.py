"""The 93 attributes of the Battery Pass data attribute longlist v1.2, as data.

Source: batterypass/BatteryPassDataModel, `2025_Battery_Passport_Data_Attributes_V1.2.xlsx` (CC-BY-4.0, ©
Battery Pass consortium), converted by `scripts/gen_attributes.py` into the committed `attributes.json` next
to this module. For each attribute: whether it is mandatory, voluntary or not applicable per battery
category, who may read it (access tier), whether it is static or dynamic, and whether it belongs to the
battery model or to the individual battery.

Access tiers are nested: a reader of a tier reads every lower tier too (`can_read`). Where the longlist names
several groups ("persons with a legitimate interest and the Commission"), the attribute carries the most
restrictive tier that still admits every group named, here `legitimate_interest`.
"""

from __future__ import annotations

from enum import StrEnum
from importlib.resources import files

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator


class BatteryCategory(StrEnum):
    """Battery category (Regulation (EU) 2023/1542, Art. 3) of batteries that need a passport (Art. 77(1))."""

    ev = "ev"
    lmt = "lmt"
    industrial = "industrial"
    stationary = "stationary"


class AccessTier(StrEnum):
    """Who may read a field; ordered from least to most restricted (Art. 77(2), Annex XIII)."""

    public = "public"
    legitimate_interest = "legitimate_interest"
    authorities = "authorities"
    owner = "owner"


class Requirement(StrEnum):
    mandatory = "mandatory"
    voluntary = "voluntary"
    not_applicable = "not_applicable"


class DataBehaviour(StrEnum):
    static = "static"
    dynamic = "dynamic"


class Granularity(StrEnum):
    model = "model"
    individual_battery = "individual_battery"


_TIER_RANK = {tier: rank for rank, tier in enumerate(AccessTier)}


def can_read(reader: AccessTier, field_tier: AccessTier) -> bool:
    """Whether a reader entitled to `reader` may see a field of `field_tier` (tiers are nested)."""
    return _TIER_RANK[reader] >= _TIER_RANK[field_tier]


class Attribute(BaseModel):
    """One row of the longlist."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    number: int = Field(ge=1, description="Row number (`#`) in the longlist.", examples=[52])
    din_clause: str = Field(description="Clause of DIN DKE SPEC 99100 defining the attribute.", examples=["6.7.2.2"])
    key: str = Field(
        pattern=r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$",
        description="Stable snake_case name of the attribute on this platform; never renamed.",
        examples=["rated_capacity"],
    )
    name: str = Field(description="Attribute name as written in the longlist.", examples=["Rated capacity"])
    category: str = Field(description="Longlist attribute category.", examples=["Performance and durability"])
    sub_category: str | None = Field(
        description="Longlist attribute sub-category; None where the longlist has none.",
        examples=["Capacity, energy, and voltage"],
    )
    requirements: dict[BatteryCategory, Requirement] = Field(
        description="Mandatory (x), voluntary (o) or not applicable (blank) per battery category.",
        examples=[{"ev": "mandatory", "lmt": "mandatory", "industrial": "mandatory", "stationary": "mandatory"}],
    )
    access_tier: AccessTier = Field(
        description="Least-privileged tier that may read the attribute.", examples=["public"]
    )
    access_right: str = Field(
        description="Access right as worded in the longlist, from which `access_tier` is derived.",
        examples=["persons with a legitimate interest and the Commission"],
    )
    behaviour: DataBehaviour = Field(
        description="Static (set when the passport is issued) or dynamic (updated during the battery life).",
        examples=["static"],
    )
    granularity: Granularity = Field(
        description="Whether the value belongs to the battery model or to the individual battery.",
        examples=["model"],
    )
    unit: str | None = Field(description="Unit of the value; None when it has none.", examples=["Ah"])
    data_format: str | None = Field(description="Data format as worded in the longlist.", examples=["Decimal"])
    regulation_reference: str | None = Field(
        description="Articles and annexes of Regulation (EU) 2023/1542 behind the attribute.",
        examples=["Annex XIII (1g); Annex IV Part A (1) (definition)"],
    )
    update_requirement: str | None = Field(
        description="When the value must be updated; None when the longlist defines no update.",
        examples=["upon placement on market and status change"],
    )

    @field_validator("requirements")
    @classmethod
    def _every_category(cls, value: dict[BatteryCategory, Requirement]) -> dict[BatteryCategory, Requirement]:
        missing = set(BatteryCategory) - set(value)
        if missing:
            raise ValueError(f"requirement missing for {sorted(missing)}")
        return value

    def requirement(self, category: BatteryCategory) -> Requirement:
        return self.requirements[category]

    @property
    def is_static(self) -> bool:
        return self.behaviour is DataBehaviour.static


def _load() -> tuple[Attribute, ...]:
    text = files("contracts").joinpath("attributes.json").read_text(encoding="utf-8")
    return TypeAdapter(tuple[Attribute, ...]).validate_json(text)


ATTRIBUTES: tuple[Attribute, ...] = _load()
_BY_KEY: dict[str, Attribute] = {attribute.key: attribute for attribute in ATTRIBUTES}
if len(_BY_KEY) != len(ATTRIBUTES):
    raise RuntimeError("contracts/attributes.json holds a key twice")


def by_key(key: str) -> Attribute:
    """The attribute with this key; KeyError for an unknown key."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise KeyError(f"no longlist attribute with key {key!r}") from None


def tier_of(key: str) -> AccessTier:
    return by_key(key).access_tier


def mandatory_keys(category: BatteryCategory, *, static_only: bool) -> tuple[str, ...]:
    """Keys of the attributes mandatory for `category`, in longlist order; only static ones if asked."""
    return tuple(
        attribute.key
        for attribute in ATTRIBUTES
        if attribute.requirement(category) is Requirement.mandatory and (attribute.is_static or not static_only)
    )
