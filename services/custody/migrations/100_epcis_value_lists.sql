-- The value lists of the EPCIS REST binding (GET /epcis/epcs, /bizSteps, /bizLocations, /readPoints,
-- /dispositions; services/custody/query/store.py): each value an indexed event has, once per reach the event has.
-- A reach is what lets a reader see the event, as the query's visibility decides it: `c:<capturer>` (the handler
-- that captured it) or `p:<passport id>` (a passport the event is about). A reader's values are then read from
-- this table's primary key alone (its reaches: its passports, and its own captures), never from the events, and a
-- reader who sees everything reads them by skip scan of (kind, value), one probe per value.
CREATE TABLE epcis_value_reach (
    kind  text COLLATE "C" NOT NULL,  -- epc | biz_step | disposition | read_point | biz_location
    value text COLLATE "C" NOT NULL,  -- as the index stores it (identifiers: as written and as Digital Link)
    reach text COLLATE "C" NOT NULL,
    PRIMARY KEY (kind, reach, value)
);
CREATE INDEX epcis_value_reach_value ON epcis_value_reach (kind, value);

INSERT INTO epcis_value_reach (kind, value, reach)
SELECT DISTINCT v.kind, v.value, r.reach
FROM epcis_event_index e
CROSS JOIN LATERAL (
    SELECT 'biz_step', e.biz_step UNION ALL SELECT 'disposition', e.disposition
    UNION ALL SELECT 'read_point', e.read_point UNION ALL SELECT 'biz_location', e.biz_location
    UNION ALL SELECT 'epc', unnest(e.epcs || e.parent_ids || e.input_epcs || e.output_epcs)
) AS v (kind, value)
CROSS JOIN LATERAL (
    SELECT 'c:' || coalesce(e.capturer, '')  -- 'c:' alone: the platform captured it (listed to authorities)
    UNION ALL SELECT 'p:' || unnest(e.passport_ids)
) AS r (reach)
WHERE v.value IS NOT NULL;

ALTER TABLE epcis_value_reach ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE epcis_value_reach IS
    'platform only: the values of the EPCIS events indexed and who may see them, listed by the query interface';
