"""Capturing one EPCIS 2.0 document: validate, hash, drop duplicates, apply error declarations, apply the rest.

All-or-nothing by default (GS1 `captureErrorBehaviour` `rollback`): when any event breaks a custody rule,
nothing of the document is applied and the job reports each event's errors. With `proceed`, the events that
pass are applied and the others reported.

Identity of an event is its CBV 2.0 event hash: capturing the same event again (in any serialisation) is
reported as `duplicate` and applied once. An event carrying `errorDeclaration` has the hash of the event it
declares erroneous: the original entries stay, and an `error_declaration` entry is appended to each chain that
holds one, naming the sequence it corrects, and the custody state those chains derive is folded again without
the erroneous entry (`lifecycle.corrections`). Aggregation events keep pack membership (`membership`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import asyncpg

from contracts.errors import ValidationFailed, Violation
from services.common.db import DbConnection
from services.common.outbox import Outbox
from services.common.settings import Settings
from services.custody.capture import store
from services.custody.domain.epcis import (
    CustodyObservation,
    context_prefixes,
    to_custody_observation,
    validate_document,
)
from services.custody.domain.epcis.mapping import WASTE_NAMESPACE, extension_key
from services.custody.domain.observations import glns_of, to_step
from services.custody.domain.steps import CustodyStep
from services.custody.ingest import store as ingest_store
from services.custody.ingest.usecases import PARKED, REJECTED, Outcome, apply_steps
from services.custody.lifecycle import corrections
from services.custody.membership import capture as membership_capture
from services.custody.messaging import facts
from services.custody.messaging.facts import Publication
from services.custody.query import usecases as query_usecases
from services.custody.registry import store as registry

DUPLICATE = "duplicate"
ERROR_DECLARED = "error_declared"
ROLLED_BACK = "rolled_back"


class _RolledBack(Exception):
    """Raised inside the capture's savepoint to undo everything it did."""


@dataclass
class CaptureResult:
    capture_id: str
    success: bool
    events: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    publications: list[Publication] = field(default_factory=list)

    @property
    def violations(self) -> list[Violation]:
        """Every error, its field prefixed with the event's place in the document."""
        return [
            Violation(
                field=v["field"]
                if v["field"].startswith("epcisBody")
                else f"epcisBody.eventList.{e['index']}.{v['field']}",
                reason=v["reason"],
                message=v["message"],
            )
            for e in self.errors
            for v in e["errors"]
        ]


# Custody rules name the fields of a reported step; an EPCIS sender gives them as the platform's extension fields.
_EXTENSION_OF_STEP_FIELD: Final = {"ewc_code": "wasteCode", "operation": "wasteOperation"}


def epcis_terms(violation: Violation, context: Mapping[str, str]) -> dict[str, Any]:
    """A custody rule's violation as the EPCIS sender can act on it: a step field named as its extension field."""
    name = _EXTENSION_OF_STEP_FIELD.get(violation.field)
    if name is None:
        return violation.model_dump()
    key = extension_key(name, context)
    return {
        "field": key,
        "reason": violation.reason,
        "message": f"{violation.message} EPCIS: the event's extension field {key} ({WASTE_NAMESPACE}{name}).",
    }


def document_violations(document: object) -> list[Violation]:
    """The EPCIS 2.0 capture rules (empty when the document may be captured)."""
    return validate_document(document)


def observations(document: dict[str, Any]) -> list[CustodyObservation]:
    context = context_prefixes(document.get("@context"))
    try:
        return [to_custody_observation(event, context) for event in document["epcisBody"]["eventList"]]
    except ValidationFailed:
        raise
    except (KeyError, TypeError) as exc:  # validate_document guarantees the shape; this is a guard, not a path
        raise ValidationFailed(
            [Violation(field="epcisBody.eventList", reason="invalid_field_type", message=str(exc))]
        ) from exc


def _report(index: int, observation: CustodyObservation) -> dict[str, Any]:
    return {
        "index": index,
        "eventID": observation.event_id,
        "eventHash": observation.event_hash,
        "type": observation.event_type,
        "custodyKind": observation.kind.value,
        "outcome": None,
        "errors": [],
        "entries": [],
        "parkedReferences": [],
    }


async def capture_document(
    conn: DbConnection,
    document: dict[str, Any],
    *,
    capture_id: str,
    capturer: str | None,
    source: str,
    principal: str,
    channel: str,
    error_behaviour: str = "rollback",
    received_at: datetime | None = None,
) -> CaptureResult:
    """Capture a document that passed `document_violations` inside the caller's transaction; saves the job,
    created when the document was received (`received_at`, else now) and finished when saved."""
    created_at = received_at or datetime.now(UTC)
    observed = observations(document)
    context = context_prefixes(document.get("@context"))
    reports = [_report(i, o) for i, o in enumerate(observed)]
    glns = {gln for o in observed for gln in glns_of(o)}
    by_gln = await registry.handlers_by_gln(conn, glns)
    known = await store.known_events(conn, [o.event_hash for o in observed])

    steps: list[CustodyStep] = []
    step_index: list[int] = []
    first_captures: list[tuple[str, str | None, str, int, str]] = []
    declarations: list[tuple[int, CustodyObservation]] = []
    seen: set[str] = set()
    # An event declared erroneous in its own document is kept out, as when its declaration was captured first.
    declared_here = {o.event_hash for o in observed if o.error_declaration is not None}
    for index, observation in enumerate(observed):
        digest = observation.event_hash
        if observation.error_declaration is not None:
            declarations.append((index, observation))
            continue
        if digest in known or digest in seen or digest in declared_here:
            reports[index]["outcome"] = DUPLICATE
            continue
        seen.add(digest)
        steps.append(
            to_step(observation, index, capturer=capturer, source=source, capture_id=capture_id, handlers=by_gln)
        )
        step_index.append(index)
        first_captures.append((digest, observation.event_id, capture_id, index, ""))

    declared: list[tuple[str, dict[str, Any]]] = []
    if declarations:
        originals = await ingest_store.entries_with_event_hash(conn, [o.event_hash for _, o in declarations])
        for index, observation in declarations:
            digest = observation.event_hash
            earlier = known.get(digest)
            if earlier is not None and earlier["declared_erroneous"] is not None:
                reports[index]["outcome"] = DUPLICATE
                continue
            assert observation.error_declaration is not None
            declaration = observation.error_declaration.model_dump(mode="json")
            declared.append((digest, {**declaration, "capture_id": capture_id, "event_index": index}))
            if earlier is None:
                first_captures.append((digest, observation.event_id, capture_id, index, ERROR_DECLARED))
            corrected = [r for r in originals if r["epcis_event_hash"] == digest]
            if not corrected:
                reports[index]["outcome"] = ERROR_DECLARED
                continue
            step = to_step(observation, index, capturer=capturer, source=source, capture_id=capture_id, handlers=by_gln)
            step.kind = "error_declaration"
            step.references = tuple(dict.fromkeys(r["passport_id"] for r in corrected))
            step.corrects = {r["passport_id"]: r["sequence"] for r in corrected}
            step.content = {
                **step.content,
                "declaration": declaration,
                "corrects": [
                    {"passport_id": r["passport_id"], "sequence": r["sequence"], "entry_hash": r["entry_hash"]}
                    for r in corrected
                ],
            }
            # The correction has the hash of the event it corrects: keep it out of the duplicate index.
            step.source_event_id = f"{digest}#error-declaration"
            steps.append(step)
            step_index.append(index)

    publications: list[Publication] = []
    failed = False
    try:
        async with conn.transaction():  # a savepoint: undone whole on rollback
            outcomes = await apply_steps(conn, steps)
            for index, outcome in zip(step_index, outcomes, strict=True):
                report = reports[index]
                report["outcome"] = outcome.status if report["outcome"] is None else report["outcome"]
                if report["outcome"] == ERROR_DECLARED or outcome.status != REJECTED:
                    report["entries"] = outcome.entries
                    report["parkedReferences"] = outcome.parked_references
                if outcome.violations:
                    report["errors"] = [epcis_terms(v, context) for v in outcome.violations]
                if outcome.status == REJECTED:
                    failed = True
                else:
                    publications.extend(outcome.publications)
                if observed[index].error_declaration is not None and outcome.status != REJECTED:
                    report["outcome"] = ERROR_DECLARED
            if failed and error_behaviour == "rollback":
                raise _RolledBack
            applied = {index for index, o in zip(step_index, outcomes, strict=True) if o.status != REJECTED}
            await store.record_events(
                conn,
                [
                    (h, eid, cid, i, reports[i]["outcome"] or "")
                    for h, eid, cid, i, _ in first_captures
                    if i in applied or reports[i]["outcome"] == ERROR_DECLARED
                ],
            )
            await store.declare_erroneous(
                conn, [(h, d) for h, d in declared if reports[d["event_index"]]["outcome"] == ERROR_DECLARED]
            )
            publications.extend(
                await _battery_semantics(
                    conn, observed, steps, step_index, outcomes, declared, reports, capture_id, capturer
                )
            )
    except _RolledBack:
        publications = []
        for report in reports:
            if report["outcome"] not in (REJECTED, DUPLICATE):
                report["outcome"] = ROLLED_BACK
                report["entries"] = []
                report["parkedReferences"] = []
    errors = [
        {"index": r["index"], "eventID": r["eventID"], "eventHash": r["eventHash"], "errors": r["errors"]}
        for r in reports
        if r["outcome"] == REJECTED
    ]
    result = CaptureResult(capture_id, not failed, reports, errors, publications)
    # The events kept (not refused, duplicated or rolled back), as captured, for the EPCIS query interface: in the
    # same transaction as the custody entries, so what a query finds is what the capture recorded.
    await query_usecases.index_captured(
        conn, document, reports, capture_id=capture_id, capturer=capturer, principal=principal
    )
    await store.save_job(
        conn,
        {
            "capture_id": capture_id,
            "principal": principal,
            "capturer": capturer,
            "channel": channel,
            "error_behaviour": error_behaviour,
            "success": result.success,
            "captured_at": created_at,
            "event_count": len(observed),
            "errors": errors,
            "events": reports,
        },
    )
    return result


async def _battery_semantics(
    conn: DbConnection,
    observed: list[CustodyObservation],
    steps: list[CustodyStep],
    step_index: list[int],
    outcomes: list[Outcome],
    declared: list[tuple[str, dict[str, Any]]],
    reports: list[dict[str, Any]],
    capture_id: str,
    capturer: str | None,
) -> list[Publication]:
    """Pack membership of the aggregation events applied; the custody state each error declaration rolls back
    (`lifecycle.corrections`), with the status facts of what it changed."""
    erroneous = [h for h, d in declared if reports[d["event_index"]]["outcome"] == ERROR_DECLARED]
    applied = [observed[i] for i, o in zip(step_index, outcomes, strict=True) if o.status != REJECTED]
    await membership_capture.keep(conn, applied, erroneous, capture_id=capture_id, capturer=capturer)
    await corrections.forget_parked(conn, erroneous)
    rolled_back = [
        corrections.Declaration(
            entry["passport_id"],
            entry["sequence"],
            step.handler_id,
            step.source_event_id,
            declaration.declared_at,
            step.corrects.get(entry["passport_id"]),
        )
        for i, step, outcome in zip(step_index, steps, outcomes, strict=True)
        if step.kind == "error_declaration" and outcome.status != REJECTED
        and (declaration := observed[i].error_declaration) is not None
        for entry in outcome.entries
    ]  # fmt: skip
    return await corrections.roll_back(conn, rolled_back)


def event_problem(capture_id: str, error: dict[str, Any]) -> dict[str, Any]:
    """An event the capture refused, as the CaptureJob's `errors` item: an RFC 7807 problem (the binding's
    `ValidationException`) whose `instance` is the event's place in the document; the broken rules in
    `violations`, the first giving `reason` and `field`."""
    violations = error["errors"] or [{"field": "", "reason": "rejected", "message": "The event was refused."}]
    first = violations[0]
    index = error["index"]
    return {
        "type": "epcisException:ValidationException",
        "title": f"Event {index} of the document was not captured.",
        "status": 400,
        "detail": " ".join(v["message"] for v in violations),
        "instance": f"/epcis/capture/{capture_id}#/epcisBody/eventList/{index}",
        "reason": first["reason"],
        "field": first["field"],
        "index": index,
        "eventID": error["eventID"],
        "eventHash": error["eventHash"],
        "violations": violations,
    }


def job_summary(row: Any) -> dict[str, Any]:
    """A capture job as the binding's CaptureJob schema has it."""
    return {
        "captureID": row["capture_id"],
        "createdAt": row["captured_at"].isoformat(),
        "finishedAt": row["finished_at"].isoformat() if row["finished_at"] else None,
        "running": row["running"],
        "success": row["success"],
        "captureErrorBehaviour": row["error_behaviour"],
        "errors": [event_problem(row["capture_id"], e) for e in row["errors"]],
        "channel": row["channel"],
        "eventCount": row["event_count"],
    }


def job_body(row: Any) -> dict[str, Any]:
    """A capture job as the GS1 REST binding reports it (plus per-event outcomes)."""
    return {**job_summary(row), "events": row["events"]}


async def capture_and_publish(
    conn: DbConnection, outbox: Outbox, settings: Settings, document: dict[str, Any], **capture: Any
) -> CaptureResult:
    """Capture a document (`capture_document`) and put the facts of what it applied in the outbox."""
    result = await capture_document(conn, document, **capture)
    for publication in result.publications:
        facts.add(outbox, settings.topic(publication.topic), publication)
    captured = await query_usecases.captured_publication(conn, document, result.events, result.capture_id)
    if captured is not None:  # what query subscriptions deliver, once queryable (the same transaction)
        facts.add(outbox, settings.topic(captured.topic), captured)
    return result


async def tenant_view(
    db: DbConnection | asyncpg.Pool, tenant: str | None, body: dict[str, Any]
) -> dict[str, Any] | None:
    """A job as an auditor of `tenant` sees it: only the events that recorded a step of the tenant's passports
    (other tenants' passport ids, sequences and entry hashes never show); None when there is none."""
    if tenant is None:
        return None
    named = {str(e["passport_id"]) for ev in body["events"] for e in ev.get("entries") or []}
    own = await store.tenant_passports(db, tenant, named)
    events = [ev for ev in body["events"] if any(e["passport_id"] in own for e in ev.get("entries") or [])]
    if not events:
        return None
    kept = {ev["index"] for ev in events}
    for event in events:
        event["entries"] = [e for e in event.get("entries") or [] if e["passport_id"] in own]
        event["parkedReferences"] = []
    return {
        **body,
        "eventCount": len(events),
        "events": events,
        "errors": [e for e in body["errors"] if e["index"] in kept],  # never any: a refused event has no entries
    }


def topic_capture_id(dedup_key: str) -> str:
    """The capture id of a document received on the topic: derived from its CloudEvents source + id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bpass:epcis-capture:{dedup_key}"))


__all__ = [
    "PARKED",
    "CaptureResult",
    "capture_and_publish",
    "capture_document",
    "document_violations",
    "job_body",
    "job_summary",
    "tenant_view",
    "topic_capture_id",
]
