-- Every table of the schema is either confined to a tenant under row-level security or says here why it is not
-- (`COMMENT ON TABLE ... IS 'not tenant-scoped: <why>'`, read by tests/integration/test_row_level_security.py).
-- `bpass_platform` (consumers, relay, jobs, cross-tenant principals) bypasses row-level security; the owner too.

-- The handlers registry as reporting knows it (entitlements of handler principals): every tenant's batteries pass
-- through them. The public keys exports are signed with, served to whoever verifies an export.
ALTER TABLE handler_registry ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY registry_readable ON handler_registry FOR SELECT USING (true);
COMMENT ON TABLE handler_registry IS
    'not tenant-scoped: the registry of handlers (companies every tenant''s batteries pass through), followed from '
    'custody; a tenant''s connection may read it, not write it';
ALTER TABLE signing_keys ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY keys_readable ON signing_keys FOR SELECT USING (true);
COMMENT ON TABLE signing_keys IS
    'not tenant-scoped: the public keys exports are signed with, for anyone verifying an export; a tenant''s '
    'connection may read them, not write them';

-- Delivery bookkeeping, parked messages and caches only the platform's consumers, relay and migrations touch:
-- row-level security with no policy, so that a tenant's connection (bpass_app) sees and writes none of it. Not
-- forced: the owner (the migrations, which read schema_migrations) is exempt whatever its role.
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
