-- Page-token signing keys by number instead of a single flagged row: the first is the key tokens are signed and
-- checked with (services/custody/query/store.py); later rows leave room for a rotation.
ALTER TABLE epcis_query_token_key DROP COLUMN only_row;
ALTER TABLE epcis_query_token_key ADD COLUMN key_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;
