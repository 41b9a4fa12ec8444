"""What FastStream leaves out of a service's AsyncAPI document and a partner needs to code against it: the headers
of every message (the CloudEvents 1.0 `ce_*` attributes, Kafka binary mode, as `contracts/envelope.py` reads them;
`traceparent`), an example of every message, each partner's own topics and refusal topic, the service's dead-letter
topic, and what the SASL/SCRAM security scheme means here (docs/security/kafka.md)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from contracts.envelope import CONTENT_TYPE, SPEC_VERSION, Envelope, service_source
from contracts.rejections import MessageRejected
from contracts.topics import PARTNER_PREFIX, TENANT_NAME, Topic, TopicKind, dead_letter_topic, partner_rejected_topic
from services.common.asyncapi_examples import EXAMPLE_ID, EXAMPLE_TIME, example_payload
from services.common.settings import Settings

if TYPE_CHECKING:
    from services.common.runtime import ServiceSpec

# The headers `contracts.envelope.envelope_from_header_map` refuses a message without (`missing_cloudevents_attribute`).
REQUIRED_HEADERS = ("ce_specversion", "ce_id", "ce_source", "ce_type")
TRACEPARENT = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
EXAMPLE_TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
EXAMPLE_PARTNER = "acme"
SOURCE_PATTERN = r"^urn:bpass:(tenant:[a-z0-9][a-z0-9-]{1,62}(:.+)?|handler:[a-z0-9][a-z0-9-]{1,62}|service:[a-z]+)$"
DLQ_HEADERS = {
    "bpass_dlq_error": "repr() of the exception of the last try (at most 2000 characters).",
    "bpass_dlq_error_type": "The exception's class name.",
    "bpass_dlq_original_topic": "The topic the message was read from.",
    "bpass_dlq_original_partition": "Its partition (decimal).",
    "bpass_dlq_original_offset": "Its offset (decimal).",
    "bpass_dlq_tries": "How many times it was tried (BPASS_CONSUMER_MAX_TRIES).",
    "bpass_dlq_service": "The service that gave up on it.",
    "bpass_dlq_id": "Unique id of this dead letter.",
}
SECURITY = (
    "SASL/SCRAM-SHA-512 over the Kafka listener (the local stack and compose alike; SASL_SSL where TLS is set up). "
    "Every partner logs in as its own Kafka user, named by its tenant name or handler id, and may write only topics "
    f"prefixed `{PARTNER_PREFIX}<partner>.` and read only its own `{PARTNER_PREFIX}<partner>.rejected.v1`; an "
    "anonymous client or a wrong password is disconnected during the handshake. A message's `ce_source` must name "
    "the partner whose topic carries it (`source_not_principal` otherwise). Credentials: "
    "`bpass kafka-user add <partner>` (docs/security/kafka.md)."
)


def cloudevents_headers(event_type: str, *, inbound: bool) -> dict[str, Any]:
    """The JSON Schema of a message's Kafka headers: the CloudEvents attributes (binary mode) and trace context."""
    envelope = Envelope.model_json_schema()["properties"]

    def bounded(attribute: str, description: str, **extra: Any) -> dict[str, Any]:
        limits = {k: envelope[attribute][k] for k in ("minLength", "maxLength") if k in envelope[attribute]}
        return {"type": "string", **limits, "description": description, **extra}

    source = (
        "Who published it: `urn:bpass:tenant:<tenant>[:<system>]` or `urn:bpass:handler:<handler id>`, the partner "
        "whose topic carries it (`invalid_source`, `source_not_principal` otherwise)."
        if inbound
        else "The publishing service, `urn:bpass:service:<service>`."
    )
    properties = {
        "ce_specversion": {"type": "string", "const": SPEC_VERSION, "description": "CloudEvents version."},
        "ce_id": bounded("id", "Unique per source: with ce_source, the deduplication key (a resend is applied once)."),
        "ce_source": bounded("source", source, pattern=SOURCE_PATTERN),
        "ce_type": {"type": "string", "const": event_type, "description": "The payload's event type (versioned)."},
        "ce_time": {
            "type": "string",
            "format": "date-time",
            "description": "When it happened: RFC 3339 with `Z` or an offset (`invalid_timestamp`, "
            "`timestamp_without_offset`); the time of reading when absent.",
        },
        "ce_subject": {"type": "string", "description": "The passport id the event is about, when known."},
        "content-type": {
            "type": "string",
            "default": CONTENT_TYPE,
            "pattern": "^application/json",
            "description": "The body's media type: JSON only (`unsupported_content_type`).",
        },
        "traceparent": {
            "type": "string",
            "pattern": TRACEPARENT,
            "description": "W3C trace context of the publisher; the services continue the trace.",
        },
    }
    required = list(REQUIRED_HEADERS) if inbound else [*REQUIRED_HEADERS, "ce_time", "content-type"]
    return {"type": "object", "required": required, "properties": properties}


def example_headers(event_type: str, source: str) -> dict[str, str]:
    return {
        "ce_specversion": SPEC_VERSION,
        "ce_id": EXAMPLE_ID,
        "ce_source": source,
        "ce_type": event_type,
        "ce_time": EXAMPLE_TIME,
        "content-type": CONTENT_TYPE,
        "traceparent": EXAMPLE_TRACEPARENT,
    }


def complete(document: dict[str, Any], spec: ServiceSpec, settings: Settings) -> None:
    """Add headers, examples, partner and dead-letter channels and the security description to `document`."""
    components = document.setdefault("components", {})
    messages: dict[str, Any] = components.setdefault("messages", {})
    by_address = {settings.topic(t.name): t for t in (*spec.publishes, *(s.topic for s in spec.subscriptions))}
    for name, message in messages.items():
        topic = by_address.get(name.rsplit(":", 1)[0])
        if topic is not None:
            _describe_message(message, topic, spec.name)
    inbound = [s.topic for s in spec.subscriptions if s.topic.kind is TopicKind.inbound]
    for topic in inbound:
        _partner_channel(document, settings, topic, spec.name)
    if inbound:
        _partner_rejected_channel(document, settings, spec.name)
    _dead_letter_channel(document, settings, spec)
    schemas = components.get("schemas", {})
    for name in [n for n in schemas if n.endswith(":Message:Payload")]:  # FastStream's batch arrays, replaced
        del schemas[name]
    for scheme in components.get("securitySchemes", {}).values():
        scheme["description"] = SECURITY


def _describe_message(message: dict[str, Any], topic: Topic, service: str) -> None:
    event_type: str = topic.payload.event_type
    inbound = topic.kind is TopicKind.inbound
    message["name"] = event_type
    message["contentType"] = CONTENT_TYPE
    message["headers"] = cloudevents_headers(event_type, inbound=inbound)
    # The document describes single Kafka records: one payload per record, however a service batches its reads.
    message["payload"] = {"$ref": f"#/components/schemas/{topic.payload.__name__}"}
    message.pop("correlationId", None)  # FastStream's own header; the platform's correlation is ce_id/traceparent
    source = f"urn:bpass:tenant:{EXAMPLE_PARTNER}" if inbound else service_source(topic.owner or service)
    example: dict[str, Any] = {"name": "example", "headers": example_headers(event_type, source)}
    payload = example_payload(topic.payload)
    if payload is not None:
        example["payload"] = payload
    message["examples"] = [example]


def _add_channel(
    document: dict[str, Any], key: str, channel: dict[str, Any], message: dict[str, Any], action: str = "send"
) -> None:
    channel["messages"] = {"Message": {"$ref": f"#/components/messages/{key}:Message"}}
    if document.get("servers"):
        channel["servers"] = [{"$ref": f"#/servers/{name}"} for name in document["servers"]]
    document.setdefault("channels", {})[key] = channel
    document["components"]["messages"][f"{key}:Message"] = {"title": f"{key}:Message", **message}
    document.setdefault("operations", {})[key] = {
        "action": action,
        "channel": {"$ref": f"#/channels/{key}"},
        "messages": [{"$ref": f"#/channels/{key}/messages/Message"}],
    }


def _partner_parameter() -> dict[str, Any]:
    return {
        "description": f"The partner: its tenant name or handler id, which is also its Kafka user "
        f"({TENANT_NAME.pattern}).",
        "examples": [EXAMPLE_PARTNER],
    }


def _partner_channel(document: dict[str, Any], settings: Settings, topic: Topic, service: str) -> None:
    address = settings.topic(f"{PARTNER_PREFIX}{{partner}}.{topic.name.removeprefix('bpass.')}")
    messages = document["components"]["messages"]
    base = next((m for n, m in messages.items() if n.rsplit(":", 1)[0] == settings.topic(topic.name)), None)
    message = copy.deepcopy(base) if base is not None else {}
    message.pop("title", None)
    channel = {
        "address": address,
        "title": f"{topic.name}, partner form",
        "description": f"{topic.description} The partner's own form of {topic.name}, the one a partner's Kafka user "
        "may write: the broker vouches for who wrote it, and the service refuses a message whose ce_source names "
        "anyone else (`source_not_principal`).",
        "parameters": {"partner": _partner_parameter()},
    }
    _add_channel(document, address, channel, message, action="receive")


def _partner_rejected_channel(document: dict[str, Any], settings: Settings, service: str) -> None:
    address = settings.topic(partner_rejected_topic(EXAMPLE_PARTNER).replace(EXAMPLE_PARTNER, "{partner}", 1))
    event_type = MessageRejected.event_type
    example: dict[str, Any] = {"name": "example", "headers": example_headers(event_type, service_source(service))}
    payload = example_payload(MessageRejected)
    if payload is not None:
        example["payload"] = payload
    message = {
        "name": event_type,
        "contentType": CONTENT_TYPE,
        "headers": cloudevents_headers(event_type, inbound=False),
        "payload": {"$ref": "#/components/schemas/MessageRejected"},
        "examples": [example],
    }
    channel = {
        "address": address,
        "title": "bpass.partner.<partner>.rejected.v1",
        "description": "Every refusal of a message the partner published on its own topics, from every service, "
        "keyed like the refused message; only the partner may read it.",
        "parameters": {"partner": _partner_parameter()},
    }
    _add_channel(document, address, channel, message)  # MessageRejected: every service publishes its rejected topic


def _dead_letter_channel(document: dict[str, Any], settings: Settings, spec: ServiceSpec) -> None:
    service = spec.name
    read = [s.topic.name for s in spec.subscriptions] or [spec.rejected_topic.name]
    address = settings.topic(dead_letter_topic(service))
    headers = {
        "type": "object",
        "required": list(DLQ_HEADERS),
        "properties": {name: {"type": "string", "description": text} for name, text in DLQ_HEADERS.items()},
        "additionalProperties": {"type": "string", "description": "The message's own headers, as it came."},
    }
    message = {
        "name": "dead-letter",
        "headers": headers,
        "payload": {"description": "The message's body exactly as it was read (any bytes)."},
        "examples": [
            {
                "name": "example",
                "headers": {
                    "ce_id": EXAMPLE_ID,
                    "bpass_dlq_error": "ConnectionDoesNotExistError('connection was closed')",
                    "bpass_dlq_error_type": "ConnectionDoesNotExistError",
                    "bpass_dlq_original_topic": settings.topic(read[0]),
                    "bpass_dlq_original_partition": "0",
                    "bpass_dlq_original_offset": "42",
                    "bpass_dlq_tries": str(settings.consumer_max_tries),
                    "bpass_dlq_service": service,
                    "bpass_dlq_id": EXAMPLE_ID,
                },
            }
        ],
    }
    channel = {
        "address": address,
        "title": address,
        "description": f"Messages the {service} service read and could not process after its bounded retries, "
        "copied as they came (headers, key, body) with why in `bpass_dlq_*` headers; for operators (`bpass dlq`).",
    }
    _add_channel(document, address, channel, message)
