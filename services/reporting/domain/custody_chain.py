"""Verification of a passport's custody chain as projected: sequence without gaps, each entry linked to the
previous entry's hash, the first to 64 zeros. (Recomputing each entry hash from its content is custody's check,
`/custody/v1/passports/{id}/custody-log/verification`; the audit pack reports this linkage check.)"""

from __future__ import annotations

from typing import Any

GENESIS = "0" * 64


def verify_chain(timeline: list[dict[str, Any]]) -> dict[str, Any]:
    problems: list[str] = []
    previous = GENESIS
    for expected, entry in enumerate(sorted(timeline, key=lambda e: e["sequence"]), start=1):
        if entry["sequence"] != expected:
            problems.append(f"sequence {entry['sequence']} where {expected} was expected")
        link = entry.get("previous_hash")
        if link is None:
            problems.append(f"entry {entry['sequence']} carries no previous hash")
        elif link != previous:
            problems.append(f"entry {entry['sequence']} links to {link[:12]}…, not to {previous[:12]}…")
        previous = entry.get("entry_hash") or ""
    return {
        "intact": not problems,
        "entries": len(timeline),
        "head_hash": previous if timeline else None,
        "problems": problems,
        "method": "linkage: contiguous sequence, previous_hash of each entry = entry_hash of the one before",
    }
