-- Static data is model-level: thousands of passports share one document. Versions refer to it by digest
-- (an opaque content key), so a bulk mint of 100,000 batteries of one model stores it once.
CREATE TABLE static_data_documents (
    digest      text PRIMARY KEY,
    static_data jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO static_data_documents (digest, static_data)
SELECT DISTINCT 'pg-sha256:' || encode(sha256(convert_to(static_data::text, 'UTF8')), 'hex'), static_data
FROM passport_versions
ON CONFLICT (digest) DO NOTHING;

ALTER TABLE passport_versions ADD COLUMN static_data_digest text REFERENCES static_data_documents (digest);
UPDATE passport_versions
SET static_data_digest = 'pg-sha256:' || encode(sha256(convert_to(static_data::text, 'UTF8')), 'hex');
ALTER TABLE passport_versions ALTER COLUMN static_data_digest SET NOT NULL;
ALTER TABLE passport_versions DROP COLUMN static_data;

-- What an amendment changed (top-level static data fields, `extensions.<key>`); empty for the minted version.
ALTER TABLE passport_versions ADD COLUMN changed_fields text[] NOT NULL DEFAULT '{}';
-- The version of the family's extension schema the extension values were checked against, if any.
ALTER TABLE passport_versions ADD COLUMN extension_schema_version integer;

-- The resolver finds a passport by its GS1 Digital Link: GTIN-14 + serial. A GTIN + serial pair names one
-- battery in the world, so it has one passport whichever tenant mints it.
CREATE UNIQUE INDEX passports_gtin_serial ON passports (lpad(gtin, 14, '0'), battery_identifier)
    WHERE gtin IS NOT NULL;
CREATE INDEX passports_batch ON passports (tenant, batch_number) WHERE batch_number IS NOT NULL;

-- OEM extension schemas: JSON Schema (draft 2020-12) per tenant and product family, every version kept.
CREATE TABLE extension_schemas (
    tenant         text NOT NULL,
    product_family text NOT NULL,
    version        integer NOT NULL CHECK (version >= 1),
    json_schema    jsonb NOT NULL,
    public_fields  text[] NOT NULL,
    declared_at    timestamptz NOT NULL,
    declared_by    text NOT NULL,
    PRIMARY KEY (tenant, product_family, version)
);
