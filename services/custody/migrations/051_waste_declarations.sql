-- Batteries declared waste by their owner or holder (Art. 77(7)): who is responsible from then on, why, and the
-- custody log entry that records the declaration in the passport's hash chain.
CREATE TABLE waste_declarations (
    declaration_id   text PRIMARY KEY,
    passport_id      text NOT NULL REFERENCES known_passports (passport_id),
    tenant           text NOT NULL,
    sequence         integer NOT NULL,
    responsible_kind text NOT NULL CHECK (responsible_kind IN ('producer', 'compliance_scheme', 'waste_operator')),
    responsible_id   text NOT NULL,
    reason           text NOT NULL,
    occurred_at      timestamptz NOT NULL,
    declared_by      text NOT NULL,
    declared_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX waste_declarations_passport ON waste_declarations (passport_id);
