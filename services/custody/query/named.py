"""EPCIS 2.0 named queries (REST binding `/epcis/queries`): a query of the EPCIS query language kept under a name,
run later with the caller's visibility, and the query WebSocket and webhook subscriptions are made on.

A name belongs to its owner: the tenant of the key that created it (an OEM's keys share the OEM's names, a handler's
keys the handler's), or the key itself for a role without a tenant (platform operator, regulator) and for an auditor
(read-only: it may not delete the names of the tenant it audits, nor the subscriptions made on them). Another
owner's query is answered exactly like an unknown one, so the names others chose never show. The stored query is
checked with `parse_query` when it is created, as `GET /epcis/events` checks its query string: a query that could
not run is never stored.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg

from services.common.auth import Principal, Role
from services.common.db import DbConnection
from services.custody.domain.epcis.query import (
    EMPTY_VALUE,
    INVALID_VALUE,
    EventQuery,
    QueryParameterError,
    parse_query,
)
from services.custody.query.usecases import QueryPage, run_query

NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9._~-]{1,200}")
# Paging is the caller's, per request: a stored query has none.
PAGING_PARAMETERS: Final = frozenset({"perPage", "nextPageToken"})
DEFAULT_LIST_PAGE: Final = 30
MAX_LIST_PAGE: Final = 1000

# Stable reason codes.
INVALID_NAME: Final = "invalid_query_name"
INVALID_DEFINITION: Final = "invalid_query_definition"
PAGING_IN_QUERY: Final = "paging_in_named_query"
LIST_PAGE_REFUSED: Final = "invalid_next_page_token"


class InvalidQueryDefinition(ValueError):
    """The body of `POST /epcis/queries` is not a query definition: `field` names what is wrong."""

    def __init__(self, field: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason
        self.message = message


class DuplicateQueryName(Exception):
    """The owner already has a query of this name (the binding's `ResourceAlreadyExistsException`)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"A query named {name!r} exists already; delete it first or choose another name.")
        self.name = name


@dataclass(frozen=True)
class NamedQuery:
    owner: str
    name: str
    query: dict[str, Any]
    parameters: list[tuple[str, str]]
    created_at: datetime

    def body(self) -> dict[str, Any]:
        """The query as the binding answers it: its name and its query definition."""
        return {"name": self.name, "query": self.query}


def owner_of(principal: Principal) -> str:
    """Whose names a principal sees and creates."""
    if principal.tenant and principal.role is not Role.auditor:
        return f"tenant:{principal.tenant}"
    return f"principal:{principal.name}"


def check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidQueryDefinition(
            "name",
            INVALID_NAME,
            "name is 1 to 200 letters, digits or . _ ~ - (it is a path segment of /epcis/queries/{name}).",
        )
    return name


def _value(parameter: str, value: object) -> str:
    if isinstance(value, bool):
        if parameter.startswith("EXISTS_") and value:
            return ""
        raise QueryParameterError(parameter, INVALID_VALUE, f"{parameter} takes a string, a number or a list.")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    raise QueryParameterError(parameter, INVALID_VALUE, f"{parameter} takes a string, a number or a list of strings.")


def query_pairs(query: object) -> list[tuple[str, str]]:
    """The binding's `query` object as the query-string pairs `parse_query` reads: a list is the parameter repeated
    (its values OR-ed), `EXISTS_<field>: true` the parameter without a value."""
    if not isinstance(query, dict):
        raise InvalidQueryDefinition("query", INVALID_DEFINITION, "query is a JSON object of query parameters.")
    pairs: list[tuple[str, str]] = []
    for parameter, value in query.items():
        if parameter in PAGING_PARAMETERS:
            raise QueryParameterError(
                parameter,
                PAGING_IN_QUERY,
                f"{parameter} pages the answer: give it to GET /epcis/queries/{{name}}/events, not in the query.",
            )
        if isinstance(value, list):
            if not value:
                raise QueryParameterError(parameter, EMPTY_VALUE, f"{parameter} has an empty list of values.")
            pairs.extend((parameter, _value(parameter, item)) for item in value)
        else:
            pairs.append((parameter, _value(parameter, value)))
    return pairs


def checked_definition(body: object) -> tuple[str, dict[str, Any], list[tuple[str, str]]]:
    """The name, query and query pairs of a `POST /epcis/queries` body, checked (the query by `parse_query`):
    InvalidQueryDefinition or QueryParameterError naming what is wrong."""
    if not isinstance(body, dict):
        raise InvalidQueryDefinition("", INVALID_DEFINITION, 'The body is a JSON object {"name": ..., "query": {...}}.')
    unknown = sorted(set(body) - {"name", "query"})
    if unknown:
        raise InvalidQueryDefinition(
            unknown[0], INVALID_DEFINITION, f"{unknown[0]} is not a field of a query definition (name, query)."
        )
    name = check_name(body.get("name"))
    query = body.get("query")
    pairs = query_pairs(query)
    parse_query(pairs)
    assert isinstance(query, dict)  # query_pairs refused anything else
    return name, query, pairs


def _row(row: asyncpg.Record) -> NamedQuery:
    return NamedQuery(
        owner=row["owner"],
        name=row["name"],
        query=row["query"],
        parameters=[(str(n), str(v)) for n, v in row["parameters"]],
        created_at=row["created_at"],
    )


async def create(db: DbConnection | asyncpg.Pool, principal: Principal, body: object) -> NamedQuery:
    """Store the query `body` defines under its name for the principal's owner."""
    name, query, pairs = checked_definition(body)
    try:
        row = await db.fetchrow(
            """INSERT INTO epcis_named_queries (owner, name, query, parameters, creator_role, creator_tenant,
                   creator_key)
               VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *""",
            owner_of(principal),
            name,
            query,
            [list(p) for p in pairs],
            principal.role.value,
            principal.tenant,
            principal.key_id,
        )
    except asyncpg.UniqueViolationError as exc:
        raise DuplicateQueryName(name) from exc
    assert row is not None
    return _row(row)


async def find(db: DbConnection | asyncpg.Pool, owner: str, name: str) -> NamedQuery | None:
    row = await db.fetchrow("SELECT * FROM epcis_named_queries WHERE owner = $1 AND name = $2", owner, name)
    return _row(row) if row is not None else None


async def get(db: DbConnection | asyncpg.Pool, principal: Principal, name: str) -> NamedQuery | None:
    """The principal's query of this name; None when there is none (another owner's included)."""
    return await find(db, owner_of(principal), name)


async def existing(db: DbConnection | asyncpg.Pool, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of the (owner, name) pairs still name a query."""
    if not keys:
        return set()
    rows = await db.fetch(
        """SELECT q.owner, q.name FROM epcis_named_queries q
             JOIN unnest($1::text[], $2::text[]) AS k(owner, name) ON k.owner = q.owner AND k.name = q.name""",
        [o for o, _ in keys],
        [n for _, n in keys],
    )
    return {(r["owner"], r["name"]) for r in rows}


async def delete(db: DbConnection | asyncpg.Pool, principal: Principal, name: str) -> bool:
    status = await db.execute(
        "DELETE FROM epcis_named_queries WHERE owner = $1 AND name = $2", owner_of(principal), name
    )
    return bool(status == "DELETE 1")


def encode_list_token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).rstrip(b"=").decode()


def decode_list_token(token: str) -> str:
    try:
        name = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, ValueError) as exc:
        raise QueryParameterError(
            "nextPageToken", LIST_PAGE_REFUSED, "nextPageToken is not one this list answered."
        ) from exc
    if not NAME_PATTERN.fullmatch(name):
        raise QueryParameterError("nextPageToken", LIST_PAGE_REFUSED, "nextPageToken is not one this list answered.")
    return name


async def list_page(
    db: DbConnection | asyncpg.Pool, principal: Principal, after: str | None, size: int
) -> tuple[list[NamedQuery], str | None]:
    """One page of the principal's queries by name, and the token of the next page (None on the last)."""
    rows = await db.fetch(
        """SELECT * FROM epcis_named_queries WHERE owner = $1 AND ($2::text IS NULL OR name > $2)
            ORDER BY name LIMIT $3""",
        owner_of(principal),
        after,
        size + 1,
    )
    found = [_row(r) for r in rows[:size]]
    token = encode_list_token(found[-1].name) if len(rows) > size and found else None
    return found, token


def events_query(named: NamedQuery, paging: list[tuple[str, str]]) -> EventQuery:
    """The stored query with the caller's paging (`perPage`, `nextPageToken`); any other parameter is refused:
    the query is the stored one."""
    for parameter, _ in paging:
        if parameter not in PAGING_PARAMETERS:
            raise QueryParameterError(
                parameter,
                "parameter_not_for_named_query",
                f"{parameter} is not taken here: a named query's events are paged by perPage and nextPageToken "
                "(stream, initialRecordTime and reportIfEmpty subscribe, over a WebSocket).",
            )
    return parse_query(named.parameters + paging)


async def run(pool: asyncpg.Pool, named: NamedQuery, principal: Principal, paging: list[tuple[str, str]]) -> QueryPage:
    """One page of the named query's events as the caller sees them."""
    return await run_query(pool, events_query(named, paging), principal)


__all__ = [
    "DuplicateQueryName",
    "InvalidQueryDefinition",
    "NamedQuery",
    "check_name",
    "checked_definition",
    "create",
    "delete",
    "events_query",
    "existing",
    "find",
    "get",
    "list_page",
    "owner_of",
    "query_pairs",
    "run",
]
