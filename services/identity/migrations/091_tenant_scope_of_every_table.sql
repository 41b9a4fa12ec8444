-- Every table of the schema is either confined to a tenant under row-level security or says here why it is not
-- (`COMMENT ON TABLE ... IS 'not tenant-scoped: <why>'`, read by tests/integration/test_row_level_security.py).
-- `bpass_platform` (consumers, relay, jobs, cross-tenant principals) bypasses row-level security; the owner too.

-- Static data documents are content-addressed and shared by the passports whose versions name them (two tenants'
-- identical documents are one row): a tenant sees a document when one of its passport versions (confined by
-- passports' tenant) names it. A mint adds its documents before the versions naming them, with ON CONFLICT, which
-- row-level security checks against the SELECT policy too (a document another tenant already has would be
-- refused): documents are added through `add_static_data_documents`, which runs as the owner. A tenant's
-- connection writes the table no other way.
CREATE INDEX IF NOT EXISTS passport_versions_static_data_digest ON passport_versions (static_data_digest);
CREATE FUNCTION add_static_data_documents(digests text[], documents jsonb[]) RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT
    AS $$
        INSERT INTO static_data_documents (digest, static_data)
        SELECT * FROM unnest(digests, documents)
        ON CONFLICT (digest) DO NOTHING
    $$;
REVOKE ALL ON FUNCTION add_static_data_documents(text[], jsonb[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION add_static_data_documents(text[], jsonb[]) TO bpass_app, bpass_platform;
ALTER TABLE static_data_documents ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON static_data_documents FOR SELECT
    USING (EXISTS (SELECT FROM passport_versions v WHERE v.static_data_digest = static_data_documents.digest));
COMMENT ON TABLE static_data_documents IS 'tenant-scoped through the passport versions naming a document';

-- Delivery bookkeeping and caches only the platform's consumers, relay and migrations touch: row-level security
-- with no policy, so that a tenant's connection (bpass_app) sees and writes none of it. Not forced: the owner
-- (the migrations, which read schema_migrations) is exempt whether or not its role bypasses row-level security.
ALTER TABLE inbox ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE inbox IS 'platform only: the consumers'' record of the messages they applied';
ALTER TABLE outbox_refused ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE outbox_refused IS 'platform only: messages Kafka refused, kept by the relay for an operator';
ALTER TABLE static_documents_seen ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE static_documents_seen IS 'platform only: static data read in minted facts, for the consumers';
ALTER TABLE schema_migrations ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE schema_migrations IS 'platform only: the migrations applied to this schema';

COMMENT ON TABLE outbox IS
    'not tenant-scoped: every request writes its events here in its own transaction by COPY, which row-level '
    'security refuses; the relay deletes each row once Kafka has it';
