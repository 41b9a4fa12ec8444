"""Recovery use cases: one function per command, called from the inbound topics and from HTTP alike.

- `treatment.report_treatment_batch`: a recycler's treatment batch (topic `bpass.recovery.treatment-batches.v1`,
  `POST /recovery/v1/treatment-batches`).
- `refining.submit_refiner_report`: a refiner's report (topic `bpass.recovery.refiner-reports.v1`,
  `POST /recovery/v1/refiner-reports`).
- `claims.claim_recycled_content`: an OEM's recycled-content claim (`POST /recovery/v1/recycled-content/claims`).
- `inbound`: the topic entry points (principal from `ce_source`, one savepoint per message); custody's registry and
  custody facts, and the treatment batches parked until their passports are minted and their custody is known.
"""

from services.recovery.handlers.claims import ClaimConflict, claim_recycled_content
from services.recovery.handlers.inbound import (
    on_custody_recorded,
    on_handler_registry_changed,
    on_passport_minted,
    on_refiner_reports,
    on_treatment_batches,
)
from services.recovery.handlers.outcomes import RefinerReportOutcome, TreatmentBatchOutcome
from services.recovery.handlers.refining import submit_refiner_report
from services.recovery.handlers.treatment import report_treatment_batch

__all__ = [
    "ClaimConflict",
    "RefinerReportOutcome",
    "TreatmentBatchOutcome",
    "claim_recycled_content",
    "on_custody_recorded",
    "on_handler_registry_changed",
    "on_passport_minted",
    "on_refiner_reports",
    "on_treatment_batches",
    "report_treatment_batch",
    "submit_refiner_report",
]
