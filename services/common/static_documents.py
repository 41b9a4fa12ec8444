"""Resolve the static data documents `PassportMinted` facts name by digest, for the services that read them.

A v2 fact carries its document only when it is the first of its publication on its partition; a consumer reads a
partition in order, so every document a fact names was carried by an earlier fact (or one in the same batch) and
kept in this service's `static_documents_seen` table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from contracts.errors import Violation
from contracts.identity import PassportMinted
from services.common.db import DbConnection
from services.common.unit_of_work import Inbound, UnitOfWork

STATIC_DATA_UNKNOWN = "static_data_unknown"

_KEEP_SQL = """
INSERT INTO static_documents_seen (digest, static_data)
SELECT * FROM unnest($1::text[], $2::jsonb[])
ON CONFLICT (digest) DO NOTHING
"""
FIND_SQL = "SELECT digest, static_data FROM static_documents_seen WHERE digest = ANY($1::text[])"


async def static_documents_of(conn: DbConnection, facts: Iterable[PassportMinted]) -> dict[str, dict[str, Any]]:
    """Digest -> static data (JSON form) of the documents the facts name. Documents the facts carry are kept for
    the facts that only name them; a digest absent from the answer was never carried to this service."""
    carried: dict[str, dict[str, Any]] = {}
    named: set[str] = set()
    for fact in facts:
        if fact.static_data is not None:
            if fact.static_data_digest not in carried:
                carried[fact.static_data_digest] = fact.static_data.model_dump(mode="json", exclude_none=True)
        else:
            named.add(fact.static_data_digest)
    if carried:
        await conn.execute(_KEEP_SQL, list(carried), list(carried.values()))
    named -= carried.keys()
    if not named:
        return carried
    return {**carried, **await documents_by_digest(conn, named)}


async def documents_by_digest(conn: DbConnection, digests: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Digest -> static data (JSON form) of the kept documents among `digests`."""
    return {row["digest"]: row["static_data"] for row in await conn.fetch(FIND_SQL, sorted(set(digests)))}


async def resolve_or_refuse(
    uow: UnitOfWork, items: Sequence[Inbound[PassportMinted]]
) -> list[tuple[Inbound[PassportMinted], dict[str, Any]]]:
    """Each item with the JSON form of the document its fact names, in order. A fact whose document never reached this
    service is refused (`static_data_unknown`, on the service's rejected topic) and left out."""
    documents = await static_documents_of(uow.conn, (item.payload for item in items))
    resolved = []
    for item in items:
        document = documents.get(item.payload.static_data_digest)
        if document is None:
            uow.reject(item, [unknown_document(item.payload)])
        else:
            resolved.append((item, document))
    return resolved


def unknown_document(fact: PassportMinted) -> Violation:
    return Violation(
        field="static_data_digest",
        reason=STATIC_DATA_UNKNOWN,
        message=f"No fact carrying the static data document {fact.static_data_digest} reached this service before "
        "this one; the first fact of each partition of a publication must carry it. Republish the passport's "
        "minted fact with its static_data.",
    )
