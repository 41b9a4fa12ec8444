-- EPCIS 2.0 named queries (`POST /epcis/queries`, services/custody/query/named.py): a query of the EPCIS query
-- language kept under a name, run later with the caller's visibility (`GET /epcis/queries/{name}/events`) or
-- subscribed to. A name is its owner's: an OEM tenant's keys (and the auditors it grants) share the tenant's names,
-- a handler's keys the handler's, a platform role's key its own (`owner`); another owner's name is unknown to it.
CREATE TABLE epcis_named_queries (
    owner        text NOT NULL,              -- 'tenant:<tenant>' or 'principal:<role>:-:<key id>'
    name         text NOT NULL,
    query        jsonb NOT NULL,             -- the query as the client gave it (the binding's `query` object)
    parameters   jsonb NOT NULL,             -- the same as query-string pairs [[name, value], ...], as parse_query reads
    creator_role text NOT NULL,
    creator_tenant text,
    creator_key  text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner, name)
);

ALTER TABLE epcis_named_queries ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE epcis_named_queries IS
    'platform only: EPCIS named queries, read and written by the EPCIS query interface on the platform''s connection, '
    'which confines each to its owner';
