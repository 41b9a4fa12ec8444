"""Every topic of the platform: `bpass.<domain>.<name>.v<N>`. A breaking change is a new version, never an edit."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from contracts.base import Message
from contracts.custody import (
    CustodyEventReported,
    CustodyRecorded,
    EpcisDocumentSubmitted,
    EpcisEventsCaptured,
    HandlerRegistryChanged,
    PassportStatusChanged,
)
from contracts.identity import (
    MintPassportsRequested,
    PassportAmended,
    PassportMinted,
    PassportMintedV1,
    PassportSuperseded,
)
from contracts.recovery import (
    PassportCeased,
    RecoveryAttributed,
    RecycledContentAssessed,
    RefinerReportSubmitted,
    TreatmentBatchReported,
)
from contracts.rejections import MessageRejected
from contracts.telemetry import InServiceDataUpdated, TelemetryReported

TOPIC_NAME = re.compile(r"^bpass\.[a-z][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)+\.v[1-9][0-9]*$")
TENANT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


class TopicKind(StrEnum):
    inbound = "inbound"  # written by partners: untrusted, validated, answered on a rejected topic
    fact = "fact"  # written by one service, read by others
    stream = "stream"  # written for OEM systems
    dead_letter = "dead_letter"


@dataclass(frozen=True)
class Topic:
    name: str
    payload: type[Message]
    kind: TopicKind
    owner: str
    description: str
    partitions: int = 3


MINT_REQUESTS = Topic(
    "bpass.identity.mint-requests.v1",
    MintPassportsRequested,
    TopicKind.inbound,
    "identity",
    "OEM systems ask for passports to be minted; keyed by the OEM's request id.",
)
PASSPORT_MINTED = Topic(
    "bpass.identity.passport-minted.v2",
    PassportMinted,
    TopicKind.fact,
    "identity",
    "A passport was minted; keyed by passport id. Its static data document is named by digest and carried by the "
    "first fact of each partition of a publication.",
)
# Retired topics: nothing publishes or reads them any more; listed so their committed schemas stay described.
PASSPORT_MINTED_V1 = Topic(
    "bpass.identity.passport-minted.v1",
    PassportMintedV1,
    TopicKind.fact,
    "identity",
    "Retired by bpass.identity.passport-minted.v2 (static data by digest instead of ~5 kB in every fact).",
)
PASSPORT_AMENDED = Topic(
    "bpass.identity.passport-amended.v1",
    PassportAmended,
    TopicKind.fact,
    "identity",
    "A passport's static data changed: a new version, with who, when and why; keyed by passport id.",
)
PASSPORT_SUPERSEDED = Topic(
    "bpass.identity.passport-superseded.v1",
    PassportSuperseded,
    TopicKind.fact,
    "identity",
    "A passport was continued by a new one (repurposing, remanufacturing, re-use; Art. 77(7)): its status and "
    "responsible operator changed; keyed by the predecessor's passport id.",
)
IDENTITY_REJECTED = Topic(
    "bpass.identity.rejected.v1",
    MessageRejected,
    TopicKind.fact,
    "identity",
    "Inbound identity messages that were refused, with reasons.",
)
CUSTODY_EVENTS = Topic(
    "bpass.custody.events.v1",
    CustodyEventReported,
    TopicKind.inbound,
    "custody",
    "Custody steps reported by carriers, collectors, recyclers and refiners; keyed by passport id or identifier.",
)
CUSTODY_RECORDED = Topic(
    "bpass.custody.custody-recorded.v1",
    CustodyRecorded,
    TopicKind.fact,
    "custody",
    "A custody step was appended to a passport's custody log; keyed by passport id.",
)
CUSTODY_REJECTED = Topic(
    "bpass.custody.rejected.v1",
    MessageRejected,
    TopicKind.fact,
    "custody",
    "Inbound custody messages that were refused, with reasons; keyed like the refused message.",
)
CUSTODY_EPCIS_DOCUMENTS = Topic(
    "bpass.custody.epcis-documents.v1",
    EpcisDocumentSubmitted,
    TopicKind.inbound,
    "custody",
    "EPCIS 2.0 documents (JSON / JSON-LD body) published by handlers; keyed by any stable key of the sender.",
)
CUSTODY_HANDLER_REGISTRY = Topic(
    "bpass.custody.handler-registry.v1",
    HandlerRegistryChanged,
    TopicKind.fact,
    "custody",
    "Every change of the verified handler registry (registered, amended, verified, suspended); keyed by handler id.",
)
CUSTODY_PASSPORT_STATUS = Topic(
    "bpass.custody.passport-status-changed.v1",
    PassportStatusChanged,
    TopicKind.fact,
    "custody",
    "Lifecycle stage / status changes custody learns (placed on market, in service, collected, in treatment); "
    "keyed by passport id.",
)
CUSTODY_EPCIS_EVENTS_CAPTURED = Topic(
    "bpass.custody.epcis-events-captured.v1",
    EpcisEventsCaptured,
    TopicKind.fact,
    "custody",
    "The EPCIS events a capture kept (hash, eventID, type), published once they are queryable; keyed by capture id. "
    "Feeds the EPCIS query subscriptions.",
)
RECOVERY_REJECTED = Topic(
    "bpass.recovery.rejected.v1",
    MessageRejected,
    TopicKind.fact,
    "recovery",
    "Inbound recovery messages that were refused, with reasons.",
)
TREATMENT_BATCHES = Topic(
    "bpass.recovery.treatment-batches.v1",
    TreatmentBatchReported,
    TopicKind.inbound,
    "recovery",
    "Recyclers report treatment batches: inputs by passport, outputs with assays, losses; keyed by batch id.",
)
REFINER_REPORTS = Topic(
    "bpass.recovery.refiner-reports.v1",
    RefinerReportSubmitted,
    TopicKind.inbound,
    "recovery",
    "Refiners report what they produced from which recycler lots; keyed by report id.",
)
RECOVERY_ATTRIBUTED = Topic(
    "bpass.recovery.recovery-attributed.v1",
    RecoveryAttributed,
    TopicKind.fact,
    "recovery",
    "Recovered material attributed to a passport, line by line; keyed by passport id.",
)
PASSPORT_CEASED = Topic(
    "bpass.recovery.passport-ceased.v1",
    PassportCeased,
    TopicKind.fact,
    "recovery",
    "A battery was recycled and its passport ceased (Art. 77(8)); keyed by passport id.",
)
RECYCLED_CONTENT_ASSESSED = Topic(
    "bpass.recovery.recycled-content-assessed.v1",
    RecycledContentAssessed,
    TopicKind.fact,
    "recovery",
    "An OEM's recycled-content claim (Art. 8) checked and assessed; keyed by claim id.",
)
REPORTING_REJECTED = Topic(
    "bpass.reporting.rejected.v1",
    MessageRejected,
    TopicKind.fact,
    "reporting",
    "Facts the reporting projection could not read, with reasons (a contract mismatch between services).",
)

# In-service data (lifecycle): BMS / fleet readings in, latest values out.
TELEMETRY = Topic(
    "bpass.custody.telemetry.v1",
    TelemetryReported,
    TopicKind.inbound,
    "custody",
    "State of health, charge, cycles, temperatures from BMS and fleet systems; keyed by passport id.",
    partitions=6,
)
IN_SERVICE_DATA = Topic(
    "bpass.custody.in-service-data.v1",
    InServiceDataUpdated,
    TopicKind.fact,
    "custody",
    "A passport's latest in-service values changed; keyed by passport id.",
)

ALL: tuple[Topic, ...] = (
    TELEMETRY,
    IN_SERVICE_DATA,
    MINT_REQUESTS,
    PASSPORT_MINTED,
    IDENTITY_REJECTED,
    PASSPORT_AMENDED,
    PASSPORT_SUPERSEDED,
    CUSTODY_EVENTS,
    CUSTODY_RECORDED,
    CUSTODY_REJECTED,
    CUSTODY_EPCIS_DOCUMENTS,
    CUSTODY_HANDLER_REGISTRY,
    CUSTODY_PASSPORT_STATUS,
    CUSTODY_EPCIS_EVENTS_CAPTURED,
    RECOVERY_REJECTED,
    TREATMENT_BATCHES,
    REFINER_REPORTS,
    RECOVERY_ATTRIBUTED,
    PASSPORT_CEASED,
    RECYCLED_CONTENT_ASSESSED,
    REPORTING_REJECTED,
)
RETIRED: tuple[Topic, ...] = (PASSPORT_MINTED_V1,)

TENANT_PASSPORT_CHANGES = "bpass.tenant.{tenant}.passport-changes.v1"
# Compacted (cleanup.policy=compact), keyed by passport id, payload `contracts.reporting.PassportState`.
TENANT_PASSPORT_STATE = "bpass.tenant.{tenant}.passport-state.v1"


def tenant_passport_changes(tenant: str) -> str:
    """The owning tenant's change-stream topic (payload: `PassportChanged`)."""
    if not TENANT_NAME.match(tenant):
        raise ValueError(f"tenant {tenant!r} is not a valid tenant name (a-z, 0-9, '-', 2..63 chars)")
    return TENANT_PASSPORT_CHANGES.format(tenant=tenant)


def tenant_passport_state(tenant: str) -> str:
    """The owning tenant's compacted latest-state topic (payload: `PassportState`), to rebuild state from."""
    if not TENANT_NAME.match(tenant):
        raise ValueError(f"tenant {tenant!r} is not a valid tenant name (a-z, 0-9, '-', 2..63 chars)")
    return TENANT_PASSPORT_STATE.format(tenant=tenant)


# Per-partner topics (docs/security/kafka.md). A partner (an OEM tenant, or a handler: carrier, collector, recycler,
# refiner, repairer) publishes only to topics under `bpass.partner.<partner>.` (a prefixed WRITE ACL for its Kafka
# user), so the broker tells the services who sent a message: the services refuse one whose ce_source names another
# principal (`source_not_principal`). Each inbound topic has a partner form, `bpass.partner.<partner>.<domain>.<name>
# .v<N>`, and every refusal of a partner's message goes to its own `bpass.partner.<partner>.rejected.v1`, which only it
# may read (and, by a DENY ACL, not write).
PARTNER_PREFIX = "bpass.partner."
PARTNER_TOPIC = re.compile(r"^bpass\.partner\.(?P<partner>[a-z0-9][a-z0-9-]{1,62})\.(?P<rest>[a-z0-9.-]+)$")
PARTNER_REJECTED = "rejected.v1"


def _partner_name(partner: str) -> str:
    if not TENANT_NAME.match(partner):
        raise ValueError(f"partner {partner!r} is not a valid tenant or handler id (a-z, 0-9, '-', 2..63 chars)")
    return partner


def partner_topic(partner: str, topic: Topic) -> str:
    """The partner's own form of an inbound topic: `bpass.partner.<partner>.<domain>.<name>.v<N>`."""
    if topic.kind is not TopicKind.inbound:
        raise ValueError(f"{topic.name} is not an inbound topic")
    return f"{PARTNER_PREFIX}{_partner_name(partner)}.{topic.name.removeprefix('bpass.')}"


def partner_rejected_topic(partner: str) -> str:
    """Where the refusals of the partner's messages go, whichever service refused them."""
    return f"{PARTNER_PREFIX}{_partner_name(partner)}.{PARTNER_REJECTED}"


def partner_topic_pattern(namespace: str, inbound: Sequence[Topic]) -> str:
    """A regular expression of every partner's form of the `inbound` topics (namespaced): a pattern subscription."""
    forms = "|".join(re.escape(topic.name.removeprefix("bpass.")) for topic in inbound)
    return f"^{re.escape(namespace + PARTNER_PREFIX)}[a-z0-9][a-z0-9-]{{1,62}}\\.(?:{forms})$"


def partner_of(name: str) -> str | None:
    """The partner a topic (without its namespace) belongs to, or None for a platform topic."""
    match = PARTNER_TOPIC.match(name)
    return match.group("partner") if match else None


def dead_letter_topic(service: str) -> str:
    """Where a service parks messages it could not process after its bounded retries."""
    return f"bpass.{service}.dead-letter.v1"


def by_name(name: str) -> Topic:
    for topic in ALL:
        if topic.name == name:
            return topic
    raise KeyError(name)
