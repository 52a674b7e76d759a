-- Per-caller identity, the two-tenant example (README, "Per-caller identity").
-- Run as an administrator after roles.sql (psql "$ADMIN_URL" -f ...); the tests
-- run exactly this file (test/e2e/identity.test.ts). Idempotent.
--
-- Each caller role LOGS IN AS ITSELF: the Worker reaches it through its own
-- Hyperdrive binding (HYPERDRIVE_PGMCP_TENANT_A, ...), so a caller's session
-- user is its own role and there is no other role to switch back to. A
-- caller role is:
--   LOGIN, NOSUPERUSER, NOBYPASSRLS, NOCREATEROLE, NOREPLICATION;
--   a member of no role that can log in (not pgmcp, not another caller role),
--   is a superuser or bypasses RLS, and of no privileged predefined role;
--   the owner of nothing its policies must bound (an owner is exempt from RLS
--   unless FORCE ROW LEVEL SECURITY).
-- The posture check refuses calls as a role that breaks the first two.
-- Change the passwords for anything but local development.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgmcp_tenant_a') THEN
    CREATE ROLE pgmcp_tenant_a LOGIN PASSWORD 'pgmcp_tenant_a' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgmcp_tenant_b') THEN
    CREATE ROLE pgmcp_tenant_b LOGIN PASSWORD 'pgmcp_tenant_b' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
  END IF;
END
$$;

CREATE SCHEMA IF NOT EXISTS tenants;
GRANT USAGE ON SCHEMA tenants TO pgmcp_tenant_a, pgmcp_tenant_b;

-- One table both tenants share, each row owned by a tenant: the database decides who sees what.
CREATE TABLE IF NOT EXISTS tenants.notes (
  id bigserial PRIMARY KEY,
  tenant name NOT NULL DEFAULT current_user,
  body text NOT NULL
);
GRANT SELECT, INSERT, UPDATE, DELETE ON tenants.notes TO pgmcp_tenant_a, pgmcp_tenant_b;
GRANT USAGE ON SEQUENCE tenants.notes_id_seq TO pgmcp_tenant_a, pgmcp_tenant_b;
ALTER TABLE tenants.notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants.notes FORCE ROW LEVEL SECURITY;
-- The policy keys on current_user, which a caller cannot change (it logs in as itself).
-- Claims (current_setting('pgmcp.claims', true)::jsonb) say more about the caller, but
-- a caller with raw SQL can overwrite them in its own transaction: see the README.
DROP POLICY IF EXISTS own_rows ON tenants.notes;
CREATE POLICY own_rows ON tenants.notes USING (tenant = current_user) WITH CHECK (tenant = current_user);

-- A table only one tenant may use: the other does not even see its name in listings.
CREATE TABLE IF NOT EXISTS tenants.a_private (id int PRIMARY KEY, secret text);
GRANT SELECT ON tenants.a_private TO pgmcp_tenant_a;
CREATE TABLE IF NOT EXISTS tenants.b_private (id int PRIMARY KEY, secret text);
GRANT SELECT ON tenants.b_private TO pgmcp_tenant_b;

INSERT INTO tenants.notes (tenant, body)
SELECT t, b FROM (VALUES ('pgmcp_tenant_a', 'a: first note'), ('pgmcp_tenant_a', 'a: second note'), ('pgmcp_tenant_b', 'b: only note')) v(t, b)
WHERE NOT EXISTS (SELECT FROM tenants.notes);
INSERT INTO tenants.a_private VALUES (1, 'a only') ON CONFLICT DO NOTHING;
INSERT INTO tenants.b_private VALUES (1, 'b only') ON CONFLICT DO NOTHING;
