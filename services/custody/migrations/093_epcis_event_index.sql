-- The EPCIS events captured, as captured, with the fields the EPCIS 2.0 query language filters on
-- (services/custody/query/store.py). One row per CBV 2.0 event hash; `seq` orders rows captured at the same
-- instant and makes the page cursor (time, seq) unique.
CREATE TABLE epcis_event_index (
    seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_hash       text NOT NULL UNIQUE,
    event_id         text,
    capture_id       text NOT NULL,
    event_index      integer NOT NULL,
    capturer         text,             -- the capturing handler (a handler key's tenant); NULL: the platform
    principal        text NOT NULL,
    passport_ids     text[] NOT NULL DEFAULT '{}',  -- the passports whose custody log recorded the event
    event_type       text NOT NULL,
    event_time       timestamptz NOT NULL,
    record_time      timestamptz NOT NULL DEFAULT now(),
    action           text,
    biz_step         text,             -- bare CBV term for a standard one, else the URI as written
    disposition      text,
    read_point       text,
    biz_location     text,
    epcs             text[] NOT NULL DEFAULT '{}',  -- epcList + childEPCs, as written and as canonical Digital Link
    parent_ids       text[] NOT NULL DEFAULT '{}',
    input_epcs       text[] NOT NULL DEFAULT '{}',
    output_epcs      text[] NOT NULL DEFAULT '{}',
    biz_transactions text[] NOT NULL DEFAULT '{}',  -- '<type> <id>' (type '' when none)
    sources          text[] NOT NULL DEFAULT '{}',
    destinations     text[] NOT NULL DEFAULT '{}',
    context          jsonb NOT NULL DEFAULT '[]',   -- the @context of the document the event came in
    event            jsonb NOT NULL
);
CREATE INDEX epcis_event_index_event_time ON epcis_event_index (event_time, seq);
CREATE INDEX epcis_event_index_record_time ON epcis_event_index (record_time, seq);
CREATE INDEX epcis_event_index_event_id ON epcis_event_index (event_id) WHERE event_id IS NOT NULL;
CREATE INDEX epcis_event_index_capturer ON epcis_event_index (capturer, event_time, seq);
CREATE INDEX epcis_event_index_biz_step ON epcis_event_index (biz_step, event_time);
CREATE INDEX epcis_event_index_epcs ON epcis_event_index USING gin (epcs);
CREATE INDEX epcis_event_index_parent_ids ON epcis_event_index USING gin (parent_ids);
CREATE INDEX epcis_event_index_input_epcs ON epcis_event_index USING gin (input_epcs);
CREATE INDEX epcis_event_index_output_epcs ON epcis_event_index USING gin (output_epcs);
CREATE INDEX epcis_event_index_biz_transactions ON epcis_event_index USING gin (biz_transactions);
CREATE INDEX epcis_event_index_sources ON epcis_event_index USING gin (sources);
CREATE INDEX epcis_event_index_destinations ON epcis_event_index USING gin (destinations);
CREATE INDEX epcis_event_index_passport_ids ON epcis_event_index USING gin (passport_ids);

-- The key page tokens of EPCIS queries are signed with (HMAC-SHA256): one per deployment, shared by every
-- instance, so that a token from one instance pages on another.
CREATE TABLE epcis_query_token_key (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    key      text NOT NULL
);
INSERT INTO epcis_query_token_key (key)
VALUES (encode(sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')), 'hex'));

ALTER TABLE epcis_event_index ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE epcis_event_index IS
    'platform only: the EPCIS events captured, queried by the EPCIS query interface, which applies visibility';
ALTER TABLE epcis_query_token_key ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE epcis_query_token_key IS 'platform only: the signing key of EPCIS query page tokens';
