-- EPCIS 2.0 webhook stream subscriptions of named queries (REST binding: POST /queries/{queryName}/subscriptions), the
-- deliveries the captured-events facts cause, and every attempt to deliver them
-- (services/custody/subscriptions/webhooks/). A subscription belongs to the principal that created it: its
-- deliveries are the named query as that principal sees the events (query visibility), and only it reads or
-- deletes it. Platform only: the HTTP routes read them on the platform pool, owner in the same SQL, like the
-- event index.
CREATE TABLE epcis_webhook_subscriptions (
    subscription_id     uuid PRIMARY KEY,
    seq                 bigint GENERATED ALWAYS AS IDENTITY UNIQUE,  -- creation order: the listing's page cursor
    query_owner         text NOT NULL,          -- the named query subscribed to: its owner and name (096)
    query_name          text NOT NULL,
    owner               text NOT NULL,          -- Principal.name of the creator
    owner_role          text NOT NULL,          -- the creator's principal, as matching sees the events with it
    owner_tenant        text,
    owner_key_id        text NOT NULL,
    dest                text NOT NULL,
    signature_token     text,                   -- the subscriber's secret (HMAC key); never answered back
    initial_record_time timestamptz NOT NULL DEFAULT now(),
    created_at          timestamptz NOT NULL DEFAULT now(),
    last_notified_at    timestamptz,            -- the last delivery the receiver answered with 2xx
    -- Deleting a named query unsubscribes its subscribers (the binding), pending deliveries included.
    FOREIGN KEY (query_owner, query_name) REFERENCES epcis_named_queries (owner, name) ON DELETE CASCADE
);
CREATE INDEX epcis_webhook_subscriptions_query ON epcis_webhook_subscriptions (query_owner, query_name, owner, seq);

-- One row per subscription and captured batch (the unique key makes a redelivered fact add nothing). A
-- subscription's deliveries go out one at a time in the order the captures recorded them (record time, then the
-- order they were written): only its first pending one is due.
CREATE TABLE epcis_webhook_deliveries (
    delivery_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id uuid NOT NULL REFERENCES epcis_webhook_subscriptions ON DELETE CASCADE,
    capture_id      text NOT NULL,
    record_time     timestamptz NOT NULL,       -- when the capture recorded the events
    event_hashes    text[] NOT NULL,            -- the captured events the subscription's query matched (CBV hashes)
    events          jsonb NOT NULL,             -- those events, as sent
    context         jsonb NOT NULL DEFAULT '[]',  -- the @context of the query document sent
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    leased_until    timestamptz,                -- an instance is sending it until then (a crashed one's lapses)
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    last_error      text,
    UNIQUE (subscription_id, capture_id)
);
CREATE INDEX epcis_webhook_deliveries_pending ON epcis_webhook_deliveries (subscription_id, record_time, delivery_id)
    WHERE status = 'pending';
CREATE INDEX epcis_webhook_deliveries_due ON epcis_webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX epcis_webhook_deliveries_undelivered ON epcis_webhook_deliveries (status) WHERE status <> 'delivered';

-- Every attempt of a delivery: when, how long, the receiver's status code or the error.
CREATE TABLE epcis_webhook_delivery_attempts (
    delivery_id  bigint NOT NULL REFERENCES epcis_webhook_deliveries ON DELETE CASCADE,
    attempt      integer NOT NULL,
    attempted_at timestamptz NOT NULL,
    duration_ms  double precision NOT NULL,
    status_code  integer,
    error        text,
    PRIMARY KEY (delivery_id, attempt)
);

ALTER TABLE epcis_webhook_subscriptions ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE epcis_webhook_subscriptions IS
    'platform only: EPCIS webhook subscriptions, read and deleted by their creator through the EPCIS interface';
ALTER TABLE epcis_webhook_deliveries ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE epcis_webhook_deliveries IS 'platform only: the deliveries of EPCIS webhook subscriptions';
ALTER TABLE epcis_webhook_delivery_attempts ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE epcis_webhook_delivery_attempts IS 'platform only: every attempt of an EPCIS webhook delivery';
