"""When a treatment batch from the topic waits instead of being refused, and for how long.

Facts travel on different topics (identity's PassportMinted, custody's CustodyRecorded, the recycler's batch), so a
batch may reach recovery before what it refers to. A refusal that only says "recovery does not know this yet" may
resolve itself:
- `unknown_passport`: no passport with this id / battery identifier / public URI was minted to recovery's knowledge
  yet; the batch waits for the PassportMinted fact, keyed by the reference as given (a battery identifier nobody
  minted yet is awaited by that identifier, and resolves when a passport with that identifier or URI is minted);
- `not_in_custody` of a passport of which no custody step reached recovery yet: it waits for the CustodyRecorded
  fact, keyed by the passport id.

A batch is parked when it has at least one such refusal and nothing else is wrong with it; any other violation
refuses it at once, with every reason (those that might have resolved themselves included). A parked batch is
looked at again when its awaited references have all appeared; if it then waits for something else (the passport
was minted, its custody is still unknown), it waits on, from the moment it was first parked. A batch still waiting
after `max_age` is refused with `reference_never_appeared`, one violation per reference that never appeared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from contracts.errors import Violation

DEFAULT_MAX_AGE = timedelta(days=7)

Awaiting = Literal["minting", "custody"]


@dataclass(frozen=True)
class Unresolved:
    """A violation that may resolve itself once a fact recovery has not consumed yet arrives."""

    field: str
    reason: str  # the violation's reason: unknown_passport | not_in_custody
    reference: str  # what is awaited: the reference as given (minting), the passport id (custody)
    awaiting: Awaiting


@dataclass(frozen=True)
class Wait:
    """What a parked batch waits for: references to be minted, passports' first custody step."""

    minting: tuple[str, ...]
    custody: tuple[str, ...]
    unresolved: tuple[Unresolved, ...]


def decide(violations: Sequence[Violation], unresolved: Sequence[Unresolved]) -> Wait | None:
    """Park (the Wait) when there are violations and every one of them is unresolved; else None: refuse them all."""
    if not violations:
        return None
    waitable = {(u.field, u.reason) for u in unresolved}
    if any((v.field, v.reason) not in waitable for v in violations):
        return None
    present = {(v.field, v.reason) for v in violations}
    waiting = tuple(u for u in unresolved if (u.field, u.reason) in present)
    return Wait(
        minting=tuple(sorted({u.reference for u in waiting if u.awaiting == "minting"})),
        custody=tuple(sorted({u.reference for u in waiting if u.awaiting == "custody"})),
        unresolved=waiting,
    )


def expired(parked_at: datetime, now: datetime, max_age: timedelta) -> bool:
    """A batch parked longer than `max_age` waits no more."""
    return now - parked_at > max_age


def never_appeared(wait: Wait, parked_at: datetime, max_age: timedelta) -> list[Violation]:
    """The refusal of a batch that waited too long: one violation per reference that never appeared."""
    waited = _duration(max_age)
    since = parked_at.isoformat(timespec="seconds")
    violations = []
    for u in wait.unresolved:
        if u.awaiting == "minting":
            what = f"no passport {u.reference!r} was minted"
            hint = "report the material as unidentified, or send the batch again once the passport exists"
        else:
            what = f"no custody step of passport {u.reference} reached recovery"
            hint = "record the custody steps (bpass.custody.events.v1), then send the batch again"
        violations.append(
            Violation(
                field=u.field,
                reason="reference_never_appeared",
                message=f"The batch waited {waited} (parked {since}) and {what}; {hint}.",
            )
        )
    return violations


def _duration(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400} day(s)"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hour(s)"
    return f"{seconds} s"
