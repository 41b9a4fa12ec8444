-- Passports recovery may attribute recovered material to, with what they declared of their composition.
CREATE TABLE known_passports (
    passport_id        text PRIMARY KEY,
    tenant             text NOT NULL,
    battery_identifier text NOT NULL,
    category           text NOT NULL,
    static_data        jsonb NOT NULL,
    minted_at          timestamptz NOT NULL
);
CREATE INDEX known_passports_identifier ON known_passports (battery_identifier);
