"""The hash chain of a passport's custody log: each entry commits to its content and to the previous entry."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ParamSpec

import orjson

P = ParamSpec("P")

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class LogEntry:
    passport_id: str
    sequence: int
    kind: str
    occurred_at: datetime
    handler_id: str
    from_handler_id: str | None
    to_handler_id: str | None
    source_event_id: str
    source: str
    content: dict[str, Any]
    previous_hash: str

    def canonical(self) -> bytes:
        """The exact bytes the entry hash commits to: every recorded field, sorted keys, no whitespace."""
        return canonical_bytes(
            self.passport_id,
            self.sequence,
            self.kind,
            self.occurred_at,
            self.handler_id,
            self.from_handler_id,
            self.to_handler_id,
            self.source_event_id,
            self.source,
            self.content,
            self.previous_hash,
        )

    @property
    def entry_hash(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()


def canonical_bytes(
    passport_id: str,
    sequence: int,
    kind: str,
    occurred_at: datetime,
    handler_id: str,
    from_handler_id: str | None,
    to_handler_id: str | None,
    source_event_id: str,
    source: str,
    content: dict[str, Any],
    previous_hash: str,
) -> bytes:
    """`LogEntry.canonical` of an entry with these fields (the ingest path hashes without building the entry)."""
    body = {
        "passport_id": passport_id,
        "sequence": sequence,
        "kind": kind,
        "occurred_at": occurred_at.isoformat(),
        "handler_id": handler_id,
        "from_handler_id": from_handler_id,
        "to_handler_id": to_handler_id,
        "source_event_id": source_event_id,
        "source": source,
        "content": content,
        "previous_hash": previous_hash,
    }
    try:  # orjson writes the same bytes as the json call below, several times faster
        return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):  # integers beyond 64 bits, lone surrogates
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _sha256_hex_of(canonical: Callable[P, bytes]) -> Callable[P, str]:
    def digest(*args: P.args, **kwargs: P.kwargs) -> str:
        return hashlib.sha256(canonical(*args, **kwargs)).hexdigest()

    return digest


# `LogEntry.entry_hash` of an entry with these fields (`canonical_bytes`' parameters).
hash_entry = _sha256_hex_of(canonical_bytes)


@dataclass(frozen=True)
class ChainBreak:
    sequence: int
    reason: str
    message: str


def verify_chain(entries: list[tuple[LogEntry, str]], head: tuple[int, str] | None = None) -> ChainBreak | None:
    """Check (entry, stored hash) pairs in sequence order; returns the first break, or None when intact.

    `head` is the (sequence, hash) the passport's record says the chain ends with: an anchor outside the log,
    so that deleting the last entries is detected too, not only gaps and altered rows.
    """
    previous = GENESIS_HASH
    for expected_sequence, (entry, stored_hash) in enumerate(entries, start=1):
        if entry.sequence != expected_sequence:
            return ChainBreak(expected_sequence, "entry_missing", f"Entry {expected_sequence} is missing.")
        if entry.previous_hash != previous:
            return ChainBreak(
                entry.sequence,
                "previous_hash_mismatch",
                f"Entry {entry.sequence} does not commit to entry {entry.sequence - 1}.",
            )
        if entry.entry_hash != stored_hash:
            return ChainBreak(
                entry.sequence,
                "content_altered",
                f"Entry {entry.sequence} was altered after it was recorded.",
            )
        previous = stored_hash
    if head is not None:
        head_sequence, head_hash = head
        last = len(entries)
        if head_sequence > last:
            return ChainBreak(
                last + 1,
                "entry_missing",
                f"Entries {last + 1} to {head_sequence} are missing: the chain's head is entry {head_sequence}.",
            )
        if head_sequence < last:
            return ChainBreak(
                head_sequence + 1,
                "entry_unanchored",
                f"Entries after {head_sequence} are not anchored by the chain's head.",
            )
        if last and head_hash != previous:
            return ChainBreak(last, "head_mismatch", f"Entry {last} is not the entry the chain's head commits to.")
    return None
