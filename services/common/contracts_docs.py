"""Committed contract documents: JSON Schema of every topic payload, AsyncAPI of every service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from contracts import topics
from contracts.reporting import PassportChanged, PassportState
from services.common.asyncapi import asyncapi_yaml
from services.common.settings import REPO_ROOT, Settings

SCHEMAS_DIR = REPO_ROOT / "contracts" / "schemas"
ASYNCAPI_DIR = REPO_ROOT / "docs" / "asyncapi"
SERVICES = ("identity", "custody", "recovery", "reporting")


def payload_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema, one per payload type (its CloudEvents type names the file)."""
    registered = (*topics.ALL, *topics.RETIRED)
    models: set[type[BaseModel]] = {t.payload for t in registered} | {PassportChanged, PassportState}
    return {f"{m.event_type}.json": m.model_json_schema(mode="validation") for m in models}  # type: ignore[attr-defined]


def asyncapi_documents() -> dict[str, str]:
    docs = {}
    for service in SERVICES:
        module = __import__(f"services.{service}.app", fromlist=["build_spec"])
        # What a deployment runs (compose and the local stack alike: SASL/SCRAM-SHA-512), whatever this shell's
        # environment says, so that the documents are the same wherever they are generated.
        settings = Settings(
            topic_namespace="",
            kafka_bootstrap="kafka:9092",
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username=None,
            kafka_sasl_password=None,
        )
        docs[f"{service}.yaml"] = asyncapi_yaml(module.build_spec(settings), settings)
    return docs


def write_all() -> list[Path]:
    written = []
    SCHEMAS_DIR.mkdir(parents=True, exist_ok=True)
    for name, schema in payload_schemas().items():
        path = SCHEMAS_DIR / name
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    ASYNCAPI_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in asyncapi_documents().items():
        path = ASYNCAPI_DIR / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
