-- Outbox rows Kafka refused for good (a message larger than the producer or the broker accepts). The relay moves
-- such a row here, with the error, so that the rows behind it are published: nothing is lost, nothing blocks.
-- An operator fixes the cause (e.g. raises the topic's max.message.bytes) and moves the row back:
--   INSERT INTO outbox (topic, message_key, headers, payload) SELECT topic, message_key, headers, payload
--   FROM outbox_refused WHERE id = ...;  DELETE FROM outbox_refused WHERE id = ...;
CREATE TABLE outbox_refused (
    id          bigint PRIMARY KEY,
    topic       text NOT NULL,
    message_key bytea,
    headers     jsonb NOT NULL,
    payload     bytea NOT NULL,
    created_at  timestamptz NOT NULL,
    refused_at  timestamptz NOT NULL DEFAULT now(),
    error       text NOT NULL
);
