-- Every table of the schema is either confined to a tenant under row-level security or says here why it is not
-- (`COMMENT ON TABLE ... IS 'not tenant-scoped: <why>'`, read by tests/integration/test_row_level_security.py).
-- `bpass_platform` (consumers, relay, jobs, cross-tenant principals) bypasses row-level security; the owner too.

-- A treatment batch, its lots and the declared contents of its inputs are a tenant's when one of the batch's inputs
-- is one of its passports (treatment_inputs, under the tenant policy); a refiner report and its feeds when they
-- feed on such a lot. What an OEM reads of them (attribution, Annex XII for its auditors) goes through those links;
-- recyclers and refiners report on the platform's connection, so a tenant writes none of them.
ALTER TABLE treatment_batches ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON treatment_batches FOR SELECT
    USING (EXISTS (SELECT FROM treatment_inputs i WHERE i.batch = treatment_batches.id));
COMMENT ON TABLE treatment_batches IS 'tenant-scoped through treatment_inputs (its passports)';
ALTER TABLE input_contents ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON input_contents FOR SELECT
    USING (EXISTS (SELECT FROM treatment_inputs i
                   WHERE i.batch = input_contents.batch AND i.input_index = input_contents.input_index));
COMMENT ON TABLE input_contents IS 'tenant-scoped through treatment_inputs (its passport)';
ALTER TABLE recycler_lots ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON recycler_lots FOR SELECT
    USING (EXISTS (SELECT FROM treatment_inputs i WHERE i.batch = recycler_lots.batch));
COMMENT ON TABLE recycler_lots IS 'tenant-scoped through its batch''s treatment_inputs (their passports)';
ALTER TABLE refiner_feeds ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON refiner_feeds FOR SELECT
    USING (EXISTS (SELECT FROM recycler_lots l WHERE l.id = refiner_feeds.lot));
COMMENT ON TABLE refiner_feeds IS 'tenant-scoped through the lot it feeds on';
ALTER TABLE refiner_reports ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON refiner_reports FOR SELECT
    USING (EXISTS (SELECT FROM refiner_feeds f WHERE f.report = refiner_reports.id));
COMMENT ON TABLE refiner_reports IS 'tenant-scoped through its feeds (the lots they feed on)';

-- Refined product lots and what every recycled-content claim took of them are the market an OEM's claim is
-- checked against: a claim reads and locks (FOR UPDATE, hence the update policy whose check refuses every new row)
-- every product lot it names, whoever's batteries it came from, and sums what all claims took of it, so that no
-- content is claimed twice. Readable by a tenant; a tenant adds sources to its own claims only.
ALTER TABLE refined_products ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY market_readable ON refined_products FOR SELECT USING (true);
CREATE POLICY market_lockable ON refined_products FOR UPDATE USING (true) WITH CHECK (false);
COMMENT ON TABLE refined_products IS
    'not tenant-scoped: refined product lots are what every OEM''s recycled-content claim is checked and locked '
    'against, whoever''s batteries they came from; a tenant''s connection may read and lock them, not write them';
ALTER TABLE claim_sources ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY market_readable ON claim_sources FOR SELECT USING (true);
CREATE POLICY tenant_adds ON claim_sources FOR INSERT
    WITH CHECK (EXISTS (SELECT FROM recycled_content_claims c WHERE c.claim_id = claim_sources.claim_id));
COMMENT ON TABLE claim_sources IS
    'not tenant-scoped: what every claim took of each product lot, summed by every OEM''s claim so that no content '
    'is claimed twice; a tenant''s connection reads it and adds sources to its own claims only';

-- The handlers registry as recovery knows it (recyclers, refiners): every tenant's batteries pass through them.
ALTER TABLE handler_registry ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY registry_readable ON handler_registry FOR SELECT USING (true);
COMMENT ON TABLE handler_registry IS
    'not tenant-scoped: the registry of handlers (companies every tenant''s batteries pass through), followed from '
    'custody; a tenant''s connection may read it, not write it';

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
ALTER TABLE parked_treatment_batches ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE parked_treatment_batches IS 'platform only: treatment batches waiting for what they name';

COMMENT ON TABLE outbox IS
    'not tenant-scoped: every request writes its events here in its own transaction by COPY, which row-level '
    'security refuses; the relay deletes each row once Kafka has it';
