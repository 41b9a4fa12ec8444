-- Row-level security of the tables keyed by passport that have no tenant column of their own: a row is
-- visible (and writable) when its passport is, and `known_passports` (which has a tenant column, so
-- services/common/db.py puts it under the tenant policy) decides that for the tenant set on the connection.
ALTER TABLE custody_log ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON custody_log
    USING (EXISTS (SELECT FROM known_passports a WHERE a.passport_id = custody_log.passport_id))
    WITH CHECK (EXISTS (SELECT FROM known_passports a WHERE a.passport_id = custody_log.passport_id));
ALTER TABLE telemetry_latest ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON telemetry_latest
    USING (EXISTS (SELECT FROM known_passports a WHERE a.passport_id = telemetry_latest.passport_id))
    WITH CHECK (EXISTS (SELECT FROM known_passports a WHERE a.passport_id = telemetry_latest.passport_id));
ALTER TABLE telemetry_readings ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON telemetry_readings
    USING (EXISTS (SELECT FROM known_passports a WHERE a.passport_id = telemetry_readings.passport_id))
    WITH CHECK (EXISTS (SELECT FROM known_passports a WHERE a.passport_id = telemetry_readings.passport_id));
