"""The custody log's hash chain: what an entry's hash commits to (every field, in a fixed encoding, the fallback
encoder included) and each break `verify_chain` reports, with the entry it names and the sentence an auditor reads."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from services.custody.domain.chain import GENESIS_HASH, ChainBreak, LogEntry, canonical_bytes, hash_entry, verify_chain

pytestmark = pytest.mark.unit


def entry(sequence: int = 1, previous_hash: str = GENESIS_HASH, content: dict[str, Any] | None = None) -> LogEntry:
    return LogEntry(
        passport_id="urn:uuid:p1",
        sequence=sequence,
        kind="handover",
        occurred_at=datetime(2026, 3, sequence, 8, 30, tzinfo=UTC),
        handler_id="carrier",
        from_handler_id="plant",
        to_handler_id="carrier",
        source_event_id=f"event-{sequence}",
        source="urn:bpass:handler:carrier",
        content={"note": "ok"} if content is None else content,
        previous_hash=previous_hash,
    )


def chain(length: int) -> list[tuple[LogEntry, str]]:
    entries: list[tuple[LogEntry, str]] = []
    previous = GENESIS_HASH
    for sequence in range(1, length + 1):
        current = entry(sequence, previous)
        entries.append((current, current.entry_hash))
        previous = current.entry_hash
    return entries


def test_an_entry_commits_to_every_field_in_sorted_compact_json() -> None:
    first = entry()
    assert first.canonical() == (
        b'{"content":{"note":"ok"},"from_handler_id":"plant","handler_id":"carrier","kind":"handover",'
        b'"occurred_at":"2026-03-01T08:30:00+00:00","passport_id":"urn:uuid:p1","previous_hash":"' + b"0" * 64 + b'",'
        b'"sequence":1,"source":"urn:bpass:handler:carrier","source_event_id":"event-1","to_handler_id":"carrier"}'
    )
    assert first.entry_hash == hashlib.sha256(first.canonical()).hexdigest()
    fields = [
        first.passport_id,
        first.sequence,
        first.kind,
        first.occurred_at,
        first.handler_id,
        first.from_handler_id,
        first.to_handler_id,
        first.source_event_id,
        first.source,
        first.content,
        first.previous_hash,
    ]
    assert hash_entry(*fields) == first.entry_hash, "the ingest path hashes the same bytes without an entry"


def test_what_the_fast_encoder_refuses_is_encoded_by_the_standard_one_byte_for_byte() -> None:
    content = {"serial": 2**70, "site": "Lünen"}  # beyond 64 bits: orjson refuses it; written as UTF-8 all the same
    body = {
        "passport_id": "p",
        "sequence": 1,
        "kind": "k",
        "occurred_at": "2026-03-01T00:00:00+00:00",
        "handler_id": "h",
        "from_handler_id": None,
        "to_handler_id": None,
        "source_event_id": "e",
        "source": "s",
        "content": content,
        "previous_hash": GENESIS_HASH,
    }
    at = datetime(2026, 3, 1, tzinfo=UTC)
    found = canonical_bytes("p", 1, "k", at, "h", None, None, "e", "s", content, GENESIS_HASH)
    assert found == json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert b'"serial":1180591620717411303424' in found
    assert '"site":"Lünen"'.encode() in found


def test_each_field_changes_the_hash() -> None:
    first = entry()
    changed = [
        replace(first, passport_id="urn:uuid:p2"),
        replace(first, sequence=2),
        replace(first, kind="receipt"),
        replace(first, occurred_at=datetime(2026, 3, 1, 8, 31, tzinfo=UTC)),
        replace(first, handler_id="other"),
        replace(first, from_handler_id=None),
        replace(first, to_handler_id=None),
        replace(first, source_event_id="event-x"),
        replace(first, source="urn:bpass:handler:other"),
        replace(first, content={"note": "changed"}),
        replace(first, previous_hash="f" * 64),
    ]
    hashes = {first.entry_hash, *(e.entry_hash for e in changed)}
    assert len(hashes) == len(changed) + 1


def test_an_intact_chain_and_an_empty_one_verify() -> None:
    entries = chain(3)
    assert verify_chain(entries, (3, entries[-1][1])) is None
    assert verify_chain(entries) is None
    assert verify_chain([], (0, GENESIS_HASH)) is None
    assert verify_chain([]) is None


def test_a_missing_entry_is_named() -> None:
    entries = chain(3)
    assert verify_chain([entries[0], entries[2]]) == ChainBreak(2, "entry_missing", "Entry 2 is missing.")
    assert verify_chain(entries[1:]) == ChainBreak(1, "entry_missing", "Entry 1 is missing.")


def test_an_entry_that_does_not_commit_to_the_one_before_is_named() -> None:
    entries = chain(3)
    rewritten = replace(entries[1][0], previous_hash="f" * 64)
    found = verify_chain([entries[0], (rewritten, rewritten.entry_hash), entries[2]])
    assert found == ChainBreak(2, "previous_hash_mismatch", "Entry 2 does not commit to entry 1.")
    first = replace(entries[0][0], previous_hash="f" * 64)
    assert verify_chain([(first, first.entry_hash)]) == ChainBreak(
        1, "previous_hash_mismatch", "Entry 1 does not commit to entry 0."
    )


def test_an_altered_entry_is_named() -> None:
    entries = chain(3)
    altered = replace(entries[2][0], content={"note": "forged"})
    found = verify_chain([entries[0], entries[1], (altered, entries[2][1])])
    assert found == ChainBreak(3, "content_altered", "Entry 3 was altered after it was recorded.")


def test_the_head_anchor_catches_a_cut_tail_an_unanchored_tail_and_a_swapped_last_entry() -> None:
    entries = chain(3)
    assert verify_chain(entries[:1], (3, entries[2][1])) == ChainBreak(
        2, "entry_missing", "Entries 2 to 3 are missing: the chain's head is entry 3."
    )
    assert verify_chain(entries, (1, entries[0][1])) == ChainBreak(
        2, "entry_unanchored", "Entries after 1 are not anchored by the chain's head."
    )
    assert verify_chain(entries, (3, entries[1][1])) == ChainBreak(
        3, "head_mismatch", "Entry 3 is not the entry the chain's head commits to."
    )
    assert verify_chain([], (2, entries[1][1])) == ChainBreak(
        1, "entry_missing", "Entries 1 to 2 are missing: the chain's head is entry 2."
    )
