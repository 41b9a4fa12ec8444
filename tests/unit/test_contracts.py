"""Contracts: every payload schema is backward compatible with the one released (contracts/released/), the
committed schemas are current, and `bpass contracts write` refuses to write a breaking change."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, Field

from bpass.contract_release import (
    RELEASED_DIR,
    IncompatibleContracts,
    incompatibilities,
    release,
    released_names,
    released_path,
    write_schemas,
)
from contracts import topics
from contracts.compat import NARROWED_TYPE, NEWLY_REQUIRED, REMOVED_ENUM_VALUE, REMOVED_REQUIRED_FIELD, breaking_changes
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


def test_every_released_schema_still_has_its_payload() -> None:
    current = payload_schemas()
    assert released_names(), f"nothing released in {RELEASED_DIR}"
    for name in released_names():
        assert name in current, f"{name} was released and is gone: keep it (topics.RETIRED) while it is read"


def released_breaks(name: str, schema: dict[str, Any], released_dir: Path = RELEASED_DIR) -> list[str]:
    """The breaking changes of `schema` (payload file `name`) against its released schema."""
    return [str(p) for p in incompatibilities({name: schema}, released_dir) if p.topic == name.removesuffix(".json")]


@pytest.mark.parametrize("name", sorted(payload_schemas()))
def test_payload_schema_is_backward_compatible_with_its_release_and_committed(name: str) -> None:
    current = payload_schemas()[name]
    problems = released_breaks(name, current)
    assert problems == [], f"breaking change to released {name}; publish a new .vN topic instead: {problems}"
    assert (SCHEMAS_DIR / name).exists(), f"{name} is not committed: run `make asyncapi`"
    assert committed(name) == json.loads(json.dumps(current)), f"{name} changed compatibly: run `make asyncapi`"


def test_every_payload_schema_is_released() -> None:
    unreleased = sorted(set(payload_schemas()) - set(released_names()))
    assert unreleased == [], f"not released: {unreleased}; run `make release-contracts` when they are published"


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


class V2WithoutA(BaseModel):
    b: str | None = None
    kind: str = Field(json_schema_extra={"enum": ["x", "y"]})


class V2Tighter(BaseModel):
    a: int = Field(ge=10)
    b: str | None = None
    kind: str = Field(json_schema_extra={"enum": ["x", "y"]})


def test_compatibility_checker_accepts_additions() -> None:
    assert breaking_changes(V1.model_json_schema(), V2Compatible.model_json_schema()) == []


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (V2NewRequired, "$.c: made a field required"),
        (V2Retyped, "$.a: narrowed type"),
        (V2Retyped, "$.b: removed optional field"),
        (V2Retyped, "$.kind: removed enum value (['y']"),
        (V2WithoutA, "$.a: removed required field"),
        (V2Tighter, "$.a: tightened bound (minimum 0 -> 10)"),
    ],
)
def test_compatibility_checker_flags_breaking_changes(model: type[BaseModel], expected: str) -> None:
    problems = [str(p) for p in breaking_changes(V1.model_json_schema(), model.model_json_schema())]
    assert any(p.startswith(expected) for p in problems), problems


MINTED = "eu.battery-passport.identity.passport-minted.v2.json"


def broken(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with its first required property removed and `version` retyped from integer to string."""
    out = copy.deepcopy(schema)
    gone = out["required"][0]
    del out["properties"][gone]
    out["required"].remove(gone)
    out["properties"]["version"] = {"type": "string"}
    return out


@pytest.fixture
def copies(tmp_path: Path) -> tuple[Path, Path]:
    """Temporary copies of contracts/schemas/ and contracts/released/."""
    schemas, released = tmp_path / "schemas", tmp_path / "released"
    shutil.copytree(SCHEMAS_DIR, schemas)
    shutil.copytree(RELEASED_DIR, released)
    return schemas, released


def test_a_breaking_change_is_refused_by_the_writer_naming_topic_field_and_rule(copies: tuple[Path, Path]) -> None:
    schemas, released = copies
    current = payload_schemas()
    original = (schemas / MINTED).read_bytes()
    gone = current[MINTED]["required"][0]
    current[MINTED] = broken(current[MINTED])
    with pytest.raises(IncompatibleContracts) as refused:
        write_schemas(current, schemas, released)
    message = str(refused.value)
    topic = MINTED.removesuffix(".json")
    assert f"{topic}: field $.{gone}: {REMOVED_REQUIRED_FIELD}" in message, message
    assert f"{topic}: field $.version: {NARROWED_TYPE}" in message, message
    assert "raise its version" in message
    assert (schemas / MINTED).read_bytes() == original, "the committed schema was overwritten"
    # ... and the compatibility test's check catches it against the release alone.
    caught = released_breaks(MINTED, current[MINTED], released)
    assert any(f"$.{gone}: {REMOVED_REQUIRED_FIELD}" in p for p in caught), caught
    with pytest.raises(IncompatibleContracts):
        release(current, released)


def test_the_writer_checks_the_release_even_when_the_committed_schema_was_regenerated(
    copies: tuple[Path, Path],
) -> None:
    """A breaking change written into contracts/schemas/ by hand (or by an older writer) is still refused."""
    schemas, released = copies
    current = payload_schemas()
    current[MINTED] = broken(current[MINTED])
    (schemas / MINTED).write_text(json.dumps(current[MINTED]), encoding="utf-8")
    with pytest.raises(IncompatibleContracts, match="; released"):
        write_schemas(current, schemas, released)


def test_a_breaking_change_under_a_raised_version_is_written_and_released(copies: tuple[Path, Path]) -> None:
    schemas, released = copies
    current = payload_schemas()
    raised = MINTED.replace(".v2.json", ".v3.json")
    current[raised] = broken(current[MINTED])
    written = write_schemas(current, schemas, released)
    assert schemas / raised in written
    assert released_path(raised, released) in release(current, released)
    assert json.loads(released_path(raised, released).read_text(encoding="utf-8")) == current[raised]
    # Released now: a later change to v3 is held to it (a new required field).
    later = copy.deepcopy(current[raised])
    later["properties"]["recalled"] = {"type": "boolean"}
    later["required"].append("recalled")
    current[raised] = later
    with pytest.raises(IncompatibleContracts, match=f"field \\$.recalled: {NEWLY_REQUIRED}"):
        write_schemas(current, schemas, released)


def test_a_released_payload_that_disappears_is_refused(copies: tuple[Path, Path]) -> None:
    schemas, released = copies
    current = payload_schemas()
    del current[MINTED]
    with pytest.raises(IncompatibleContracts, match="removed topic payload"):
        write_schemas(current, schemas, released)


def test_an_enum_value_removed_is_refused(copies: tuple[Path, Path]) -> None:
    schemas, released = copies
    current = payload_schemas()
    name, path = next((n, p) for n, s in sorted(current.items()) for p in _enum_paths(s) if len(_at(s, p)["enum"]) > 1)
    _at(current[name], path)["enum"].pop()
    with pytest.raises(IncompatibleContracts, match=REMOVED_ENUM_VALUE):
        write_schemas(current, schemas, released)


def _enum_paths(schema: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found: list[tuple[str | int, ...]] = []
    if isinstance(schema, dict):
        if isinstance(schema.get("enum"), list):
            found.append(path)
        for key, value in schema.items():
            found += _enum_paths(value, (*path, key))
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            found += _enum_paths(value, (*path, index))
    return found


def _at(schema: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        schema = schema[part]
    return schema


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
