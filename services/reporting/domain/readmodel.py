"""The passport read model as a pure fold over facts.

A passport's state is a JSON-ready dict (the owner-tier view). Each `apply_*` function changes it in place and
returns the top-level fields it changed (empty: the fact changed nothing, no version is made). Adding a new
fact to the read model is one `apply_*` function here and one `Fold` mapping its contract onto it (`folds.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from contracts.custody import CustodyRecorded
from contracts.identity import PassportMinted
from services.reporting.domain.dimensions import dec, ts
from services.reporting.domain.performance import snapshot_performance

# The platform's stages, in lifecycle order (DESIGN.md, Lifecycle).
STAGES = ("manufactured", "placed_on_market", "in_service", "collected", "in_treatment", "recycled")
STAGE_RANK = {stage: rank for rank, stage in enumerate(STAGES)}
STATUSES = ("original", "repurposed", "re-used", "remanufactured", "waste")
END_OF_LIFE_STAGES = ("collected", "in_treatment", "recycled")
IN_SERVICE_STAGES = ("placed_on_market", "in_service")

# A custody step never moves the stage here: custody publishes `PassportStatusChanged` for the step that does (the
# stage and the status it decides arrive together, with one history entry).

# Facts are folded in event-time order; the minting first, whatever its time (it creates the passport).
MINTED = "minted"


def fact_rank(change: str) -> int:
    return 0 if change == MINTED else 1


# Fields every state has, with a factory of their empty value (see `empty_state`).
_DEFAULTS: tuple[tuple[str, Callable[[], Any]], ...] = (
    ("minted", lambda: False),
    ("status", lambda: "original"),
    ("stage", lambda: "manufactured"),
    ("ceased", lambda: False),
    ("custody_timeline", list),
    ("status_history", list),
    ("in_service", dict),
    ("recovery", lambda: {"attributions": []}),
    ("predecessor_ids", list),
    ("successor_ids", list),
    ("performance_snapshots", list),
)


def empty_state(passport_id: str, tenant: str) -> dict[str, Any]:
    state: dict[str, Any] = {"passport_id": passport_id, "tenant": tenant}
    for key, factory in _DEFAULTS:
        state[key] = factory()
    return state


def _ensure(state: dict[str, Any]) -> None:
    """States written before a field existed get its empty value (old versions are read as they are)."""
    for key, factory in _DEFAULTS:
        if key not in state:
            state[key] = factory()


def apply_minted(state: dict[str, Any], fact: PassportMinted, static_data: dict[str, Any] | None = None) -> list[str]:
    """`static_data`: the JSON form of the document the fact names (`fact.static_data_digest`), resolved by the
    caller; if not given, the fact must carry it."""
    if static_data is None:
        if fact.static_data is None:
            raise ValueError(f"{fact.passport_id}: the fact only names its static data; resolve the document first")
        static_data = fact.static_data.model_dump(mode="json", exclude_none=True)
    _ensure(state)
    if state.get("minted"):
        return []
    state.update(
        {
            "minted": True,
            "battery_identifier": fact.subject.battery_identifier,
            "kind": fact.subject.kind.value,
            "subject": fact.subject.model_dump(mode="json", exclude_none=True),
            "category": fact.category.value,
            "product_family": fact.product_family,
            "public_uri": fact.public_uri,
            "static_data": static_data,
            "extensions": fact.extensions,
            "public_extensions": dict(fact.public_extensions),
            "data_version": fact.version,
            "minted_at": fact.minted_at.isoformat(),
            "minted_by": fact.minted_by,
        }
    )
    changed = [
        "minted",
        "battery_identifier",
        "kind",
        "subject",
        "category",
        "product_family",
        "public_uri",
        "static_data",
        "extensions",
        "public_extensions",
        "data_version",
        "minted_at",
        "minted_by",
    ]
    initial_status = static_data.get("battery_status")
    if initial_status is not None and initial_status != state["status"]:
        state["status"] = initial_status
        changed.append("status")
    return changed


def _advance_stage(state: dict[str, Any], stage: str | None) -> bool:
    if stage is None or stage == state.get("stage"):
        return False
    if STAGE_RANK.get(stage, -1) < STAGE_RANK.get(state.get("stage", "manufactured"), 0):
        return False
    state["stage"] = stage
    return True


def apply_status_correction(
    state: dict[str, Any],
    *,
    occurred_at: datetime,
    corrects_sequence: int,
    stage: str | None = None,
    status: str | None = None,
    by: str | None = None,
    reason: str | None = None,
    cause: str | None = None,
) -> list[str]:
    """Custody took the step `corrects_sequence` out of the passport's chain (an error declaration). Folded at
    that step's event time, right after the status change it caused (if any): the stage and status go back to
    what they were before it (the in-service dates of the stages it undid go too), then move on to the `stage`
    and `status` custody has without it, as a status change would; the history keeps every entry. Later changes
    fold on top of it as they would have."""
    _ensure(state)
    history: list[dict[str, Any]] = state["status_history"]
    prefix = f"custody:{corrects_sequence}:"
    caused = [i for i, entry in enumerate(history) if str(entry.get("cause") or "").startswith(prefix)]
    changed: list[str] = []
    if caused:
        before = history[caused[-1] - 1] if caused[-1] > 0 else {"stage": STAGES[0], "status": STATUSES[0]}
        if before["status"] != state["status"]:
            state["status"] = before["status"]
            changed.append("status")
        if before["stage"] != state["stage"]:
            state["stage"] = before["stage"]
            changed.append("stage")
            rank = STAGE_RANK.get(before["stage"], 0)
            for undone, date in (("in_service", "put_into_service_at"), ("placed_on_market", "placed_on_market_at")):
                if rank < STAGE_RANK[undone] and state["in_service"].pop(date, None) is not None:
                    changed.append("in_service")
    if status is not None and status != state["status"]:
        state["status"] = status
        changed.append("status")
    if _advance_stage(state, stage):
        changed.append("stage")
        for reached, date in (("placed_on_market", "placed_on_market_at"), ("in_service", "put_into_service_at")):
            if STAGE_RANK.get(str(stage), 0) >= STAGE_RANK[reached] and not state["in_service"].get(date):
                state["in_service"][date] = occurred_at.isoformat()
                changed.append("in_service")
    if not changed:
        return []
    _history(state, occurred_at=occurred_at, by=by, reason=reason, cause=cause)
    changed.append("status_history")
    return sorted(set(changed), key=changed.index)


def apply_custody(state: dict[str, Any], fact: CustodyRecorded) -> list[str]:
    _ensure(state)
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
            "previous_hash": fact.previous_hash,
        }
    )
    timeline.sort(key=lambda step: step["sequence"])
    changed = ["custody_timeline"]
    # facts are folded in event-time order: this step is the latest one, and the battery is with whom it left it
    holder = fact.to_handler_id or fact.handler_id
    if state.get("current_handler_id") != holder:
        state["current_handler_id"] = holder
        changed.append("current_handler_id")
    return changed


def apply_amended(
    state: dict[str, Any],
    *,
    static_data: dict[str, Any] | None,
    extensions: dict[str, Any] | None,
    data_version: int,
    amended_at: datetime,
    public_extensions: dict[str, Any] | None = None,
    amended_by: str | None = None,
    reason: str | None = None,
    changed_fields: list[str] | None = None,
) -> list[str]:
    """Identity amended the passport's static data (a new data version)."""
    _ensure(state)
    if data_version <= int(state.get("data_version") or 0):
        return []
    changed = ["data_version", "amendments"]
    state["data_version"] = data_version
    state.setdefault("amendments", []).append(
        {
            "version": data_version,
            "amended_at": amended_at.isoformat(),
            "amended_by": amended_by,
            "reason": reason,
            "changed_fields": changed_fields or [],
        }
    )
    if static_data is not None and static_data != state.get("static_data"):
        state["static_data"] = static_data
        changed.append("static_data")
    if extensions is not None and extensions != state.get("extensions"):
        state["extensions"] = extensions
        changed.append("extensions")
    if public_extensions is not None and public_extensions != state.get("public_extensions", {}):
        state["public_extensions"] = public_extensions
        changed.append("public_extensions")
    return changed


def apply_status(
    state: dict[str, Any],
    *,
    occurred_at: datetime,
    status: str | None = None,
    stage: str | None = None,
    by: str | None = None,
    reason: str | None = None,
    responsible_operator: str | None = None,
    cause: str | None = None,
) -> list[str]:
    """A status or stage change (placed on market, put into service, became waste, ...). Each one that changes the
    status or the stage adds one `status_history` entry (its event time, the status and stage it led to, and
    `cause`: the fact that caused it) and snapshots the Annex XIII 4(a) performance values as they stand
    (`performance_snapshots`)."""
    _ensure(state)
    changed: list[str] = []
    if status is not None and status != state["status"]:
        state["status"] = status
        changed.append("status")
    if _advance_stage(state, stage):
        changed.append("stage")
        if stage == "placed_on_market" and not state["in_service"].get("placed_on_market_at"):
            state["in_service"]["placed_on_market_at"] = occurred_at.isoformat()
            changed.append("in_service")
        if stage == "in_service" and not state["in_service"].get("put_into_service_at"):
            state["in_service"]["put_into_service_at"] = occurred_at.isoformat()
            state["in_service"].setdefault("placed_on_market_at", occurred_at.isoformat())
            changed.append("in_service")
    if responsible_operator is not None and responsible_operator != state.get("responsible_operator"):
        state["responsible_operator"] = responsible_operator
        changed.append("responsible_operator")
    if not changed:
        return []
    if "status" in changed or "stage" in changed:
        _history(state, occurred_at=occurred_at, by=by, reason=reason, cause=cause)
        changed.append("status_history")
    if ("status" in changed or "stage" in changed) and snapshot_performance(
        state, at=occurred_at, by=by, reason=reason
    ):
        changed.append("performance_snapshots")
    return sorted(set(changed), key=changed.index)


def _history(
    state: dict[str, Any], *, occurred_at: datetime, by: str | None, reason: str | None, cause: str | None
) -> None:
    state["status_history"].append(
        {
            "occurred_at": occurred_at.isoformat(),
            "status": state["status"],
            "stage": state["stage"],
            "by": by,
            "reason": reason,
            "cause": cause,
        }
    )


def apply_in_service_data(state: dict[str, Any], latest: dict[str, dict[str, Any]]) -> list[str]:
    """Latest dynamic in-service values per metric (state of health, charge, cycles, ...), each with its
    `value` (string decimal), `measured_at` (ISO 8601) and `source_system`; older readings never win."""
    _ensure(state)
    current: dict[str, dict[str, Any]] = state["in_service"].setdefault("latest", {})
    changed = False
    for metric, reading in latest.items():
        known = current.get(metric)
        new_at, known_at = ts(reading.get("measured_at")), ts((known or {}).get("measured_at"))
        if new_at is not None and known_at is not None and new_at <= known_at:
            continue
        if known != reading:
            current[metric] = reading
            changed = True
    return ["in_service"] if changed else []


def apply_recovery(state: dict[str, Any], attribution: dict[str, Any]) -> list[str]:
    """Recovered material attributed to this passport (treatment batch or refiner report).

    `attribution` carries `attribution_id` (idempotence), `stage` and `materials`: [{material, recovered_kg}].
    """
    _ensure(state)
    attributions: list[dict[str, Any]] = state["recovery"]["attributions"]
    if any(a.get("attribution_id") == attribution["attribution_id"] for a in attributions):
        return []
    attributions.append(attribution)
    totals: dict[str, str] = {}
    for entry in attributions:
        if entry.get("stage", "treatment") != "treatment":
            continue  # refined material is the same material, further along: not counted twice
        for material in entry.get("materials", []):
            name = str(material["material"])
            totals[name] = str(dec(totals.get(name)) + dec(material.get("recovered_kg")))
    state["recovery"]["recovered_kg_by_material"] = totals
    return ["recovery"]


def apply_ceased(
    state: dict[str, Any],
    *,
    ceased_at: datetime,
    reason: str | None,
    outcome: list[dict[str, Any]] | None = None,
    details: dict[str, Any] | None = None,
    cause: str | None = None,
) -> list[str]:
    """Art. 77(8): after recycling the passport ceases; it is closed, its history stays readable.

    `outcome`: per material {material, declared_kg, in_recycled_fractions_kg, basis} (the recovery yield).
    """
    _ensure(state)
    if state.get("ceased"):
        return []
    state["ceased"] = True
    state["ceased_at"] = ceased_at.isoformat()
    state["ceased_reason"] = reason
    changed = ["ceased", "ceased_at", "ceased_reason"]
    if outcome is not None or details:
        state["recovery"]["outcome"] = outcome or []
        state["recovery"]["treatment"] = details or {}
        changed.append("recovery")
    by = (details or {}).get("recycler_id")
    if _advance_stage(state, "recycled"):
        changed.append("stage")
        _history(state, occurred_at=ceased_at, by=str(by) if by else None, reason=reason, cause=cause)
        changed.append("status_history")
    if snapshot_performance(state, at=ceased_at, by=str(by) if by else None, reason=reason):
        changed.append("performance_snapshots")
    return changed


def apply_links(
    state: dict[str, Any], *, predecessor_ids: list[str] | None = None, successor_ids: list[str] | None = None
) -> list[str]:
    """Predecessor / successor passports (repurposing, remanufacturing, re-use: Art. 77(7))."""
    _ensure(state)
    changed = []
    for field, ids in (("predecessor_ids", predecessor_ids), ("successor_ids", successor_ids)):
        if not ids:
            continue
        merged = list(dict.fromkeys([*state[field], *ids]))
        if merged != state[field]:
            state[field] = merged
            changed.append(field)
    return changed


def changed_paths(state: dict[str, Any], change: str, changed: list[str]) -> list[str]:
    """What a version changed, for the change stream: top-level fields, except that an amendment names the fields
    of the static data and extensions it changed (`static_data.warranty_period_months`), as identity listed them."""
    if change != "amended" or not state.get("amendments"):
        return changed
    listed = state["amendments"][-1].get("changed_fields") or []
    if not listed:
        return changed
    paths: list[str] = []
    for name in changed:
        if name == "static_data":
            paths.extend(p if "." in p else f"static_data.{p}" for p in listed if not p.startswith("extensions"))
        elif name == "extensions":
            paths.extend([p for p in listed if p.startswith("extensions.")] or [name])
        else:
            paths.append(name)
    return list(dict.fromkeys(paths))


# --- Versions: a full snapshot every SNAPSHOT_EVERY versions (and at version 1), deltas in between ---------------

SNAPSHOT_EVERY = 16


def is_snapshot(version: int) -> bool:
    return version % SNAPSHOT_EVERY == 1


def rebuild(snapshot: dict[str, Any], deltas: list[dict[str, Any]]) -> dict[str, Any]:
    """A version's state from the last snapshot at or before it and the deltas after it, in version order. A delta
    holds the top-level fields its version set (the fold never removes one)."""
    state = dict(snapshot)
    for delta in deltas:
        state.update(delta)
    return state
