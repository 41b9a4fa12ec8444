-- Row-level security of the tables keyed by passport that have no tenant column of their own: a row is
-- visible (and writable) when its passport is, and `known_passports` (which has a tenant column, so
-- services/common/db.py puts it under the tenant policy) decides that for the tenant set on the connection.
ALTER TABLE passport_custody ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON passport_custody
    USING (EXISTS (SELECT FROM known_passports a WHERE a.passport_id = passport_custody.passport_id))
    WITH CHECK (EXISTS (SELECT FROM known_passports a WHERE a.passport_id = passport_custody.passport_id));
