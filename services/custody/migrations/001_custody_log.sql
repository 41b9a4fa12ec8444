-- Passports custody knows of, from identity's minted facts (custody's own copy; it never reads identity's tables).
CREATE TABLE known_passports (
    passport_id        text PRIMARY KEY,
    tenant             text NOT NULL,
    battery_identifier text NOT NULL,
    public_uri         text NOT NULL,
    minted_at          timestamptz NOT NULL
);
CREATE INDEX known_passports_identifier ON known_passports (battery_identifier);
CREATE UNIQUE INDEX known_passports_uri ON known_passports (public_uri);

-- The custody log: per passport, a hash chain (each entry commits to the previous entry and its content).
CREATE TABLE custody_log (
    passport_id     text NOT NULL REFERENCES known_passports (passport_id),
    sequence        integer NOT NULL,
    kind            text NOT NULL,
    occurred_at     timestamptz NOT NULL,
    handler_id      text NOT NULL,
    from_handler_id text,
    to_handler_id   text,
    source_event_id text NOT NULL,
    source          text NOT NULL,
    content         jsonb NOT NULL,
    previous_hash   text NOT NULL,
    entry_hash      text NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (passport_id, sequence)
);

-- Events that arrived before the passport they name: applied when it is minted.
CREATE TABLE parked_events (
    id           bigserial PRIMARY KEY,
    reference    text NOT NULL,
    envelope     jsonb NOT NULL,
    payload      jsonb NOT NULL,
    parked_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX parked_events_reference ON parked_events (reference);
