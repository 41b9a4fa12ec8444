"""One trace per journey: from an OEM's HTTP request through every service and Kafka hop it reaches."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from contracts import topics
from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import PORT_BASE, _ensure_database, new_key
from tests.e2e.test_walking_skeleton import mint_body
from tests.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.support import ServiceProcess, eventually, service_env


async def test_mint_journey_is_one_trace_across_services(settings: Settings, tmp_path: Path) -> None:
    name = f"bpass_trace_{uuid.uuid4().hex[:8]}"
    iso = settings.model_copy(
        update={
            "database_url": await _ensure_database(settings.database_url, name),
            "topic_namespace": f"{name}.",
            "api_keys_file": tmp_path / "keys.json",
        }
    )
    tenant = f"oem-{uuid.uuid4().hex[:8]}"
    key = new_key(iso, Role.oem_admin, tenant)
    receiver = OtlpReceiver()
    async with receiver.running():
        env = service_env(iso, iso.api_keys_file) | {
            "BPASS_OTEL_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        processes = {}
        for offset, service in ((21, "identity"), (22, "custody"), (24, "reporting")):
            port = PORT_BASE + offset
            processes[service] = ServiceProcess(
                service, port, env | {f"BPASS_{service.upper()}_PORT": str(port)}, tmp_path / f"{service}.log"
            )
            processes[service].start()
        try:
            for process in processes.values():
                await process.wait_ready()
            async with httpx.AsyncClient(timeout=10, headers={"X-API-Key": key}) as http:
                response = await http.post(
                    f"{processes['identity'].base_url}/identity/v1/passports",
                    json=mint_body(f"TRACE-{uuid.uuid4().hex[:8]}"),
                )
            assert response.status_code == 201, response.text
            stream = iso.topic(topics.tenant_passport_changes(tenant))
            minted = iso.topic(topics.PASSPORT_MINTED.name)

            def journey() -> dict[str, ReceivedSpan] | None:
                by_name = {(s.service, s.name): s for s in receiver.spans}
                wanted = {
                    "minted_publish": ("bpass-identity", f"{minted} publish"),
                    "custody_process": ("bpass-custody", f"{minted} apply"),
                    "reporting_process": ("bpass-reporting", f"{minted} apply"),
                    "stream_publish": ("bpass-reporting", f"{stream} publish"),
                }
                found = {label: by_name.get(key) for label, key in wanted.items()}
                if any(span is None for span in found.values()):
                    return None
                return {label: span for label, span in found.items() if span is not None}

            async def wait_journey() -> dict[str, ReceivedSpan] | None:
                return journey()

            try:
                spans = await eventually(wait_journey, timeout=30, what="the spans of the whole journey")
            except AssertionError as missing:
                seen = sorted({(s.service, s.name) for s in receiver.spans})
                raise AssertionError(f"{missing}; spans received: {seen}") from None
            http_spans = [s for s in receiver.spans if s.service == "bpass-identity" and s.name.startswith("POST")]
            assert http_spans, "the HTTP request at identity is traced"
            trace_id = http_spans[0].trace_id
            # One trace from the HTTP request to the tenant's change stream, through two consumers.
            assert {s.trace_id for s in spans.values()} == {trace_id}
            ids_in_trace = {s.span_id for s in receiver.spans if s.trace_id == trace_id}
            assert spans["minted_publish"].parent_span_id in ids_in_trace
            assert spans["custody_process"].parent_span_id == spans["minted_publish"].span_id
            assert spans["reporting_process"].parent_span_id == spans["minted_publish"].span_id
            assert spans["stream_publish"].parent_span_id == spans["reporting_process"].span_id
        finally:
            for process in processes.values():
                process.stop()
