-- The read model: one row per passport with its current state, and every version kept for as-of reads.
CREATE TABLE passport_view (
    passport_id  text PRIMARY KEY,
    tenant       text NOT NULL,
    version      integer NOT NULL,
    state        jsonb NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX passport_view_tenant ON passport_view (tenant);

CREATE TABLE passport_view_versions (
    passport_id  text NOT NULL,
    version      integer NOT NULL,
    change       text NOT NULL,
    state        jsonb NOT NULL,
    valid_from   timestamptz NOT NULL,
    PRIMARY KEY (passport_id, version)
);
