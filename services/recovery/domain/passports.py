"""Passports as a treatment batch's inputs meet them: what recovery stored of a minted passport, and what an
input's reference resolved to (shared by the batch's rules and its assessment)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class KnownPassport:
    """A passport as recovery stored it from its minted fact."""

    passport_id: str
    tenant: str
    battery_identifier: str
    kind: str | None
    static_data: Mapping[str, Any]
    ceased_by: str | None = None  # "<recycler>/<batch>" once recycled


@dataclass(frozen=True)
class InputReference:
    """What the store found for an input's reference: a passport, a problem, or nothing asked (unidentified)."""

    passport: KnownPassport | None = None
    problem: str | None = None  # unknown_passport | ambiguous_identifier
