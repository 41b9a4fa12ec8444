-- The verified handler registry: one row per handler (the record as JSON, state as a column for queries).
CREATE TABLE handlers (
    handler_id  text PRIMARY KEY,
    state       text NOT NULL CHECK (state IN ('pending', 'verified', 'suspended')),
    version     integer NOT NULL,
    record      jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- GLNs of handlers and their sites, to recognise EPCIS parties and locations (PGLN / SGLN) as handlers.
CREATE TABLE handler_glns (
    gln         text PRIMARY KEY,
    handler_id  text NOT NULL REFERENCES handlers (handler_id),
    site_id     text
);
CREATE INDEX handler_glns_handler ON handler_glns (handler_id);

-- Tenant policy for custody violations: reject (platform default) or record as flagged evidence.
CREATE TABLE tenant_policies (
    tenant                    text PRIMARY KEY,
    custody_violation_policy  text NOT NULL CHECK (custody_violation_policy IN ('reject', 'flag')),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    updated_by                text NOT NULL
);

-- Per passport: what it is (battery / pack / batch), its GS1 keys, and the head and state of its custody chain.
-- The head (sequence + hash) is an anchor outside the chain: deleting the last entries is detected against it.
ALTER TABLE known_passports
    ADD COLUMN kind            text NOT NULL DEFAULT 'battery',
    ADD COLUMN gtin            text,
    ADD COLUMN batch_number    text,
    ADD COLUMN gs1_key         text,
    ADD COLUMN gs1_class       text,
    ADD COLUMN head_sequence   integer NOT NULL DEFAULT 0,
    ADD COLUMN head_hash       text NOT NULL DEFAULT '0000000000000000000000000000000000000000000000000000000000000000',
    ADD COLUMN holder          text,
    ADD COLUMN in_transit      boolean NOT NULL DEFAULT false,
    ADD COLUMN pending_from    text,
    ADD COLUMN pending_to      text,
    ADD COLUMN stage           text,
    ADD COLUMN status          text;
CREATE INDEX known_passports_gs1_key ON known_passports (gs1_key) WHERE gs1_key IS NOT NULL;
CREATE INDEX known_passports_gs1_class ON known_passports (gs1_class) WHERE gs1_class IS NOT NULL;
CREATE INDEX known_passports_batch ON known_passports (batch_number) WHERE batch_number IS NOT NULL;

UPDATE known_passports k
SET head_sequence = l.sequence, head_hash = l.entry_hash, holder = coalesce(l.to_handler_id, l.handler_id)
FROM (SELECT DISTINCT ON (passport_id) passport_id, sequence, entry_hash, handler_id, to_handler_id
      FROM custody_log ORDER BY passport_id, sequence DESC) l
WHERE k.passport_id = l.passport_id;

-- Packs and batches: the identifiers aggregated in them (an event on a pack applies to its members too).
CREATE TABLE passport_members (
    passport_id        text NOT NULL REFERENCES known_passports (passport_id),
    tenant             text NOT NULL,
    member_identifier  text NOT NULL,
    PRIMARY KEY (passport_id, member_identifier)
);

-- Custody log additions: the EPCIS event hash of a captured step (for duplicates and error declarations).
ALTER TABLE custody_log ADD COLUMN epcis_event_hash text;
CREATE INDEX custody_log_epcis_event_hash ON custody_log (epcis_event_hash) WHERE epcis_event_hash IS NOT NULL;

-- Parked events: what they are (native contract or a normalised step) and where they came from.
ALTER TABLE parked_events
    ADD COLUMN origin text NOT NULL DEFAULT 'native',
    ADD COLUMN received_from jsonb;

-- EPCIS capture jobs (GS1 REST binding) and every EPCIS event captured, by CBV 2.0 event hash.
CREATE TABLE capture_jobs (
    capture_id      text PRIMARY KEY,
    principal       text NOT NULL,
    channel         text NOT NULL CHECK (channel IN ('http', 'topic')),
    error_behaviour text NOT NULL CHECK (error_behaviour IN ('rollback', 'proceed')),
    running         boolean NOT NULL,
    success         boolean,
    captured_at     timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    event_count     integer NOT NULL,
    errors          jsonb NOT NULL DEFAULT '[]',
    events          jsonb NOT NULL DEFAULT '[]'
);

CREATE TABLE epcis_events (
    event_hash          text PRIMARY KEY,
    event_id            text,
    capture_id          text NOT NULL,
    event_index         integer NOT NULL,
    outcome             text NOT NULL,
    declared_erroneous  jsonb,
    captured_at         timestamptz NOT NULL DEFAULT now()
);
