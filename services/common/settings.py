"""Process settings, read from the environment with the `BPASS_` prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]

APP_ROLE = "bpass_app"
PLATFORM_ROLE = "bpass_platform"

SERVICE_PORTS = {"identity": 8101, "custody": 8102, "recovery": 8103, "reporting": 8104}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BPASS_", extra="ignore")

    kafka_bootstrap: str = Field(default="127.0.0.1:39092", description="Kafka bootstrap servers.")
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="PLAINTEXT locally; SASL_PLAINTEXT / SASL_SSL with SCRAM users (compose)."
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = Field(default=None, description="This service's Kafka user (SASL).")
    kafka_sasl_password: SecretStr | None = Field(default=None, description="Its password (SASL).")
    kafka_brokers: int = Field(
        default=1,
        ge=1,
        le=9,
        description="How many brokers the Kafka cluster has (`stack.sh env` exports it): the replication of the topics "
        "the platform creates follows from it (services.common.messaging.topic_replication).",
    )
    kafka_metadata_max_age_ms: int = Field(
        default=10_000,
        ge=1_000,
        description="How often the services' Kafka clients refresh metadata: how soon a new partner's topics are "
        "found by the pattern subscriptions (aiokafka's default, 5 minutes, would leave them unread that long).",
    )
    database_url: str = Field(
        default="postgresql://bpass:bpass@127.0.0.1:35432/bpass",
        description="The schema owner's connection: migrations only.",
    )
    app_database_url: str | None = Field(
        default=None,
        description="Connection of the application role (`bpass_app`: owns no tables, row-level security "
        "applies): HTTP requests of a tenant's principals. Default: database_url as bpass_app/bpass_app.",
    )
    platform_database_url: str | None = Field(
        default=None,
        description="Connection of the platform role (`bpass_platform`: owns no tables, bypasses row-level "
        "security): consumers, the outbox relay, jobs, cross-tenant principals. Default: database_url as "
        "bpass_platform/bpass_platform.",
    )
    app_database_password: SecretStr | None = Field(
        default=None,
        description="Password of `bpass_app` when app_database_url is not given (the local stack generates it: "
        "var/local/secrets). Unset: the role's name, the compose laptop set-up's placeholder.",
    )
    platform_database_password: SecretStr | None = Field(
        default=None, description="Password of `bpass_platform` when platform_database_url is not given (as above)."
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:36379/0", description="With the password: redis://:pw@host:port/0."
    )
    secrets_dir: Path = Field(
        default=REPO_ROOT / "var" / "local" / "secrets",
        description="Where the local stack keeps generated passwords (0600), and the CLI the partners' Kafka "
        "credentials it creates.",
    )
    kafka_libs: Path | None = Field(
        default=None, description="The broker's jars (the local stack's): the CLI's Kafka admin tool runs on them."
    )
    topic_namespace: str = Field(
        default="",
        description="Prefix of every physical topic and consumer group (isolates test runs sharing a broker).",
    )
    http_host: str = "127.0.0.1"
    gateway_addresses: str = Field(
        default="127.0.0.2",
        description="Addresses or networks (comma separated) of the HTTP gateway: only a connection from one of "
        "them has its X-Forwarded-For believed (the gateway overwrites it with the address it saw); from anyone "
        "else the connection's own address is the client (rate limits, logs). The local gateway connects from "
        "127.0.0.2, apart from every other local process.",
    )
    identity_port: int = SERVICE_PORTS["identity"]
    custody_port: int = SERVICE_PORTS["custody"]
    recovery_port: int = SERVICE_PORTS["recovery"]
    reporting_port: int = SERVICE_PORTS["reporting"]
    http_port: int = Field(
        default=8080, ge=1, le=65535, description="Port of the local HTTP gateway (nginx), the platform's one entry."
    )
    public_base_url: str = Field(
        default="",
        description="Resolver base of passport URIs and the QR codes. Unset: the local gateway, "
        "http://127.0.0.1:<BPASS_HTTP_PORT>.",
    )
    api_keys_file: Path = Field(
        default=REPO_ROOT / "var" / "local" / "api-keys.json",
        description="JSON keyring: sha256 of each API key -> tenant, role, key id.",
    )
    consumer_max_records: int = Field(default=500, ge=1, le=10_000)
    projection_max_records: int = Field(
        default=2000,
        ge=1,
        le=10_000,
        description="Records per batch of reporting's projection (one transaction; larger batches write a passport "
        "touched by several facts once, and spread each transaction's fixed cost over more facts).",
    )
    consumer_max_tries: int = Field(default=3, ge=1, le=20, description="Tries before a dead letter.")
    relay_batch_size: int = Field(default=1000, ge=1, le=10_000)
    relay_poll_interval_s: float = Field(default=0.25, gt=0, le=10)
    otel_endpoint: str | None = Field(
        default=None, description="Where spans are sent (OTLP/HTTP or Zipkin, per otel_exporter); dropped when unset."
    )
    otel_exporter: Literal["otlp", "zipkin"] = Field(
        default="otlp",
        description="The protocol spans are sent in: `otlp` (OTLP/HTTP at <endpoint>/v1/traces: the OpenTelemetry "
        "Collector of compose) or `zipkin` (Zipkin JSON v2 at <endpoint>/api/v2/spans: the local stack's Zipkin).",
    )
    otel_sample_ratio: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="Share of new traces recorded (parent-based: a request or message that comes with a trace context "
        "follows its parent's decision). Spans are recorded only when an OTLP endpoint receives them.",
    )
    epcis_webhook_allow_local: bool = Field(
        default=False,
        description="EPCIS webhook subscriptions may name a plain-http loopback `dest` and private, link-local or "
        "loopback addresses (the local stack and the tests receive on 127.0.0.1). Off: https only, public addresses "
        "only (no request forgery towards the platform's own network).",
    )
    epcis_webhook_timeout_s: float = Field(default=10.0, gt=0, le=120, description="Timeout of one webhook POST.")
    epcis_webhook_max_attempts: int = Field(
        default=10, ge=1, le=100, description="Attempts of one webhook delivery before it is marked failed."
    )
    epcis_webhook_max_age_s: float = Field(
        default=86_400.0, gt=0, description="Age after which a webhook delivery still undelivered is marked failed."
    )
    epcis_webhook_backoff_s: float = Field(
        default=2.0, gt=0, le=3600, description="Delay before the first retry of a webhook delivery; doubles per try."
    )
    epcis_webhook_backoff_max_s: float = Field(
        default=600.0, gt=0, description="The longest delay between two attempts of a webhook delivery."
    )
    epcis_stream_queue_facts: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="Captures an EPCIS WebSocket subscription may have waiting to be sent; a socket further behind "
        "(its client does not read) is closed with 1013, so that it never holds up the others.",
    )
    fault_inject: str | None = Field(
        default=None,
        description="Test-only crash point: `crash_after_db_commit` or `crash_after_publish`.",
    )

    @model_validator(mode="after")
    def _derive_public_base_url(self) -> Settings:
        if not self.public_base_url:
            self.public_base_url = self.gateway_url
        return self

    @property
    def gateway_url(self) -> str:
        """Where the local HTTP gateway listens: what the CLI (demo, simulator) calls by default."""
        return f"http://127.0.0.1:{self.http_port}"

    def app_dsn(self) -> str:
        """Where HTTP requests of a tenant's principals connect: the role that sees only that tenant's rows."""
        return self.app_database_url or _as_role(self.database_url, APP_ROLE, self.app_database_password)

    def platform_dsn(self) -> str:
        """Where consumers, the relay, jobs and cross-tenant principals connect."""
        return self.platform_database_url or _as_role(self.database_url, PLATFORM_ROLE, self.platform_database_password)

    def kafka_client_options(self) -> dict[str, Any]:
        """Connection options of every aiokafka client (producers, consumers, admin)."""
        options: dict[str, Any] = {"bootstrap_servers": self.kafka_bootstrap}
        if self.kafka_security_protocol != "PLAINTEXT":
            options |= {
                "security_protocol": self.kafka_security_protocol,
                "sasl_mechanism": self.kafka_sasl_mechanism,
                "sasl_plain_username": self.kafka_sasl_username,
                "sasl_plain_password": (
                    self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None
                ),
            }
            if self.kafka_security_protocol == "SASL_SSL":
                from aiokafka.helpers import create_ssl_context

                options["ssl_context"] = create_ssl_context()
        return options

    def port_of(self, service: str) -> int:
        port: int = getattr(self, f"{service}_port")
        return port

    def topic(self, name: str) -> str:
        return f"{self.topic_namespace}{name}"

    def group_id(self, service: str) -> str:
        return f"{self.topic_namespace}bpass-{service}"


def _as_role(dsn: str, role: str, password: SecretStr | None) -> str:
    """`dsn` with its user and password replaced by `role` and its password (unset: the role's name)."""
    parts = urlsplit(dsn)
    secret = quote(password.get_secret_value(), safe="") if password is not None else role
    netloc = f"{role}:{secret}@{parts.hostname or '127.0.0.1'}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))
