/**
 * Per-caller database identity. A key record (or an OAuth grant) may name a
 * database role; every transaction of that caller's calls then runs on a
 * connection that LOGS IN AS that role (its own Hyperdrive binding, or its own
 * connection string for the Neon driver), never on the server's connection
 * with SET ROLE.
 *
 * Why a login per role and not `SET LOCAL ROLE` from one authenticator:
 * PostgreSQL checks SET ROLE, RESET ROLE and set_config('role', ...) against
 * the SESSION user, not the current role. A login that may switch to every
 * caller role lets any caller's SQL (dynamic SQL in a DO block included, which
 * no lexer sees) switch to any other caller's role. With the caller's role as
 * the session user there is nothing to switch to: RESET ROLE lands on the
 * caller itself, SET ROLE reaches only roles it is a member of (the posture
 * check refuses roles that are members of anything that matters), and SET
 * SESSION AUTHORIZATION needs a superuser login. README, "Per-caller identity".
 *
 * Claims (`pgmcp.claims`, jsonb text) and the caller (`pgmcp.caller`) are
 * transaction-local settings sent with every transaction: nothing is set at
 * session level, so pooled connections (Hyperdrive's transaction mode) carry
 * nothing from one caller to the next.
 */

/** The database side of a caller that acts as its own role. */
export interface DbIdentity {
  /** The PostgreSQL role its connections log in as. */
  role: string;
  /** Who, for policies and audit: the key's name or the OAuth user id. */
  caller: string;
  /** Exposed as `current_setting('pgmcp.claims', true)::jsonb`. */
  claims: Record<string, unknown>;
}

/** The suffix of a role's binding names: upper case, every other character `_` ("app-reader" → "APP_READER"). */
export function roleSuffix(role: string): string {
  return role.toUpperCase().replace(/[^A-Z0-9]/g, "_");
}

/** The Hyperdrive binding whose connection logs in as `role`. */
export const roleHyperdriveBinding = (role: string) => `HYPERDRIVE_${roleSuffix(role)}`;

/** The secret holding a connection string that logs in as `role` (the Neon driver). */
export const roleDatabaseUrlSecret = (role: string) => `DATABASE_URL_${roleSuffix(role)}`;

/** A string literal that reads the same whatever standard_conforming_strings says (a caller may change it on its own pooled connection). */
export function escapeLiteral(value: string): string {
  return `E'${value.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;
}

/** The transaction-local settings a caller role's transactions start with. */
export function identitySettings(id: DbIdentity): string[] {
  return [`SET LOCAL pgmcp.claims = ${escapeLiteral(JSON.stringify(id.claims))}`, `SET LOCAL pgmcp.caller = ${escapeLiteral(id.caller)}`];
}

/**
 * What a caller role's own connection says about itself, in one round trip:
 * who it logged in as, and whether that role can reach anything beyond itself
 * ($1: the predefined roles worth naming).
 */
const CALLER_ROLE_COLUMNS = `r.rolname::text AS name, r.rolcanlogin AS login, r.rolsuper AS superuser, r.rolbypassrls AS bypass_rls,
  r.rolcreaterole AS create_role, r.rolreplication AS replication,
  ARRAY(SELECT p.rolname::text FROM pg_roles p WHERE p.oid <> r.oid AND pg_has_role(r.oid, p.oid, 'MEMBER')
          AND (p.rolcanlogin OR p.rolsuper OR p.rolbypassrls OR p.rolname = ANY($1::text[])) ORDER BY 1) AS reaches,
  (SELECT count(*)::int FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relowner = r.oid AND c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')) AS owned`;

/**
 * What a caller role's own connection says about itself, in one round trip:
 * who it logged in as, and whether that role can reach anything beyond itself
 * ($1: the predefined roles worth naming).
 */
export const CALLER_ROLE_SQL = `SELECT session_user::text AS session_user, ${CALLER_ROLE_COLUMNS} FROM pg_roles r WHERE r.rolname = session_user`;

/** The same facts for named roles ($2), as the server's own connection sees them (the posture report). */
export const CALLER_ROLES_SQL = `SELECT x.name AS requested, ${CALLER_ROLE_COLUMNS} FROM unnest($2::text[]) AS x(name) LEFT JOIN pg_roles r ON r.rolname = x.name`;

export interface CallerRoleRow {
  session_user?: string;
  name: string;
  login: boolean;
  superuser: boolean;
  bypass_rls: boolean;
  create_role: boolean;
  replication: boolean;
  /** Roles it is a member of that can log in, are superusers or bypass RLS, or are privileged predefined roles. */
  reaches: string[];
  owned: number;
}

export interface CallerRolePosture {
  role: string;
  /** Findings that refuse every call of this role (the role would not bound its caller). */
  broken: string[];
  warnings: string[];
}

/** Judges a caller role; `loggedInAs` is the session user its connection got (undefined when judged from elsewhere). */
export function judgeCallerRole(role: string, row: CallerRoleRow | undefined, loggedInAs?: string): CallerRolePosture {
  const q = (s: string) => `"${s}"`;
  const broken: string[] = [];
  const warnings: string[] = [];
  const binding = `${roleHyperdriveBinding(role)} (or ${roleDatabaseUrlSecret(role)})`;
  if (loggedInAs !== undefined && loggedInAs !== role) {
    broken.push(`the connection for database role ${q(role)} logs in as ${q(loggedInAs)}: point ${binding} at a connection string whose user is ${q(role)}`);
    return { role, broken, warnings };
  }
  if (!row) {
    broken.push(`database role ${q(role)} does not exist: CREATE ROLE ${q(role)} LOGIN PASSWORD '...' (README, Per-caller identity)`);
    return { role, broken, warnings };
  }
  if (!row.login) broken.push(`database role ${q(role)} cannot log in, and a caller role's connection logs in as it: ALTER ROLE ${q(role)} LOGIN PASSWORD '...'`);
  if (row.superuser) broken.push(`database role ${q(role)} is a superuser: ALTER ROLE ${q(role)} NOSUPERUSER`);
  if (row.bypass_rls) broken.push(`database role ${q(role)} has BYPASSRLS, so row-level security does not bound it: ALTER ROLE ${q(role)} NOBYPASSRLS`);
  if (row.create_role) broken.push(`database role ${q(role)} has CREATEROLE: ALTER ROLE ${q(role)} NOCREATEROLE`);
  for (const r of row.reaches) broken.push(`database role ${q(role)} is a member of ${q(r)} and may act as it (SET ROLE): REVOKE ${q(r)} FROM ${q(role)}`);
  if (row.replication) warnings.push(`database role ${q(role)} has REPLICATION`);
  if (row.owned > 0) warnings.push(`database role ${q(role)} owns ${row.owned} table(s): an owner is exempt from their row-level security unless ALTER TABLE ... FORCE ROW LEVEL SECURITY`);
  return { role, broken, warnings };
}

type Query = (sql: string, params: unknown[]) => Promise<Record<string, unknown>[]>;

const learned = new Map<string, Promise<CallerRolePosture>>();

/** The posture of a caller role as its own connection reports it, once per isolate per role (a failure is retried). */
export function learnCallerRole(role: string, query: Query, predefined: readonly string[]): Promise<CallerRolePosture> {
  let p = learned.get(role);
  if (!p) {
    p = query(CALLER_ROLE_SQL, [predefined]).then((rows) => {
      const row = rows[0] as CallerRoleRow | undefined;
      return judgeCallerRole(role, row, row?.session_user);
    });
    learned.set(role, p);
    p.catch(() => learned.delete(role));
  }
  return p;
}

/** The caller-role postures learned in this isolate so far. */
export function knownCallerRoles(): Promise<CallerRolePosture>[] {
  return [...learned.values()];
}
