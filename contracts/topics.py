"""Every topic of the platform: `bpass.<domain>.<name>.v<N>`. A breaking change is a new version, never an edit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from contracts.base import Message
from contracts.custody import CustodyEventReported, CustodyRecorded
from contracts.identity import MintPassportsRequested, PassportMinted
from contracts.rejections import MessageRejected

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
    "bpass.identity.passport-minted.v1",
    PassportMinted,
    TopicKind.fact,
    "identity",
    "A passport was minted; keyed by passport id.",
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
RECOVERY_REJECTED = Topic(
    "bpass.recovery.rejected.v1",
    MessageRejected,
    TopicKind.fact,
    "recovery",
    "Inbound recovery messages that were refused, with reasons.",
)
REPORTING_REJECTED = Topic(
    "bpass.reporting.rejected.v1",
    MessageRejected,
    TopicKind.fact,
    "reporting",
    "Facts the reporting projection could not read, with reasons (a contract mismatch between services).",
)

ALL: tuple[Topic, ...] = (
    MINT_REQUESTS,
    PASSPORT_MINTED,
    IDENTITY_REJECTED,
    CUSTODY_EVENTS,
    CUSTODY_RECORDED,
    CUSTODY_REJECTED,
    RECOVERY_REJECTED,
    REPORTING_REJECTED,
)

TENANT_PASSPORT_CHANGES = "bpass.tenant.{tenant}.passport-changes.v1"


def tenant_passport_changes(tenant: str) -> str:
    """The owning tenant's change-stream topic (payload: `PassportChanged`)."""
    if not TENANT_NAME.match(tenant):
        raise ValueError(f"tenant {tenant!r} is not a valid tenant name (a-z, 0-9, '-', 2..63 chars)")
    return TENANT_PASSPORT_CHANGES.format(tenant=tenant)


def dead_letter_topic(service: str) -> str:
    """Where a service parks messages it could not process after its bounded retries."""
    return f"bpass.{service}.dead-letter.v1"


def by_name(name: str) -> Topic:
    for topic in ALL:
        if topic.name == name:
            return topic
    raise KeyError(name)
