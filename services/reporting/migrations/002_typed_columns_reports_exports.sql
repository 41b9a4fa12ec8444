-- Hot fields of the read model as typed, indexed columns (search, filters, keyset pages at 1M passports),
-- pre-aggregated population counters kept in the projection transaction, export jobs, and signing keys.
ALTER TABLE passport_view
    ADD COLUMN battery_identifier  text,
    ADD COLUMN gtin                text,
    ADD COLUMN public_uri          text,
    ADD COLUMN kind                text,
    ADD COLUMN model               text,
    ADD COLUMN product_family      text,
    ADD COLUMN chemistry           text,
    ADD COLUMN category            text,
    ADD COLUMN batch               text,
    ADD COLUMN plant               text,
    ADD COLUMN status              text,
    ADD COLUMN stage               text,
    ADD COLUMN placed_on_market_at timestamptz,
    ADD COLUMN current_handler_id  text,
    ADD COLUMN minted_at           timestamptz,
    ADD COLUMN ceased              boolean NOT NULL DEFAULT false,
    ADD COLUMN extensions          jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE passport_view SET (fillfactor = 85);
ALTER TABLE passport_view ALTER COLUMN state SET COMPRESSION lz4;
ALTER TABLE passport_view_versions ALTER COLUMN state SET COMPRESSION lz4;

UPDATE passport_view SET
    battery_identifier = state->>'battery_identifier',
    gtin = state#>>'{subject,gtin}',
    public_uri = state->>'public_uri',
    kind = state->>'kind',
    model = state#>>'{static_data,battery_model}',
    product_family = state->>'product_family',
    chemistry = state#>>'{static_data,battery_chemistry,short_name}',
    category = state->>'category',
    batch = state#>>'{subject,batch_number}',
    plant = coalesce(state#>>'{static_data,manufacturing_place,facility_identifier}',
                     state#>>'{static_data,manufacturing_place,postal_address,locality}'),
    status = state->>'status',
    stage = state->>'stage',
    current_handler_id = state->>'current_handler_id',
    minted_at = (state->>'minted_at')::timestamptz,
    extensions = coalesce(state->'extensions', '{}'::jsonb);

DROP INDEX passport_view_tenant;
CREATE INDEX passport_view_tenant_page ON passport_view (tenant, passport_id);
CREATE INDEX passport_view_identifier ON passport_view (tenant, battery_identifier);
CREATE INDEX passport_view_any_identifier ON passport_view (battery_identifier);
CREATE INDEX passport_view_public_uri ON passport_view (public_uri);
CREATE INDEX passport_view_model ON passport_view (tenant, model, passport_id);
CREATE INDEX passport_view_family ON passport_view (tenant, product_family, passport_id);
CREATE INDEX passport_view_chemistry ON passport_view (tenant, chemistry, passport_id);
CREATE INDEX passport_view_category ON passport_view (tenant, category, passport_id);
CREATE INDEX passport_view_batch ON passport_view (tenant, batch, passport_id);
CREATE INDEX passport_view_plant ON passport_view (tenant, plant, passport_id);
CREATE INDEX passport_view_status ON passport_view (tenant, status, passport_id);
CREATE INDEX passport_view_stage ON passport_view (tenant, stage, passport_id);
CREATE INDEX passport_view_handler ON passport_view (tenant, current_handler_id, passport_id);
CREATE INDEX passport_view_placed ON passport_view (tenant, placed_on_market_at, passport_id);
CREATE INDEX passport_view_extensions ON passport_view USING gin (extensions jsonb_path_ops);

-- One row per combination of the report dimensions; `n` passports; recycled-content sums for the averages.
CREATE TABLE population_counts (
    tenant          text NOT NULL,
    category        text NOT NULL,
    chemistry       text NOT NULL,
    model           text NOT NULL,
    product_family  text NOT NULL,
    plant           text NOT NULL,
    status          text NOT NULL,
    stage           text NOT NULL,
    n               bigint NOT NULL DEFAULT 0,
    rc_n            bigint NOT NULL DEFAULT 0,
    rc_sums         numeric[] NOT NULL DEFAULT '{0,0,0,0,0,0,0,0,0}',
    PRIMARY KEY (tenant, category, chemistry, model, product_family, plant, status, stage)
);
INSERT INTO population_counts (tenant, category, chemistry, model, product_family, plant, status, stage, n)
SELECT tenant, coalesce(category, ''), coalesce(chemistry, ''), coalesce(model, ''), coalesce(product_family, ''),
       coalesce(plant, ''), coalesce(status, ''), coalesce(stage, ''), count(*)
FROM passport_view GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

-- Recovered material attributed to passports, per chemistry and material (recovery yields report).
CREATE TABLE recovery_totals (
    tenant          text NOT NULL,
    chemistry       text NOT NULL,
    material        text NOT NULL,
    passports       bigint NOT NULL DEFAULT 0,
    contained_kg    numeric NOT NULL DEFAULT 0,
    recovered_kg    numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, chemistry, material)
);

CREATE TABLE export_jobs (
    job_id        text PRIMARY KEY,
    tenant        text NOT NULL,
    requested_by  text NOT NULL,
    format        text NOT NULL,
    request       jsonb NOT NULL,
    status        text NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    progress_pct  integer NOT NULL DEFAULT 0,
    total         integer,
    processed     integer NOT NULL DEFAULT 0,
    file_name     text,
    media_type    text,
    content       bytea,
    signature     jsonb,
    error         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz
);
CREATE INDEX export_jobs_queue ON export_jobs (created_at) WHERE status IN ('queued', 'running');
CREATE INDEX export_jobs_tenant ON export_jobs (tenant, created_at);

CREATE TABLE signing_keys (
    key_id        text PRIMARY KEY,
    algorithm     text NOT NULL,
    public_key    bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
