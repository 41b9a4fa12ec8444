CREATE TABLE passports (
    passport_id        text PRIMARY KEY,
    tenant             text NOT NULL,
    battery_identifier text NOT NULL,
    kind               text NOT NULL,
    category           text NOT NULL,
    product_family     text,
    gtin               text,
    batch_number       text,
    public_uri         text NOT NULL,
    current_version    integer NOT NULL DEFAULT 1,
    minted_at          timestamptz NOT NULL,
    minted_by          text NOT NULL,
    -- Minting is idempotent: one passport per (tenant, battery identifier).
    CONSTRAINT passports_tenant_identifier UNIQUE (tenant, battery_identifier)
);

-- Every version of the static data is kept; nothing is overwritten.
CREATE TABLE passport_versions (
    passport_id  text NOT NULL REFERENCES passports (passport_id),
    version      integer NOT NULL,
    subject      jsonb NOT NULL,
    static_data  jsonb NOT NULL,
    extensions   jsonb NOT NULL DEFAULT '{}'::jsonb,
    changed_at   timestamptz NOT NULL,
    changed_by   text NOT NULL,
    reason       text NOT NULL,
    PRIMARY KEY (passport_id, version)
);
