"""Recovery use cases: one module per command, called from the inbound topics and from HTTP alike.

- `treatment.report_treatment_batch`: a recycler's treatment batch (topic `bpass.recovery.treatment-batches.v1`,
  `POST /recovery/v1/treatment-batches`).
- `refining.submit_refiner_report`: a refiner's report (topic `bpass.recovery.refiner-reports.v1`,
  `POST /recovery/v1/refiner-reports`).
- `claims.claim_recycled_content`: an OEM's recycled-content claim (`POST /recovery/v1/recycled-content/claims`).
- `parking`: treatment batches parked until their passports are minted and their custody is known, decided again
  when those facts arrive; `sweep` (in the background) refuses those that waited too long.
- `known_facts`: the copies recovery keeps of identity's minted passports and of custody's registry and custody log.
"""
