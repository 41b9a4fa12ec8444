"""One trace per journey: from an OEM's HTTP request, or a carrier's publish, through every service and hop."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from contracts import topics
from contracts.custody import CustodyEventKind, CustodyEventReported, CustodyTargets
from services.common.auth import Role
from services.common.settings import Settings
from tests.conftest import PORT_BASE, _ensure_database, new_key
from tests.e2e.test_walking_skeleton import mint_body, register_verified_handler
from tests.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.support import ServiceProcess, cloudevent_headers, eventually, namespace, publish, service_env


async def test_mint_journey_is_one_trace_across_services(settings: Settings, tmp_path: Path) -> None:
    name = f"bpass_trace_{uuid.uuid4().hex[:8]}"
    iso = settings.model_copy(
        update={
            "database_url": await _ensure_database(settings.database_url, name),
            "topic_namespace": namespace(name),
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

            # A carrier's publish joins the same way: its own trace, through custody, reporting, the stream.
            operator = new_key(iso, Role.platform_operator)
            await register_verified_handler(
                processes["custody"].base_url, operator, "carrier-trace", delegate_of=tenant
            )
            carrier_trace, carrier_span = secrets.token_hex(16), secrets.token_hex(8)
            event = CustodyEventReported(
                kind=CustodyEventKind.dispatch,
                occurred_at=datetime.now(UTC),
                handler_id="carrier-trace",
                targets=CustodyTargets(passport_ids=[response.json()["passport_id"]]),
            )
            headers = cloudevent_headers(event, source="urn:bpass:handler:carrier-trace")
            headers.append(("traceparent", f"00-{carrier_trace}-{carrier_span}-01".encode()))
            await publish(iso, topics.CUSTODY_EVENTS.name, event.model_dump_json().encode(), key=None, headers=headers)
            recorded = iso.topic(topics.CUSTODY_RECORDED.name)

            def carrier_journey() -> dict[str, ReceivedSpan] | None:
                mine = [s for s in receiver.spans if s.trace_id == carrier_trace]
                by_name = {(s.service, s.name): s for s in mine}
                wanted = {
                    "custody_apply": ("bpass-custody", f"{iso.topic(topics.CUSTODY_EVENTS.name)} apply"),
                    "recorded_publish": ("bpass-custody", f"{recorded} publish"),
                    "reporting_apply": ("bpass-reporting", f"{recorded} apply"),
                    "stream_publish": ("bpass-reporting", f"{stream} publish"),
                }
                found = {label: by_name.get(key) for label, key in wanted.items()}
                return None if any(v is None for v in found.values()) else {k: v for k, v in found.items() if v}

            async def wait_carrier() -> dict[str, ReceivedSpan] | None:
                return carrier_journey()

            try:
                hops = await eventually(wait_carrier, timeout=30, what="the carrier journey's spans")
            except AssertionError as missing:
                seen = sorted({(s.service, s.name) for s in receiver.spans if s.trace_id == carrier_trace})
                raise AssertionError(f"{missing}; spans in the carrier's trace: {seen}") from None
            assert hops["custody_apply"].parent_span_id == carrier_span
            assert hops["recorded_publish"].parent_span_id == hops["custody_apply"].span_id
            assert hops["reporting_apply"].parent_span_id == hops["recorded_publish"].span_id
            assert hops["stream_publish"].parent_span_id == hops["reporting_apply"].span_id
        finally:
            for process in processes.values():
                process.stop()
