-- Current rows written before migration 003 (whole state in the jsonb `state`) move to the JSON columns here, so
-- the projection reads one row shape only. Migration 003 left them to move when their passport next changed; a
-- platform that has run since holds none (the statement then touches no row). The JSON text is PostgreSQL's
-- rendering of the same values: readers parse it.
UPDATE passport_view
SET state_json = (state - 'static_data')::text,
    static_json = (state -> 'static_data')::text,
    state = NULL
WHERE state_json IS NULL;
