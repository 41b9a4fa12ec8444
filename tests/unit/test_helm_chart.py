"""The Helm chart (deploy/helm/bpass) rendered by `helm template` and held to the schemas and to the registries.

Every rendered object is validated against its schema: Kubernetes' own (kubernetes-validate, strict: an unknown field
is an error) and, for custom resources, the operator's CRD (Strimzi, CloudNativePG, KEDA: deploy/local/helm.sh fetches
them at install time), unknown fields refused as well. The topics, users and ACLs rendered must equal what the topic
registry, the services' ServiceSpecs and the security model (docs/security/kafka.md) say, computed here from those
sources, not from the chart's generated file; and that file must be what deploy/helm/registry.py generates now.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from bpass.kafka_users import kafka_user, partner_acls, partner_topics
from contracts import topics
from contracts.topics import dead_letter_topic
from services.common.runtime import Runtime
from services.common.settings import APP_ROLE, PLATFORM_ROLE, Settings
from services.reporting import signing

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "bpass"
HELM = ROOT / "var" / "local" / "bin" / "helm"
CRDS = ROOT / "var" / "local" / "helm" / "crds"
SERVICES = ("identity", "custody", "recovery", "reporting")
KUBERNETES_VERSION = "1.37.0"
VALUES = {"small": CHART / "values-small.yaml", "large": CHART / "values-large.yaml"}
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: the CRDs are ~2 MB of YAML
SECRET_SETTINGS = ("BPASS_KAFKA_SASL_PASSWORD", "BPASS_DATABASE_URL", "BPASS_REDIS_URL", "BPASS_APP_DATABASE_PASSWORD")


def _module(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


@cache
def helm_registry() -> Any:
    return _module("helm_registry", CHART.parent / "registry.py")


@cache
def kafka_acls() -> Any:
    return _module("kafka_acls", ROOT / "deploy" / "compose" / "kafka_acls.py")


@cache
def specs() -> dict[str, Any]:
    return {name: importlib.import_module(f"services.{name}.app").build_spec(Settings()) for name in SERVICES}


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    if not HELM.exists():
        pytest.fail(f"{HELM.relative_to(ROOT)} is missing: run `make helm` (deploy/local/helm.sh builds it)")
    return subprocess.run(  # noqa: S603 - the project's own helm binary on its own chart
        [str(HELM), *args], capture_output=True, text=True, timeout=60, check=False
    )


def helm_template(*args: str) -> subprocess.CompletedProcess[str]:
    return helm("template", "bpass", str(CHART), "--namespace", "bpass", *args)


@cache
def rendered(size: str) -> tuple[dict[str, Any], ...]:
    done = helm_template("-f", str(VALUES[size]))
    assert done.returncode == 0, done.stderr
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def values(size: str) -> dict[str, Any]:
    merged: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    _merge(merged, yaml.safe_load(VALUES[size].read_text()) or {})
    return merged


def _merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def of_kind(docs: tuple[dict[str, Any], ...], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


# --- custom resources' schemas ---------------------------------------------------------------------------------


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the CRD's openAPIV3Schema, from every CRD deploy/local/helm.sh installed."""
    files = sorted(CRDS.glob("*/*.yaml"))
    if not files:
        pytest.fail(f"no CRDs under {CRDS.relative_to(ROOT)}: run `make helm` (deploy/local/helm.sh fetches them)")
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for path in files:
        for crd in yaml.load_all(path.read_text(), Loader=YAML_LOADER):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                out[(f"{group}/{version['name']}", kind)] = version["schema"]["openAPIV3Schema"]
    return out


def strict(schema: Any) -> Any:
    """A CRD's structural schema as JSON Schema that refuses what the API server would prune: an object with declared
    properties takes no other field (unless it preserves unknown fields); `nullable` admits null."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) for key, value in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if out.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


@cache
def crd_validator(api_version: str, kind: str) -> Any:
    return jsonschema.Draft202012Validator(strict(copy.deepcopy(crd_schemas()[(api_version, kind)])))


def validate(doc: dict[str, Any]) -> list[str]:
    """Why `doc` is invalid (empty when valid)."""
    name = doc.get("metadata", {}).get("name", "")
    where = f"{doc.get('kind')}/{name}"
    errors = [] if DNS_SUBDOMAIN.match(name) and len(name) <= 253 else [f"{where}: name is not a DNS subdomain"]
    if (doc["apiVersion"], doc["kind"]) in crd_schemas():
        for error in crd_validator(doc["apiVersion"], doc["kind"]).iter_errors(doc):
            errors.append(f"{where}: {'.'.join(str(p) for p in error.absolute_path)}: {error.message}")
        return errors
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        errors.append(f"{where}: {'.'.join(str(p) for p in error.path)}: {error.message}")
    except kubernetes_validate.SchemaNotFoundError as error:
        errors.append(f"{where}: no schema for it: {error.message}")
    return errors


# --- what the registries say -------------------------------------------------------------------------------------


def registry_topics(partners: list[str]) -> set[tuple[str, int]]:
    names = {(t.name, t.partitions) for t in topics.ALL}
    names |= {(dead_letter_topic(s), 3) for s in SERVICES}
    for partner in partners:
        names |= set(partner_topics(partner))
    return names


def strimzi_acls(user: dict[str, Any]) -> set[tuple[str, str, str, str, str]]:
    """(permission, resource type, pattern, name, operation) of a rendered KafkaUser."""
    return {
        (
            rule.get("type", "allow"),
            rule["resource"]["type"],
            rule["resource"]["patternType"],
            rule["resource"]["name"],
            op,
        )
        for rule in user["spec"]["authorization"]["acls"]
        for op in rule["operations"]
    }


def service_acls(service: str, partners: list[str]) -> set[tuple[str, str, str, str, str]]:
    """The security model's bindings of a service's user: docs/security/kafka.md (deploy/compose/kafka_acls.py), plus
    its inbound topics' partner forms (read) and each partner's refusal topic (written); on Kubernetes a service does
    not create the registry's topics (Strimzi's topic operator does, with the cluster's replication)."""
    pattern = {"literal": "literal", "prefixed": "prefix"}
    out = {
        ("allow", a.resource, pattern[a.pattern], a.name, a.operation)
        for a in kafka_acls().acls(specs())
        if a.user == service and not (a.operation == "Create" and a.pattern == "literal")  # the topic operator's job
    }
    inbound = [s.topic for s in specs()[service].subscriptions if s.topic.kind is topics.TopicKind.inbound]
    for partner in partners:
        for topic in inbound:
            out |= {
                ("allow", "topic", "literal", topics.partner_topic(partner, topic), op) for op in ("Describe", "Read")
            }
        if inbound:
            rejected = topics.partner_rejected_topic(partner)
            out |= {("allow", "topic", "literal", rejected, op) for op in ("Describe", "Write")}
    return out


def partner_model(partner: str) -> set[tuple[str, str, str, str, str]]:
    pattern = {"LITERAL": "literal", "PREFIXED": "prefix"}
    return {
        (a.permission.lower(), a.resource.lower(), pattern[a.pattern], a.name, a.operation.title())
        for a in partner_acls(partner)
    }


def max_partitions(service: str) -> int:
    return max(int(s.topic.partitions) for s in specs()[service].subscriptions)


# --- tests --------------------------------------------------------------------------------------------------------


def test_the_committed_registry_file_is_what_the_registry_generates() -> None:
    committed = (CHART / "files" / "registry.yaml").read_text(encoding="utf-8")
    assert committed == helm_registry().render(), "run `python deploy/helm/registry.py`"


@pytest.mark.parametrize("size", ["small", "large"])
def test_every_rendered_object_validates_against_its_schema(size: str) -> None:
    started = time.perf_counter()
    docs = rendered(size)
    rendered_s = time.perf_counter() - started
    errors = [error for doc in docs for error in validate(doc)]
    assert errors == []
    kinds = sorted({doc["kind"] for doc in docs})
    custom = [doc for doc in docs if (doc["apiVersion"], doc["kind"]) in crd_schemas()]
    print(
        f"\n{size}: {len(docs)} objects ({len(custom)} custom resources) of {len(kinds)} kinds, rendered in "
        f"{rendered_s:.2f} s, validated in {time.perf_counter() - started - rendered_s:.2f} s"
    )
    for kind in ("Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "Cluster", "ScaledObject", "Deployment"):
        assert kind in kinds


@pytest.mark.parametrize("size", ["small", "large"])
def test_helm_lint_strict_passes(size: str) -> None:
    done = helm("lint", str(CHART), "--strict", "-f", str(VALUES[size]))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_default_values_render_alone() -> None:
    done = helm_template()
    assert done.returncode == 0, done.stderr


def test_schema_validation_refuses_an_unknown_field_and_a_wrong_type() -> None:
    topic = copy.deepcopy(of_kind(rendered("small"), "KafkaTopic")[0])
    topic["spec"]["partitionz"] = 3
    assert any("partitionz" in e for e in validate(topic))
    user = copy.deepcopy(of_kind(rendered("small"), "KafkaUser")[-1])
    user["spec"]["authorization"]["acls"][0]["operations"] = ["Everything"]
    assert any("Everything" in e for e in validate(user))
    deployment = copy.deepcopy(of_kind(rendered("small"), "Deployment")[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    assert validate(deployment) != []
    deployment = copy.deepcopy(of_kind(rendered("small"), "Deployment")[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    assert any("readinesProbe" in e for e in validate(deployment))


@pytest.mark.parametrize("size", ["small", "large"])
def test_the_topics_rendered_are_the_registrys(size: str) -> None:
    partners = values(size)["kafka"]["partners"]
    kafka_topics = of_kind(rendered(size), "KafkaTopic")
    got = {(t["spec"]["topicName"], t["spec"]["partitions"]) for t in kafka_topics}
    assert got == registry_topics(partners)
    assert len(got) == len(kafka_topics)  # no topic twice


@pytest.mark.parametrize(("size", "replicas", "min_insync"), [("small", 1, "1"), ("large", 3, "2")])
def test_topics_are_replicated_by_the_broker_count(size: str, replicas: int, min_insync: str) -> None:
    docs = rendered(size)
    for topic in of_kind(docs, "KafkaTopic"):
        assert topic["spec"]["replicas"] == replicas
        assert topic["spec"]["config"]["min.insync.replicas"] == min_insync
    (pool,) = of_kind(docs, "KafkaNodePool")
    assert pool["spec"]["replicas"] == values(size)["kafka"]["brokers"]


@pytest.mark.parametrize("size", ["small", "large"])
def test_the_kafka_users_hold_exactly_the_acls_of_the_security_model(size: str) -> None:
    partners = values(size)["kafka"]["partners"]
    users = {u["metadata"]["name"]: u for u in of_kind(rendered(size), "KafkaUser")}
    creates = {
        (service, name)
        for service in SERVICES
        for *_, name, op in strimzi_acls(users[f"bpass-{service}"])
        if op == "Create"
    }
    assert creates == {("reporting", "bpass.tenant.")}  # reporting creates tenant streams as tenants appear
    for service in SERVICES:
        assert strimzi_acls(users.pop(f"bpass-{service}")) == service_acls(service, partners), service
    for partner in partners:
        assert strimzi_acls(users.pop(kafka_user(partner))) == partner_model(partner), partner
    admin = users.pop("bpass-admin")
    assert "authorization" not in admin["spec"]  # a super user (Kafka spec.kafka.authorization.superUsers)
    (kafka,) = of_kind(rendered(size), "Kafka")
    assert kafka["spec"]["kafka"]["authorization"]["superUsers"] == ["bpass-admin"]
    assert users == {}


def test_the_large_values_have_partners_and_their_acls_are_their_own() -> None:
    partners = values("large")["kafka"]["partners"]
    assert len(partners) >= 2
    users = {u["metadata"]["name"]: u for u in of_kind(rendered("large"), "KafkaUser")}
    first, second = (strimzi_acls(users[kafka_user(p)]) for p in partners[:2])
    assert not any(partners[1] in name for *_, name, _ in first)
    assert not any(partners[0] in name for *_, name, _ in second)


@pytest.mark.parametrize("size", ["small", "large"])
def test_each_consumer_scales_on_its_lag_never_above_its_partitions(size: str) -> None:
    docs = rendered(size)
    scaled = {s["spec"]["scaleTargetRef"]["name"]: s for s in of_kind(docs, "ScaledObject")}
    deployments = {d["metadata"]["name"] for d in of_kind(docs, "Deployment")}
    assert set(scaled) == deployments == {f"bpass-{s}" for s in SERVICES}
    for service in SERVICES:
        spec = scaled[f"bpass-{service}"]["spec"]
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= max_partitions(service), service
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "kafka"
        assert trigger["metadata"]["consumerGroup"] == Settings().group_id(service)
        assert trigger["metadata"]["allowIdleConsumers"] == "false"
    if size == "large":  # the large deployment lets every consumer group use all its partitions
        assert {s: scaled[f"bpass-{s}"]["spec"]["maxReplicaCount"] for s in SERVICES} == {
            s: max_partitions(s) for s in SERVICES
        }


@pytest.mark.parametrize(
    "override",
    [
        "services.custody.autoscaling.maxReplicas=7",
        "services.reporting.autoscaling.maxReplicas=4",
        "services.identity.autoscaling.enabled=false,services.identity.replicas=4",
    ],
)
def test_the_chart_refuses_more_replicas_than_partitions(override: str) -> None:
    done = helm_template("-f", str(VALUES["large"]), "--set", override)
    assert done.returncode != 0
    assert "[reason: replicas_above_partitions]" in done.stderr


def test_the_chart_refuses_too_few_postgres_connections_and_a_bad_partner() -> None:
    done = helm_template("-f", str(VALUES["large"]), "--set", "postgres.maxConnections=100")
    assert "[reason: max_connections_too_low]" in done.stderr
    done = helm_template("-f", str(VALUES["large"]), "--set", "kafka.partners={Acme_Corp}")
    assert "[reason: invalid_partner]" in done.stderr


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("kafka.brokerz=3", "additional properties 'brokerz' not allowed"),
        ("services.custody.autoscaling.lagThreshold=0", "minimum: got 0, want 1"),
        ("publicBaseUrl=passport.example.com", "/publicBaseUrl"),
    ],
)
def test_the_values_schema_refuses_a_misspelt_or_impossible_value(override: str, message: str) -> None:
    done = helm_template("-f", str(VALUES["small"]), "--set", override)
    assert done.returncode != 0
    assert message in done.stderr


def _containers(docs: tuple[dict[str, Any], ...]) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in of_kind(docs, "Deployment") + of_kind(docs, "Job"):
        for container in doc["spec"]["template"]["spec"]["containers"]:
            yield doc["metadata"]["name"], container


def test_probes_use_each_services_health_routes() -> None:
    deployments = {d["metadata"]["name"]: d for d in of_kind(rendered("large"), "Deployment")}
    for service in SERVICES:
        app = Runtime(specs()[service], Settings()).http_app()
        routes = {getattr(route, "path", None) for route in app.routes}
        (container,) = deployments[f"bpass-{service}"]["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["python", "-m", f"services.{service}"]
        # The port the service listens on in the pod: the chart's BPASS_<SERVICE>_PORT, else the setting's default
        # (not this machine's environment, which may move the local ports).
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        default = Settings.model_fields[f"{service}_port"].default
        listens = int(env.get(f"BPASS_{service.upper()}_PORT") or default)
        assert container["ports"][0]["containerPort"] == listens
        assert container["livenessProbe"]["httpGet"]["path"] == f"/{service}/health/live" in routes
        assert container["startupProbe"]["httpGet"]["path"] == f"/{service}/health/live"
        assert container["readinessProbe"]["httpGet"]["path"] == f"/{service}/health/ready" in routes


@pytest.mark.parametrize("size", ["small", "large"])
def test_secrets_come_from_secret_objects_and_every_setting_exists(size: str) -> None:
    docs = rendered(size)
    v = values(size)
    users = {u["metadata"]["name"] for u in of_kind(docs, "KafkaUser")}  # Strimzi writes a Secret per user
    provided = {s["metadata"]["name"] for s in of_kind(docs, "Secret")}
    provided |= users | {f"{v['postgres']['name']}-app", v["secrets"]["redis"], v["secrets"]["apiKeys"]}
    fields = {f"BPASS_{name.upper()}" for name in Settings.model_fields} | {signing.KEY_FILE_ENV}
    for name, container in _containers(docs):
        env = {e["name"]: e for e in container["env"]}
        assert set(env) <= fields, f"{name}: settings that do not exist: {set(env) - fields}"
        for key, entry in env.items():
            if any(word in key for word in ("PASSWORD", "DATABASE_URL", "REDIS_URL")):
                assert "value" not in entry, f"{name}: {key} is a plain value"
                assert entry["valueFrom"]["secretKeyRef"]["name"] in provided, f"{name}: {key}"
        if name != "bpass-migrations":
            assert set(SECRET_SETTINGS) <= set(env), name
        assert container["resources"]["requests"]["cpu"]
        assert container["resources"]["requests"]["memory"]


@pytest.mark.parametrize("size", ["small", "large"])
def test_reporting_signs_with_one_key_from_a_secret(size: str) -> None:
    (deployment,) = [d for d in of_kind(rendered(size), "Deployment") if d["metadata"]["name"] == "bpass-reporting"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    key_file = Path(next(e["value"] for e in container["env"] if e["name"] == signing.KEY_FILE_ENV))
    (mount,) = [m for m in container["volumeMounts"] if Path(m["mountPath"]) == key_file.parent]
    (volume,) = [vol for vol in pod["volumes"] if vol["name"] == mount["name"]]
    assert volume["secret"]["secretName"] == values(size)["secrets"]["reportingSigningKey"]
    assert [item["path"] for item in volume["secret"]["items"]] == [key_file.name]


def test_migrations_run_as_a_hook_job_before_an_upgrade() -> None:
    (job,) = of_kind(rendered("large"), "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,pre-upgrade"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    script = container["command"][-1]
    assert "from services.common.db import migrate" in script
    migrated = re.search(r"for name in (\[.*?\]):", script)
    assert migrated is not None
    assert json.loads(migrated.group(1)) == sorted(SERVICES)
    compile(script, "migrations", "exec")  # the Job's program is valid Python


@pytest.mark.parametrize("size", ["small", "large"])
def test_every_service_has_a_disruption_budget_and_the_relay_lock_is_released_in_bounded_time(size: str) -> None:
    docs = rendered(size)
    budgets = {p["metadata"]["name"]: p["spec"] for p in of_kind(docs, "PodDisruptionBudget")}
    assert set(budgets) == {f"bpass-{s}" for s in SERVICES}
    assert all(b["maxUnavailable"] == 1 for b in budgets.values())
    (cluster,) = of_kind(docs, "Cluster")
    parameters = cluster["spec"]["postgresql"]["parameters"]
    # A relay's session lock outlives a vanished pod until keepalives give its connection up.
    idle, interval, count = (int(parameters[f"tcp_keepalives_{p}"]) for p in ("idle", "interval", "count"))
    assert idle + interval * count <= 60


@pytest.mark.parametrize("size", ["small", "large"])
def test_postgres_has_the_service_roles_row_level_security_applying_to_one(size: str) -> None:
    (cluster,) = of_kind(rendered(size), "Cluster")
    roles = {r["name"]: r for r in cluster["spec"]["managed"]["roles"]}
    assert set(roles) == {APP_ROLE, PLATFORM_ROLE}
    assert roles[APP_ROLE]["bypassrls"] is False
    assert roles[PLATFORM_ROLE]["bypassrls"] is True
    assert not any(r["superuser"] for r in roles.values())
    assert cluster["spec"]["instances"] == values(size)["postgres"]["instances"]
