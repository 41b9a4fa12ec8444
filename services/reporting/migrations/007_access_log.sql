-- Who read which passport outside its owning tenant, at which tier, which fields, and why (Art. 77(2): a
-- legitimate-interest read states a purpose; the owner and the authorities can query the log). `tenant` is the
-- passport's owner (the tenant whose log it is), `reader_tenant` the reader's own tenant, when it has one.
-- Written in the request that served the read, before the response; never updated.
CREATE TABLE access_log (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    reader        text NOT NULL,
    role          text NOT NULL,
    reader_tenant text,
    passport_id   text NOT NULL,
    tenant        text NOT NULL,
    tier          text NOT NULL,
    access        text NOT NULL,
    fields        text[] NOT NULL,
    purpose       text,
    purpose_text  text,
    trace_id      text
);
-- Newest first, per owner, per passport, per reader; pages walk `id` downwards.
CREATE INDEX access_log_tenant ON access_log (tenant, id DESC);
CREATE INDEX access_log_passport ON access_log (passport_id, id DESC);
CREATE INDEX access_log_reader ON access_log (reader, id DESC);

-- Exports remember the tier of whoever asked, so the runner writes only what that reader may read.
ALTER TABLE export_jobs ADD COLUMN tier text NOT NULL DEFAULT 'owner';
