-- GS1 company prefixes per tenant: declared by the tenant, verified by the platform operator. A passport is minted
-- under a GTIN only when the minting tenant has a verified prefix the GTIN starts with (after its indicator digit),
-- so that no tenant mints serials under another company's GTINs (they would take the GTIN + serial for good).
-- The tenant column puts the table under the tenant row-level policy (services/common/db.py).
CREATE TABLE gtin_prefixes (
    tenant       text NOT NULL,
    prefix       text NOT NULL CHECK (prefix ~ '^[0-9]{4,12}$'),
    state        text NOT NULL CHECK (state IN ('declared', 'verified', 'revoked')),
    shared       boolean NOT NULL DEFAULT false,
    declared_at  timestamptz NOT NULL,
    declared_by  text NOT NULL,
    verified_at  timestamptz,
    verified_by  text,
    reason       text,
    PRIMARY KEY (tenant, prefix)
);
CREATE INDEX gtin_prefixes_prefix ON gtin_prefixes (prefix) WHERE state = 'verified';
