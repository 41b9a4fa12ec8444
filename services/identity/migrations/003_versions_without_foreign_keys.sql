-- A bulk mint writes 100,000 versions in one COPY; the two foreign keys cost two trigger calls per row,
-- ~40 % of that COPY. Identity is the only writer and inserts passport, document and version in the same
-- transaction (store.insert_passports, store.insert_version), so the keys only ever checked its own code.
ALTER TABLE passport_versions DROP CONSTRAINT IF EXISTS passport_versions_passport_id_fkey;
ALTER TABLE passport_versions DROP CONSTRAINT IF EXISTS passport_versions_static_data_digest_fkey;
