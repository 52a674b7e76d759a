/**
 * The idempotency store's SQL: the schema, table and SECURITY DEFINER
 * functions the server's role creates on first use, and the check that they
 * are complete and all its own. Alone (no connection code), so that tests can
 * run it against a database of their own. How keys are used: idempotency.ts.
 */
import { escapeLiteral } from "./identity";

/** The product's own schema; listings leave it out (tools/schema.tools.ts USER_SCHEMA_SQL). */
export const INTERNAL_SCHEMA = "pgmcp_internal";
/** How long a key answers retries. */
export const IDEMPOTENCY_TTL_HOURS = 24;
/** Expired keys removed by each new one: cleanup stays proportional to use, with no job to run. */
const CLEANUP_PER_CLAIM = 16;

/** SQLSTATEs of idempotency_begin. */
export const REPLAY = "PM001";
export const REUSED = "PM002";

/** Marks the schema as complete: set last, in the same transaction as everything else. */
const VERSION = "pg-mcp idempotency keys v1";
/** The schema's comment, set last: READY_SQL compares it whole. */
export const STORE_COMMENT = `${VERSION}: see the pg-mcp README, Idempotency keys`;
const TTL = `interval '${IDEMPOTENCY_TTL_HOURS} hours'`;
const T = `${INTERNAL_SCHEMA}.idempotency_keys`;
const DEFINER = "LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp";
const FUNCTIONS = ["idempotency_claim(text, text, text, text)", "idempotency_begin(text, text, text)", "idempotency_record(text, text)", "idempotency_get(text)", "idempotency_settle(text)"];

/**
 * True when the schema, or a relation or function in it, belongs to another
 * role than the one asking: such a store is never used (a role with CREATE on
 * the database could have made it first, to run its code as the server's).
 */
const NOT_ALL_OURS = `(EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = '${INTERNAL_SCHEMA}' AND n.nspowner <> (SELECT oid FROM pg_roles WHERE rolname = current_user))
  OR EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '${INTERNAL_SCHEMA}' AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = current_user))
  OR EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = '${INTERNAL_SCHEMA}' AND p.proowner <> (SELECT oid FROM pg_roles WHERE rolname = current_user)))`;

/**
 * Creates (or completes) the schema. Run by the server's role, which owns
 * everything in it. `callerRoles`: this deployment's DATABASE_ROLES, which
 * get the functions; `readRole` is refused everything explicitly, since
 * roles.sql's default privileges would otherwise grant it SELECT and USAGE.
 */
export function idempotencyDdl(callerRoles: readonly string[], readRole: string | undefined): string {
  const roles = `ARRAY[${callerRoles.map(escapeLiteral).join(", ")}]::text[]`;
  return `
SELECT pg_advisory_xact_lock(hashtext('${VERSION}'));
CREATE SCHEMA IF NOT EXISTS ${INTERNAL_SCHEMA};
-- A schema of that name made by another role (one with CREATE on the database) would run its code as this role: refuse it.
DO $own$ BEGIN
  IF ${NOT_ALL_OURS} THEN
    RAISE EXCEPTION 'schema ${INTERNAL_SCHEMA} (or an object in it) exists and is not owned by the server''s role %: the server will not run code another role put there', current_user
      USING ERRCODE = '42501', HINT = 'drop the schema ${INTERNAL_SCHEMA} as an administrator (it holds only idempotency keys) and let the server create it again';
  END IF;
END $own$;
CREATE TABLE IF NOT EXISTS ${T} (
  db_role name NOT NULL,
  token text NOT NULL,
  tool text NOT NULL,
  args_hash text NOT NULL,
  outcome text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (db_role, token)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created_at ON ${T} (created_at);

-- 'claimed' (the key is this transaction's now), 'replay' (committed before, same arguments) or 'reused' (other arguments).
-- A key held by a transaction in flight waits for it (the unique index): then it is claimed if that one rolled back.
CREATE OR REPLACE FUNCTION ${INTERNAL_SCHEMA}.idempotency_claim(p_token text, p_tool text, p_args_hash text, p_outcome text DEFAULT NULL)
RETURNS text ${DEFINER} AS $f$
DECLARE
  v_claimed boolean;
  v_hash text;
BEGIN
  INSERT INTO ${T} AS k (db_role, token, tool, args_hash, outcome) VALUES (session_user, p_token, p_tool, p_args_hash, p_outcome)
  ON CONFLICT (db_role, token) DO UPDATE SET tool = excluded.tool, args_hash = excluded.args_hash, outcome = excluded.outcome, created_at = now()
    WHERE k.created_at < now() - ${TTL}
  RETURNING true INTO v_claimed;
  IF v_claimed THEN
    DELETE FROM ${T} WHERE ctid = ANY (ARRAY(SELECT ctid FROM ${T} WHERE created_at < now() - ${TTL} LIMIT ${CLEANUP_PER_CLAIM} FOR UPDATE SKIP LOCKED));
    RETURN 'claimed';
  END IF;
  SELECT k.args_hash INTO v_hash FROM ${T} k WHERE k.db_role = session_user AND k.token = p_token;
  RETURN CASE WHEN v_hash = p_args_hash THEN 'replay' ELSE 'reused' END;
END $f$;

-- The claim as the first statement of a write: anything but 'claimed' stops the transaction before the write runs.
CREATE OR REPLACE FUNCTION ${INTERNAL_SCHEMA}.idempotency_begin(p_token text, p_tool text, p_args_hash text)
RETURNS void ${DEFINER} AS $f$
DECLARE
  v text := ${INTERNAL_SCHEMA}.idempotency_claim(p_token, p_tool, p_args_hash);
BEGIN
  IF v = 'replay' THEN
    RAISE EXCEPTION 'idempotency key already used: answering with its first outcome' USING ERRCODE = '${REPLAY}';
  ELSIF v = 'reused' THEN
    RAISE EXCEPTION 'idempotency key already used with other arguments' USING ERRCODE = '${REUSED}';
  END IF;
END $f$;

CREATE OR REPLACE FUNCTION ${INTERNAL_SCHEMA}.idempotency_record(p_token text, p_outcome text)
RETURNS void ${DEFINER} AS $f$
BEGIN
  UPDATE ${T} SET outcome = p_outcome WHERE db_role = session_user AND token = p_token AND outcome IS NULL;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no idempotency key claimed in this transaction' USING ERRCODE = 'PM003';
  END IF;
END $f$;

CREATE OR REPLACE FUNCTION ${INTERNAL_SCHEMA}.idempotency_get(p_token text)
RETURNS TABLE (tool text, args_hash text, outcome text, at_ms float8)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
  SELECT k.tool, k.args_hash, k.outcome, extract(epoch FROM k.created_at) * 1000 FROM ${T} k
  WHERE k.db_role = session_user AND k.token = p_token AND k.created_at >= now() - ${TTL}
$f$;

-- The committed row of a key, after waiting for a transaction that holds it uncommitted: nothing means it never committed.
CREATE OR REPLACE FUNCTION ${INTERNAL_SCHEMA}.idempotency_settle(p_token text)
RETURNS TABLE (tool text, args_hash text, outcome text, at_ms float8) ${DEFINER} AS $f$
#variable_conflict use_column
DECLARE
  v_new boolean;
BEGIN
  INSERT INTO ${T} (db_role, token, tool, args_hash) VALUES (session_user, p_token, '', '') ON CONFLICT DO NOTHING RETURNING true INTO v_new;
  IF v_new THEN
    DELETE FROM ${T} k WHERE k.db_role = session_user AND k.token = p_token;
    RETURN;
  END IF;
  RETURN QUERY SELECT * FROM ${INTERNAL_SCHEMA}.idempotency_get(p_token);
END $f$;

-- Only the owner touches the table. The functions are for the server's role (the owner) and this deployment's caller roles.
DO $d$
DECLARE
  g text;
  r text;
BEGIN
  FOR g IN SELECT DISTINCT a.grantee::regrole::text FROM pg_class c, aclexplode(c.relacl) a
    WHERE c.oid = '${T}'::regclass AND a.grantee <> c.relowner AND a.grantee <> 0 LOOP
    EXECUTE format('REVOKE ALL ON TABLE ${T} FROM %s', g);
  END LOOP;
  REVOKE ALL ON TABLE ${T} FROM PUBLIC;
  REVOKE ALL ON SCHEMA ${INTERNAL_SCHEMA} FROM PUBLIC;
  REVOKE ALL ON ALL FUNCTIONS IN SCHEMA ${INTERNAL_SCHEMA} FROM PUBLIC;
  ${readRole ? `IF EXISTS (SELECT FROM pg_roles WHERE rolname = ${escapeLiteral(readRole)}) THEN
    EXECUTE format('REVOKE ALL ON SCHEMA ${INTERNAL_SCHEMA} FROM %I', ${escapeLiteral(readRole)});
    EXECUTE format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA ${INTERNAL_SCHEMA} FROM %I', ${escapeLiteral(readRole)});
  END IF;` : ""}
  FOREACH r IN ARRAY ${roles} LOOP
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('GRANT USAGE ON SCHEMA ${INTERNAL_SCHEMA} TO %I', r);
      EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ${INTERNAL_SCHEMA} TO %I', r);
    END IF;
  END LOOP;
END $d$;
COMMENT ON SCHEMA ${INTERNAL_SCHEMA} IS '${STORE_COMMENT}';`;
}

/** Whether the schema is complete and this deployment's caller roles (those that exist) may use it ($1: the roles). */
/**
 * Whether the store is complete and every part of it is the server's own: a
 * schema, table or function of another role's (one with CREATE on the
 * database could make the schema first) is never trusted; the DDL then
 * refuses it with a message naming the fix.
 */
export const READY_SQL = `SELECT CASE WHEN obj_description(to_regnamespace('${INTERNAL_SCHEMA}'), 'pg_namespace') IS DISTINCT FROM '${STORE_COMMENT}' THEN false
  WHEN ${NOT_ALL_OURS} THEN false
  ELSE coalesce((SELECT bool_and(has_function_privilege(r.oid, '${INTERNAL_SCHEMA}.${FUNCTIONS[0]}', 'EXECUTE')) FROM pg_roles r WHERE r.rolname = ANY($1::text[])), true) END AS ready`;
