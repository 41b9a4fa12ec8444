"""Refiner reports: lock the lots fed, assess, record, attribute to passports, publish."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

from contracts import topics
from contracts.errors import ValidationFailed, Violation
from contracts.recovery import (
    AttributionLine,
    AttributionStage,
    RecoveredMaterial,
    RecoveryAttributed,
    RefinerReportSubmitted,
    WasteOrigin,
)
from services.common.db import DbConnection
from services.common.outbox import Outbox
from services.common.settings import Settings
from services.recovery import store
from services.recovery.config import recovery_settings
from services.recovery.domain.publishers import publisher_violations
from services.recovery.domain.refining import assess_refiner_report, explain_refined_share
from services.recovery.usecases.common import Via, content_digest, totals_of, unique_as_violation, violation
from services.recovery.usecases.outcomes import FeedSummary, ProductSummary, RefinerReportOutcome


async def submit_refiner_report(
    conn: DbConnection,
    outbox: Outbox,
    settings: Settings,
    *,
    report: RefinerReportSubmitted,
    handler_id: str,
    reported_by: str,
    via: Via,
    now: datetime | None = None,
) -> RefinerReportOutcome:
    """Accept a refiner's report inside the caller's transaction; raises ValidationFailed."""
    if handler_id != report.refiner_id:
        raise violation(
            "refiner_id",
            "refiner_mismatch",
            f"{reported_by} may report for refiner {handler_id} only, not for {report.refiner_id}.",
        )
    registered = await store.registered_handler(conn, report.refiner_id)
    refused = publisher_violations(report.refiner_id, registered, role="refiner", field="refiner_id")
    if refused:
        raise ValidationFailed(refused)
    digest = content_digest(report)
    existing = await store.report_digest(conn, report.refiner_id, report.report_id)
    if existing is not None:
        if existing["content_sha256"] != digest:
            raise violation(
                "report_id",
                "report_already_reported",
                f"Report {report.report_id} was submitted before with other content; a report is submitted once.",
            )
        return RefinerReportOutcome.model_validate({**existing["outcome"], "status": "unchanged"})
    return await unique_as_violation(
        lambda: _record_refiner_report(conn, outbox, settings, report, digest, reported_by, via, now)
    )


async def _record_refiner_report(
    conn: DbConnection,
    outbox: Outbox,
    settings: Settings,
    report: RefinerReportSubmitted,
    digest: str,
    reported_by: str,
    via: Via,
    now: datetime | None,
) -> RefinerReportOutcome:
    now = now or datetime.now(UTC)
    keys = [(f.recycler_id, f.lot_id) for f in report.inputs]
    lots, lot_rows = await store.lock_lots(conn, keys)
    taken = await store.taken_product_lots(conn, report.refiner_id, [p.product_lot_id for p in report.products])
    violations = [
        Violation(
            field=f"products.{index}.product_lot_id",
            reason="product_lot_already_reported",
            message=f"Product lot {product.product_lot_id} was reported in an earlier report of {report.refiner_id}.",
        )
        for index, product in enumerate(report.products)
        if product.product_lot_id in taken
    ]
    refined_before = await store.lock_refined_by_batch(conn, [row["batch"] for row in lot_rows.values()])
    try:
        assessment = assess_refiner_report(
            report, lots, refined_before, assay_tolerance_pct=recovery_settings().assay_tolerance_pct
        )
    except ValidationFailed as failed:
        raise ValidationFailed(violations + failed.violations) from None
    if violations:
        raise ValidationFailed(violations)

    fed_after: dict[tuple[str, str], Decimal] = {k: lot.fed_kg for k, lot in lots.items()}
    for feed in assessment.feeds:
        fed_after[feed.lot.key] += feed.mass_kg
    inputs = await store.batch_inputs(conn, sorted({lot_rows[k]["batch"] for k in keys}))
    lines: dict[str, list[AttributionLine]] = defaultdict(list)
    owners: dict[str, tuple[str, str, str]] = {}
    unidentified: dict[RecoveredMaterial, Decimal] = defaultdict(lambda: Decimal("0.000"))
    records = []
    for refined in assessment.shares:
        feed = assessment.feeds[refined.feed_index]
        product = report.products[refined.product_index]
        lot_row = lot_rows[feed.lot.key]
        source = inputs[(lot_row["batch"], refined.share.input_index)]
        line = AttributionLine(
            material=refined.share.material,
            amount_kg=refined.share.amount_kg,
            stage=AttributionStage.refining,
            recycler_id=feed.lot.recycler_id,
            batch_id=feed.lot.batch_id,
            lot_id=feed.lot.lot_id,
            refiner_id=report.refiner_id,
            report_id=report.report_id,
            product_lot_id=product.product_lot_id,
            product=product.product,
            origin=WasteOrigin(source["origin"]),
            steps=[refined.lot_step, refined.share.step],
            explanation=explain_refined_share(report, feed, refined),
        )
        records.append(
            (
                "refining",
                lot_row["batch"],
                refined.share.input_index,
                source["passport_id"],
                source["tenant"],
                lot_row["id"],
                refined.product_index,  # replaced by the product's row id below
                refined.share.material.value,
                source["origin"],
                refined.share.amount_kg,
                line.model_dump(mode="json"),
            )
        )
        if source["passport_id"] is None:
            unidentified[refined.share.material] += refined.share.amount_kg
        else:
            lines[source["passport_id"]].append(line)
            owners[source["passport_id"]] = (source["tenant"], feed.lot.recycler_id, feed.lot.batch_id)

    outcome = RefinerReportOutcome(
        refiner_id=report.refiner_id,
        report_id=report.report_id,
        status="accepted",
        products=[
            ProductSummary(product_lot_id=p.product_lot_id, product=p.product, mass_kg=p.mass_kg, metal_kg=metals)
            for p, metals in zip(report.products, assessment.product_metal_kg, strict=True)
        ],
        feeds=[
            FeedSummary(
                recycler_id=f.lot.recycler_id,
                lot_id=f.lot.lot_id,
                batch_id=f.lot.batch_id,
                mass_kg=f.mass_kg,
                remaining_kg=f.lot.mass_kg - fed_after[f.lot.key],
            )
            for f in assessment.feeds
        ],
        passports_attributed=len(lines),
        unidentified_kg=dict(sorted(unidentified.items())),
    )
    report_row = await store.insert_report(
        conn,
        {
            "refiner_id": report.refiner_id,
            "report_id": report.report_id,
            "content_sha256": digest,
            "reported_by": reported_by,
            "reported_via": via,
            "period_start": report.period_start,
            "period_end": report.period_end,
            "evidence": [e.model_dump(mode="json") for e in report.evidence],
            "report": report.model_dump(mode="json"),
            "outcome": outcome.model_dump(mode="json"),
        },
    )
    product_rows = await store.insert_products(
        conn,
        [
            (
                report_row,
                report.refiner_id,
                p.product_lot_id,
                index,
                p.product.value,
                p.mass_kg,
                {m.value: str(v) for m, v in p.metal_content_pct.items()},
                {m.value: str(v) for m, v in metals.items()},
            )
            for index, (p, metals) in enumerate(zip(report.products, assessment.product_metal_kg, strict=True))
        ],
    )
    await store.copy_rows(
        conn,
        "refiner_feeds",
        ["report", "feed_index", "lot", "mass_kg"],
        [(report_row, f.index, lot_rows[f.lot.key]["id"], f.mass_kg) for f in assessment.feeds],
    )
    fed: dict[int, Decimal] = defaultdict(Decimal)
    for f in assessment.feeds:
        fed[lot_rows[f.lot.key]["id"]] += f.mass_kg
    await store.feed_lots(conn, fed)
    await store.copy_rows(
        conn,
        "attribution_lines",
        store.ATTRIBUTION_LINE_COLUMNS,
        [(*r[:6], product_rows[r[6]], *r[7:]) for r in records],
    )
    for passport_id, passport_lines in lines.items():
        tenant, recycler_id, batch_id = owners[passport_id]
        outbox.add(
            settings.topic(topics.RECOVERY_ATTRIBUTED.name),
            RecoveryAttributed(
                passport_id=passport_id,
                tenant=tenant,
                stage=AttributionStage.refining,
                recycler_id=recycler_id,
                batch_id=batch_id,
                refiner_id=report.refiner_id,
                report_id=report.report_id,
                lines=passport_lines,
                totals_kg=totals_of(passport_lines),
                attributed_at=now,
            ),
            key=passport_id,
            subject=passport_id,
        )
    return outcome
