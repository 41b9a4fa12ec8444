-- Pack membership (EPCIS AggregationEvent ADD / DELETE / OBSERVE): one row per (event, child) of every aggregation
-- event custody kept, as observed. Membership intervals are a fold of these rows in event-time order
-- (services/custody/membership/intervals.py), so the answer is the same in any arrival order. Parent and child are
-- the identifiers as the custody log parks them (GS1 keys as `gs1:01/<GTIN-14>/21/<serial>`, others verbatim);
-- child '' is a DELETE of every child. `erroneous`: an errorDeclaration named the event, which the fold skips.
CREATE TABLE pack_membership_events (
    event_hash   text NOT NULL,
    parent       text NOT NULL,
    child        text NOT NULL,
    action       text NOT NULL CHECK (action IN ('ADD', 'DELETE', 'OBSERVE')),
    event_time   timestamptz NOT NULL,
    capture_id   text NOT NULL,
    capturer     text,
    erroneous    boolean NOT NULL DEFAULT false,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_hash, parent, child)
);
CREATE INDEX pack_membership_events_parent ON pack_membership_events (parent);
CREATE INDEX pack_membership_events_child ON pack_membership_events (child);

ALTER TABLE pack_membership_events ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE pack_membership_events IS
    'platform only: aggregation observations kept by EPCIS capture; read through the custody API, which applies '
    'the passport''s visibility';
