-- Treatment batches that arrived before the PassportMinted fact of an input (identity's and the recycler's facts
-- travel on different topics): parked too, keyed by the reference as given (passport id, battery identifier or
-- public URI), until a passport with that id, identifier or URI is minted. `waiting_for` keeps meaning the
-- passports whose first custody step is awaited. A batch still waiting after the configured time
-- (BPASS_RECOVERY_PARKING_MAX_AGE_S, 7 days by default) is refused with `reference_never_appeared`.
ALTER TABLE parked_treatment_batches
    ADD COLUMN awaiting_minting text[] NOT NULL DEFAULT '{}';
CREATE INDEX parked_treatment_batches_minting ON parked_treatment_batches USING gin (awaiting_minting);
CREATE INDEX parked_treatment_batches_parked_at ON parked_treatment_batches (parked_at);
