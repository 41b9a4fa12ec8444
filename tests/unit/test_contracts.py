"""Contracts: committed schemas are current and every change to them is backward compatible."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, Field

from contracts import topics
from contracts.compat import breaking_changes
from contracts.envelope import Envelope, parse_envelope
from services.common.contracts_docs import ASYNCAPI_DIR, SCHEMAS_DIR, asyncapi_documents, payload_schemas
from services.common.settings import REPO_ROOT


def committed(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SCHEMAS_DIR / name).read_text(encoding="utf-8"))
    return data


def test_every_committed_schema_still_has_its_payload() -> None:
    current = payload_schemas()
    for path in SCHEMAS_DIR.glob("*.json"):
        assert path.name in current, f"{path.name} was removed: publish a new topic version instead"


@pytest.mark.parametrize("name", sorted(payload_schemas()))
def test_payload_schema_is_backward_compatible_and_committed(name: str) -> None:
    current = payload_schemas()[name]
    assert (SCHEMAS_DIR / name).exists(), f"{name} is not committed: run `make asyncapi`"
    problems = breaking_changes(committed(name), current)
    assert problems == [], f"breaking change to {name}; publish a new .vN topic instead: {problems}"
    assert committed(name) == json.loads(json.dumps(current)), f"{name} changed compatibly: run `make asyncapi`"


def test_asyncapi_documents_are_current() -> None:
    for name, text in asyncapi_documents().items():
        path = ASYNCAPI_DIR / name
        assert path.exists(), f"{path} missing: run `make asyncapi`"
        # Compared as data: YAML styles may differ (the written order itself is pinned by the hash-seed test below).
        assert yaml.safe_load(path.read_text(encoding="utf-8")) == yaml.safe_load(text), (
            f"{path} is stale: run `make asyncapi`"
        )


def test_asyncapi_documents_do_not_depend_on_the_hash_seed() -> None:
    """`make asyncapi` run twice writes the same bytes, so a regenerated document shows only what changed."""
    script = "from services.common.contracts_docs import asyncapi_documents; print(repr(asyncapi_documents()))"
    outputs = {
        subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
            [sys.executable, "-c", script], cwd=REPO_ROOT, env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True, text=True, check=True,
        ).stdout
        for seed in ("1", "2")
    }  # fmt: skip
    assert len(outputs) == 1


class V1(BaseModel):
    a: int = Field(ge=0)
    b: str | None = None
    kind: str = Field(json_schema_extra={"enum": ["x", "y"]})


class V2Compatible(BaseModel):
    a: int = Field(ge=0)
    b: str | None = None
    kind: str = Field(json_schema_extra={"enum": ["x", "y", "z"]})
    c: str | None = None


class V2NewRequired(BaseModel):
    a: int = Field(ge=0)
    b: str | None = None
    kind: str = Field(json_schema_extra={"enum": ["x", "y"]})
    c: str


class V2Retyped(BaseModel):
    a: str
    kind: str = Field(json_schema_extra={"enum": ["x"]})


class V2Tighter(BaseModel):
    a: int = Field(ge=10)
    b: str | None = None
    kind: str = Field(json_schema_extra={"enum": ["x", "y"]})


def test_compatibility_checker_accepts_additions() -> None:
    assert breaking_changes(V1.model_json_schema(), V2Compatible.model_json_schema()) == []


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (V2NewRequired, "$.c: became required"),
        (V2Retyped, "$.a: type changed"),
        (V2Retyped, "$.b: property removed"),
        (V2Retyped, "$.kind: enum values removed: ['y']"),
        (V2Tighter, "$.a: minimum tightened"),
    ],
)
def test_compatibility_checker_flags_breaking_changes(model: type[BaseModel], expected: str) -> None:
    problems = breaking_changes(V1.model_json_schema(), model.model_json_schema())
    assert any(p.startswith(expected) for p in problems), problems


def test_topic_names_follow_the_convention() -> None:
    for topic in topics.ALL:
        assert topics.TOPIC_NAME.match(topic.name), topic.name
    assert topics.TOPIC_NAME.match(topics.tenant_passport_changes("acme-cells"))
    with pytest.raises(ValueError, match="not a valid tenant"):
        topics.tenant_passport_changes("Acme Cells")


def test_envelope_round_trips_through_kafka_headers() -> None:
    envelope = Envelope(
        id="e-1",
        source="urn:bpass:handler:h1",
        type="eu.battery-passport.custody.event.v1",
        subject="urn:uuid:0190",
        time=datetime(2026, 11, 28, 10, tzinfo=UTC),
        traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01",
    )
    parsed = parse_envelope(envelope.to_headers())
    assert parsed == envelope


def test_envelope_without_required_headers_names_each_one() -> None:
    violations = parse_envelope([("ce_id", b"1"), ("ce_specversion", b"0.3")])
    assert isinstance(violations, list)
    fields = {v.field: v.reason for v in violations}
    assert fields == {
        "headers.ce_source": "missing_cloudevents_attribute",
        "headers.ce_type": "missing_cloudevents_attribute",
        "headers.ce_specversion": "unsupported_specversion",
    }
