-- Lifecycle reports (issue #8): second-life populations and state-of-health distributions by model and age, kept
-- fast at 1M passports per tenant by two pre-aggregated tables maintained in the projection transaction (like
-- population_counts), from five typed columns of passport_view (the projection's "before" of each passport).
--
-- `predecessor_count` NULL marks a row written before this migration and not counted in lifecycle_counts yet (its
-- state_of_health_pct is NULL too, so it is not in soh_counts either): the projection counts it when it next
-- changes. Rows are backfilled here only when there are few (a rewrite of 1M passports, parsing each state, outlasts
-- the migration timeout; see 003).
ALTER TABLE passport_view
    ADD COLUMN state_of_health_pct  numeric,   -- latest in-service reading, %
    ADD COLUMN manufacturing_date   date,      -- the age's basis when not placed on the market
    ADD COLUMN responsible_operator text,      -- Art. 77(7): who answers for the battery now (NULL: the tenant)
    ADD COLUMN predecessor_count    integer,
    ADD COLUMN successor_count      integer;

-- Passports reporting a state of health, not ceased: per model, status, month the age counts from
-- (year * 12 + month - 1, -1 unknown) and state of health in tenths of a percent (floored); `soh_sum` exact.
CREATE TABLE soh_counts (
    tenant      text NOT NULL,
    model       text NOT NULL,
    status      text NOT NULL,
    age_month   integer NOT NULL,
    soh_tenths  integer NOT NULL,
    n           bigint NOT NULL DEFAULT 0,
    soh_sum     numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, model, status, age_month, soh_tenths)
);

-- Every passport per model, status and responsible operator ('' = the tenant itself): how many, how many
-- predecessor passports they continue, how many continue one, how many were superseded (have a successor).
CREATE TABLE lifecycle_counts (
    tenant             text NOT NULL,
    model              text NOT NULL,
    status             text NOT NULL,
    operator           text NOT NULL,
    n                  bigint NOT NULL DEFAULT 0,
    predecessors       bigint NOT NULL DEFAULT 0,
    with_predecessors  bigint NOT NULL DEFAULT 0,
    superseded         bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, model, status, operator)
);

DO $$
BEGIN
    IF (SELECT count(*) FROM passport_view) > 100000 THEN
        RETURN;
    END IF;
    UPDATE passport_view p SET
        state_of_health_pct = CASE WHEN x.soh ~ '^[0-9]+(\.[0-9]+)?$' THEN x.soh::numeric END,
        manufacturing_date = CASE WHEN x.made ~ '^\d{4}-\d{2}-\d{2}$' THEN x.made::date END,
        responsible_operator = x.operator,
        predecessor_count = x.preds,
        successor_count = x.succs
    FROM (
        SELECT passport_id,
               s #>> '{in_service,latest,state_of_health_pct,value}' AS soh,
               coalesce(s -> 'static_data', sd) ->> 'manufacturing_date' AS made,
               s ->> 'responsible_operator' AS operator,
               CASE WHEN jsonb_typeof(s -> 'predecessor_ids') = 'array'
                    THEN jsonb_array_length(s -> 'predecessor_ids') ELSE 0 END AS preds,
               CASE WHEN jsonb_typeof(s -> 'successor_ids') = 'array'
                    THEN jsonb_array_length(s -> 'successor_ids') ELSE 0 END AS succs
        FROM (SELECT passport_id, coalesce(state, state_json::jsonb) AS s, static_json::jsonb AS sd
              FROM passport_view) AS raw
    ) AS x
    WHERE p.passport_id = x.passport_id;

    INSERT INTO soh_counts (tenant, model, status, age_month, soh_tenths, n, soh_sum)
    SELECT tenant, coalesce(model, ''), coalesce(status, ''),
           coalesce(extract(year FROM placed_on_market_at AT TIME ZONE 'UTC')::int * 12
                        + extract(month FROM placed_on_market_at AT TIME ZONE 'UTC')::int - 1,
                    extract(year FROM manufacturing_date)::int * 12 + extract(month FROM manufacturing_date)::int - 1,
                    -1),
           floor(state_of_health_pct * 10)::int, count(*), sum(state_of_health_pct)
    FROM passport_view WHERE state_of_health_pct IS NOT NULL AND NOT ceased
    GROUP BY 1, 2, 3, 4, 5;

    INSERT INTO lifecycle_counts (tenant, model, status, operator, n, predecessors, with_predecessors, superseded)
    SELECT tenant, coalesce(model, ''), coalesce(status, ''), coalesce(responsible_operator, ''), count(*),
           sum(predecessor_count), count(*) FILTER (WHERE predecessor_count > 0),
           count(*) FILTER (WHERE successor_count > 0)
    FROM passport_view GROUP BY 1, 2, 3, 4;
END
$$;
