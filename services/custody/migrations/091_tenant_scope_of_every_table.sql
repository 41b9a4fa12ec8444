-- Every table of the schema is either confined to a tenant under row-level security or says here why it is not
-- (`COMMENT ON TABLE ... IS 'not tenant-scoped: <why>'`, read by tests/integration/test_row_level_security.py).
-- `bpass_platform` (consumers, relay, jobs, cross-tenant principals) bypasses row-level security; the owner too.

-- An EPCIS capture job is a tenant's when one of its events names one of the tenant's passports (what its
-- auditors list, `capture/store.py`); handlers capture on the platform's connection, so a tenant writes none.
ALTER TABLE capture_jobs ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON capture_jobs FOR SELECT
    USING (EXISTS (SELECT FROM jsonb_array_elements(capture_jobs.events) AS e(event),
                               jsonb_array_elements(coalesce(e.event -> 'entries', '[]'::jsonb)) AS x(entry)
                   JOIN known_passports k ON k.passport_id = x.entry ->> 'passport_id'));
COMMENT ON TABLE capture_jobs IS 'tenant-scoped through the passports its events name';

-- The handlers registry: the companies (carriers, collectors, recyclers, an OEM's delegates) the platform operator
-- registers and verifies; every tenant reads it to name its consignees. Readable, never writable, by a tenant.
ALTER TABLE handlers ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY registry_readable ON handlers FOR SELECT USING (true);
COMMENT ON TABLE handlers IS
    'not tenant-scoped: the registry of handlers (companies every tenant''s batteries pass through), kept by the '
    'platform operator and read by every tenant; a tenant''s connection may read it, not write it';
ALTER TABLE handler_glns ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY registry_readable ON handler_glns FOR SELECT USING (true);
COMMENT ON TABLE handler_glns IS
    'not tenant-scoped: the GS1 locations of the registered handlers (part of the handlers registry); a tenant''s '
    'connection may read it, not write it';

-- Delivery bookkeeping, parked messages and caches only the platform's consumers, relay, EPCIS capture and
-- migrations touch: row-level security with no policy, so that a tenant's connection (bpass_app) sees and writes
-- none of it. Not forced: the owner (the migrations, which read schema_migrations) is exempt whatever its role.
ALTER TABLE inbox ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE inbox IS 'platform only: the consumers'' record of the messages they applied';
ALTER TABLE outbox_refused ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE outbox_refused IS 'platform only: messages Kafka refused, kept by the relay for an operator';
ALTER TABLE static_documents_seen ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE static_documents_seen IS 'platform only: static data read in minted facts, for the consumers';
ALTER TABLE schema_migrations ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE schema_migrations IS 'platform only: the migrations applied to this schema';
ALTER TABLE parked_events ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE parked_events IS 'platform only: custody steps waiting for the passport they name';
ALTER TABLE epcis_events ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE epcis_events IS 'platform only: the EPCIS events captured, by hash, for the capture''s own checks';

COMMENT ON TABLE outbox IS
    'not tenant-scoped: every request writes its events here in its own transaction by COPY, which row-level '
    'security refuses; the relay deletes each row once Kafka has it';
