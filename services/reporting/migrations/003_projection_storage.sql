-- Projection write cost (issue: keep up with 5,000 facts/s). Every fact rewrites a passport's ~8 KB state; measured
-- per 500 rows on this machine, backend CPU:
--   * jsonb input (parse) of an 8 KB state: ~100 ms; text: ~35 ms. The service never queries inside the state
--     (searches use the typed columns), so the state is stored as JSON text.
--   * the static data is ~70 % of a state and changes only when minted or amended: its own column, written only
--     then (an UPDATE that keeps it reuses its TOAST pointer), so a lifecycle fact writes a ~2.5 KB state that
--     stays inline: 11 ms instead of 41 ms.
--   * versions are deltas (the top-level fields a version changed) between full snapshots (version 1 and every
--     readmodel.SNAPSHOT_EVERY-th): 11 ms instead of 87 ms.
--   * outbox payloads (change-stream and latest-state messages, ~8 KB each): lz4 instead of pglz, 44 ms instead of
--     199 ms per 1,000 rows.
-- Nothing is rewritten here (a rewrite of 1M passports outlasts the migration timeout): rows written before keep
-- their jsonb `state` and are read as they are; the projection moves a passport to the new columns when it next
-- changes (and sets its `state` NULL).
ALTER TABLE passport_view ALTER COLUMN state DROP NOT NULL;
ALTER TABLE passport_view ADD COLUMN state_json text;   -- the state without static_data, as JSON
ALTER TABLE passport_view ADD COLUMN static_json text;  -- its static_data, as JSON
ALTER TABLE passport_view ALTER COLUMN state_json SET COMPRESSION lz4;
ALTER TABLE passport_view ALTER COLUMN static_json SET COMPRESSION lz4;
ALTER TABLE passport_view ADD CONSTRAINT passport_view_has_state
    CHECK (state IS NOT NULL OR state_json IS NOT NULL) NOT VALID;

ALTER TABLE passport_view_versions ALTER COLUMN state DROP NOT NULL;
ALTER TABLE passport_view_versions ADD COLUMN state_json text;  -- a full snapshot, as JSON
ALTER TABLE passport_view_versions ADD COLUMN delta_json text;  -- or the top-level fields this version set
ALTER TABLE passport_view_versions ALTER COLUMN state_json SET COMPRESSION lz4;
ALTER TABLE passport_view_versions ALTER COLUMN delta_json SET COMPRESSION lz4;
ALTER TABLE passport_view_versions ADD CONSTRAINT passport_view_versions_has_state
    CHECK (state IS NOT NULL OR state_json IS NOT NULL OR delta_json IS NOT NULL) NOT VALID;

ALTER TABLE outbox ALTER COLUMN payload SET COMPRESSION lz4;
