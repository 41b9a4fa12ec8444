"""Recovery's own settings (environment, prefix `BPASS_RECOVERY_`), beside the platform's `Settings`."""

from __future__ import annotations

from datetime import timedelta
from functools import cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

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

    @property
    def parking_max_age(self) -> timedelta:
        return timedelta(seconds=self.parking_max_age_s)


@cache
def recovery_settings() -> RecoverySettings:
    """The process's recovery settings, read from the environment once."""
    return RecoverySettings()
