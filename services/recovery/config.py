"""Recovery's own settings (environment, prefix `BPASS_RECOVERY_`), beside the platform's `Settings`."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from functools import cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.recovery.domain.mass_balance import DEFAULT_ASSAY_TOLERANCE_PCT
from services.recovery.domain.parking import DEFAULT_MAX_AGE


class RecoverySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BPASS_RECOVERY_", extra="ignore")

    parking_max_age_s: float = Field(
        default=DEFAULT_MAX_AGE.total_seconds(),
        gt=0,
        description="How long a treatment batch from the topic waits for the passports it names to be minted and "
        "for their first custody step; then it is refused with `reference_never_appeared`. Default 7 days.",
    )
    parking_sweep_interval_s: float = Field(
        default=300.0,
        gt=0,
        le=86_400,
        description="How often parked batches are checked for having waited too long.",
    )

    assay_tolerance_pct: Decimal = Field(
        default=DEFAULT_ASSAY_TOLERANCE_PCT,
        ge=0,
        le=25,
        allow_inf_nan=False,
        description="Assay uncertainty allowed above the declared content: per material, what a treatment batch's "
        "recycled lots hold and what refiners attribute to a batch may reach the inputs' declared content × "
        "(1 + this %), never more (`mass_balance_exceeded`). Default 5 %: black-mass assays (sampling a "
        "heterogeneous powder, then ICP-OES) are good to a few percent relative, and passport compositions are "
        "model-level figures.",
    )

    @property
    def parking_max_age(self) -> timedelta:
        return timedelta(seconds=self.parking_max_age_s)


@cache
def recovery_settings() -> RecoverySettings:
    """The process's recovery settings, read from the environment once."""
    return RecoverySettings()
