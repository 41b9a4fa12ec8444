"""SQL of the recovery schema: `ledger` (writes and row locks), `reads`, `claims`, `publishers` (copies of custody's
registry and custodians; parked batches)."""

from services.recovery.store.claims import availability, claim_by_key, claims_of, insert_claim, lock_products
from services.recovery.store.common import ATTRIBUTION_LINE_COLUMNS, Db, copy_rows
from services.recovery.store.ledger import (
    batch_digest,
    batch_input_weights,
    batch_inputs,
    cease_passports,
    feed_lots,
    insert_products,
    insert_report,
    insert_treatment,
    lock_lots,
    lock_passports,
    remember_passports,
    report_digest,
    taken_lot_ids,
    taken_product_lots,
)
from services.recovery.store.publishers import (
    PARKING_LOCK_SQL,
    custody_of,
    park_batch,
    record_custody,
    registered_handler,
    remember_registry_changes,
    unpark_batches,
)
from services.recovery.store.reads import (
    annex_xii_records,
    batch_outcome,
    passport_contents,
    passport_lines,
    passport_row,
)

__all__ = [
    "ATTRIBUTION_LINE_COLUMNS",
    "PARKING_LOCK_SQL",
    "Db",
    "annex_xii_records",
    "availability",
    "batch_digest",
    "batch_input_weights",
    "batch_inputs",
    "batch_outcome",
    "cease_passports",
    "claim_by_key",
    "claims_of",
    "copy_rows",
    "custody_of",
    "feed_lots",
    "insert_claim",
    "insert_products",
    "insert_report",
    "insert_treatment",
    "lock_lots",
    "lock_passports",
    "lock_products",
    "park_batch",
    "passport_contents",
    "passport_lines",
    "passport_row",
    "record_custody",
    "registered_handler",
    "remember_passports",
    "remember_registry_changes",
    "report_digest",
    "taken_lot_ids",
    "taken_product_lots",
    "unpark_batches",
]
