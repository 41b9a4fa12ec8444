-- Recovery's ledger: treatment batches, recycler lots, refiner reports, attribution lines, recycled-content claims.
-- Masses are numeric kilograms; attribution amounts are multiples of 0.001 kg.

ALTER TABLE known_passports
    ADD COLUMN kind         text,
    ADD COLUMN public_uri   text,
    ADD COLUMN ceased_at    timestamptz,
    ADD COLUMN ceased_batch bigint;
CREATE INDEX known_passports_uri ON known_passports (public_uri);

CREATE TABLE treatment_batches (
    id                 bigserial PRIMARY KEY,
    recycler_id        text NOT NULL,
    batch_id           text NOT NULL,
    content_sha256     text NOT NULL,
    reported_by        text NOT NULL,
    reported_via       text NOT NULL CHECK (reported_via IN ('topic', 'http')),
    processes          text[] NOT NULL,
    started_at         timestamptz NOT NULL,
    completed_at       timestamptz NOT NULL,
    input_kg           numeric NOT NULL,
    recycled_output_kg numeric NOT NULL,
    residues_kg        numeric NOT NULL,
    additives_kg       numeric NOT NULL,
    losses_kg          numeric NOT NULL,
    flags              jsonb NOT NULL,
    evidence           jsonb NOT NULL,
    report             jsonb NOT NULL,
    outcome            jsonb NOT NULL,
    recorded_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (recycler_id, batch_id)
);
CREATE INDEX treatment_batches_completed ON treatment_batches (completed_at);

ALTER TABLE known_passports
    ADD CONSTRAINT known_passports_ceased_batch FOREIGN KEY (ceased_batch) REFERENCES treatment_batches (id);

CREATE TABLE treatment_inputs (
    batch              bigint NOT NULL REFERENCES treatment_batches (id),
    input_index        integer NOT NULL,
    passport_id        text REFERENCES known_passports (passport_id),
    tenant             text,
    reference          text NOT NULL,
    chemistry          text NOT NULL,
    category_group     text NOT NULL,
    origin             text NOT NULL,
    mass_kg            numeric NOT NULL,
    dwts_id            text,
    diwass_id          text,
    transport_document text,
    flags              jsonb NOT NULL,
    sources            jsonb NOT NULL,
    PRIMARY KEY (batch, input_index)
);
-- A battery is treated once: a passport is input to one batch only (no double counting).
CREATE UNIQUE INDEX treatment_inputs_passport ON treatment_inputs (passport_id) WHERE passport_id IS NOT NULL;

CREATE TABLE input_contents (
    batch       bigint NOT NULL,
    input_index integer NOT NULL,
    material    text NOT NULL,
    kg_per_kg   numeric NOT NULL,
    declared_kg numeric NOT NULL,
    basis       text NOT NULL,
    PRIMARY KEY (batch, input_index, material),
    FOREIGN KEY (batch, input_index) REFERENCES treatment_inputs (batch, input_index)
);

CREATE TABLE recycler_lots (
    id           bigserial PRIMARY KEY,
    batch        bigint NOT NULL REFERENCES treatment_batches (id),
    recycler_id  text NOT NULL,
    lot_id       text NOT NULL,
    output_index integer NOT NULL,
    fraction     text NOT NULL,
    mass_kg      numeric NOT NULL,
    fed_kg       numeric NOT NULL DEFAULT 0,
    assay_pct    jsonb NOT NULL,
    material_kg  jsonb NOT NULL,
    UNIQUE (recycler_id, lot_id),
    -- A lot is refined once: never fed beyond its mass.
    CHECK (fed_kg >= 0 AND fed_kg <= mass_kg)
);
CREATE INDEX recycler_lots_batch ON recycler_lots (batch);

CREATE TABLE refiner_reports (
    id             bigserial PRIMARY KEY,
    refiner_id     text NOT NULL,
    report_id      text NOT NULL,
    content_sha256 text NOT NULL,
    reported_by    text NOT NULL,
    reported_via   text NOT NULL CHECK (reported_via IN ('topic', 'http')),
    period_start   timestamptz NOT NULL,
    period_end     timestamptz NOT NULL,
    evidence       jsonb NOT NULL,
    report         jsonb NOT NULL,
    outcome        jsonb NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (refiner_id, report_id)
);

CREATE TABLE refiner_feeds (
    report     bigint NOT NULL REFERENCES refiner_reports (id),
    feed_index integer NOT NULL,
    lot        bigint NOT NULL REFERENCES recycler_lots (id),
    mass_kg    numeric NOT NULL,
    PRIMARY KEY (report, feed_index)
);
CREATE INDEX refiner_feeds_lot ON refiner_feeds (lot);

CREATE TABLE refined_products (
    id                bigserial PRIMARY KEY,
    report            bigint NOT NULL REFERENCES refiner_reports (id),
    refiner_id        text NOT NULL,
    product_lot_id    text NOT NULL,
    product_index     integer NOT NULL,
    product           text NOT NULL,
    mass_kg           numeric NOT NULL,
    metal_content_pct jsonb NOT NULL,
    metal_kg          jsonb NOT NULL,
    UNIQUE (refiner_id, product_lot_id)
);

CREATE TABLE attribution_lines (
    id          bigserial PRIMARY KEY,
    stage       text NOT NULL CHECK (stage IN ('treatment', 'refining')),
    batch       bigint NOT NULL,
    input_index integer NOT NULL,
    passport_id text,
    tenant      text,
    lot         bigint NOT NULL REFERENCES recycler_lots (id),
    product     bigint REFERENCES refined_products (id),
    material    text NOT NULL,
    origin      text NOT NULL,
    amount_kg   numeric(20, 3) NOT NULL CHECK (amount_kg >= 0),
    line        jsonb NOT NULL,
    FOREIGN KEY (batch, input_index) REFERENCES treatment_inputs (batch, input_index)
);
CREATE INDEX attribution_lines_passport ON attribution_lines (passport_id) WHERE passport_id IS NOT NULL;
CREATE INDEX attribution_lines_product ON attribution_lines (product, material, origin) WHERE product IS NOT NULL;
CREATE INDEX attribution_lines_batch ON attribution_lines (batch, stage);

CREATE TABLE recycled_content_claims (
    claim_id            text PRIMARY KEY,
    tenant              text NOT NULL,
    battery_model       text NOT NULL,
    manufacturing_plant text NOT NULL,
    year                integer NOT NULL,
    content_sha256      text NOT NULL,
    claimed_by          text NOT NULL,
    claim               jsonb NOT NULL,
    assessment          jsonb NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, battery_model, manufacturing_plant, year)
);

CREATE TABLE claim_sources (
    claim_id     text NOT NULL REFERENCES recycled_content_claims (claim_id),
    source_index integer NOT NULL,
    product      bigint NOT NULL REFERENCES refined_products (id),
    material     text NOT NULL,
    origin       text NOT NULL,
    mass_kg      numeric NOT NULL CHECK (mass_kg > 0),
    PRIMARY KEY (claim_id, source_index)
);
CREATE INDEX claim_sources_product ON claim_sources (product, material, origin);
