-- Whom recovery believes (issue #7): its copies of custody's facts, and treatment batches that arrived before the
-- custody of their passports did.

-- The verified handler registry, as published on bpass.custody.handler-registry.v1 (latest version per handler).
CREATE TABLE handler_registry (
    handler_id   text PRIMARY KEY,
    roles        text[] NOT NULL,
    state        text NOT NULL CHECK (state IN ('pending', 'verified', 'suspended')),
    state_reason text,
    permits      jsonb NOT NULL,
    version      integer NOT NULL,
    updated_at   timestamptz NOT NULL
);

-- Who holds each passport after its latest step on bpass.custody.custody-recorded.v1.
CREATE TABLE passport_custody (
    passport_id   text PRIMARY KEY,
    holder        text,
    in_transit    boolean NOT NULL DEFAULT false,
    in_transit_to text,
    sequence      integer NOT NULL,
    occurred_at   timestamptz NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);

-- A treatment batch from the topic whose passports had no custody step known to recovery yet: kept until the
-- custody facts of all of `waiting_for` arrive, then decided (accepted, or refused on bpass.recovery.rejected.v1).
CREATE TABLE parked_treatment_batches (
    id             bigserial PRIMARY KEY,
    dedup_key      text NOT NULL UNIQUE,
    recycler_id    text NOT NULL,
    batch_id       text NOT NULL,
    waiting_for    text[] NOT NULL,
    envelope       jsonb NOT NULL,
    kafka_topic    text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset   bigint NOT NULL,
    kafka_key      text,
    payload        jsonb NOT NULL,
    parked_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX parked_treatment_batches_waiting ON parked_treatment_batches USING gin (waiting_for);
