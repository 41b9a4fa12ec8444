"""The passport read model as a pure fold over facts."""

from __future__ import annotations

from typing import Any

from contracts.custody import CustodyRecorded
from contracts.identity import PassportMinted

# Stages a custody step moves a passport into (DESIGN.md, Lifecycle).
STAGE_AFTER_CUSTODY = {
    "dispatch": None,
    "handover": None,
    "receipt": None,
    "collection": "collected",
    "storage": None,
    "treatment_start": "in_treatment",
}


def empty_state(passport_id: str, tenant: str) -> dict[str, Any]:
    return {
        "passport_id": passport_id,
        "tenant": tenant,
        "minted": False,
        "status": "original",
        "stage": "manufactured",
        "custody_timeline": [],
    }


def apply_minted(state: dict[str, Any], fact: PassportMinted) -> list[str]:
    state.update(
        {
            "minted": True,
            "battery_identifier": fact.subject.battery_identifier,
            "kind": fact.subject.kind.value,
            "subject": fact.subject.model_dump(mode="json", exclude_none=True),
            "category": fact.category.value,
            "product_family": fact.product_family,
            "public_uri": fact.public_uri,
            "static_data": fact.static_data.model_dump(mode="json", exclude_none=True),
            "extensions": fact.extensions,
            "data_version": fact.version,
            "minted_at": fact.minted_at.isoformat(),
        }
    )
    return [
        "minted",
        "battery_identifier",
        "kind",
        "subject",
        "category",
        "product_family",
        "public_uri",
        "static_data",
        "extensions",
        "data_version",
        "minted_at",
    ]


def apply_custody(state: dict[str, Any], fact: CustodyRecorded) -> list[str]:
    timeline: list[dict[str, Any]] = state["custody_timeline"]
    if any(step["sequence"] == fact.sequence for step in timeline):
        return []
    timeline.append(
        {
            "sequence": fact.sequence,
            "kind": fact.kind.value,
            "occurred_at": fact.occurred_at.isoformat(),
            "handler_id": fact.handler_id,
            "from_handler_id": fact.from_handler_id,
            "to_handler_id": fact.to_handler_id,
            "entry_hash": fact.entry_hash,
        }
    )
    timeline.sort(key=lambda step: step["sequence"])
    changed = ["custody_timeline"]
    holder = fact.to_handler_id or fact.handler_id
    if state.get("current_handler_id") != holder:
        state["current_handler_id"] = holder
        changed.append("current_handler_id")
    stage = STAGE_AFTER_CUSTODY.get(fact.kind.value)
    if stage and state.get("stage") != stage:
        state["stage"] = stage
        changed.append("stage")
    return changed
