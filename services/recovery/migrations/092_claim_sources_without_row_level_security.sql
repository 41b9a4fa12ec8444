-- Claim sources go back to no row-level security (091 gave them a read-all policy and one for a tenant's own
-- claims): an OEM's claim writes them by COPY in its transaction (`store/common.py: copy_rows`), which row-level
-- security refuses ("COPY FROM not supported with row-level security"), so no claim could be recorded.
DROP POLICY IF EXISTS market_readable ON claim_sources;
DROP POLICY IF EXISTS tenant_adds ON claim_sources;
ALTER TABLE claim_sources NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
COMMENT ON TABLE claim_sources IS
    'not tenant-scoped: what every claim took of each product lot, summed by every OEM''s claim so that no content '
    'is claimed twice; written by COPY in the claim''s transaction, which row-level security would refuse';
