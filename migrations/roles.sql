-- Least-privilege roles for the MCP server. Run once per database, as a
-- superuser or as a role with CREATEROLE that owns the schemas you serve
-- (on Neon or Supabase: the project's owner role), BEFORE the server's first
-- connection. `npm run dev` and the tests run exactly this file.
--
--   pgmcp       the server's login role: no superuser, no BYPASSRLS, no
--               server-file, server-program or backend-signal roles. Writes,
--               DDL and admin tools act as this role, so grant it exactly what
--               callers with the write scope may do.
--   pgmcp_read  what read calls act as: every read (pg_query_read, EXPLAIN,
--               reads inside held transactions and programs) runs
--               `SET LOCAL ROLE pgmcp_read` inside its READ ONLY transaction.
--               NOLOGIN, SELECT on the served schemas, nothing else.
--
-- Change the password (psql: \set pgmcp_password '...' and replace the literal
-- below, or ALTER ROLE pgmcp PASSWORD afterwards). Served schemas other than
-- public: repeat the three schema grants for each.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgmcp') THEN
    CREATE ROLE pgmcp LOGIN PASSWORD 'pgmcp' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgmcp_read') THEN
    CREATE ROLE pgmcp_read NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
  END IF;
END
$$;

-- The server may switch to the read role (SET ROLE needs membership), but does
-- not inherit its privileges by default: they are the same or fewer anyway.
GRANT pgmcp_read TO pgmcp;

-- Statistics of every session and statement (pg_stat_activity, pg_stat_statements)
-- for the monitor tools. pg_monitor reads; it cannot signal, write or read files.
GRANT pg_monitor TO pgmcp;

-- Maintenance (VACUUM, ANALYZE, REINDEX, CLUSTER, REFRESH) of every table for the
-- admin tools, without owning them: pg_maintain exists from PostgreSQL 17 on.
DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'pg_maintain') THEN
    GRANT pg_maintain TO pgmcp;
  END IF;
  -- Schemas (pg_schema_create) and temporary tables in this database.
  EXECUTE format('GRANT CREATE, TEMPORARY ON DATABASE %I TO pgmcp', current_database());
END
$$;

-- The demo schema (and yours): the server creates and owns the tables it manages.
GRANT USAGE, CREATE ON SCHEMA public TO pgmcp;
GRANT USAGE ON SCHEMA public TO pgmcp_read;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO pgmcp_read;
GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO pgmcp_read;
-- What the server creates later (migrations, the schema tools, pg_query_write), in
-- any schema, is readable by the read role too.
ALTER DEFAULT PRIVILEGES FOR ROLE pgmcp GRANT SELECT ON TABLES TO pgmcp_read;
ALTER DEFAULT PRIVILEGES FOR ROLE pgmcp GRANT SELECT ON SEQUENCES TO pgmcp_read;
ALTER DEFAULT PRIVILEGES FOR ROLE pgmcp GRANT USAGE ON SCHEMAS TO pgmcp_read;
