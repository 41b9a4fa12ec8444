"""The Kafka users and ACLs of the compose deployment, generated from the topic registry so they never drift.

Sources of truth: `contracts/topics.py` (every topic, its kind and owner service) and each service's `ServiceSpec`
(`services/<name>/app.py`: what it subscribes to and publishes). Rules:

- a service writes (and may create) what it publishes, its rejected topic and its dead-letter topic, and reads what
  it subscribes to, in its consumer group `bpass-<service>`, and what each of its instances reads whole without a
  group (`fanout_reads`: custody's EPCIS captured events for WebSocket subscriptions); reporting writes the tenant
  streams (`bpass.tenant.`);
- a partner writes only the inbound topics of its role (`INBOUND_WRITERS`), reads the rejected topic of the service
  owning them (to see why it was refused), and consumes in groups named after itself (`<user>.` prefix);
- an OEM tenant's user also reads only its own tenant's topics (`bpass.tenant.<tenant>.` prefix);
- the admin user is a super user (`super.users`); anything else is denied (`allow.everyone.if.no.acl.found=false`).

    python deploy/compose/kafka_acls.py              # kafka-acls.sh arguments, one ACL binding set per line
    python deploy/compose/kafka_acls.py --table      # the Markdown table of docs/security/kafka.md
    python deploy/compose/kafka_acls.py --users      # the SCRAM users to create
    python deploy/compose/kafka_acls.py --out FILE   # write the arguments to FILE (the compose init step)

An inbound topic without writers in `INBOUND_WRITERS` is an error: a new inbound topic must say who may publish it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: the repository root is importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from contracts import topics
from contracts.topics import Topic, TopicKind, dead_letter_topic

SERVICES = ("identity", "custody", "recovery", "reporting")
ADMIN = "admin"
TENANT_PREFIX = "bpass.tenant."

# Who may publish each inbound topic, by partner role (the API-key roles of services/common/auth.py, plus `oem`
# for an OEM tenant's systems: MES/PLM/ERP and its BMS / fleet back-ends).
INBOUND_WRITERS: dict[str, frozenset[str]] = {
    topics.MINT_REQUESTS.name: frozenset({"oem"}),
    topics.CUSTODY_EVENTS.name: frozenset({"carrier", "collector", "recycler", "refiner", "repairer"}),
    topics.CUSTODY_EPCIS_DOCUMENTS.name: frozenset({"carrier", "collector", "recycler", "refiner", "repairer"}),
    topics.TELEMETRY.name: frozenset({"oem", "repairer"}),
    topics.TREATMENT_BATCHES.name: frozenset({"recycler"}),
    topics.REFINER_REPORTS.name: frozenset({"refiner"}),
}


@dataclass(frozen=True)
class Partner:
    """An example partner user: its Kafka user name, its role, and (for an OEM) its tenant."""

    user: str
    role: str
    tenant: str | None = None


# The example partner users the compose deployment creates (docs/security/kafka.md: how a partner gets one).
PARTNERS = (
    Partner("partner-demo-oem", "oem", tenant="demo-oem"),
    Partner("partner-demo-carrier", "carrier"),
    Partner("partner-demo-collector", "collector"),
    Partner("partner-demo-recycler", "recycler"),
    Partner("partner-demo-refiner", "refiner"),
)


@dataclass(frozen=True, order=True)
class Acl:
    """One allow binding: principal `User:<user>` may `operation` on a resource (literal name or prefix)."""

    user: str
    resource: str  # topic | group
    name: str
    pattern: str  # literal | prefixed
    operation: str  # Read | Write | Create | Describe


def service_specs() -> dict[str, Any]:
    """Each service's ServiceSpec (what it subscribes to and publishes), from its composition root."""
    return {name: importlib.import_module(f"services.{name}.app").build_spec() for name in SERVICES}


def users() -> list[str]:
    return [*SERVICES, *(p.user for p in PARTNERS)]


def _topic_acls(user: str, name: str, operations: tuple[str, ...], pattern: str = "literal") -> list[Acl]:
    return [Acl(user, "topic", name, pattern, op) for op in operations]


def acls(specs: dict[str, Any] | None = None, namespace: str = "") -> list[Acl]:
    """Every ACL binding of the deployment, sorted; `namespace` is BPASS_TOPIC_NAMESPACE when one is set."""
    specs = specs if specs is not None else service_specs()
    missing = [t.name for t in topics.ALL if t.kind is TopicKind.inbound and t.name not in INBOUND_WRITERS]
    if missing:
        raise SystemExit(f"inbound topics without writers in INBOUND_WRITERS: {missing}")
    out: set[Acl] = set()
    for service, spec in specs.items():
        written: list[Topic] = [*spec.publishes, spec.rejected_topic]
        for topic in written:
            if topic.owner != service:
                raise SystemExit(f"{service} publishes {topic.name}, which the registry says {topic.owner} owns")
        names = {namespace + t.name for t in written} | {namespace + dead_letter_topic(service)}
        for name in names:
            out.update(_topic_acls(service, name, ("Write", "Create", "Describe")))
        for subscription in spec.subscriptions:
            out.update(_topic_acls(service, namespace + subscription.topic.name, ("Read", "Create", "Describe")))
        for topic in spec.fanout_reads:  # read by partition assignment: no consumer group
            out.update(_topic_acls(service, namespace + topic.name, ("Read", "Describe")))
        out.update(Acl(service, "group", f"{namespace}bpass-{service}", "literal", op) for op in ("Read", "Describe"))
    out.update(_topic_acls("reporting", namespace + TENANT_PREFIX, ("Write", "Create", "Describe"), "prefixed"))
    for partner in PARTNERS:
        for topic in topics.ALL:
            if partner.role in INBOUND_WRITERS.get(topic.name, frozenset()):
                out.update(_topic_acls(partner.user, namespace + topic.name, ("Write", "Describe")))
                rejected = specs[topic.owner].rejected_topic
                out.update(_topic_acls(partner.user, namespace + rejected.name, ("Read", "Describe")))
        if partner.tenant is not None:
            own = f"{namespace}{TENANT_PREFIX}{partner.tenant}."
            out.update(_topic_acls(partner.user, own, ("Read", "Describe"), "prefixed"))
        out.update(Acl(partner.user, "group", f"{partner.user}.", "prefixed", op) for op in ("Read", "Describe"))
    return sorted(out)


def kafka_acls_arguments(bindings: list[Acl]) -> list[str]:
    """`kafka-acls.sh --add` arguments, one line per (user, resource type, pattern, operations), names grouped."""
    grouped: dict[tuple[str, str, str, tuple[str, ...]], list[str]] = defaultdict(list)
    operations: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
    for acl in bindings:
        operations[(acl.user, acl.resource, acl.pattern, acl.name)].append(acl.operation)
    for (user, resource, pattern, name), allowed in operations.items():
        grouped[(user, resource, pattern, tuple(sorted(allowed)))].append(name)
    lines = []
    for (user, resource, pattern, ops), names in sorted(grouped.items()):
        parts = [f"--allow-principal User:{user}", *(f"--operation {op}" for op in ops)]
        parts += [f"--{resource} {name}" for name in sorted(names)]
        parts.append(f"--resource-pattern-type {pattern}")
        lines.append(" ".join(parts))
    return lines


def markdown_table(bindings: list[Acl]) -> str:
    """One row per user and resource: the operations allowed on it."""
    rows: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
    for acl in bindings:
        rows[(acl.user, acl.resource, acl.name, acl.pattern)].append(acl.operation)
    order = {user: n for n, user in enumerate(users())}
    lines = ["| user | resource | name | operations |", "| --- | --- | --- | --- |"]
    for (user, resource, name, pattern), ops in sorted(rows.items(), key=lambda kv: (order[kv[0][0]], kv[0][1:])):
        shown = f"`{name}*`" if pattern == "prefixed" else f"`{name}`"
        lines.append(f"| {user} | {resource} | {shown} | {', '.join(sorted(ops))} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--table", action="store_true", help="print the Markdown table of the ACLs")
    shown.add_argument("--users", action="store_true", help="print the SCRAM users, one per line")
    parser.add_argument("--namespace", default="", help="topic namespace prefix (BPASS_TOPIC_NAMESPACE)")
    parser.add_argument("--out", type=Path, help="write the kafka-acls.sh arguments to this file")
    args = parser.parse_args(argv)
    if args.users:
        print("\n".join(users()))
        return 0
    bindings = acls(namespace=args.namespace)
    if args.table:
        print(markdown_table(bindings))
        return 0
    text = "\n".join(kafka_acls_arguments(bindings)) + "\n"
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
        print(f"{len(bindings)} ACL bindings for {len(users())} users written to {args.out}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
