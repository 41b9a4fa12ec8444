"""docker-compose.yml, the Dockerfile and deploy/compose/ agree with the code.

There is no Docker engine where the tests run, so the container set-up is checked by construction: the settings
the services read, their ports and entry modules, the gateway routes (against the local gateway), the Prometheus
scrape paths, the trace pipeline, and the metric names the Grafana dashboard queries.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from contracts import topics
from contracts.topics import TopicKind
from services.common import metrics
from services.common.settings import Settings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPOSE_DIR = ROOT / "deploy" / "compose"
LOCAL_NGINX = ROOT / "deploy" / "local" / "nginx.conf.template"

SERVICES = ("identity", "custody", "recovery", "reporting")
SUPPORT = (
    "kafka",
    "kafka-acls",
    "kafka-setup",
    "postgres",
    "redis",
    "otel-collector",
    "jaeger",
    "prometheus",
    "grafana",
    "gateway",
    "kafka-exporter",
    "postgres-exporter",
)
# One-shot containers: they exit when done (others wait for service_completed_successfully), no healthcheck.
ONE_SHOT = ("kafka-acls", "kafka-setup")
VERSIONS_FILE = ROOT / "deploy" / "versions.env"
STACK_SH = ROOT / "deploy" / "local" / "stack.sh"
KAFKA_POM = ROOT / "deploy" / "local" / "kafka" / "pom.xml"
ENV_SH = COMPOSE_DIR / "env.sh"
ALERT_RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
BIND = "${BPASS_BIND_ADDRESS:-127.0.0.1}"
KAFKA_DIR = COMPOSE_DIR / "kafka"
ROLES_SQL = ROOT / "deploy" / "postgres" / "roles.sql"
# Settings fields that must be set in a container (the defaults point at the loopback stack of deploy/local).
CONTAINER_SETTINGS = (
    "kafka_bootstrap",
    "database_url",
    "redis_url",
    "http_host",
    "public_base_url",
    "api_keys_file",
    "otel_endpoint",
)
PUBLISHED = {"gateway": 8080, "jaeger": 16686, "prometheus": 9090, "grafana": 3000}


# --- helpers ----------------------------------------------------------------------------------------------------


def env_var(field: str) -> str:
    prefix = Settings.model_config.get("env_prefix", "")
    return f"{prefix}{field.upper()}"


def default_port(service: str) -> int:
    # model_construct: the declared defaults, whatever BPASS_* the test process itself runs with.
    return Settings.model_construct().port_of(service)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def environment(definition: dict[str, Any]) -> dict[str, str]:
    raw = definition.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {str(k): "" if v is None else str(v) for k, v in raw.items()}


def command(definition: dict[str, Any]) -> list[str]:
    raw = definition.get("command")
    return shlex.split(raw) if isinstance(raw, str) else [str(part) for part in raw or []]


def volume_mounts(definition: dict[str, Any]) -> dict[str, str]:
    """target -> source of a service's volumes (short syntax `source:target[:mode]` or long syntax)."""
    mounts = {}
    for volume in definition.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume["source"], volume["target"]
        mounts[target] = source
    return mounts


def published_ports(definition: dict[str, Any]) -> dict[int, int]:
    """container port -> host port."""
    ports = {}
    for entry in definition.get("ports", []):
        if isinstance(entry, str):
            host, container = entry.rsplit(":", 2)[-2:]
            ports[int(container.split("/")[0])] = int(host)
        else:
            ports[int(entry["target"])] = int(entry["published"])
    return ports


def depends_on(definition: dict[str, Any]) -> dict[str, str]:
    raw = definition.get("depends_on") or {}
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in raw.items()}


def nginx_blocks(text: str, kind: str) -> dict[str, str]:
    """`location <prefix> { ... }` / `upstream <name> { ... }` bodies (blocks without nested braces)."""
    text = re.sub(r"#[^\n]*", "", text)
    text = re.sub(r"\$\{(\w+)\}", r"$\1", text)  # template placeholders ${X} -> $X: no braces inside blocks
    return {m[1]: m[2] for m in re.finditer(rf"\b{kind}\s+(\S+)\s*\{{([^{{}}]*)\}}", text)}


def nginx_routes(text: str, service_of_server: Any) -> dict[str, str]:
    """Path prefix -> service, through `proxy_pass http://<upstream>` and the upstream's `server` address."""
    upstreams = {}
    for name, body in nginx_blocks(text, "upstream").items():
        servers = re.findall(r"\bserver\s+([^\s;]+)", body)
        assert len(servers) == 1, f"upstream {name}: expected one server, got {servers}"
        upstreams[name] = service_of_server(servers[0])
    routes = {}
    for prefix, body in nginx_blocks(text, "location").items():
        if prefix.startswith("@"):
            continue
        target = re.search(r"\bproxy_pass\s+http://([\w.-]+)", body)
        assert target, f"location {prefix}: no proxy_pass"
        routes[prefix] = upstreams[target[1]]
    return routes


def local_service_of(server: str) -> str:
    m = re.fullmatch(r"127\.0\.0\.1:\$BPASS_([A-Z]+)_PORT", server)
    assert m, f"unexpected server address in the local template: {server}"
    return m[1].lower()


def compose_service_of(server: str) -> str:
    host, port = server.rsplit(":", 1)
    assert host in SERVICES, f"upstream server {server} is not a service container"
    assert int(port) == default_port(host), f"upstream {server}: {host} listens on {default_port(host)}"
    return host


SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
}


def exported_metrics() -> dict[str, tuple[str, frozenset[str]]]:
    """Sample name -> (metric family, label names) of every metric defined in services/common/metrics.py."""
    samples = {}
    for obj in vars(metrics).values():
        if isinstance(obj, MetricWrapperBase):
            labels = frozenset(obj._labelnames)
            for family in obj.describe():
                for suffix in SAMPLE_SUFFIXES[family.type]:
                    extra = {"le"} if suffix == "_bucket" else set()
                    samples[family.name + suffix] = (family.name, labels | extra)
    return samples


def properties(path: Path) -> dict[str, str]:
    """A Java .properties file (key=value lines; # comments)."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def listeners(value: str) -> dict[str, str]:
    """`NAME://host:port,...` -> name -> host:port."""
    return dict(entry.split("://", 1) for entry in value.split(","))


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    text = re.sub(r"\\\n", " ", re.sub(r"(?m)^\s*#.*\n", "", text))
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
        for line in (raw.strip() for raw in text.splitlines())
        if line
    ]


# --- fixtures ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = load_yaml(COMPOSE_FILE)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    defined: dict[str, dict[str, Any]] = compose["services"]
    return defined


# --- docker-compose.yml -----------------------------------------------------------------------------------------


def test_every_service_of_the_platform_and_of_the_observability_stack_is_defined(
    services: dict[str, dict[str, Any]],
) -> None:
    missing = [name for name in (*SERVICES, *SUPPORT) if name not in services]
    assert not missing


def test_the_four_services_run_their_module_from_one_image_built_here(services: dict[str, dict[str, Any]]) -> None:
    builds = {json.dumps(services[name].get("build"), sort_keys=True) for name in SERVICES}
    images = {services[name].get("image") for name in SERVICES}
    assert len(builds) == 1, builds
    assert len(images) == 1, images
    build = services["identity"]["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (ROOT / context).resolve() == ROOT
    assert (ROOT / context / dockerfile).is_file()
    for name in SERVICES:
        assert command(services[name]) == ["python", "-m", f"services.{name}"]
        assert importlib.util.find_spec(f"services.{name}.__main__") is not None


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_gets_every_setting_that_matters_in_a_container(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    env = environment(services[name])
    fields = (*CONTAINER_SETTINGS, f"{name}_port")
    for field in fields:
        assert field in Settings.model_fields, f"Settings has no field {field}"
        assert env.get(env_var(field)), f"{name}: {env_var(field)} is not set"
    known = {env_var(field) for field in Settings.model_fields}
    unknown = sorted(k for k in env if k.startswith("BPASS_") and k not in known)
    assert not unknown, f"{name}: no Settings field reads {unknown}"
    settings = Settings(**{field: env[env_var(field)] for field in fields})
    assert settings.port_of(name) == default_port(name)
    assert settings.http_host == "0.0.0.0"


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_health_check_asks_its_own_readiness_endpoint(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    probe = " ".join(services[name]["healthcheck"]["test"])
    assert f"127.0.0.1:{default_port(name)}/{name}/health/ready" in probe


def test_connection_settings_point_at_the_compose_containers(services: dict[str, dict[str, Any]]) -> None:
    for name in SERVICES:
        env = {field: environment(services[name])[env_var(field)] for field in CONTAINER_SETTINGS}

        host, port = env["kafka_bootstrap"].rsplit(":", 1)
        broker = properties(KAFKA_DIR / "server.properties")
        assert listeners(broker["advertised.listeners"])["SASL_PLAINTEXT"] == f"{host}:{port}"
        assert host == "kafka"

        db = urlparse(env["database_url"])
        pg = environment(services["postgres"])
        assert (db.hostname, db.port) == ("postgres", 5432)
        assert (db.username, db.password, db.path.lstrip("/")) == (
            pg["POSTGRES_USER"],
            pg["POSTGRES_PASSWORD"],
            pg["POSTGRES_DB"],
        )

        # The services connect as the roles the database's init script creates (row-level security), never as
        # the owner of the tables.
        # (what compose gives them: the local stack's generated passwords, exported in this shell, are not theirs)
        compose_env = environment(services[name])
        settings = Settings(
            database_url=env["database_url"],
            app_database_password=compose_env.get("BPASS_APP_DATABASE_PASSWORD"),
            platform_database_password=compose_env.get("BPASS_PLATFORM_DATABASE_PASSWORD"),
        )
        for role, dsn in (("bpass_app", settings.app_dsn()), ("bpass_platform", settings.platform_dsn())):
            parsed = urlparse(dsn)
            assert (parsed.username, parsed.hostname) == (role, "postgres")
            assert f"CREATE ROLE {role} LOGIN PASSWORD '{parsed.password}'" in ROLES_SQL.read_text()
        init = [v for v in services["postgres"]["volumes"] if "docker-entrypoint-initdb.d" in v]
        assert init == ["./deploy/postgres/roles.sql:/docker-entrypoint-initdb.d/10-roles.sql:ro"]

        redis = urlparse(env["redis_url"])
        assert (redis.scheme, redis.hostname, redis.port) == ("redis", "redis", 6379)

        # The services append /v1/traces themselves (services/common/tracing.py).
        otel = urlparse(env["otel_endpoint"])
        assert (otel.scheme, otel.hostname, otel.path.strip("/")) == ("http", "otel-collector", "")
        collector = load_yaml(COMPOSE_DIR / "otel-collector.yaml")
        assert collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(f":{otel.port}")

        public = urlparse(env["public_base_url"])
        assert public.port == published_ports(services["gateway"])[8080] == 8080

        keys_dir = str(Path(env["api_keys_file"]).parent)
        assert keys_dir in volume_mounts(services[name]), f"{name}: nothing is mounted at {keys_dir}"


def test_services_start_after_healthy_kafka_postgres_and_redis(services: dict[str, dict[str, Any]]) -> None:
    for name in SERVICES:
        conditions = depends_on(services[name])
        for infra in ("kafka", "postgres", "redis"):
            assert conditions.get(infra) == "service_healthy", f"{name} -> {infra}"
            assert services[infra].get("healthcheck", {}).get("test"), f"{infra} has no healthcheck"


def test_kafka_is_a_single_kraft_node_with_replication_factor_one(services: dict[str, dict[str, Any]]) -> None:
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert command(kafka) == ["bash", "/opt/bpass/kafka/start.sh"]
    assert volume_mounts(kafka)["/opt/bpass/kafka"] == "./deploy/compose/kafka"
    env = environment(kafka)
    assert env["CLUSTER_ID"], "KRaft storage is formatted with a cluster id"
    start = (KAFKA_DIR / "start.sh").read_text(encoding="utf-8")
    assert "kafka-storage.sh format --ignore-formatted" in start
    assert '--cluster-id "$CLUSTER_ID"' in start
    broker = properties(KAFKA_DIR / "server.properties")
    assert broker["process.roles"] == "broker,controller"
    node = broker["node.id"]
    controller = broker["controller.quorum.voters"]
    assert controller.startswith(f"{node}@kafka:")
    assert listeners(broker["listeners"])["CONTROLLER"] == f":{controller.rsplit(':', 1)[1]}"
    for setting in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
    ):
        assert broker[setting] == "1"
    assert broker["group.initial.rebalance.delay.ms"] == "0"
    assert broker["log.dirs"] in volume_mounts(kafka)


# --- Kafka security: SASL/SCRAM users and per-topic ACLs --------------------------------------------------------


def kafka_acls_module() -> Any:
    spec = importlib.util.spec_from_file_location("kafka_acls", COMPOSE_DIR / "kafka_acls.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("kafka_acls", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def kafka_acls() -> Any:
    return kafka_acls_module()


@pytest.fixture(scope="module")
def acl_bindings(kafka_acls: Any) -> list[Any]:
    bindings: list[Any] = kafka_acls.acls()
    return bindings


def test_every_kafka_listener_authenticates_and_nothing_is_allowed_without_an_acl() -> None:
    broker = properties(KAFKA_DIR / "server.properties")
    protocols = dict(entry.split(":") for entry in broker["listener.security.protocol.map"].split(","))
    assert set(protocols) == set(listeners(broker["listeners"]))
    assert set(protocols.values()) == {"SASL_PLAINTEXT"}, "no PLAINTEXT listener: every client authenticates"
    assert broker["inter.broker.listener.name"] == "SASL_PLAINTEXT"
    for name in listeners(broker["listeners"]):
        mechanisms = broker[f"listener.name.{name.lower()}.sasl.enabled.mechanisms"]
        assert mechanisms == ("PLAIN" if name == "CONTROLLER" else "SCRAM-SHA-512"), name
    assert broker["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    assert broker["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert broker["allow.everyone.if.no.acl.found"] == "false"
    assert broker["super.users"] == "User:admin"
    assert broker["auto.create.topics.enable"] == "false"
    start = (KAFKA_DIR / "start.sh").read_text(encoding="utf-8")
    assert '--add-scram "SCRAM-SHA-512=[name=admin,password=${KAFKA_ADMIN_PASSWORD}]"' in start
    for name in listeners(broker["listeners"]):
        assert f"listener.name.{name.lower()}." in start, f"no JAAS configuration for listener {name}"


def test_each_service_connects_as_its_own_scram_user(services: dict[str, dict[str, Any]]) -> None:
    passwords = set()
    for name in SERVICES:
        env = environment(services[name])
        settings = Settings(
            kafka_security_protocol=env[env_var("kafka_security_protocol")],
            kafka_sasl_mechanism=env[env_var("kafka_sasl_mechanism")],
            kafka_sasl_username=env[env_var("kafka_sasl_username")],
            kafka_sasl_password=env[env_var("kafka_sasl_password")],
        )
        assert settings.kafka_security_protocol == "SASL_PLAINTEXT"
        assert settings.kafka_sasl_mechanism == "SCRAM-SHA-512"
        assert settings.kafka_sasl_username == name
        passwords.add(env[env_var("kafka_sasl_password")])
        assert depends_on(services[name]).get("kafka-setup") == "service_completed_successfully"
    assert len(passwords) == len(SERVICES), "every service has its own password"


def test_the_setup_step_creates_every_user_and_applies_the_generated_acls(
    services: dict[str, dict[str, Any]], kafka_acls: Any
) -> None:
    generator = services["kafka-acls"]
    assert command(generator)[:2] == ["python", "/app/deploy/compose/kafka_acls.py"]
    out = command(generator)[command(generator).index("--out") + 1]
    assert volume_mounts(generator)["/app/deploy/compose/kafka_acls.py"] == "./deploy/compose/kafka_acls.py"
    volume = volume_mounts(generator)[str(Path(out).parent)]

    setup = services["kafka-setup"]
    env = environment(setup)
    assert volume_mounts(setup)["/acls"] == volume
    assert str(Path(env["KAFKA_ACLS_FILE"]).parent) == "/acls"
    assert Path(env["KAFKA_ACLS_FILE"]).name == Path(out).name
    created = [entry.split("=", 1)[0] for entry in env["KAFKA_SCRAM_USERS"].split()]
    assert created == kafka_acls.users()
    assert depends_on(setup) == {"kafka": "service_healthy", "kafka-acls": "service_completed_successfully"}
    script = (KAFKA_DIR / "setup.sh").read_text(encoding="utf-8")
    assert "kafka-configs.sh" in script
    assert "SCRAM-SHA-512=[iterations=8192,password=${password}]" in script
    assert "kafka-acls.sh" in script
    assert "--add" in script


def _allowed(bindings: list[Any], user: str, operation: str, topic: str) -> bool:
    return any(
        b.user == user
        and b.resource == "topic"
        and b.operation == operation
        and (b.name == topic if b.pattern == "literal" else topic.startswith(b.name))
        for b in bindings
    )


def test_every_topic_of_the_registry_has_its_acls(acl_bindings: list[Any], kafka_acls: Any) -> None:
    specs = kafka_acls.service_specs()
    partners = kafka_acls.PARTNERS
    for topic in topics.ALL:
        writers = {
            b.user for b in acl_bindings if b.operation == "Write" and _allowed([b], b.user, "Write", topic.name)
        }
        readers = {b.user for b in acl_bindings if b.operation == "Read" and _allowed([b], b.user, "Read", topic.name)}
        subscribers = {name for name, spec in specs.items() if topic in [s.topic for s in spec.subscriptions]}
        assert subscribers <= readers, f"{topic.name}: {sorted(subscribers - readers)} cannot read it"
        if topic.kind is TopicKind.inbound:
            roles = kafka_acls.INBOUND_WRITERS[topic.name]
            assert roles, topic.name
            assert writers == {p.user for p in partners if p.role in roles}, topic.name
            assert topic.owner in readers, topic.name
        else:
            assert writers == {topic.owner}, f"{topic.name}: written by {sorted(writers)}, owned by {topic.owner}"
    for service in kafka_acls.SERVICES:
        dead_letters = topics.dead_letter_topic(service)
        assert {b.user for b in acl_bindings if _allowed([b], b.user, "Write", dead_letters)} == {service}
        assert any(b.resource == "group" and b.name == f"bpass-{service}" and b.user == service for b in acl_bindings)


def test_partners_write_only_the_inbound_topics_of_their_role_and_read_only_their_tenant(
    acl_bindings: list[Any],
) -> None:
    def written(user: str) -> set[str]:
        return {b.name for b in acl_bindings if b.user == user and b.operation == "Write"}

    assert written("partner-demo-recycler") == {
        "bpass.custody.events.v1",
        "bpass.custody.epcis-documents.v1",
        "bpass.recovery.treatment-batches.v1",
    }
    assert written("partner-demo-refiner") == {
        "bpass.custody.events.v1",
        "bpass.custody.epcis-documents.v1",
        "bpass.recovery.refiner-reports.v1",
    }
    assert written("partner-demo-oem") == {"bpass.identity.mint-requests.v1", "bpass.custody.telemetry.v1"}
    mine, other = "bpass.tenant.demo-oem.passport-changes.v1", "bpass.tenant.demo-oem2.passport-changes.v1"
    assert _allowed(acl_bindings, "partner-demo-oem", "Read", mine)
    assert not _allowed(acl_bindings, "partner-demo-oem", "Read", other)
    assert not _allowed(acl_bindings, "partner-demo-recycler", "Read", mine)
    assert _allowed(acl_bindings, "reporting", "Write", mine)
    tenant_readers = {b.user for b in acl_bindings if _allowed([b], b.user, "Read", mine)}
    assert tenant_readers == {"partner-demo-oem"}
    for binding in acl_bindings:
        if binding.user.startswith("partner-"):
            assert binding.operation in ("Read", "Write", "Describe"), binding
            if binding.resource == "group":
                assert binding.pattern == "prefixed"
                assert binding.name == f"{binding.user}."


def test_the_generated_kafka_acls_arguments_cover_every_binding(kafka_acls: Any, acl_bindings: list[Any]) -> None:
    lines = kafka_acls.kafka_acls_arguments(acl_bindings)
    covered = set()
    for line in lines:
        words = line.split()
        assert words[0] == "--allow-principal"
        user = words[1].removeprefix("User:")
        pairs = list(zip(words[::2], words[1::2], strict=True))
        ops = [v for k, v in pairs if k == "--operation"]
        pattern = dict(pairs)["--resource-pattern-type"]
        assert pattern in ("literal", "prefixed")
        for kind, name in pairs:
            if kind in ("--topic", "--group"):
                covered |= {(user, kind[2:], name, pattern, op) for op in ops}
    assert covered == {(b.user, b.resource, b.name, b.pattern, b.operation) for b in acl_bindings}


def test_an_inbound_topic_without_writers_is_an_error(kafka_acls: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    writers = dict(kafka_acls.INBOUND_WRITERS)
    del writers["bpass.recovery.treatment-batches.v1"]
    monkeypatch.setattr(kafka_acls, "INBOUND_WRITERS", writers)
    with pytest.raises(SystemExit, match="treatment-batches"):
        kafka_acls.acls(specs={})


def test_the_security_document_shows_the_generated_acl_table(kafka_acls: Any, acl_bindings: list[Any]) -> None:
    doc = (ROOT / "docs" / "security" / "kafka.md").read_text(encoding="utf-8")
    assert kafka_acls.markdown_table(acl_bindings) in doc, (
        "docs/security/kafka.md is out of date: paste `python deploy/compose/kafka_acls.py --table`"
    )
    for user in kafka_acls.users():
        assert f"`{user}`" in doc


def test_ui_and_entry_ports_are_published(services: dict[str, dict[str, Any]]) -> None:
    for name, port in PUBLISHED.items():
        assert published_ports(services[name]).get(port) == port, name


def test_every_bind_mounted_file_is_committed(services: dict[str, dict[str, Any]]) -> None:
    for name, definition in services.items():
        for source in volume_mounts(definition).values():
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"


# --- gateway ----------------------------------------------------------------------------------------------------


def test_gateway_routes_every_prefix_to_the_same_service_as_the_local_gateway(
    services: dict[str, dict[str, Any]],
) -> None:
    mounts = volume_mounts(services["gateway"])
    assert mounts["/etc/nginx/nginx.conf"] == "./deploy/compose/nginx.conf"
    compose_conf = (COMPOSE_DIR / "nginx.conf").read_text(encoding="utf-8")
    assert "${" not in compose_conf, "the compose gateway config is used as is: no placeholders"
    assert re.search(r"\blisten\s+8080\s*;", compose_conf)

    local = nginx_routes(LOCAL_NGINX.read_text(encoding="utf-8"), local_service_of)
    routed = nginx_routes(compose_conf, compose_service_of)
    assert set(local.values()) == set(SERVICES)
    assert local["/"] == "reporting"
    assert routed == local


# --- observability ----------------------------------------------------------------------------------------------


def test_prometheus_scrapes_each_service_metrics_path_on_its_port(services: dict[str, dict[str, Any]]) -> None:
    mounts = volume_mounts(services["prometheus"])
    assert mounts["/etc/prometheus/prometheus.yml"] == "./deploy/compose/prometheus.yml"
    jobs = {job["job_name"]: job for job in load_yaml(COMPOSE_DIR / "prometheus.yml")["scrape_configs"]}
    for name in SERVICES:
        job = jobs[name]
        assert job["metrics_path"] == f"/{name}/metrics"
        targets = [t for config in job["static_configs"] for t in config["targets"]]
        assert targets == [f"{name}:{default_port(name)}"]


def test_the_collector_receives_otlp_and_sends_traces_to_jaeger(services: dict[str, dict[str, Any]]) -> None:
    mounts = volume_mounts(services["otel-collector"])
    assert mounts["/etc/otelcol-contrib/config.yaml"] == "./deploy/compose/otel-collector.yaml"
    config = load_yaml(COMPOSE_DIR / "otel-collector.yaml")
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    pipeline = config["service"]["pipelines"]["traces"]
    assert "otlp" in pipeline["receivers"]
    for component in pipeline.get("processors", []):
        assert component in config["processors"]
    endpoints = [config["exporters"][exporter]["endpoint"] for exporter in pipeline["exporters"]]
    assert "jaeger:4317" in endpoints
    assert environment(services["jaeger"]).get("COLLECTOR_OTLP_ENABLED") == "true"


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (COMPOSE_DIR / "grafana" / "dashboards" / "bpass.json").read_text(encoding="utf-8")
    )
    return data


def test_grafana_provisions_the_prometheus_datasource_and_the_committed_dashboard(
    services: dict[str, dict[str, Any]], dashboard: dict[str, Any]
) -> None:
    provisioning = COMPOSE_DIR / "grafana" / "provisioning"
    mounts = volume_mounts(services["grafana"])
    assert mounts["/etc/grafana/provisioning"] == "./deploy/compose/grafana/provisioning"

    (datasource,) = load_yaml(provisioning / "datasources" / "prometheus.yaml")["datasources"]
    assert datasource["type"] == "prometheus"
    assert urlparse(datasource["url"]).hostname == "prometheus"

    (provider,) = load_yaml(provisioning / "dashboards" / "bpass.yaml")["providers"]
    assert mounts[provider["options"]["path"]] == "./deploy/compose/grafana/dashboards"

    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert panels
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in (panel, *panel["targets"]):
            assert target["datasource"]["uid"] == datasource["uid"], panel["title"]


def dashboard_queries(dashboard: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(where, PromQL, legend) of every panel target and templating query."""
    queries = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            queries.append((panel["title"], target["expr"], target.get("legendFormat", "")))
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        queries.append((f"${variable['name']}", query["query"] if isinstance(query, dict) else query, ""))
    return queries


def test_the_dashboard_queries_only_metrics_and_labels_the_services_export(dashboard: dict[str, Any]) -> None:
    exported = exported_metrics()
    used_families = set()
    for where, expr, legend in dashboard_queries(dashboard):
        names = set(re.findall(r"\b(bpass_[A-Za-z0-9_]+)", expr))
        assert names, f"{where}: {expr} queries no bpass metric"
        unknown = names - exported.keys()
        assert not unknown, f"{where}: {sorted(unknown)} not defined in services/common/metrics.py"
        used_families |= {exported[name][0] for name in names}

        labels = frozenset().union(*(exported[name][1] for name in names))
        grouped = {g.strip() for clause in re.findall(r"\bby\s*\(([^)]*)\)", expr) for g in clause.split(",")}
        matched = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)\s*\"", expr))
        grouped.discard("")
        assert grouped | matched <= labels, f"{where}: labels {sorted((grouped | matched) - labels)} unknown"
        if grouped:
            assert set(re.findall(r"\{\{\s*(\w+)\s*\}\}", legend)) <= grouped, f"{where}: legend {legend}"

    families = {family for family, _ in exported.values()}
    assert used_families == families, f"no panel shows {sorted(families - used_families)}"


# --- Dockerfile and README --------------------------------------------------------------------------------------


def test_the_dockerfile_installs_the_locked_environment_and_copies_every_package() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    runs = " ".join(args for op, args in instructions if op == "RUN")
    assert re.search(r"\bpip install\b.*\buv\b", runs)
    assert "uv sync --frozen --no-dev" in runs

    ignored = [
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copied = set()
    for op, args in instructions:
        if op == "COPY":
            *sources, _destination = [a for a in args.split() if not a.startswith("--")]
            for source in sources:
                path = source.rstrip("/")
                assert (ROOT / path).exists(), f"COPY {source}: not in the repository"
                assert not any(fnmatch.fnmatch(path, pattern) for pattern in ignored), f"{source} is dockerignored"
                copied.add(path)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    needed = {"pyproject.toml", "uv.lock", pyproject["project"]["readme"], *packages}
    assert needed <= copied, f"the image lacks {sorted(needed - copied)}"

    users = [args for op, args in instructions if op == "USER"]
    assert users, "the image runs as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    envs = " ".join(args for op, args in instructions if op == "ENV")
    assert "PATH=/app/.venv/bin:$PATH" in envs
    known = {env_var(field) for field in Settings.model_fields}
    assert set(re.findall(r"\b(BPASS_\w+)=", envs)) <= known

    (cmd,) = [args for op, args in instructions if op == "CMD"]
    assert json.loads(cmd) == ["python", "-m", "services.reporting"]


def test_every_python_module_the_docs_and_compose_run_exists() -> None:
    readme = (COMPOSE_DIR / "README.md").read_text(encoding="utf-8")
    text = readme + COMPOSE_FILE.read_text(encoding="utf-8")
    modules = set(re.findall(r"python\s+-m\s+([A-Za-z_][\w.]*)", text)) | set(
        re.findall(r'"-m",\s*"([A-Za-z_][\w.]*)"', text)
    )
    assert {f"services.{name}" for name in SERVICES} <= modules
    missing = sorted(m for m in modules if importlib.util.find_spec(m) is None)
    assert not missing, f"no such module: {missing}"
    assert "docker compose up --build" in readme
    for port in PUBLISHED.values():
        assert str(port) in readme


# --- pinned versions, health, exposure, Grafana, Prometheus (issue #18) -----------------------------------------


def versions() -> dict[str, str]:
    return properties(VERSIONS_FILE)


def test_kafka_runs_the_version_of_the_versions_file_in_compose_and_in_the_local_stack(
    services: dict[str, dict[str, Any]],
) -> None:
    version = versions()["BPASS_KAFKA_VERSION"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), version
    for name in ("kafka", "kafka-setup"):
        image = services[name]["image"]
        assert re.fullmatch(r"apache/kafka:\$\{BPASS_KAFKA_VERSION:\?[^}]+\}", image), f"{name}: {image}"
    # The local stack fetches the broker jars of that version: stack.sh reads the file and hands it to Maven;
    # the POM names no version of its own.
    stack = STACK_SH.read_text(encoding="utf-8")
    assert "deploy/versions.env" in stack or "versions.env" in stack
    assert "-Dkafka.version=" in stack
    pom = KAFKA_POM.read_text(encoding="utf-8")
    assert "${kafka.version}" in pom
    assert not re.search(r"<kafka\.version>\s*\d", pom), "pom.xml pins its own Kafka version"
    # Nothing else of the compose set-up names a Kafka version.
    for path in (COMPOSE_FILE, *COMPOSE_DIR.glob("kafka/*")):
        assert not re.search(r"apache/kafka:\d|kafka_2\.13-\d", path.read_text(encoding="utf-8")), path


def test_make_compose_env_writes_the_versions_and_a_generated_grafana_password(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("BPASS_KAFKA_VERSION=0.0.1\nBPASS_BIND_ADDRESS=0.0.0.0\n", encoding="utf-8")
    for _ in range(2):
        done = subprocess.run(  # noqa: S603 - our own script
            ["/bin/bash", str(ENV_SH), str(env_file)], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        if _ == 0:
            first = properties(env_file)
    written = properties(env_file)
    assert written["BPASS_KAFKA_VERSION"] == versions()["BPASS_KAFKA_VERSION"], "versions are rewritten"
    assert written["BPASS_BIND_ADDRESS"] == "0.0.0.0", "what was set by hand is kept"
    password = written["GRAFANA_ADMIN_PASSWORD"]
    assert len(password) >= 20
    assert password != "admin"  # noqa: S105 - the default it replaces
    assert first["GRAFANA_ADMIN_PASSWORD"] == password, "generated once, then kept"
    assert env_file.stat().st_mode & 0o077 == 0, "the file holds a password: owner only"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^compose-env:.*\n\t@?bash deploy/compose/env\.sh", makefile, re.M)
    assert ".env" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()


def test_every_image_is_pinned_to_an_exact_version(services: dict[str, dict[str, Any]]) -> None:
    for name, definition in services.items():
        image = definition["image"]
        if definition.get("build"):
            assert image == "bpass:local", name
            continue
        repository, _, tag = image.partition(":")  # no registry host:port in these names
        assert repository, f"{name}: {image}"
        assert tag, f"{name}: {image} has no tag"
        if tag.startswith("${"):
            continue  # the Kafka version, from deploy/versions.env (test above)
        # major.minor.patch, with an optional v and flavour (1.27.4-alpine, v3.2.1, 0.120.0): no 16, 7, latest.
        # PostgreSQL's releases since 10 are major.minor (16.6 is one release).
        exact = r"\d+\.\d+" if repository == "postgres" else r"v?\d+\.\d+\.\d+(-[a-z0-9.]+)?"
        assert re.fullmatch(exact, tag), f"{name}: {image} floats"


def test_every_long_running_container_has_a_healthcheck_and_waits_for_healthy_dependencies(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, definition in services.items():
        if name in ONE_SHOT:
            assert definition.get("restart") == "no", name
            continue
        test = (definition.get("healthcheck") or {}).get("test")
        assert test, f"{name} has no healthcheck"
        assert test[0] in {"CMD", "CMD-SHELL"}, name
        for dependency, condition in depends_on(definition).items():
            expected = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert condition == expected, f"{name} -> {dependency}: {condition}"
    assert set(depends_on(services["gateway"])) == set(SERVICES)


def test_http_healthchecks_probe_the_port_the_container_serves(services: dict[str, dict[str, Any]]) -> None:
    probes = {
        "gateway": "http://127.0.0.1:8080/reporting/health/live",
        "jaeger": "http://127.0.0.1:14269/",
        "prometheus": "http://127.0.0.1:9090/-/ready",
        "grafana": "http://127.0.0.1:3000/api/health",
        "kafka-exporter": "http://127.0.0.1:9308/metrics",
        "postgres-exporter": "http://127.0.0.1:9187/metrics",
    }
    for name, url in probes.items():
        assert services[name]["healthcheck"]["test"][-1] == url, name
    assert "--web.listen-address=:9308" in command(services["kafka-exporter"])
    collector = services["otel-collector"]["healthcheck"]["test"]
    assert "--config=/etc/otelcol-contrib/config.yaml" in collector
    assert "health_check" in load_yaml(COMPOSE_DIR / "otel-collector.yaml")["service"]["extensions"]


def test_every_published_port_binds_to_loopback_unless_opened(services: dict[str, dict[str, Any]]) -> None:
    published = 0
    for name, definition in services.items():
        for entry in definition.get("ports", []):
            assert isinstance(entry, str), name
            assert entry.startswith(BIND + ":"), f"{name}: {entry} is published on every interface"
            published += 1
    assert published == len(PUBLISHED) + 1  # and Kafka's partner listener


def test_grafana_has_no_default_password_and_no_anonymous_access(services: dict[str, dict[str, Any]]) -> None:
    env = environment(services["grafana"])
    assert re.fullmatch(r"\$\{GRAFANA_ADMIN_PASSWORD:\?[^}]+\}", env["GF_SECURITY_ADMIN_PASSWORD"])
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert not any(key.startswith("GF_AUTH_ANONYMOUS_ORG") for key in env)
    assert "admin" not in (COMPOSE_DIR / "README.md").read_text(encoding="utf-8").split("`admin` / `admin`")[1:]


def test_prometheus_loads_the_alert_rules_and_scrapes_the_kafka_and_postgres_exporters(
    services: dict[str, dict[str, Any]],
) -> None:
    mounts = volume_mounts(services["prometheus"])
    config = load_yaml(COMPOSE_DIR / "prometheus.yml")
    (rules,) = config["rule_files"]
    assert mounts[rules] == "./deploy/prometheus/alerts.yml"
    assert ALERT_RULES.is_file()
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for job, (exporter, port) in {"kafka": ("kafka-exporter", 9308), "postgres": ("postgres-exporter", 9187)}.items():
        targets = [t for c in jobs[job]["static_configs"] for t in c["targets"]]
        assert targets == [f"{exporter}:{port}"], job
    assert "--kafka.server=kafka:9092" in command(services["kafka-exporter"])
    assert "--sasl.enabled" in command(services["kafka-exporter"])
    dsn = urlparse(environment(services["postgres-exporter"])["DATA_SOURCE_NAME"])
    assert (dsn.hostname, dsn.port) == ("postgres", 5432)
