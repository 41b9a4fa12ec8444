-- Bitemporal read model (event time and record time). Every fact the projection folds is kept with the time it
-- happened (`occurred_at`: its own event time) and the time the platform learned it (`recorded_at`), so that a fact
-- arriving late, out of order, is folded where it belongs: the passport's facts are folded again in event-time order
-- from that point on, and the versions they made before are superseded (kept, for "what did we show then").
--
-- passport_facts.body is the fact's contract JSON (a minted fact without its static data, which
-- static_documents_seen keeps by digest): enough to fold it again. `rank` 0 is the minting, folded first whatever
-- its time; `id` is the arrival order, which breaks ties between facts of one instant.
CREATE TABLE passport_facts (
    passport_id  text NOT NULL,
    id           bigint NOT NULL,
    change       text NOT NULL,
    rank         smallint NOT NULL,
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL,
    body         text NOT NULL,
    PRIMARY KEY (passport_id, id)
);
ALTER TABLE passport_facts ALTER COLUMN body SET COMPRESSION lz4;
CREATE SEQUENCE passport_facts_id;

-- Row-level security as for the versions: a fact is visible when its passport is.
ALTER TABLE passport_facts ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON passport_facts
    USING (EXISTS (SELECT FROM passport_view a WHERE a.passport_id = passport_facts.passport_id))
    WITH CHECK (EXISTS (SELECT FROM passport_view a WHERE a.passport_id = passport_facts.passport_id));

-- A version's `valid_from` is from now on the event time of the fact that made it (never before the version it
-- follows); `recorded_at` is when it was written and `superseded_at` when a late fact replaced it (NULL: current).
-- Rows written before this migration were stamped with the projection's clock: their recorded_at is that stamp.
ALTER TABLE passport_view_versions ADD COLUMN recorded_at timestamptz;
ALTER TABLE passport_view_versions ADD COLUMN superseded_at timestamptz;
ALTER TABLE passport_view_versions ADD COLUMN fact_id bigint;

-- The key of the last fact folded into the current row (rank, event time, arrival id): a fact whose key is lower
-- arrived late. NULL: a passport projected before this migration, whose facts were not kept (folded as they come).
ALTER TABLE passport_view ADD COLUMN fact_rank smallint;
ALTER TABLE passport_view ADD COLUMN fact_time timestamptz;
ALTER TABLE passport_view ADD COLUMN fact_id bigint;
