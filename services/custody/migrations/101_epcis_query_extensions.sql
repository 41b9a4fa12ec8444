-- The EPCIS query language's extension-field and sensor parameters (services/custody/query/store.py).
-- `extensions`: the event's top-level extension fields as written (CURIE or IRI keys) and, beside each, under its
-- IRI with nested keys expanded too (written by capture; events indexed before this migration are backfilled with
-- their fields as written only). Searched by jsonpath (@?) and key (?|) through a GIN index.
ALTER TABLE epcis_event_index ADD COLUMN extensions jsonb NOT NULL DEFAULT '{}';
UPDATE epcis_event_index e
SET extensions = (SELECT jsonb_object_agg(kv.key, kv.value) FROM jsonb_each(e.event) kv
                  WHERE position(':' IN kv.key) > 0 AND left(kv.key, 1) <> '@')
WHERE EXISTS (SELECT 1 FROM jsonb_object_keys(e.event) k WHERE position(':' IN k) > 0 AND left(k, 1) <> '@');
CREATE INDEX epcis_event_index_extensions ON epcis_event_index USING gin (extensions)
    WHERE extensions <> '{}';
-- Sensor conditions read the sensorElementList of the events that have one, newest (or oldest) first.
CREATE INDEX epcis_event_index_sensor_time ON epcis_event_index (event_time, seq) WHERE event ? 'sensorElementList';
-- Sensor conditions on strings (type, deviceID, ...) and units first find the events by containment through this.
CREATE INDEX epcis_event_index_sensors ON epcis_event_index USING gin ((event -> 'sensorElementList') jsonb_path_ops)
    WHERE event ? 'sensorElementList';
