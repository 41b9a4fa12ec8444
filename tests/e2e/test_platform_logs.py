"""One log format across the platform: after a handled request and a consumed (refused) message, every line of
every service's log is one JSON object; the request's and the message's lines carry the trace ids they came with."""

from __future__ import annotations

import json
import secrets
import uuid
from pathlib import Path
from typing import Any

import httpx

from contracts import topics
from services.common.settings import Settings
from tests.e2e.test_walking_skeleton import mint_body
from tests.support import ServiceProcess, eventually, publish


def log_entries(path: Path) -> list[dict[str, Any]]:
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"{path.name}:{number} is not one JSON object: {line[:300]!r}") from None
        assert isinstance(entry, dict), f"{path.name}:{number} is not one JSON object: {line[:300]!r}"
        assert "\x1b" not in json.dumps(entry), f"{path.name}:{number} carries ANSI colour: {line[:300]!r}"
        entries.append(entry)
    return entries


def traceparent() -> tuple[str, str]:
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-01"


async def test_every_service_logs_json_lines_with_the_trace_of_requests_and_messages(
    platform: dict[str, ServiceProcess], settings: Settings, tenant: tuple[str, str]
) -> None:
    _, key = tenant
    identity, custody = platform["identity"], platform["custody"]

    # A handled request: its access log line is in the trace the request came with.
    request_trace, request_parent = traceparent()
    async with httpx.AsyncClient(timeout=30, headers={"X-API-Key": key, "traceparent": request_parent}) as http:
        response = await http.post(
            f"{identity.base_url}/identity/v1/passports", json=mint_body(f"LOG-{uuid.uuid4().hex[:12]}")
        )
    assert response.status_code in (201, 422), response.text  # handled either way; the log line is what counts

    # A consumed message (no CloudEvents headers: refused): its rejection is logged in the message's trace.
    message_trace, message_parent = traceparent()
    await publish(
        settings,
        topics.CUSTODY_EVENTS.name,  # publish() puts it in the session namespace
        b'{"not": "an event"}',
        key=f"urn:uuid:{uuid.uuid4()}",
        headers=[("traceparent", message_parent.encode())],
    )

    def with_trace(process: ServiceProcess, trace_id: str) -> list[dict[str, Any]]:
        return [e for e in log_entries(process.log_path) if e.get("trace_id") == trace_id]

    async def request_logged() -> list[dict[str, Any]]:
        return with_trace(identity, request_trace)

    async def message_logged() -> list[dict[str, Any]]:
        return with_trace(custody, message_trace)

    request_lines = await eventually(request_logged, what="identity's log line of the request, in its trace")
    assert any("/identity/v1/passports" in e["message"] for e in request_lines), request_lines
    assert all(len(e.get("span_id", "")) == 16 for e in request_lines)
    message_lines = await eventually(message_logged, what="custody's log line of the refused message, in its trace")
    assert any(e["logger"] == "services.common.inbox" and "rejected" in e["message"] for e in message_lines)

    for process in platform.values():
        entries = log_entries(process.log_path)  # every line of every service, start-up included
        assert entries, f"{process.name} logged nothing"
        assert {e["service"] for e in entries} == {process.name}
