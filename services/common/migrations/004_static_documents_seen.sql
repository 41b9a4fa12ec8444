-- The static data documents this service has read in PassportMinted facts. A v2 fact names its model-level
-- document by digest and carries it only in the first fact of each partition of a publication; the facts after
-- it on that partition are resolved from here. Content-addressed: a row is written once and never changes.
CREATE TABLE IF NOT EXISTS static_documents_seen (
    digest      text PRIMARY KEY,
    static_data jsonb NOT NULL,
    seen_at     timestamptz NOT NULL DEFAULT now()
);
