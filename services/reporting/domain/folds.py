"""How the read model folds each fact type: its contract, its event time and its fold (domain.readmodel).

The projection folds a fact when it arrives (`messaging.subscribers.FactSubscriber`) and folds it again from its
stored contract JSON (`fold_of`) when a fact that happened before it arrives later. A new fact type is one `Fold`
here and one entry of `messaging.subscribers.FACT_TOPICS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import orjson

from contracts.base import Message
from contracts.custody import CustodyRecorded, PassportStatusChanged
from contracts.identity import PassportAmended, PassportMinted, PassportSuperseded
from contracts.recovery import PassportCeased, RecoveryAttributed
from contracts.telemetry import InServiceDataUpdated
from services.reporting.domain import readmodel

Apply = Callable[[dict[str, Any]], list[str]]


def attribution_of(fact: RecoveryAttributed) -> dict[str, Any]:
    return {
        "attribution_id": ":".join(
            part or "-" for part in (fact.stage.value, fact.recycler_id, fact.batch_id, fact.refiner_id, fact.report_id)
        ),
        "stage": fact.stage.value,
        "recycler_id": fact.recycler_id,
        "batch_id": fact.batch_id,
        "refiner_id": fact.refiner_id,
        "report_id": fact.report_id,
        "attributed_at": fact.attributed_at.isoformat(),
        "materials": [{"material": m.value, "recovered_kg": str(kg)} for m, kg in sorted(fact.totals_kg.items())],
        "lines": [line.model_dump(mode="json", exclude={"steps"}) for line in fact.lines],
    }


def ceased_details(fact: PassportCeased) -> dict[str, Any]:
    return {
        "recycler_id": fact.recycler_id,
        "batch_id": fact.batch_id,
        "processes": [p.value for p in fact.processes],
        "chemistry": fact.chemistry.value if fact.chemistry else None,
        "input_mass_kg": str(fact.input_mass_kg),
        "legal_basis": fact.legal_basis,
        "reported_by": fact.reported_by,
        "flags": [f.model_dump(mode="json") for f in fact.flags],
        "evidence": [e.model_dump(mode="json") for e in fact.evidence],
    }


def minted_with_links(
    state: dict[str, Any], fact: PassportMinted, static_data: dict[str, Any] | None = None
) -> list[str]:
    """A minted passport, linked to the passports it was made from (second life, Art. 77(7)). `static_data`: the
    resolved document the fact names (passports of one model share it: the state gets its own copy)."""
    own = orjson.loads(orjson.dumps(static_data)) if static_data is not None else None
    changed = readmodel.apply_minted(state, fact=fact, static_data=own)
    links = readmodel.apply_links(state, predecessor_ids=fact.predecessor_ids)
    return changed + [name for name in links if name not in changed]


def superseded(state: dict[str, Any], fact: PassportSuperseded) -> list[str]:
    """A predecessor continued by a new passport: its successor, its new status and responsible operator."""
    changed = readmodel.apply_links(state, successor_ids=[fact.successor_id])
    status = readmodel.apply_status(
        state,
        occurred_at=fact.superseded_at,
        status=fact.status.value,
        by=fact.superseded_by,
        reason=f"{fact.operation.value} into {fact.successor_id} by {fact.successor_tenant}",
        responsible_operator=fact.responsible_operator,
        cause=f"superseded:{fact.successor_id}",
    )
    return changed + [name for name in status if name not in changed]


def minted(f: PassportMinted, static_data: dict[str, Any] | None) -> Apply:
    return partial(minted_with_links, fact=f, static_data=static_data)


def _amended(f: PassportAmended) -> Apply:
    return partial(
        readmodel.apply_amended,
        static_data=f.static_data.model_dump(mode="json", exclude_none=True),
        extensions=f.extensions,
        public_extensions=f.public_extensions,
        data_version=f.version,
        amended_at=f.amended_at,
        amended_by=f.amended_by,
        reason=f.reason,
        changed_fields=f.changed_fields,
    )


def _custody(f: CustodyRecorded) -> Apply:
    return partial(readmodel.apply_custody, fact=f)


def _status(f: PassportStatusChanged) -> Apply:
    if f.corrects_sequence is not None:
        return partial(
            readmodel.apply_status_correction,
            occurred_at=f.occurred_at,
            corrects_sequence=f.corrects_sequence,
            stage=f.stage.value,
            status=f.status.value if f.status else None,
            by=f.handler_id,
            reason=f"custody step {f.sequence}: step {f.corrects_sequence} declared erroneous",
            cause=f"custody:{f.sequence}:{f.source_event_id}",
        )
    return partial(
        readmodel.apply_status,
        occurred_at=f.occurred_at,
        status=f.status.value if f.status else None,
        stage=f.stage.value,
        by=f.handler_id,
        reason=f"custody step {f.sequence}",
        responsible_operator=f.responsible_operator,
        cause=f"custody:{f.sequence}:{f.source_event_id}",
    )


def _superseded(f: PassportSuperseded) -> Apply:
    return partial(superseded, fact=f)


def _in_service(f: InServiceDataUpdated) -> Apply:
    return partial(
        readmodel.apply_in_service_data,
        latest={
            metric.value: {
                "value": str(v.value),
                "measured_at": v.measured_at.isoformat(),
                "source_system": v.source_system,
            }
            for metric, v in f.latest.items()
        },
    )


def _recovery(f: RecoveryAttributed) -> Apply:
    return partial(readmodel.apply_recovery, attribution=attribution_of(f))


def _ceased(f: PassportCeased) -> Apply:
    return partial(
        readmodel.apply_ceased,
        ceased_at=f.ceased_at,
        reason=f.reason,
        outcome=[o.model_dump(mode="json") for o in f.recovery_outcome],
        details=ceased_details(f),
        cause=f"recovery:{f.recycler_id}:{f.batch_id}",
    )


def _in_service_time(f: InServiceDataUpdated) -> datetime:
    return max((v.measured_at for v in f.latest.values()), default=datetime.min.replace(tzinfo=UTC))


@dataclass(frozen=True)
class Fold:
    """How the read model folds one fact type: `build` the fold of a fact; `occurred_at` its event time;
    `reads_static`: the fold reads the state's static data."""

    contract: type[Message]
    build: Callable[[Any], Apply]
    occurred_at: Callable[[Any], datetime]
    reads_static: bool = False


FOLDS: dict[str, Fold] = {
    # the minting's static data is resolved by digest: see `FactSubscriber.project` and `fold_of`
    "minted": Fold(PassportMinted, lambda f: minted(f, None), lambda f: f.minted_at),
    "amended": Fold(PassportAmended, _amended, lambda f: f.amended_at, reads_static=True),
    "custody_recorded": Fold(CustodyRecorded, _custody, lambda f: f.occurred_at),
    # status changes and the cessation snapshot the 4(a) values, static ones included
    "status_changed": Fold(PassportStatusChanged, _status, lambda f: f.occurred_at, reads_static=True),
    "superseded": Fold(PassportSuperseded, _superseded, lambda f: f.superseded_at, reads_static=True),
    "in_service_data": Fold(InServiceDataUpdated, _in_service, _in_service_time),
    "recovery_attributed": Fold(RecoveryAttributed, _recovery, lambda f: f.attributed_at),
    "ceased": Fold(PassportCeased, _ceased, lambda f: f.ceased_at, reads_static=True),
}


def fold_of(change: str, body: bytes, static_documents: dict[str, dict[str, Any]]) -> Apply:
    """The fold of a stored fact (its contract JSON), for folding it again. A minting gets the static data document
    its fact names from `static_documents` (digest -> document)."""
    fold = FOLDS[change]
    fact = fold.contract.model_validate_json(body)
    if isinstance(fact, PassportMinted):
        return minted(fact, static_documents[fact.static_data_digest])
    return fold.build(fact)


def minted_digest(body: bytes) -> str:
    return str(orjson.loads(body)["static_data_digest"])
