"""Export jobs: a row per request in `export_jobs`; a background task of the reporting process claims queued jobs
(`FOR UPDATE SKIP LOCKED`, so several instances share the work), writes the file in pages of passports,
records progress after each page, and stores the result (and its signature, for PDF audit packs)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import asyncpg
import orjson
import uuid_utils

from contracts.attributes import AccessTier
from contracts.errors import ValidationFailed, Violation
from services.reporting.api.queries import export_filter_problems
from services.reporting.domain import query
from services.reporting.domain.query import Filters
from services.reporting.domain.tiers import LOGGED_TIERS, returned_fields, state_for_tier
from services.reporting.exports.auditpack import build_pdf
from services.reporting.exports.catenax import CatenaxWriter
from services.reporting.exports.formats import CsvWriter, JsonWriter
from services.reporting.signing import Signer
from services.reporting.store import passports as store

log = logging.getLogger(__name__)

PAGE = 500
# Exports read at these tiers log one access-log row per passport (as the HTTP reads do).
ACCESS_LOG_SQL = """INSERT INTO access_log
    (reader, role, reader_tenant, passport_id, tenant, tier, access, fields, purpose, purpose_text, trace_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL)"""
# A Catena-X entry is ~18 kB (aspect and conformance report) and takes ~10 ms to validate: 10,000 is ~180 MB.
# A Battery Pass 1.2 entry is ~16 kB with its report (~6 kB without) and ~1.6 ms: 40,000 is ~650 MB, as 100,000
# were before the report; more would near PostgreSQL's 1 GB per bytea value.
MAX_PASSPORTS = {
    "csv": 1_000_000,
    "json": 100_000,
    "batterypass-json": 40_000,
    "catenax-batterypass-6.1": 10_000,
    "audit-pack-pdf": 2_000,
}
STALE_AFTER_S = 600


class ExportFormat(StrEnum):
    csv = "csv"
    json = "json"
    batterypass_json = "batterypass-json"
    catenax_batterypass = "catenax-batterypass-6.1"
    audit_pack_pdf = "audit-pack-pdf"


MEDIA = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "json": ("application/json", "json"),
    "batterypass-json": ("application/json", "batterypass.json"),
    "catenax-batterypass-6.1": ("application/json", "catenax-batterypass-6.1.json"),
    "audit-pack-pdf": ("application/pdf", "pdf"),
}


def filters_from_request(tenant: str, request: dict[str, Any]) -> Filters:
    raw = request.get("filters") or {}
    refused = export_filter_problems(raw)
    if refused:  # checked when the job was asked for; a job queued before that check fails rather than widens
        raise ValidationFailed([Violation(field=p.field, reason=p.reason, message=p.message) for p in refused])
    placed_from = raw.get("placed_from")
    placed_to = raw.get("placed_to")
    return Filters(
        tenant=tenant,
        equals={k: str(v) for k, v in raw.items() if k in query.TEXT_FILTERS and v not in (None, "")},
        extensions={k[len(query.EXTENSION_PREFIX) :]: str(v) for k, v in raw.items() if k.startswith("ext.")},
        placed_from=datetime.fromisoformat(placed_from) if placed_from else None,
        placed_to=datetime.fromisoformat(placed_to) if placed_to else None,
        ceased=raw.get("ceased"),
    )


async def create_job(
    pool: asyncpg.Pool,
    *,
    tenant: str,
    requested_by: str,
    format: str,
    request: dict[str, Any],
    tier: AccessTier | None = None,
) -> str:
    """Queue an export; `tier`: what the requester may read (the file holds only that). Without it, the tier
    follows from the requester's role (`requested_by` is a principal name): regulators read the authorities tier,
    the others reach only their own tenant's passports here (`scope_tenant`), at the owner tier."""
    if tier is None:
        role = requested_by.partition(":")[0]
        tier = AccessTier.authorities if role == "regulator" else AccessTier.owner
    job_id = f"exp_{uuid_utils.uuid7().hex}"
    total = await count_matching(pool, tenant, request)  # known from the start: progress is "n of total"
    await pool.execute(
        """INSERT INTO export_jobs (job_id, tenant, requested_by, format, request, status, tier, total)
           VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7)""",
        job_id,
        tenant,
        requested_by,
        format,
        request,
        tier.value,
        total,
    )
    await pool.execute("SELECT pg_notify(current_schema() || '_exports', $1)", job_id)
    return job_id


async def count_matching(pool: asyncpg.Pool, tenant: str, request: dict[str, Any]) -> int:
    """How many passports an export request names or matches now (the job counts again when it runs)."""
    ids = request.get("passport_ids")
    if ids:
        count = await pool.fetchval(
            "SELECT count(*) FROM passport_view WHERE tenant = $1 AND passport_id = ANY($2::text[])", tenant, list(ids)
        )
        return int(count)
    clause, params = query.where(filters_from_request(tenant, request))
    return int(await pool.fetchval(f"SELECT count(*) FROM passport_view WHERE {clause}", *params))


def phase(status: str, processed: int, total: int | None) -> str:
    """Where a job stands, in words: waiting, reading passports n of total, writing the file, done or failed."""
    if status == "queued":
        return "waiting to start"
    if status == "running":
        if total is not None and processed >= total:
            return "writing the file"
        return f"reading passports: {processed:,} of {total:,}" if total is not None else "reading passports"
    return {"done": "done", "failed": "failed"}.get(status, status)


class ExportRunner:
    def __init__(self, pool: asyncpg.Pool, signer: Signer, poll_interval_s: float = 0.5) -> None:
        self.pool = pool
        self.signer = signer
        self.poll_interval_s = poll_interval_s

    async def run_forever(self) -> None:
        requeued = False
        while True:
            try:
                if not requeued:  # jobs a crashed instance left running start again
                    await self.pool.execute(
                        "UPDATE export_jobs SET status = 'queued' WHERE status = 'running'"
                        " AND started_at < now() - $1::interval",
                        timedelta(seconds=STALE_AFTER_S),
                    )
                    requeued = True
                worked = await self.run_once()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("export runner: %r", exc)
                worked = False
            except Exception:
                log.exception("export runner failed")
                worked = False
            if not worked:
                await asyncio.sleep(self.poll_interval_s)

    async def run_once(self) -> bool:
        job = await self.pool.fetchrow(
            """UPDATE export_jobs SET status = 'running', started_at = now()
               WHERE job_id = (SELECT job_id FROM export_jobs WHERE status = 'queued'
                               ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1)
               RETURNING job_id, tenant, format, request, tier, requested_by"""
        )
        if job is None:
            return False
        try:
            await self.produce(
                job["job_id"],
                job["tenant"],
                job["format"],
                job["request"],
                tier=AccessTier(job["tier"]),
                requested_by=job["requested_by"],
            )
        except Exception as exc:  # noqa: BLE001 - the job is marked failed with the error, the runner goes on
            log.warning("export %s failed: %r", job["job_id"], exc)
            await self.pool.execute(
                "UPDATE export_jobs SET status = 'failed', error = $2, finished_at = now() WHERE job_id = $1",
                job["job_id"],
                str(exc)[:2000],
            )
        return True

    async def _ids(self, tenant: str, request: dict[str, Any]) -> list[str]:
        ids = request.get("passport_ids")
        if ids:
            rows = await self.pool.fetch(
                "SELECT passport_id FROM passport_view WHERE tenant = $1 AND passport_id = ANY($2::text[])"
                " ORDER BY passport_id",
                tenant,
                list(ids),
            )
            return [r["passport_id"] for r in rows]
        filters = filters_from_request(tenant, request)
        clause, params = query.where(filters)
        rows = await self.pool.fetch(
            f"SELECT passport_id FROM passport_view WHERE {clause} ORDER BY passport_id", *params
        )
        return [r["passport_id"] for r in rows]

    async def produce(
        self,
        job_id: str,
        tenant: str,
        format: str,
        request: dict[str, Any],
        *,
        tier: AccessTier = AccessTier.owner,
        requested_by: str = "",
    ) -> None:
        ids = await self._ids(tenant, request)
        limit = MAX_PASSPORTS[format]
        if len(ids) > limit:
            raise ValueError(f"{len(ids)} passports match; a {format} export holds at most {limit}: narrow the filters")
        await self.pool.execute("UPDATE export_jobs SET total = $2 WHERE job_id = $1", job_id, len(ids))
        now = datetime.now(UTC)
        header = {"tenant": tenant, "generated_at": now.isoformat(), "request": request}
        writer: CsvWriter | JsonWriter | CatenaxWriter | None = None
        if format == ExportFormat.csv:
            writer = CsvWriter()
        elif format in (ExportFormat.json, ExportFormat.batterypass_json):
            writer = JsonWriter(header, batterypass=format == ExportFormat.batterypass_json)
        elif format == ExportFormat.catenax_batterypass:
            writer = CatenaxWriter(header)
        states: list[dict[str, Any]] = []
        for start in range(0, len(ids), PAGE):
            page = ids[start : start + PAGE]
            page_states = await store.states(self.pool, page)
            if tier is not AccessTier.owner:
                page_states = [state_for_tier(state, tier) for state in page_states]
            if tier in LOGGED_TIERS:
                await self._log_reads(page_states, tenant, tier, format, request, requested_by)
            if writer is not None:  # validating Battery Pass aspects takes ms per passport: off the event loop
                await asyncio.to_thread(writer.add, page_states)
            else:
                states.extend(page_states)
            done = start + len(page)
            await self.pool.execute(
                "UPDATE export_jobs SET processed = $2, progress_pct = $3 WHERE job_id = $1",
                job_id,
                done,
                min(99, done * 100 // max(1, len(ids))),
            )
            await asyncio.sleep(0)  # let the HTTP side breathe between pages
        media_type, extension = MEDIA[format]
        file_name = f"{tenant}-{job_id}.{extension}"
        signature = None
        summary = None
        if writer is not None:
            content = writer.finish()
            summary = getattr(writer, "summary", lambda: None)()
        else:
            title = request.get("title") or f"Audit pack: {len(states)} passport(s)"
            content = await asyncio.to_thread(
                build_pdf, states, tenant=tenant, title=str(title), generated_at=now, key_id=self.signer.key_id
            )
            signature = self.signer.sign(content, file_name)
        await self.pool.execute(
            """UPDATE export_jobs SET status = 'done', progress_pct = 100, processed = $2, content = $3,
                      file_name = $4, media_type = $5, signature = $6, summary = $7, finished_at = now()
               WHERE job_id = $1""",
            job_id,
            len(ids),
            content,
            file_name,
            media_type,
            signature,
            summary,
        )
        log.info("export %s done: %s, %d passports, %d bytes", job_id, format, len(ids), len(content))

    async def _log_reads(
        self,
        views: list[dict[str, Any]],
        tenant: str,
        tier: AccessTier,
        format: str,
        request: dict[str, Any],
        requested_by: str,
    ) -> None:
        """One access-log row per exported passport, written before the file is offered for download."""
        role, _, rest = requested_by.partition(":")
        reader_tenant = rest.partition(":")[0]
        await self.pool.executemany(
            ACCESS_LOG_SQL,
            [
                (
                    requested_by,
                    role,
                    None if reader_tenant in ("", "-") else reader_tenant,
                    view.get("passport_id"),
                    tenant,
                    tier.value,
                    f"export:{format}",
                    returned_fields(view),
                    request.get("purpose"),
                    request.get("purpose_text"),
                )
                for view in views
            ],
        )


def job_view(row: asyncpg.Record) -> dict[str, Any]:
    base = f"/reporting/v1/exports/{row['job_id']}"
    view = {
        "job_id": row["job_id"],
        "tenant": row["tenant"],
        "format": row["format"],
        "status": row["status"],
        "progress_pct": row["progress_pct"],
        "processed": row["processed"],
        "total": row["total"],
        "phase": phase(row["status"], row["processed"] or 0, row["total"]),
        "request": row["request"],
        "error": row["error"],
        "created_at": row["created_at"].isoformat(),
        "finished_at": row["finished_at"].isoformat() if row["finished_at"] else None,
        "links": {"self": base},
    }
    if row["status"] == "done":
        view["file_name"] = row["file_name"]
        if row.get("summary") is not None:  # what the writer counted (Battery Pass: passports valid per schema)
            view["summary"] = row["summary"]
        view["links"]["download"] = f"{base}/download"
        if row["format"] == ExportFormat.audit_pack_pdf:
            view["links"]["signature"] = f"{base}/signature"
    return view


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)
