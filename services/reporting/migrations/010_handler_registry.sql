-- Reporting's copy of custody's handler registry (from `bpass.custody.handler-registry.v1`): only what deciding a
-- legitimate-interest read needs (state and roles). The newest version of each handler wins, in any arrival order.
CREATE TABLE handler_registry (
    handler_id text PRIMARY KEY,
    state      text NOT NULL CHECK (state IN ('pending', 'verified', 'suspended')),
    roles      text[] NOT NULL,
    version    integer NOT NULL,
    updated_at timestamptz NOT NULL
);
