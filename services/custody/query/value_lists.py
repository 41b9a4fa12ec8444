"""The value lists of the EPCIS 2.0 REST binding: `GET /epcis/eventTypes`, `/epcs`, `/bizSteps`, `/bizLocations`,
`/readPoints`, `/dispositions` (a JSON-LD `Collection` of members, paged by `nextPageToken`), and whether one value
is a resource (`GET /epcis/<list>/{value}` answers its sub-resources, `["events"]`).

What a list holds, as the binding says: the five standard event types; the CBV standard business steps and
dispositions plus the custom ones of events the reader sees; the identifiers, business locations and read points
of events the reader sees. Nothing comes from an event the reader may not see (the same visibility as the events
query), so a list never tells of another party's events. Identifiers are listed once each: a GS1 key as its
canonical Digital Link (the EPC URN it may have been written as finds the same events).

Page tokens carry the last value served, bound to the list and the reader, signed with the event pages' key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Final

import asyncpg

from services.common.auth import Principal
from services.custody.domain.epcis.identifiers import to_digital_link
from services.custody.domain.epcis.query import EVENT_TYPES, QueryParameterError, parse_query
from services.custody.domain.epcis.vocabulary import VOCABULARIES, Vocabulary, bare_term
from services.custody.query import store
from services.custody.query.usecases import PAGE_CURSOR_REFUSED, seal, unseal, visibility_of


@dataclass(frozen=True)
class ValueList:
    """One list: its resource name, the query parameter its `/{value}/events` view stands for, the index column
    its values come from (None: a fixed list) and the standard values it always holds."""

    resource: str
    parameter: str
    column: str | None
    standard: tuple[str, ...] = ()
    vocabulary: Vocabulary | None = None


VALUE_LISTS: Final = {
    v.resource: v
    for v in (
        ValueList("eventTypes", "eventType", None, tuple(sorted(EVENT_TYPES))),
        ValueList("epcs", "MATCH_anyEPC", "epc"),
        ValueList(
            "bizSteps",
            "EQ_bizStep",
            "biz_step",
            tuple(sorted(VOCABULARIES[Vocabulary.BIZ_STEP])),
            Vocabulary.BIZ_STEP,
        ),
        ValueList("bizLocations", "EQ_bizLocation", "biz_location"),
        ValueList("readPoints", "EQ_readPoint", "read_point"),
        ValueList(
            "dispositions",
            "EQ_disposition",
            "disposition",
            tuple(sorted(VOCABULARIES[Vocabulary.DISPOSITION])),
            Vocabulary.DISPOSITION,
        ),
    )
}


@dataclass(frozen=True)
class ValuePage:
    members: list[str]
    next_page_token: str | None


def _binding(scope: str, principal: Principal) -> str:
    material = json.dumps([scope, principal.name], separators=(",", ":"))
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def sign_page(key: bytes, scope: str, principal: Principal, position: list[str]) -> str:
    """A page token: where the next page starts (`position`), bound to a list (`scope`) and the reader, signed."""
    return seal(key, {"a": position, "b": _binding(scope, principal)})


def open_page(key: bytes, scope: str, principal: Principal, token: str) -> list[str]:
    """The position a page token carries, or QueryParameterError(nextPageToken) when the token is not one this
    list (`scope`) gave this reader, or was altered."""
    refusal = QueryParameterError(
        "nextPageToken",
        PAGE_CURSOR_REFUSED,
        f"nextPageToken is not a token of the {scope} list given to you: follow the list's Link header.",
    )
    data = unseal(key, token, refusal)
    position, binding = data.get("a"), data.get("b")
    if not isinstance(position, list) or not all(isinstance(p, str) for p in position):
        raise refusal
    if binding != _binding(scope, principal):
        raise refusal
    return position


def _listed(values: ValueList, value: str) -> bool:
    """Whether a stored value is a member as stored: an identifier is listed in its canonical form only (the EPC
    URN form of a GS1 key is stored beside its Digital Link, which is listed)."""
    if values.column != "epc":
        return True
    canonical = to_digital_link(value)
    return canonical is None or canonical == value


async def list_values(
    pool: asyncpg.Pool, values: ValueList, principal: Principal, per_page: int, token: str | None
) -> ValuePage:
    """One page of a value list as `principal` sees it, in byte order."""
    async with store.reading(pool) as conn:
        key = await store.token_key(conn)
        after = (open_page(key, values.resource, principal, token) or [""])[0] if token else ""
        visibility = visibility_of(principal)
        found: list[str] = [v for v in values.standard if v > after][: per_page + 1]
        cursor, stored = after, 0
        # The first per_page + 1 members of the union are known once as many stored values are (or none is left).
        while values.column is not None:
            batch = await store.distinct_values(conn, values.column, visibility, cursor, per_page + 1)
            kept = [v for v in batch if _listed(values, v)]
            found.extend(kept)
            stored += len(kept)
            if len(batch) <= per_page or stored > per_page:
                break
            cursor = batch[-1]
        members = sorted(set(found))
        page = members[:per_page]
        more = len(members) > per_page
        return ValuePage(page, sign_page(key, values.resource, principal, [page[-1]]) if more and page else None)


async def value_exists(pool: asyncpg.Pool, values: ValueList, principal: Principal, value: str) -> bool:
    """Whether `value` is a member of the list for `principal`: a standard value, or one a visible event has."""
    if value in values.standard:
        return True
    if values.vocabulary is not None and bare_term(values.vocabulary, value) is not None:
        return True
    if values.column is None:
        return False
    query = parse_query([(values.parameter, value)])
    async with store.reading(pool) as conn:
        return await store.count_up_to(conn, query, visibility_of(principal), 1) > 0


__all__ = ["VALUE_LISTS", "ValueList", "ValuePage", "list_values", "open_page", "sign_page", "value_exists"]
