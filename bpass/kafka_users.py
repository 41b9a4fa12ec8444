"""Partners' Kafka users on the local stack: a SCRAM-SHA-512 credential and the ACLs of the partner's own topics.

A partner (an OEM tenant, or a handler: carrier, collector, recycler, refiner, repairer) gets the Kafka user
`partner-<partner>`, which may write only under `bpass.partner.<partner>.` and read only its own refusals
(`bpass.partner.<partner>.rejected.v1`) and, as a tenant, its own change streams (`bpass.tenant.<partner>.`). The
services refuse a message on a partner topic whose `ce_source` names anyone else (docs/security/kafka.md).

Kafka's Admin API for SCRAM credentials and ACLs is not in aiokafka: `deploy/local/kafka/KafkaAdmin.java` does it,
compiled once against the broker's jars (`BPASS_KAFKA_LIBS`, exported by `stack.sh env`) and run as the platform user.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from contracts import topics
from contracts.topics import PARTNER_PREFIX, TopicKind, partner_rejected_topic, partner_topic
from services.common.messaging import ensure_topics
from services.common.settings import REPO_ROOT, Settings

ADMIN_SOURCE = REPO_ROOT / "deploy" / "local" / "kafka" / "KafkaAdmin.java"
USER_PREFIX = "partner-"


def kafka_user(partner: str) -> str:
    """The Kafka user of a partner (never the platform's `bpass-platform`: partners' users all start `partner-`)."""
    return f"{USER_PREFIX}{partner}"


@dataclass(frozen=True)
class Acl:
    permission: str  # ALLOW | DENY
    operation: str  # WRITE | READ | DESCRIBE
    resource: str  # TOPIC | GROUP
    pattern: str  # LITERAL | PREFIXED
    name: str

    def command(self, user: str) -> str:
        return f"acl {self.permission} {user} {self.operation} {self.resource} {self.pattern} {self.name}"


def partner_acls(partner: str, namespace: str = "") -> list[Acl]:
    """Every ACL binding of a partner's user; `namespace` is BPASS_TOPIC_NAMESPACE when one is set."""
    own = f"{namespace}{PARTNER_PREFIX}{partner}."
    rejected = namespace + partner_rejected_topic(partner)
    streams = f"{namespace}bpass.tenant.{partner}."
    groups = f"{kafka_user(partner)}."
    return [
        Acl("ALLOW", "WRITE", "TOPIC", "PREFIXED", own),
        Acl("ALLOW", "DESCRIBE", "TOPIC", "PREFIXED", own),
        # Its refusals are written by the services only: a partner cannot forge what it reads there.
        Acl("DENY", "WRITE", "TOPIC", "LITERAL", rejected),
        Acl("ALLOW", "READ", "TOPIC", "LITERAL", rejected),
        Acl("ALLOW", "READ", "TOPIC", "PREFIXED", streams),
        Acl("ALLOW", "DESCRIBE", "TOPIC", "PREFIXED", streams),
        Acl("ALLOW", "READ", "GROUP", "PREFIXED", groups),
        Acl("ALLOW", "DESCRIBE", "GROUP", "PREFIXED", groups),
    ]


def partner_topics(partner: str, namespace: str = "") -> list[tuple[str, int]]:
    """The partner's topics (namespaced) with their partition counts: its form of every inbound topic, its refusals."""
    inbound = [t for t in topics.ALL if t.kind is TopicKind.inbound]
    names = [(namespace + partner_topic(partner, t), t.partitions) for t in inbound]
    return [*names, (namespace + partner_rejected_topic(partner), 3)]


@dataclass(frozen=True)
class PartnerCredentials:
    partner: str
    user: str
    password: str
    properties_file: Path


class KafkaAdminError(RuntimeError):
    pass


def _libs(settings: Settings) -> Path:
    libs = settings.kafka_libs or REPO_ROOT / "var" / "local" / "kafka" / "libs"
    if not any(libs.glob("kafka-clients-*.jar")):
        raise KafkaAdminError(f"no kafka-clients jar in {libs}: run `make stack` (or set BPASS_KAFKA_LIBS)")
    return libs


def _compiled(libs: Path) -> Path:
    """The admin tool's classes, compiled once per version of its source (javac, from the JDK)."""
    digest = hashlib.sha256(ADMIN_SOURCE.read_bytes() + str(libs).encode()).hexdigest()[:12]
    classes = Path(tempfile.gettempdir()) / f"bpass-kafka-admin-{digest}"
    if (classes / "KafkaAdmin.class").exists():
        return classes
    javac = shutil.which("javac")
    if javac is None:
        raise KafkaAdminError("javac not found: install a JDK (apt-get install -y default-jdk-headless)")
    building = Path(tempfile.mkdtemp(prefix="bpass-kafka-admin-"))
    subprocess.run(  # noqa: S603 - the JDK's compiler on our own source
        [javac, "-nowarn", "-cp", f"{libs}/*", "-d", str(building), str(ADMIN_SOURCE)],
        check=True,
        capture_output=True,
        timeout=180,
    )
    try:
        building.rename(classes)
    except OSError:  # another process compiled it meanwhile
        shutil.rmtree(building, ignore_errors=True)
    return classes


def run_admin(settings: Settings, commands: list[str]) -> None:
    """Apply `commands` (see KafkaAdmin.java) as the platform's Kafka user."""
    libs = _libs(settings)
    classes = _compiled(libs)
    java = shutil.which("java") or "java"
    env = {
        **os.environ,
        "BPASS_KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol,
        "BPASS_KAFKA_SASL_MECHANISM": settings.kafka_sasl_mechanism,
        "BPASS_KAFKA_SASL_USERNAME": settings.kafka_sasl_username or "",
        "BPASS_KAFKA_SASL_PASSWORD": (
            settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
        ),
    }
    done = subprocess.run(  # noqa: S603 - the JVM on our own tool
        [java, "-Xmx128m", "-cp", f"{libs}/*:{classes}", "KafkaAdmin", settings.kafka_bootstrap],
        input="\n".join(commands) + "\n",
        text=True,
        capture_output=True,
        env=env,
        timeout=180,
        check=False,
    )
    if done.returncode != 0:
        raise KafkaAdminError(f"KafkaAdmin failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    path.chmod(0o600)


async def add_partner(settings: Settings, partner: str, *, namespace: str | None = None) -> PartnerCredentials:
    """Create (or give a new password to) a partner's Kafka user, its topics and its ACLs; write its client
    settings, password included, to `<secrets_dir>/kafka-partner-<partner>.properties` (0600)."""
    partner_rejected_topic(partner)  # refuses a name that is not a valid tenant or handler id
    ns = settings.topic_namespace if namespace is None else namespace
    user = kafka_user(partner)
    password = secrets.token_urlsafe(24)
    await ensure_topics(settings, partner_topics(partner, ns))
    run_admin(settings, [f"scram-upsert {user} {password}", *(acl.command(user) for acl in partner_acls(partner, ns))])
    inbound = ", ".join(partner_topic(partner, t) for t in topics.ALL if t.kind is TopicKind.inbound)
    path = settings.secrets_dir / f"kafka-partner-{partner}.properties"
    _write_private(
        path,
        f"# Kafka client settings of partner {partner} (bpass kafka-user add): give them over a channel agreed out of\n"
        f"# band. It publishes as urn:bpass:tenant:{partner} or urn:bpass:handler:{partner} to {ns}{PARTNER_PREFIX}"
        f"{partner}.* ({inbound})\n# and reads its refusals on {ns}{partner_rejected_topic(partner)}.\n"
        f"bootstrap.servers={settings.kafka_bootstrap}\n"
        f"security.protocol={settings.kafka_security_protocol}\n"
        "sasl.mechanism=SCRAM-SHA-512\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{user}" password="{password}";\n',
    )
    return PartnerCredentials(partner, user, password, path)


def remove_partners(settings: Settings, partners: list[str]) -> None:
    """Delete partners' Kafka users and every ACL binding of them (their topics stay, with what they hold)."""
    commands = []
    for partner in partners:
        partner_rejected_topic(partner)  # refuses a name that is not a valid tenant or handler id
        commands += [f"acl-delete-user {kafka_user(partner)}", f"scram-delete {kafka_user(partner)}"]
    run_admin(settings, commands)
    for partner in partners:
        (settings.secrets_dir / f"kafka-partner-{partner}.properties").unlink(missing_ok=True)
