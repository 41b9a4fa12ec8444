"""The Kafka ACLs the Helm chart renders for each service's `KafkaUser` are enough for what the service does, and no
more, on the real broker of the SASL stack (make stack): a user holding exactly a service's rendered bindings (in this
test session's topic namespace) publishes its facts the way the outbox relay does (idempotent, acks=all), consumes a
topic it subscribes to and commits in its consumer group; it may not write another service's facts nor create a
registry topic (Strimzi's topic operator does)."""

from __future__ import annotations

import importlib
import secrets
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAuthorizationFailedError

from bpass.kafka_users import run_admin
from contracts import topics
from contracts.topics import Topic, TopicKind
from services.common.messaging import ensure_topics, stop_quietly
from services.common.settings import Settings
from tests.support import namespace, publish

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[3]
HELM = ROOT / "var" / "local" / "bin" / "helm"
CHART = ROOT / "deploy" / "helm" / "bpass"
TOPIC_AUTHORIZATION_FAILED = 29


def rendered_acls(service: str) -> list[dict[str, Any]]:
    if not HELM.exists():
        pytest.fail(f"{HELM.relative_to(ROOT)} is missing: run `make helm` (deploy/local/helm.sh builds it)")
    done = subprocess.run(  # noqa: S603 - the project's own helm binary on its own chart
        [str(HELM), "template", "bpass", str(CHART), "-f", str(CHART / "values-large.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (user,) = [
        doc
        for doc in yaml.safe_load_all(done.stdout)
        if doc and doc["kind"] == "KafkaUser" and doc["metadata"]["name"] == f"bpass-{service}"
    ]
    acls: list[dict[str, Any]] = user["spec"]["authorization"]["acls"]
    return acls


def admin_commands(user: str, acls: list[dict[str, Any]], namespace: str) -> list[str]:
    """KafkaAdmin.java's `acl` lines of the rendered rules, topic and group names in the test's namespace."""
    pattern = {"literal": "LITERAL", "prefix": "PREFIXED"}
    return [
        f"acl {rule.get('type', 'allow').upper()} {user} {op} {rule['resource']['type'].upper()} "
        f"{pattern[rule['resource']['patternType']]} {namespace}{rule['resource']['name']}"
        for rule in acls
        for op in rule["operations"]
    ]


SERVICES = ("identity", "custody", "recovery", "reporting")


def service_topics(service: str) -> tuple[Topic, Topic, Topic]:
    """A topic the service publishes, one it subscribes to, and another service's fact topic."""
    spec = importlib.import_module(f"services.{service}.app").build_spec(Settings())
    others = [t for t in topics.ALL if t.kind is TopicKind.fact and t.owner != service and t not in spec.publishes]
    return spec.publishes[0], spec.subscriptions[0].topic, others[0]


@pytest.fixture
def own(settings: Settings) -> Settings:
    """The session's settings in a topic namespace of this test's own: the session's running services consume in the
    same consumer groups (`<namespace>bpass-<service>`), took the test's records and use another group protocol."""
    return settings.model_copy(update={"topic_namespace": namespace(f"helm{uuid.uuid4().hex[:8]}")})


@pytest.fixture(params=SERVICES)
async def service_user(request: pytest.FixtureRequest, own: Settings) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    settings = own
    assert settings.kafka_security_protocol == "SASL_PLAINTEXT", "this test needs the SASL stack (make stack)"
    service: str = request.param
    user, password = f"helm-{service}-{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(24)
    # The topic operator's part: the registry's topics exist before the service's user touches them.
    await ensure_topics(settings, [(settings.topic(t.name), t.partitions) for t in service_topics(service)])
    commands = admin_commands(user, rendered_acls(service), settings.topic_namespace)
    run_admin(settings, [f"scram-upsert {user} {password}", *commands])
    yield (
        service,
        {
            "bootstrap_servers": settings.kafka_bootstrap,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": user,
            "sasl_plain_password": password,
        },
    )
    run_admin(settings, [f"acl-delete-user {user}", f"scram-delete {user}"])


async def produce(options: dict[str, Any], topic: str) -> None:
    producer = AIOKafkaProducer(**options, acks="all", enable_idempotence=True, request_timeout_ms=15_000)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=b"{}", key=b"passport")
    finally:
        await producer.stop()


async def test_a_services_rendered_acls_let_it_work_and_nothing_else(
    own: Settings, service_user: tuple[str, dict[str, Any]]
) -> None:
    settings = own
    service, options = service_user
    publishes, subscribes, foreign = service_topics(service)
    # Its facts, as its relay publishes them.
    await produce(options, settings.topic(publishes.name))
    # A topic it subscribes to, in its consumer group, with a commit (the subscriber commits after its transaction).
    marker = uuid.uuid4().hex.encode()
    await publish(settings, subscribes.name, marker, key="passport", headers=[])  # namespaced by it
    consumer = AIOKafkaConsumer(
        settings.topic(subscribes.name),
        **options,
        group_id=settings.group_id(service),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        seen: list[bytes] = []
        for _ in range(30):
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                seen.extend(r.value for r in records)
            if marker in seen:
                break
        assert marker in seen
        await consumer.commit()
    finally:
        await stop_quietly(consumer)
    # Another service's facts: refused.
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(options, settings.topic(foreign.name))
    # Creating a topic: refused (Strimzi's topic operator creates the registry's, with the cluster's replication).
    admin = AIOKafkaAdminClient(**options, request_timeout_ms=15_000)
    await admin.start()
    try:
        name = settings.topic(f"{publishes.name}.not-in-the-registry")
        response = await admin.create_topics([NewTopic(name=name, num_partitions=3, replication_factor=1)])
        assert [error[1] for error in response.topic_errors] == [TOPIC_AUTHORIZATION_FAILED]
    finally:
        await admin.close()
