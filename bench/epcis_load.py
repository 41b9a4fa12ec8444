"""Loading the EPCIS query benchmark's events: a slice captured over HTTP, the rest bulk-loaded with COPY.

The bulk rows are built by the code the capture runs: `to_custody_observation` (CBV 2.0 event hash, custody
meaning), `to_step` (the custody step, resolved against the registry's GLNs), the custody transition rules and
`hash_entry` (custody log entries chained per passport, the passport's head and custody state), `index_fields`
(the query index row, as `index_captured` writes it) and the minted consumer's `_passport_row` (known passports).
Not written by the bulk path: capture jobs, parked references (pallets, black-mass lots), waste declarations and
the facts a capture publishes; the captured slice has all of them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import httpx

from bench.epcis_lifecycles import HANDLERS, Battery, Lifecycle, document, lifecycle
from contracts.attributes import BatteryCategory
from contracts.identity import PassportMinted
from contracts.passport_data import BatteryKind, PassportSubject
from services.common.db import init_connection
from services.custody.domain.chain import GENESIS_HASH, hash_entry
from services.custody.domain.epcis import context_prefixes, to_custody_observation
from services.custody.domain.epcis.query import index_fields
from services.custody.domain.observations import to_step
from services.custody.domain.transitions import WASTE_STAGES, CustodyState, Step, transition
from services.custody.ingest.messaging import _passport_row

PERMIT = {
    "permit_type": "environmental_permit",
    "number": "EPR/BENCH0001",
    "issuing_authority": "Environment Agency",
    "valid_from": "2024-01-01T00:00:00Z",
    "valid_until": "2028-01-01T00:00:00Z",
    "waste_codes": ["16 06 01*", "16 06 05"],
    "operations": ["R4", "R12"],
}
KNOWN_COLUMNS = ["passport_id", "tenant", "battery_identifier", "public_uri", "minted_at", "kind", "gtin",
                 "batch_number", "gs1_key", "gs1_class", "head_sequence", "head_hash", "holder", "in_transit",
                 "pending_from", "pending_to", "stage", "status"]  # fmt: skip
LOG_COLUMNS = ["passport_id", "sequence", "kind", "occurred_at", "handler_id", "from_handler_id", "to_handler_id",
               "source_event_id", "source", "content", "previous_hash", "entry_hash", "epcis_event_hash",
               "recorded_at"]  # fmt: skip
INDEX_COLUMNS = ["event_hash", "event_id", "capture_id", "event_index", "capturer", "principal", "passport_ids",
                 "event_type", "event_time", "record_time", "action", "biz_step", "disposition", "read_point",
                 "biz_location", "epcs", "parent_ids", "input_epcs", "output_epcs", "biz_transactions", "sources",
                 "destinations", "context", "event"]  # fmt: skip
EVENTS_COLUMNS = ["event_hash", "event_id", "capture_id", "event_index", "outcome", "captured_at"]
PREFIXES = context_prefixes(document([])["@context"])


def registration(handler_id: str) -> dict[str, Any]:
    handler = HANDLERS[handler_id]
    identifiers = [
        {"scheme": "gln", "value": handler.gln},
        {"scheme": "waste_carrier_registration", "value": f"CBDU{handler.gln[-6:]}"},
    ]
    if handler.delegate_of:
        identifiers.append({"scheme": "oem_delegate", "value": handler.delegate_of})
    return {
        "handler_id": handler_id,
        "name": f"{handler_id} GmbH",
        "roles": list(handler.roles),
        "identifiers": identifiers,
        "sites": [{"site_id": "main", "name": "Main site", "country": "DE"}],
        "permits": [PERMIT],
    }


def known_row(item: Battery) -> tuple[Any, ...]:
    """The row custody's minted consumer writes for the battery's passport."""
    minted = PassportMinted.model_construct(
        passport_id=item.passport_id,
        tenant=item.tenant,
        subject=PassportSubject.model_construct(
            kind=BatteryKind.battery, battery_identifier=item.serial, gtin=item.gtin, batch_number=None
        ),
        category=BatteryCategory.ev,
        public_uri=f"https://passport.example.test/01/{item.gtin}/21/{item.serial}",
        static_data_digest="",
        version=1,
        minted_at=item.minted_at,
        minted_by="urn:bpass:service:identity",
    )
    return _passport_row(minted)


def reporter(handler_id: str) -> str:
    return f"urn:bpass:handler:{handler_id}"


@dataclass
class BulkRows:
    known: list[tuple[Any, ...]]
    log: list[tuple[Any, ...]]
    index: list[tuple[Any, ...]]
    events: list[tuple[Any, ...]]
    broken: int = 0


def bulk_rows(seed: int, numbers: range, by_gln: Mapping[str, tuple[str, str | None]]) -> BulkRows:
    """The rows capturing these batteries' lifecycles would have written (one capture id per battery and
    capturer, as a handler's document of its steps)."""
    rows = BulkRows([], [], [], [])
    for number in numbers:
        life = lifecycle(seed, number)
        item = life.battery
        state, sequence, head = CustodyState(), 0, GENESIS_HASH
        status: str | None = None
        for index, (capturer, event) in enumerate(life.events):
            capture_id = f"bulk-{seed}-{number}-{capturer}"
            observation = to_custody_observation(event, PREFIXES)
            received = observation.event_time + timedelta(minutes=2 + (number * 7 + index * 13) % 55)
            step = to_step(observation, index, capturer=capturer, source=reporter(capturer),
                           capture_id=capture_id, handlers=by_gln, received_at=received)  # fmt: skip
            state, broken = transition(
                state, Step(step.kind, step.handler_id, step.from_handler_id, step.to_handler_id)
            )
            rows.broken += len(broken) + len(step.hard_violations)
            if state.stage in WASTE_STAGES:
                status = "waste"
            sequence += 1
            fields = (item.passport_id, sequence, step.kind, step.occurred_at, step.handler_id, step.from_handler_id,
                      step.to_handler_id, step.source_event_id, step.source, step.content, head)  # fmt: skip
            head = hash_entry(*fields)
            rows.log.append((*fields, head, observation.event_hash, received))
            indexed = index_fields(event)
            rows.index.append((observation.event_hash, observation.event_id, capture_id, index, capturer,
                               f"bench-key:{capturer}", [item.passport_id], indexed.event_type, indexed.event_time,
                               received, indexed.action, indexed.biz_step, indexed.disposition, indexed.read_point,
                               indexed.biz_location, indexed.epcs, indexed.parent_ids, indexed.input_epcs,
                               indexed.output_epcs, indexed.biz_transactions, indexed.sources, indexed.destinations,
                               document([])["@context"], event))  # fmt: skip
            rows.events.append((observation.event_hash, observation.event_id, capture_id, index, "recorded", received))
        rows.known.append((*known_row(item), sequence, head, state.holder, state.in_transit, state.pending_from,
                           state.pending_to, state.stage, status))  # fmt: skip
    return rows


def load_chunk(
    dsn: str, seed: int, start: int, stop: int, by_gln: dict[str, tuple[str, str | None]]
) -> tuple[int, int]:
    """Build and COPY the rows of batteries [start, stop) (in a worker process); (events, rule violations)."""
    rows = bulk_rows(seed, range(start, stop), by_gln)

    async def copy() -> None:
        conn = await asyncpg.connect(dsn, timeout=30, command_timeout=3600, server_settings={"search_path": "custody"})
        await init_connection(conn)
        try:
            async with conn.transaction():
                for table, columns, records in (
                    ("known_passports", KNOWN_COLUMNS, rows.known),
                    ("custody_log", LOG_COLUMNS, rows.log),
                    ("epcis_event_index", INDEX_COLUMNS, rows.index),
                    ("epcis_events", EVENTS_COLUMNS, rows.events),
                ):
                    await conn.copy_records_to_table(table, records=records, columns=columns, schema_name="custody")
        finally:
            await conn.close()

    asyncio.run(copy())
    return len(rows.index), rows.broken


async def compare_with_capture(
    conn: asyncpg.Connection, seed: int, numbers: range, by_gln: Mapping[str, tuple[str, str | None]]
) -> int:
    """Check that the bulk path builds what the capture wrote for batteries captured over HTTP: the same index
    rows (every field but the capture's id, time and principal) and custody log entries (every field but the capture
    id in the content, and so the chain hashes). Returns the events compared; raises on a difference."""
    built = bulk_rows(seed, numbers, by_gln)
    passports = [row[0] for row in built.known]
    index = await conn.fetch(
        """SELECT event_hash, event_id, event_index, capturer, passport_ids, event_type, event_time, action, biz_step,
                  disposition, read_point, biz_location, epcs, parent_ids, input_epcs, output_epcs, biz_transactions,
                  sources, destinations, context, event
           FROM custody.epcis_event_index WHERE passport_ids && $1::text[] ORDER BY event_time, seq""",
        passports,
    )
    log = await conn.fetch(
        """SELECT passport_id, sequence, kind, occurred_at, handler_id, from_handler_id, to_handler_id,
                  source_event_id, source, content - 'capture_id' AS content, epcis_event_hash
           FROM custody.custody_log WHERE passport_id = ANY($1::text[]) ORDER BY passport_id, sequence""",
        passports,
    )
    expected_index = sorted(
        (r[0], r[1], r[4], r[6], r[7], r[8], r[10], r[11], r[12], r[13], r[14], r[15], r[16], r[17], r[18], r[19],
         r[20], r[21], r[22], r[23])
        for r in built.index
    )  # fmt: skip
    found_index = sorted(
        (r["event_hash"], r["event_id"], r["capturer"], r["passport_ids"], r["event_type"], r["event_time"],
         r["action"], r["biz_step"], r["disposition"], r["read_point"], r["biz_location"], r["epcs"], r["parent_ids"],
         r["input_epcs"], r["output_epcs"], r["biz_transactions"], r["sources"], r["destinations"], r["context"],
         r["event"])
        for r in index
    )  # fmt: skip
    if expected_index != found_index:
        raise SystemExit(f"the bulk index rows of batteries {numbers} differ from what the capture indexed")
    expected_log = sorted((*r[:9], {k: v for k, v in r[9].items() if k != "capture_id"}, r[12]) for r in built.log)
    found_log = sorted(tuple(r.values()) for r in log)
    if expected_log != found_log:
        raise SystemExit(f"the bulk custody log of batteries {numbers} differs from what the capture recorded")
    return len(built.index)


def batteries_for(seed: int, events: int) -> tuple[int, int]:
    """How many batteries make `events` events (their lifecycles whole), and how many events they make."""
    count, total = 0, 0
    while total < events:
        total += len(lifecycle(seed, count).events)
        count += 1
    return count, total


def capture_documents(lives: list[Lifecycle]) -> Iterator[list[tuple[str, list[dict[str, Any]]]]]:
    """The documents capturing these lifecycles, in rounds: in round k, each capturer sends one document of the
    k-th run of consecutive events it captures of each battery (a battery's runs are in order across rounds)."""
    runs: list[list[tuple[str, list[dict[str, Any]]]]] = []
    for life in lives:
        mine: list[tuple[str, list[dict[str, Any]]]] = []
        for capturer, event in life.events:
            if mine and mine[-1][0] == capturer:
                mine[-1][1].append(event)
            else:
                mine.append((capturer, [event]))
        runs.append(mine)
    for k in range(max(len(r) for r in runs)):
        by_capturer: dict[str, list[dict[str, Any]]] = {}
        for mine in runs:
            if k < len(mine):
                by_capturer.setdefault(mine[k][0], []).extend(mine[k][1])
        yield list(by_capturer.items())


async def capture_slice(
    base_url: str, keys: Mapping[str, str], lives: list[Lifecycle], say: Any, concurrency: int = 3
) -> dict[str, float]:
    """POST the lifecycles' documents to /epcis/capture, `concurrency` groups of batteries at once."""
    group = 40
    groups = [lives[i : i + group] for i in range(0, len(lives), group)]
    posted: dict[str, float] = {"documents": 0, "events": 0, "refused": 0}
    started = time.perf_counter()
    last = started
    queue: asyncio.Queue[list[Lifecycle]] = asyncio.Queue()
    for g in groups:
        queue.put_nowait(g)

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal last
        while True:
            try:
                lives_ = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            for round_ in capture_documents(lives_):
                for capturer, events in round_:
                    response = await http.post(
                        "/epcis/capture",
                        json=document(events),
                        headers={"X-API-Key": keys[capturer], "GS1-Capture-Error-Behaviour": "proceed"},
                    )
                    if response.status_code != 202 or not response.json()["success"]:
                        posted["refused"] += 1
                        if posted["refused"] <= 3:
                            say(f"    capture refused ({response.status_code}): {response.text[:400]}")
                    posted["documents"] += 1
                    posted["events"] += len(events)
            if time.perf_counter() - last > 5:
                last = time.perf_counter()
                rate = posted["events"] / (last - started)
                say(f"    captured {posted['events']:,} events in {posted['documents']:,} documents ({rate:,.0f}/s)")

    async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    posted["seconds"] = time.perf_counter() - started
    return posted


async def drop_plain_indexes(conn: asyncpg.Connection, tables: tuple[str, ...]) -> list[str]:
    """Drop the indexes of `tables` that back no constraint; return their definitions to rebuild them."""
    rows = await conn.fetch(
        """SELECT i.indexname, i.indexdef FROM pg_indexes i
           WHERE i.schemaname = 'custody' AND i.tablename = ANY($1::text[])
             AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conname = i.indexname)""",
        list(tables),
    )
    for row in rows:
        await conn.execute(f'DROP INDEX custody."{row["indexname"]}"')
    return [row["indexdef"] for row in rows]


__all__ = [
    "batteries_for",
    "bulk_rows",
    "capture_slice",
    "drop_plain_indexes",
    "known_row",
    "load_chunk",
    "registration",
    "reporter",
]
