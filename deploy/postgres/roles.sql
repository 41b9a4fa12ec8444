-- The services' two PostgreSQL roles (run as a superuser, idempotent). Neither owns a table: the migrations run as
-- the owner role (`BPASS_DATABASE_URL`) and grant them their rights (services/common/db.py).
--   bpass_app       HTTP requests of a tenant's principals. Row-level security applies: it sees and writes only
--                   the rows of the tenant set on its connection (`bpass.tenant`); no tenant, no rows.
--   bpass_platform  consumers, the outbox relay, background jobs and cross-tenant principals (handlers,
--                   authorities, the platform operator, the public QR surface). BYPASSRLS; the services decide
--                   what such a principal may see, row by row (custody, access tiers).
-- The passwords below are placeholders for the compose laptop set-up only. The local stack (deploy/local/stack.sh)
-- replaces them at once with generated ones (var/local/secrets, 0600; exported as BPASS_APP_DATABASE_PASSWORD /
-- BPASS_PLATFORM_DATABASE_PASSWORD); a deployment sets its own (ALTER ROLE ... PASSWORD) and gives the services
-- BPASS_APP_DATABASE_URL / BPASS_PLATFORM_DATABASE_URL.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bpass_app') THEN
        CREATE ROLE bpass_app LOGIN PASSWORD 'bpass_app';
    END IF;
    ALTER ROLE bpass_app NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bpass_platform') THEN
        CREATE ROLE bpass_platform LOGIN PASSWORD 'bpass_platform';
    END IF;
    ALTER ROLE bpass_platform NOSUPERUSER BYPASSRLS NOCREATEDB NOCREATEROLE;
END
$$;
