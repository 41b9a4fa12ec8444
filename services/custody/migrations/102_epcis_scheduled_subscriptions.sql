-- EPCIS 2.0 scheduled query subscriptions (REST binding: a subscription with a `schedule` instead of `stream`), on
-- the webhook subscriptions of 097 (services/custody/subscriptions/scheduled.py). The captured-events fact's
-- consumer collects the events a scheduled subscription's query matches (as its subscriber sees them) in
-- epcis_scheduled_events; each scheduled run takes those not yet run, as one delivery of 097.
ALTER TABLE epcis_webhook_subscriptions
    ADD COLUMN schedule        jsonb,                    -- the binding's QuerySchedule fields; NULL: a stream
    ADD COLUMN report_if_empty boolean NOT NULL DEFAULT false,  -- a run that found nothing sends an empty document
    ADD COLUMN next_run_at     timestamptz,              -- the next scheduled instant (UTC); one instance runs it
    ADD COLUMN last_run_at     timestamptz,              -- the instant of the last run made
    ADD CONSTRAINT epcis_webhook_subscriptions_schedule_runs CHECK ((schedule IS NULL) = (next_run_at IS NULL)),
    ADD CONSTRAINT epcis_webhook_subscriptions_report_if_empty CHECK (schedule IS NOT NULL OR NOT report_if_empty);
CREATE INDEX epcis_webhook_subscriptions_due ON epcis_webhook_subscriptions (next_run_at) WHERE schedule IS NOT NULL;

-- The position of a scheduled subscription: each event it has matched, once (the key: a fact read again, or the
-- events since initialRecordTime read at subscribing, add nothing), waiting for the next run (run_at NULL) or
-- carried by the run of that instant. The events themselves stay in epcis_event_index. Runs older than the
-- retention are forgotten by the run after them.
CREATE TABLE epcis_scheduled_events (
    subscription_id uuid NOT NULL REFERENCES epcis_webhook_subscriptions ON DELETE CASCADE,
    event_hash      text NOT NULL,
    record_time     timestamptz NOT NULL,       -- the event's record time and index seq: the order of a run's events
    seq             bigint NOT NULL,
    run_at          timestamptz,                -- the scheduled instant whose delivery carried it; NULL: not yet
    PRIMARY KEY (subscription_id, event_hash)
);
CREATE INDEX epcis_scheduled_events_waiting ON epcis_scheduled_events (subscription_id, record_time, seq)
    WHERE run_at IS NULL;
CREATE INDEX epcis_scheduled_events_run ON epcis_scheduled_events (subscription_id, run_at) WHERE run_at IS NOT NULL;

ALTER TABLE epcis_scheduled_events ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE epcis_scheduled_events IS
    'platform only: the events each scheduled EPCIS subscription matched, waiting for or carried by a run';
