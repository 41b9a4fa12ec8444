"""What the single-passport page shows, from a passport's state already cut to the reader's tier (no I/O): every
section of it, nested fields as nested sections, and its timeline in event-time order with who handed to whom."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Top-level parts of the state the page shows in a view of their own (identity table, timeline, custody check).
SHOWN_ELSEWHERE = frozenset(
    {
        "passport_id",
        "battery_identifier",
        "public_uri",
        "tenant",
        "version",
        "custody_timeline",
        "status_history",
    }
)
# Section order: what a reader looks for first; the rest follow alphabetically.
FIRST = ("static_data", "subject", "in_service", "recovery", "extensions")
DEEPEST = 6  # sections are h3 (under the page's 'Passport data') down to h6


@dataclass
class Section:
    """One object of the passport: its scalar fields, its lists of flat records (a table each), and its nested
    objects (sections of their own)."""

    key: str
    title: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    tables: list[tuple[str, list[str], list[list[str]]]] = field(default_factory=list)  # title, columns, rows
    children: list[Section] = field(default_factory=list)
    depth: int = 3

    @property
    def empty(self) -> bool:
        return not (self.fields or self.tables or self.children)


def label(key: str) -> str:
    return key.replace("_", " ")


def text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(text(v) for v in value) or "none"
    return str(value)


def _is_flat(value: Any) -> bool:
    return isinstance(value, dict) and all(not isinstance(v, dict | list) or _scalars(v) for v in value.values())


def _scalars(value: Any) -> bool:
    return isinstance(value, list) and all(not isinstance(v, dict | list) for v in value)


def section(key: str, value: dict[str, Any], depth: int = 3) -> Section:
    """A nested object as a section: scalars and lists of scalars as fields, lists of flat objects as tables,
    objects (and lists of nested objects, one section per item) as sections one level down; below h6, as a field
    of their text."""
    out = Section(key=key, title=label(key), depth=depth)
    for name, item in value.items():
        if isinstance(item, dict) and item and depth < DEEPEST:
            out.children.append(section(name, item, depth + 1))
        elif isinstance(item, list) and item and all(_is_flat(v) for v in item):
            columns: list[str] = []
            for row in item:
                columns += [k for k in row if k not in columns]
            rows = [[text(r.get(c)) for c in columns] for r in item]
            out.tables.append((label(name), [label(c) for c in columns], rows))
        elif isinstance(item, list) and item and all(isinstance(v, dict) for v in item) and depth < DEEPEST:
            for i, entry in enumerate(item, start=1):
                out.children.append(section(f"{name} {i}", entry, depth + 1))
        elif isinstance(item, dict | list) and not item:
            out.fields.append((label(name), "none"))
        elif isinstance(item, dict | list) and not _scalars(item):
            out.fields.append((label(name), str(item)))
        else:
            out.fields.append((label(name), text(item)))
    return out


def sections(state: dict[str, Any]) -> list[Section]:
    """Every part of the state the reader's tier allows, but those the page shows elsewhere."""
    keys = [k for k in FIRST if k in state] + sorted(k for k in state if k not in FIRST and k not in SHOWN_ELSEWHERE)
    top = Section(key="passport", title="passport")
    found = []
    for key in keys:
        value = state[key]
        if isinstance(value, dict):
            found.append(section(key, value))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            found.append(section(key, {f"{i}": v for i, v in enumerate(value, start=1)}))
        else:
            top.fields.append((label(key), text(value)))
    return ([top] if top.fields else []) + [s for s in found if not s.empty]


@dataclass(frozen=True)
class TimelineEvent:
    at: str  # ISO 8601, the event's own time
    kind: str  # minted, custody, status, recovery, ceased
    text: str
    parties: tuple[str, str] | None = None  # (from, to) of a custody move


def _at(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value or "")


def _instant(value: str) -> datetime:
    """An event's time for ordering (naive times read as UTC; none or unreadable: last)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return datetime.max.replace(tzinfo=UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# Minting opens the passport and its ceasing closes it, whenever the platform learned of them; all between is in
# event-time order.
_RANK = {"minted": 0, "ceased": 2}


def timeline(state: dict[str, Any]) -> list[TimelineEvent]:
    events = [TimelineEvent(_at(state.get("minted_at")), "minted", f"Minted by {state.get('minted_by') or '—'}")]
    for step in state.get("custody_timeline") or []:
        kind = str(step.get("kind", "custody")).replace("_", " ")
        giver = step.get("from_handler_id") or (step.get("handler_id") if kind == "dispatch" else None)
        taker = step.get("to_handler_id")
        recorder = step.get("handler_id")
        if giver or taker:
            parties = (str(giver or "—"), str(taker or "—"))
            what = f"Custody #{step.get('sequence')}: {kind}, {parties[0]} → {parties[1]}"
            if recorder and recorder not in parties:
                what += f" (recorded by {recorder})"
        else:
            parties = None
            what = f"Custody #{step.get('sequence')}: {kind} at {recorder or '—'}"
        events.append(TimelineEvent(_at(step.get("occurred_at")), "custody", what, parties))
    for h in state.get("status_history") or []:
        what = f"Status {h.get('status')}, stage {h.get('stage')}"
        if h.get("by"):
            what += f", by {h['by']}"
        if h.get("reason"):
            what += f" ({h['reason']})"
        events.append(TimelineEvent(_at(h.get("occurred_at")), "status", what))
    for a in (state.get("recovery") or {}).get("attributions") or []:
        materials = ", ".join(f"{m.get('material')} {m.get('recovered_kg')} kg" for m in a.get("materials", []))
        events.append(TimelineEvent(_at(a.get("attributed_at")), "recovery", f"Recovery attributed: {materials}"))
    if state.get("ceased_at"):
        events.append(TimelineEvent(_at(state["ceased_at"]), "ceased", "Passport ceased"))
    return sorted(events, key=lambda ev: (_RANK.get(ev.kind, 1), _instant(ev.at)))
