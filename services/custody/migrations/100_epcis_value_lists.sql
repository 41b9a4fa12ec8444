-- The value lists of the EPCIS REST binding (GET /epcis/bizLocations, /readPoints, /dispositions, /bizSteps,
-- /epcs; services/custody/query/value_lists.py): read in byte order ("C") by a skip scan of a B-tree, one index
-- probe per distinct value, never a scan of the events. biz_step is listed from its own index in the same order.
CREATE INDEX epcis_event_index_read_point ON epcis_event_index (read_point COLLATE "C") WHERE read_point IS NOT NULL;
CREATE INDEX epcis_event_index_biz_location ON epcis_event_index (biz_location COLLATE "C")
    WHERE biz_location IS NOT NULL;
CREATE INDEX epcis_event_index_disposition ON epcis_event_index (disposition COLLATE "C")
    WHERE disposition IS NOT NULL;
CREATE INDEX epcis_event_index_biz_step_value ON epcis_event_index (biz_step COLLATE "C") WHERE biz_step IS NOT NULL;

-- Every identifier an event names (epcList, childEPCs, parentID, inputEPCList, outputEPCList; as written and as
-- canonical Digital Link, as in the index's arrays): what GET /epcis/epcs lists. A GIN index of the arrays finds
-- events by identifier but cannot enumerate identifiers in order; this table can.
CREATE TABLE epcis_event_epc (
    epc text COLLATE "C" NOT NULL,
    seq bigint NOT NULL REFERENCES epcis_event_index (seq) ON DELETE CASCADE,
    PRIMARY KEY (epc, seq)
);
CREATE INDEX epcis_event_epc_seq ON epcis_event_epc (seq);
INSERT INTO epcis_event_epc (epc, seq)
SELECT DISTINCT v, e.seq FROM epcis_event_index e, unnest(e.epcs || e.parent_ids || e.input_epcs || e.output_epcs) v;

ALTER TABLE epcis_event_epc ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE epcis_event_epc IS
    'platform only: the identifiers of the EPCIS events indexed, listed by the query interface, which applies visibility';
