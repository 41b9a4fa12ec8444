"""Kafka authenticity against the SASL/SCRAM stack: who may connect, write and read, and whose source a message may
claim (docs/security/kafka.md).

Two partners, A and B, get Kafka users of their own (`bpass kafka-user add`). A partner writes only under
`bpass.partner.<partner>.`, reads only its own refusals, and a message on its topics that claims anyone else's source is
refused (`source_not_principal`) and never applied. A source naming an invalid tenant is refused by every service.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAuthorizationFailedError

from bpass.examples import valid_static_data
from bpass.kafka_users import PartnerCredentials, add_partner, remove_partners
from contracts import topics
from contracts.attributes import BatteryCategory
from contracts.identity import MintPassportsRequested, PassportSpec
from contracts.passport_data import BatteryKind, PassportSubject
from contracts.rejections import MessageRejected
from contracts.topics import partner_rejected_topic, partner_topic
from services.common.messaging import stop_quietly
from services.common.settings import Settings
from tests.support import ServiceProcess, cloudevent_headers, eventually, publish, read_topic

# The first test to use `platform` starts all four services within its own time (up to two minutes on a loaded
# machine), before it waits up to a minute for what it checks.
pytestmark = pytest.mark.timeout(300)


@dataclass
class Partner:
    name: str
    credentials: PartnerCredentials

    def options(self, settings: Settings) -> dict[str, Any]:
        return {
            "bootstrap_servers": settings.kafka_bootstrap,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": self.credentials.user,
            "sasl_plain_password": self.credentials.password,
        }


@pytest.fixture(scope="module")
async def partners(settings: Settings) -> AsyncIterator[tuple[Partner, Partner]]:
    assert settings.kafka_security_protocol == "SASL_PLAINTEXT", "these tests need the SASL stack (make stack)"
    made = []
    for _ in range(2):
        name = f"oem-{uuid.uuid4().hex[:10]}"
        made.append(Partner(name, await add_partner(settings, name)))
    yield made[0], made[1]
    remove_partners(settings, [p.name for p in made])


def mint_request(identifier: str) -> MintPassportsRequested:
    return MintPassportsRequested(
        passports=[
            PassportSpec(
                subject=PassportSubject(kind=BatteryKind.battery, battery_identifier=identifier),  # no GTIN prefix
                category=BatteryCategory.ev,
                static_data=valid_static_data(BatteryCategory.ev),
            )
        ]
    )


async def send_as(partner: Partner, settings: Settings, topic: str, value: bytes, **kwargs: Any) -> None:
    producer = AIOKafkaProducer(**partner.options(settings), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=value, **kwargs)
    finally:
        await producer.stop()


async def read_as(partner: Partner, settings: Settings, topic: str) -> list[Any]:
    """Every record of `topic` read as the partner's user, without a consumer group. A topic the user may not
    describe is answered TOPIC_AUTHORIZATION_FAILED in the metadata (aiokafka would then wait for its leader until it
    times out): raised as such; one it may describe but not read is refused by the fetch."""
    consumer = AIOKafkaConsumer(**partner.options(settings), enable_auto_commit=False, request_timeout_ms=10_000)
    await consumer.start()
    try:
        consumer._client.add_topic(topic)
        await consumer._client.force_metadata_update()  # a metadata request naming it
        if topic in consumer._client.cluster.unauthorized_topics:
            raise TopicAuthorizationFailedError(topic)
        tps = [TopicPartition(topic, p) for p in range(3)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        records: list[Any] = []
        while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                records.extend(batch)
        return records
    finally:
        await stop_quietly(consumer)


async def rejection(read: Callable[[], Awaitable[list[Any]]], ce_id: str) -> MessageRejected:
    async def found() -> MessageRejected | None:
        for record in await read():
            refusal = MessageRejected.model_validate_json(record.value)
            if refusal.rejected_ce_id == ce_id:
                return refusal
        return None

    return await eventually(found, timeout=60, what=f"the refusal of {ce_id}")


async def passports_of(db: asyncpg.Connection, tenant: str, identifier: str) -> int:
    count: int = await db.fetchval(
        "SELECT count(*) FROM identity.passports WHERE tenant = $1 AND battery_identifier = $2", tenant, identifier
    )
    return count


async def test_an_anonymous_client_or_a_wrong_password_is_refused(
    settings: Settings, partners: tuple[Partner, Partner]
) -> None:
    anonymous = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=5000)
    with pytest.raises(KafkaConnectionError):
        await anonymous.start()
    await stop_quietly(anonymous)
    a, _ = partners
    wrong = AIOKafkaConsumer(**(a.options(settings) | {"sasl_plain_password": "not-the-password"}))
    with pytest.raises(KafkaError):
        await wrong.start()
    await stop_quietly(wrong)


async def test_a_partner_writes_only_its_own_topics_and_reads_only_its_own_refusals(
    settings: Settings, partners: tuple[Partner, Partner]
) -> None:
    a, b = partners
    value = mint_request(f"ACL-{uuid.uuid4().hex[:8]}").model_dump_json().encode()
    # Its own topic: allowed (nothing is read back: the message has no CloudEvents headers and is refused).
    await send_as(a, settings, settings.topic(partner_topic(a.name, topics.MINT_REQUESTS)), value)
    for topic in (
        partner_topic(b.name, topics.MINT_REQUESTS),  # another partner's
        topics.MINT_REQUESTS.name,  # the platform's shared inbound topic
        partner_rejected_topic(a.name),  # its own refusals: written by the services only
    ):
        with pytest.raises(TopicAuthorizationFailedError):
            await send_as(a, settings, settings.topic(topic), value)
    assert isinstance(await read_as(a, settings, settings.topic(partner_rejected_topic(a.name))), list)
    for topic in (partner_rejected_topic(b.name), topics.IDENTITY_REJECTED.name, topics.PASSPORT_MINTED.name):
        with pytest.raises(TopicAuthorizationFailedError):
            await read_as(a, settings, settings.topic(topic))


async def test_a_message_claiming_another_source_is_refused_to_its_sender_only_and_never_applied(
    settings: Settings,
    platform: dict[str, ServiceProcess],
    partners: tuple[Partner, Partner],
    db: asyncpg.Connection,
) -> None:
    a, b = partners
    spoofed, genuine = f"SPOOF-{uuid.uuid4().hex[:8]}", f"OWN-{uuid.uuid4().hex[:8]}"
    inbound = settings.topic(partner_topic(a.name, topics.MINT_REQUESTS))
    sent = {}
    for identifier, source in ((spoofed, f"urn:bpass:tenant:{b.name}:mes"), (genuine, f"urn:bpass:tenant:{a.name}")):
        message = mint_request(identifier)
        headers = cloudevent_headers(message, source=source)
        sent[identifier] = dict(headers)["ce_id"].decode()
        await send_as(
            a, settings, inbound, message.model_dump_json().encode(), key=identifier.encode(), headers=headers
        )

    async def own_refusals() -> list[Any]:
        return await read_as(a, settings, settings.topic(partner_rejected_topic(a.name)))

    refusal = await rejection(own_refusals, sent[spoofed])
    assert [(v.field, v.reason) for v in refusal.violations] == [("headers.ce_source", "source_not_principal")]
    assert refusal.rejected_topic == inbound

    # The genuine one from the same topic is minted under A; the spoofed one under nobody.
    async def genuine_outcome() -> str | None:
        if await passports_of(db, a.name, genuine):
            return "minted"
        for record in await own_refusals():
            refused = MessageRejected.model_validate_json(record.value)
            if refused.rejected_ce_id == sent[genuine]:
                return f"refused: {[v.model_dump() for v in refused.violations]}"
        return None

    assert await eventually(genuine_outcome, timeout=90, what="A's own mint request applied") == "minted"
    assert await passports_of(db, b.name, spoofed) == 0
    assert await passports_of(db, a.name, spoofed) == 0
    # Neither B nor anyone reading the services' shared rejected topic sees A's refusal.
    for topic in (partner_rejected_topic(b.name), topics.IDENTITY_REJECTED.name):
        records = await read_topic(settings, topic)
        assert sent[spoofed] not in {MessageRejected.model_validate_json(r.value).rejected_ce_id for r in records}


@pytest.mark.parametrize(
    ("topic", "service_rejected"),
    [
        (topics.MINT_REQUESTS, topics.IDENTITY_REJECTED),
        (topics.CUSTODY_EVENTS, topics.CUSTODY_REJECTED),
        (topics.TELEMETRY, topics.CUSTODY_REJECTED),
        (topics.TREATMENT_BATCHES, topics.RECOVERY_REJECTED),
        (topics.PASSPORT_MINTED, topics.REPORTING_REJECTED),  # a fact: reporting used to dead-letter it
    ],
)
@pytest.mark.parametrize("source", ["urn:bpass:tenant:Not_A_Tenant", "urn:bpass:handler:", "urn:bpass:tenant:a"])
async def test_a_source_naming_an_invalid_tenant_or_handler_is_refused_by_every_service(
    settings: Settings,
    platform: dict[str, ServiceProcess],
    topic: topics.Topic,
    service_rejected: topics.Topic,
    source: str,
) -> None:
    ce_id = f"bad-source-{uuid.uuid4().hex}"
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", ce_id.encode()),
        ("ce_source", source.encode()),
        ("ce_type", topic.payload.event_type.encode()),
        ("ce_time", b"2026-11-28T10:00:00Z"),
        ("content-type", b"application/json"),
    ]
    await publish(settings, topic.name, b"{}", key=ce_id, headers=headers)

    async def refusals() -> list[Any]:
        return await read_topic(settings, service_rejected.name)

    async def found() -> MessageRejected | None:
        for record in await refusals():
            refusal = MessageRejected.model_validate_json(record.value)
            if record.key == ce_id.encode():
                return refusal
        return None

    refusal = await eventually(found, timeout=60, what=f"{service_rejected.name} refusing {source}")
    assert [(v.field, v.reason) for v in refusal.violations] == [("headers.ce_source", "invalid_source")]
    dead = await read_topic(settings, topics.dead_letter_topic(service_rejected.owner))
    assert ce_id.encode() not in {r.key for r in dead}
