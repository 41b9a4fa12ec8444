"""The committed AsyncAPI documents are valid for the official parser and tell a partner what the services check:
every message's CloudEvents headers (the ones the services refuse a message without are required), an example that
the services accept as it stands, partner and refusal channels, the dead-letter channel, the security scheme."""

from __future__ import annotations

import copy
import functools
import json
import shutil
import subprocess
from typing import Any

import jsonschema
import pytest
import yaml

from contracts import topics
from contracts.envelope import parse_envelope
from contracts.rejections import MessageRejected
from services.common.asyncapi_messages import REQUIRED_HEADERS, cloudevents_headers, example_headers
from services.common.contracts_docs import ASYNCAPI_DIR, SERVICES
from services.common.settings import REPO_ROOT

VALIDATOR = REPO_ROOT / "scripts" / "asyncapi_validate.mjs"
EVENT_TYPES = {t.payload.event_type: t.payload for t in (*topics.ALL, *topics.RETIRED)}  # type: ignore[attr-defined]


@functools.cache
def _load(service: str) -> dict[str, Any]:
    text = (ASYNCAPI_DIR / f"{service}.yaml").read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    return loaded


def document(service: str) -> dict[str, Any]:
    return copy.deepcopy(_load(service))


def official_parser(paths: list[str]) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None, "node is missing: run `make install`"
    assert (REPO_ROOT / "node_modules" / "@asyncapi" / "parser").is_dir(), "run `make install` (npm packages)"
    out = subprocess.run(  # noqa: S603 - our own script on our own files
        [node, str(VALIDATOR), *paths], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def test_the_official_parser_accepts_every_document_without_errors_or_warnings() -> None:
    results = official_parser([str(ASYNCAPI_DIR / f"{s}.yaml") for s in SERVICES])
    assert len(results) == len(SERVICES)
    for path, result in results.items():
        # severity 0 = error, 1 = warning; 2 (information) is only "AsyncAPI 3.1 exists".
        serious = [d for d in result["diagnostics"] if d["severity"] <= 1]
        assert result["parsed"], path
        assert serious == [], f"{path}: {serious}"
        service = path.rsplit("/", 1)[-1].removesuffix(".yaml")
        assert f"bpass.{service}.dead-letter.v1" in result["channels"]
        assert f"bpass.{service}.rejected.v1" in result["channels"]


def test_the_official_parser_refuses_a_broken_document(tmp_path: Any) -> None:
    """The validator run above can fail: a dangling message reference is an error."""
    broken = document("custody")
    first = next(iter(broken["channels"].values()))
    first["messages"] = {"Message": {"$ref": "#/components/messages/absent"}}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.dump(broken), encoding="utf-8")
    result = official_parser([str(path)])[str(path)]
    assert any(d["severity"] == 0 for d in result["diagnostics"])


def messages() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (service, name, message)
        for service in SERVICES
        for name, message in document(service)["components"]["messages"].items()
    ]


@pytest.mark.parametrize(("service", "name", "message"), messages(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_message_has_headers_and_an_example_that_fits_them(
    service: str, name: str, message: dict[str, Any]
) -> None:
    assert message["headers"]["type"] == "object", name
    (example,) = message["examples"]
    jsonschema.validate(example["headers"], message["headers"])
    if "dead-letter" in name:
        assert {h for h in message["headers"]["required"] if h.startswith("bpass_dlq_")} == set(
            message["headers"]["properties"]
        )
        return
    assert set(REQUIRED_HEADERS) <= set(message["headers"]["required"])
    assert "traceparent" in message["headers"]["properties"]
    # The example is a message the services accept: its headers parse, its payload fits the payload contract.
    envelope = parse_envelope(example["headers"])
    assert not isinstance(envelope, list), envelope
    contract = EVENT_TYPES[message["headers"]["properties"]["ce_type"]["const"]]
    assert envelope.type == contract.event_type  # type: ignore[attr-defined]
    assert "payload" in example, f"{name}: no example payload"
    contract.model_validate(example["payload"])


@pytest.mark.parametrize("header", REQUIRED_HEADERS)
def test_a_header_documented_as_required_is_one_the_services_refuse_a_message_without(header: str) -> None:
    headers = example_headers(MessageRejected.event_type, "urn:bpass:tenant:acme")
    del headers[header]
    refused = parse_envelope(headers)
    assert isinstance(refused, list)
    assert [v.field for v in refused] == [f"headers.{header}"]


def test_a_header_documented_as_optional_for_partners_is_one_the_services_accept_a_message_without() -> None:
    schema = cloudevents_headers(MessageRejected.event_type, inbound=True)
    headers = example_headers(MessageRejected.event_type, "urn:bpass:tenant:acme")
    for optional in set(schema["properties"]) - set(schema["required"]):
        headers.pop(optional, None)
    assert not isinstance(parse_envelope(headers), list)


def test_the_header_schema_refuses_what_the_services_refuse() -> None:
    schema = cloudevents_headers(MessageRejected.event_type, inbound=True)
    good = example_headers(MessageRejected.event_type, "urn:bpass:tenant:acme")
    jsonschema.validate(good, schema)
    for header, value in (
        ("ce_specversion", "0.3"),
        ("ce_source", "urn:bpass:tenant:Not_A_Name"),
        ("ce_type", "eu.battery-passport.custody.custody-event-reported.v1"),
        ("traceparent", "not-a-trace"),
        ("content-type", "application/xml"),
        ("ce_id", ""),
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**good, header: value}, schema)


def test_partners_find_their_own_topics_and_refusals_and_the_security_scheme() -> None:
    custody = document("custody")
    for address in ("bpass.partner.{partner}.custody.events.v1", "bpass.partner.{partner}.rejected.v1"):
        channel = custody["channels"][address]
        assert "partner" in channel["parameters"], address
    assert custody["operations"]["bpass.partner.{partner}.custody.events.v1"]["action"] == "receive"
    rejected = custody["components"]["messages"]["bpass.partner.{partner}.rejected.v1:Message"]
    assert rejected["payload"] == {"$ref": "#/components/schemas/MessageRejected"}
    for service in SERVICES:
        doc = document(service)
        (scheme,) = doc["components"]["securitySchemes"].values()
        assert scheme["type"] == "scramSha512"
        assert "docs/security/kafka.md" in scheme["description"]
        # One payload per Kafka record, never FastStream's batch array.
        for message in doc["components"]["messages"].values():
            assert message["payload"].get("type") != "array"
