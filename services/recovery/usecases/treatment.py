"""Treatment batches: resolve the inputs, assess, record the ledger, cease the passports, publish."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

from contracts import topics
from contracts.errors import ValidationFailed, Violation
from contracts.recovery import (
    AttributionLine,
    AttributionStage,
    PassportCeased,
    RecoveryAttributed,
    RecoveryOutcome,
    TreatmentBatchReported,
)
from services.common.db import DbConnection
from services.common.outbox import Outbox
from services.common.settings import Settings
from services.recovery import store
from services.recovery.config import recovery_settings
from services.recovery.domain.parking import Unresolved, decide
from services.recovery.domain.passports import InputReference
from services.recovery.domain.publishers import custody_violation, publisher_violations
from services.recovery.domain.treatment import (
    TreatmentAssessment,
    assess_treatment_batch,
    explain_treatment_share,
)
from services.recovery.usecases.common import (
    AwaitingReferences,
    Via,
    content_digest,
    totals_of,
    unique_as_violation,
    violation,
)
from services.recovery.usecases.outcomes import InputSummary, LotSummary, TreatmentBatchOutcome


async def report_treatment_batch(
    conn: DbConnection,
    outbox: Outbox,
    settings: Settings,
    *,
    report: TreatmentBatchReported,
    handler_id: str,
    reported_by: str,
    via: Via,
    now: datetime | None = None,
    may_wait: bool = False,
) -> TreatmentBatchOutcome:
    """Accept a recycler's treatment batch inside the caller's transaction; raises ValidationFailed.

    Only a registered, verified recycler reports, and only passports in its custody. A passport not minted to
    recovery's knowledge yet is refused (`unknown_passport`), and one of which no custody step has reached recovery
    yet too (`not_in_custody`), unless `may_wait`: then, when nothing else is wrong, AwaitingReferences is raised so
    that the caller parks the batch until those facts arrive (`domain.parking`).
    """
    if handler_id != report.recycler_id:
        raise violation(
            "recycler_id",
            "recycler_mismatch",
            f"{reported_by} may report batches of recycler {handler_id} only, not of {report.recycler_id}.",
        )
    registered = await store.registered_handler(conn, report.recycler_id)
    refused = publisher_violations(report.recycler_id, registered, role="recycler", field="recycler_id")
    if refused:
        raise ValidationFailed(refused)
    digest = content_digest(report)
    existing = await store.batch_digest(conn, report.recycler_id, report.batch_id)
    if existing is not None:
        if existing["content_sha256"] != digest:
            raise violation(
                "batch_id",
                "batch_already_reported",
                f"Batch {report.batch_id} was reported before with other content; a batch is reported once.",
            )
        return TreatmentBatchOutcome.model_validate({**existing["outcome"], "status": "unchanged"})
    return await unique_as_violation(
        lambda: _record_treatment_batch(conn, outbox, settings, report, digest, reported_by, via, now, may_wait)
    )


def _unknown_references(report: TreatmentBatchReported, references: list[InputReference]) -> list[Unresolved]:
    """The inputs whose reference names no passport recovery knows yet: awaited by the reference as given."""
    unresolved = []
    for index, (spec, reference) in enumerate(zip(report.inputs, references, strict=True)):
        given = spec.passport_id or spec.battery_identifier
        if reference.problem != "unknown_passport" or given is None:
            continue
        field = f"inputs.{index}.{'passport_id' if spec.passport_id else 'battery_identifier'}"
        unresolved.append(Unresolved(field, "unknown_passport", given, "minting"))
    return unresolved


async def _resolve_inputs(conn: DbConnection, report: TreatmentBatchReported) -> list[InputReference]:
    wanted = [i.passport_id or i.battery_identifier for i in report.inputs]
    found = await store.lock_passports(conn, [w for w in wanted if w is not None])
    references = []
    for spec, reference in zip(report.inputs, wanted, strict=True):
        if reference is None or spec.unidentified_reference is not None:
            references.append(InputReference())
            continue
        matches = {p.passport_id: p for p in found.get(reference, [])}
        if not matches:
            references.append(InputReference(problem="unknown_passport"))
        elif len(matches) > 1:
            references.append(InputReference(problem="ambiguous_identifier"))
        else:
            references.append(InputReference(passport=next(iter(matches.values()))))
    return references


async def _custody_violations(
    conn: DbConnection, report: TreatmentBatchReported, references: list[InputReference]
) -> tuple[list[Violation], list[Unresolved]]:
    """`not_in_custody` per identified input the recycler does not hold; and the passports of which recovery knows
    no custodian yet. A passport already recycled is left to `passport_already_recycled`."""
    passports = [r.passport for r in references]
    custody = await store.custody_of(conn, [p.passport_id for p in passports if p is not None])
    violations, unknown = [], []
    for index, (spec, passport) in enumerate(zip(report.inputs, passports, strict=True)):
        if passport is None or passport.ceased_by is not None:
            continue
        known = custody.get(passport.passport_id)
        field = f"inputs.{index}.{'passport_id' if spec.passport_id else 'battery_identifier'}"
        refused = custody_violation(field, passport.passport_id, report.recycler_id, known)
        if refused is not None:
            violations.append(refused)
            if known is None:
                unknown.append(Unresolved(field, refused.reason, passport.passport_id, "custody"))
    return violations, unknown


async def _record_treatment_batch(
    conn: DbConnection,
    outbox: Outbox,
    settings: Settings,
    report: TreatmentBatchReported,
    digest: str,
    reported_by: str,
    via: Via,
    now: datetime | None,
    may_wait: bool,
) -> TreatmentBatchOutcome:
    now = now or datetime.now(UTC)
    references = await _resolve_inputs(conn, report)
    custody_violations, unknown_custody = await _custody_violations(conn, report, references)
    lot_ids = [o.lot_id for o in report.outputs if o.lot_id is not None]
    taken = await store.taken_lot_ids(conn, report.recycler_id, lot_ids)
    violations = [
        Violation(
            field=f"outputs.{index}.lot_id",
            reason="lot_already_reported",
            message=f"Lot {output.lot_id} was reported in an earlier batch of {report.recycler_id}.",
        )
        for index, output in enumerate(report.outputs)
        if output.lot_id in taken
    ]
    violations += custody_violations
    try:
        assessment = assess_treatment_batch(
            report, references, assay_tolerance_pct=recovery_settings().assay_tolerance_pct
        )
    except ValidationFailed as failed:
        violations += failed.violations
    if violations:
        wait = decide(violations, _unknown_references(report, references) + unknown_custody) if may_wait else None
        if wait is not None:
            raise AwaitingReferences(wait)
        raise ValidationFailed(violations)

    outcome = _treatment_outcome(assessment)
    batch, lot_rows = await store.insert_treatment(
        conn,
        {
            "recycler_id": report.recycler_id,
            "batch_id": report.batch_id,
            "content_sha256": digest,
            "reported_by": reported_by,
            "reported_via": via,
            "processes": [p.value for p in report.processes],
            "started_at": report.started_at,
            "completed_at": report.completed_at,
            "input_kg": assessment.input_kg,
            "recycled_output_kg": assessment.recycled_output_kg,
            "residues_kg": assessment.residues_kg,
            "additives_kg": assessment.additives_kg,
            "losses_kg": assessment.losses_kg,
            "flags": [f.model_dump(mode="json") for f in assessment.flags],
            "evidence": [e.model_dump(mode="json") for e in report.evidence],
            "report": report.model_dump(mode="json"),
            "outcome": outcome.model_dump(mode="json"),
        },
        assessment,
    )
    lots = {lot.lot_id: lot for lot in assessment.lots}
    lines: dict[int, list[AttributionLine]] = defaultdict(list)
    records = []
    for lot_share in assessment.shares:
        share = lot_share.share
        assessed = assessment.inputs[share.input_index]
        line = AttributionLine(
            material=share.material,
            amount_kg=share.amount_kg,
            stage=AttributionStage.treatment,
            recycler_id=report.recycler_id,
            batch_id=report.batch_id,
            lot_id=lot_share.lot_id,
            origin=assessed.origin,
            steps=[share.step],
            explanation=explain_treatment_share(lots[lot_share.lot_id], share, len(assessment.inputs)),
        )
        lines[share.input_index].append(line)
        passport = assessed.passport
        records.append(
            (
                "treatment",
                batch,
                share.input_index,
                passport.passport_id if passport else None,
                passport.tenant if passport else None,
                lot_rows[lot_share.lot_id],
                None,
                share.material.value,
                assessed.origin.value,
                share.amount_kg,
                line.model_dump(mode="json"),
            )
        )
    await store.copy_rows(conn, "attribution_lines", store.ATTRIBUTION_LINE_COLUMNS, records)
    ceased = [i for i in assessment.inputs if i.passport is not None]
    await store.cease_passports(
        conn, batch, report.completed_at, [i.passport.passport_id for i in ceased if i.passport is not None]
    )
    for assessed in ceased:
        _publish_ceased(outbox, settings, assessment, assessed.index, lines[assessed.index], reported_by, now)
    return outcome


def _treatment_outcome(assessment: TreatmentAssessment) -> TreatmentBatchOutcome:
    report = assessment.batch
    return TreatmentBatchOutcome(
        recycler_id=report.recycler_id,
        batch_id=report.batch_id,
        status="accepted",
        completed_at=report.completed_at.astimezone(UTC),
        input_kg=assessment.input_kg,
        recycled_output_kg=assessment.recycled_output_kg,
        residues_kg=assessment.residues_kg,
        additives_kg=assessment.additives_kg,
        losses_kg=assessment.losses_kg,
        recycling_efficiency_pct=assessment.recycling_efficiency_pct,
        passports_ceased=sum(1 for i in assessment.inputs if i.passport is not None),
        flags=assessment.flags,
        inputs=[
            InputSummary(
                index=i.index,
                reference=i.reference,
                passport_id=i.passport.passport_id if i.passport else None,
                chemistry=i.chemistry,
                category_group=i.group.value,
                origin=i.origin,
                mass_kg=i.mass_kg,
                contents=list(i.contents),
                flags=list(i.flags),
            )
            for i in assessment.inputs
        ],
        lots=[
            LotSummary(lot_id=lot.lot_id, fraction=lot.fraction, mass_kg=lot.mass_kg, material_kg=dict(lot.material_kg))
            for lot in assessment.lots
        ],
    )


def _publish_ceased(
    outbox: Outbox,
    settings: Settings,
    assessment: TreatmentAssessment,
    index: int,
    lines: list[AttributionLine],
    reported_by: str,
    now: datetime,
) -> None:
    report, assessed = assessment.batch, assessment.inputs[index]
    passport = assessed.passport
    assert passport is not None
    totals = totals_of(lines)
    outbox.add(
        settings.topic(topics.RECOVERY_ATTRIBUTED.name),
        RecoveryAttributed(
            passport_id=passport.passport_id,
            tenant=passport.tenant,
            stage=AttributionStage.treatment,
            recycler_id=report.recycler_id,
            batch_id=report.batch_id,
            lines=lines,
            totals_kg=totals,
            attributed_at=now,
        ),
        key=passport.passport_id,
        subject=passport.passport_id,
    )
    outbox.add(
        settings.topic(topics.PASSPORT_CEASED.name),
        PassportCeased(
            passport_id=passport.passport_id,
            tenant=passport.tenant,
            battery_identifier=passport.battery_identifier,
            reason="recycled",
            legal_basis="Regulation (EU) 2023/1542 Art. 77(8)",
            ceased_at=report.completed_at.astimezone(UTC),
            recycler_id=report.recycler_id,
            batch_id=report.batch_id,
            processes=list(report.processes),
            chemistry=assessed.chemistry,
            input_mass_kg=assessed.mass_kg,
            recovery_outcome=[
                RecoveryOutcome(
                    material=c.material,
                    declared_kg=c.declared_kg,
                    basis=c.basis,
                    in_recycled_fractions_kg=totals.get(c.material, Decimal("0.000")),
                )
                for c in assessed.contents
                if c.declared_kg > 0 or c.material in totals
            ],
            flags=list(assessed.flags) + assessment.flags,
            evidence=list(report.evidence),
            reported_by=reported_by,
        ),
        key=passport.passport_id,
        subject=passport.passport_id,
    )
