"""Process settings, read from the environment with the `BPASS_` prefix."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]

SERVICE_PORTS = {"identity": 8101, "custody": 8102, "recovery": 8103, "reporting": 8104}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BPASS_", extra="ignore")

    kafka_bootstrap: str = Field(default="127.0.0.1:39092", description="Kafka bootstrap servers.")
    database_url: str = Field(default="postgresql://bpass:bpass@127.0.0.1:35432/bpass")
    redis_url: str = Field(default="redis://127.0.0.1:36379/0")
    topic_namespace: str = Field(
        default="",
        description="Prefix of every physical topic and consumer group (isolates test runs sharing a broker).",
    )
    http_host: str = "127.0.0.1"
    identity_port: int = SERVICE_PORTS["identity"]
    custody_port: int = SERVICE_PORTS["custody"]
    recovery_port: int = SERVICE_PORTS["recovery"]
    reporting_port: int = SERVICE_PORTS["reporting"]
    public_base_url: str = Field(
        default="http://127.0.0.1:8080", description="Resolver base of passport URIs and the QR codes."
    )
    api_keys_file: Path = Field(
        default=REPO_ROOT / "var" / "local" / "api-keys.json",
        description="JSON keyring: sha256 of each API key -> tenant, role, key id.",
    )
    consumer_max_records: int = Field(default=500, ge=1, le=10_000)
    consumer_max_tries: int = Field(default=3, ge=1, le=20, description="Tries before a dead letter.")
    relay_batch_size: int = Field(default=1000, ge=1, le=10_000)
    relay_poll_interval_s: float = Field(default=0.25, gt=0, le=10)
    otel_endpoint: str | None = Field(default=None, description="OTLP/HTTP endpoint; spans dropped when unset.")
    fault_inject: str | None = Field(
        default=None,
        description="Test-only crash point: `crash_after_db_commit` or `crash_after_publish`.",
    )

    def port_of(self, service: str) -> int:
        port: int = getattr(self, f"{service}_port")
        return port

    def topic(self, name: str) -> str:
        return f"{self.topic_namespace}{name}"

    def group_id(self, service: str) -> str:
        return f"{self.topic_namespace}bpass-{service}"
