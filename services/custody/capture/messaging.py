"""EPCIS documents on `bpass.custody.epcis-documents.v1`: captured like `POST /epcis/capture` (all or nothing);
refusals, with the event's place in the field, go to the rejected topic. The job is readable at
`GET /epcis/capture/{uuid5(URL, "bpass:epcis-capture:" + ce_source + "\\x1f" + ce_id)}`."""

from __future__ import annotations

import json

from contracts.custody import EpcisDocumentSubmitted
from contracts.errors import ValidationFailed, Violation
from services.common.unit_of_work import Inbound, UnitOfWork
from services.custody.capture.usecases import capture_and_publish, document_violations, topic_capture_id
from services.custody.domain.authority import source_party
from services.custody.domain.steps import HANDLER_SOURCE_PREFIX


async def on_epcis_documents(uow: UnitOfWork, items: list[Inbound[EpcisDocumentSubmitted]]) -> None:
    for item in items:
        with uow.tracing(item):
            try:
                document = json.loads(item.record.value or b"")
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:  # parsed once already; a guard
                uow.reject(item, [Violation(field="", reason="invalid_json", message=str(exc))])
                continue
            violations = document_violations(document)
            if violations:
                uow.reject(item, violations)
                continue
            source = item.envelope.source
            party = source_party(source)  # an OEM or an authority captures under its own name (write authority)
            capturer = (
                source[len(HANDLER_SOURCE_PREFIX) :].split(":", 1)[0]
                if source.startswith(HANDLER_SOURCE_PREFIX)
                else party[1]
                if party is not None
                else None
            )
            try:
                result = await capture_and_publish(
                    uow.conn,
                    uow.outbox,
                    uow.settings,
                    document,
                    capture_id=topic_capture_id(item.dedup_key),
                    capturer=capturer,
                    source=source,
                    principal=source,
                    channel="topic",
                )
            except ValidationFailed as failed:
                uow.reject(item, failed.violations)
                continue
            if not result.success:  # all or nothing: nothing was applied, nothing published
                uow.reject(item, result.violations)
