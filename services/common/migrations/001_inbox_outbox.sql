-- Inbox: one row per inbound message applied (or refused), keyed by CloudEvents source + id.
CREATE TABLE inbox (
    dedup_key    text PRIMARY KEY,
    topic        text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset bigint NOT NULL,
    outcome      text NOT NULL CHECK (outcome IN ('applied', 'rejected', 'dead_lettered', 'parked')),
    processed_at timestamptz NOT NULL DEFAULT now()
);

-- Outbox: events to publish, written in the same transaction as the effects that cause them.
-- Inserts are serialised by a transaction-level advisory lock, so id order is commit order.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    topic        text NOT NULL,
    message_key  bytea,
    headers      jsonb NOT NULL,
    payload      bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
