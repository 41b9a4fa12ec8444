-- In-service data (Annex XIII 4(b), 4(d)): every reading kept as a time series, plus the latest per metric.
CREATE TABLE telemetry_readings (
    passport_id   text NOT NULL,
    metric        text NOT NULL,
    measured_at   timestamptz NOT NULL,
    value         numeric NOT NULL,
    source_system text NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now()
);
-- The same reading sent twice (in two messages) is stored once.
CREATE UNIQUE INDEX telemetry_readings_identity ON telemetry_readings (passport_id, metric, measured_at, source_system);

CREATE TABLE telemetry_latest (
    passport_id   text NOT NULL,
    metric        text NOT NULL,
    value         numeric NOT NULL,
    measured_at   timestamptz NOT NULL,
    source_system text NOT NULL,
    PRIMARY KEY (passport_id, metric)
);
