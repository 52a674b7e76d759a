/**
 * What the server's database role can do, learned from PostgreSQL once per
 * isolate on the first connection. Lists of refused SQL always miss
 * something; the role's privileges are what actually bound a caller. So the
 * server asks: a superuser, or a role that may read or write the server's
 * files or run programs on it, turns every gap in the lexer into a hole. A
 * deployment with authentication refuses tool calls on such a role unless the
 * operator says ALLOW_PRIVILEGED_ROLE=true; lesser risks are reported
 * (pg_monitor_health, the postgres://posture resource, `npm run dev`).
 */

import { CALLER_ROLES_SQL, judgeCallerRole, type CallerRolePosture, type CallerRoleRow } from "./identity";

/** The part of the deployment's Config the posture depends on (structural: scripts import this module too). */
interface PostureConfig {
  readRole?: string;
  /** DATABASE_ROLES: caller roles, judged from the server's connection too. */
  databaseRoles?: string[];
  allowPrivilegedRole: boolean;
  auth: { mode: string };
}

/** Predefined roles that turn SQL into effects on the server itself. */
export const PRIVILEGED_ROLES = ["pg_read_server_files", "pg_write_server_files", "pg_execute_server_program"] as const;
/** Predefined roles worth knowing about, not refused. */
const NOTABLE_ROLES = ["pg_signal_backend", "pg_read_all_data", "pg_write_all_data", "pg_monitor", "pg_checkpoint", "pg_create_subscription"] as const;

export interface RolePosture {
  name: string;
  superuser: boolean;
  bypassRls: boolean;
  createRole: boolean;
  replication: boolean;
  /** Predefined roles (of PRIVILEGED_ROLES and NOTABLE_ROLES) it has the privileges of. */
  memberOf: string[];
}

export interface Posture {
  server: RolePosture & {
    /** Tables, views and sequences outside the system schemas, and how many of them the role owns. */
    relations: number;
    owned: number;
  };
  /** The configured READ_ROLE, when there is one. */
  read?: {
    name: string;
    exists: boolean;
    /** The server's role may SET ROLE to it. */
    settable: boolean;
    role?: RolePosture;
    /** Relations it may INSERT, UPDATE, DELETE or TRUNCATE (a READ ONLY transaction stops those anyway). */
    writable: number;
  };
  /** Findings that refuse tool calls on an authenticated deployment (unless ALLOW_PRIVILEGED_ROLE). */
  privileged: string[];
  /** Findings that make reads fail (a READ_ROLE that cannot be used): always refused, with the fix. */
  broken: string[];
  /** Lesser risks, reported only. */
  warnings: string[];
  /** Each caller role of DATABASE_ROLES as the server's connection sees it; a broken one has its own calls refused. */
  callers: CallerRolePosture[];
}

const ROLE_COLUMNS = `r.rolname AS name, r.rolsuper AS superuser, r.rolbypassrls AS bypass_rls, r.rolcreaterole AS create_role, r.rolreplication AS replication,
  ARRAY(SELECT p.rolname::text FROM pg_roles p WHERE p.rolname = ANY($2::text[]) AND pg_has_role(r.oid, p.oid, 'MEMBER') ORDER BY 1) AS member_of`;

const USER_RELATIONS = `FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'`;

/** One round trip: the server's role, and the read role's if one is configured ($1, may be null). */
export const POSTURE_SQL = `SELECT
  (SELECT row_to_json(s) FROM (SELECT ${ROLE_COLUMNS},
     (SELECT count(*)::int ${USER_RELATIONS}) AS relations,
     (SELECT count(*)::int ${USER_RELATIONS} AND c.relowner = r.oid) AS owned
   FROM pg_roles r WHERE r.rolname = current_user) s) AS server,
  (SELECT row_to_json(t) FROM (SELECT ${ROLE_COLUMNS},
     pg_has_role(current_user, r.oid, 'MEMBER') AS settable,
     (SELECT count(*)::int ${USER_RELATIONS} AND c.relkind IN ('r', 'p') AND has_table_privilege(r.oid, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')) AS writable
   FROM pg_roles r WHERE r.rolname = $1) t) AS read,
  (SELECT coalesce(json_agg(c), '[]') FROM (${CALLER_ROLES_SQL.replaceAll("$2", "$3").replaceAll("$1", "$2")}) c) AS callers`;

export const POSTURE_ROLES: readonly string[] = [...PRIVILEGED_ROLES, ...NOTABLE_ROLES];

interface RoleRow {
  name: string;
  superuser: boolean;
  bypass_rls: boolean;
  create_role: boolean;
  replication: boolean;
  member_of: string[];
}

const toRole = (r: RoleRow): RolePosture => ({ name: r.name, superuser: r.superuser, bypassRls: r.bypass_rls, createRole: r.create_role, replication: r.replication, memberOf: r.member_of });

/** Builds the posture from POSTURE_SQL's row; pure, so `npm run dev` prints the same verdicts. */
export function judgePosture(
  row: { server: RoleRow & { relations: number; owned: number }; read: (RoleRow & { settable: boolean; writable: number }) | null; callers?: (CallerRoleRow & { requested: string })[] },
  readRole: string | undefined,
): Posture {
  const server = { ...toRole(row.server), relations: row.server.relations, owned: row.server.owned };
  const privileged: string[] = [];
  const broken: string[] = [];
  const warnings: string[] = [];
  const q = (s: string) => `"${s}"`;
  if (server.superuser) privileged.push(`the server's role ${q(server.name)} is a superuser: ALTER ROLE ${q(server.name)} NOSUPERUSER (or connect as a role created by migrations/roles.sql)`);
  for (const r of PRIVILEGED_ROLES) if (!server.superuser && server.memberOf.includes(r)) privileged.push(`the server's role ${q(server.name)} is a member of ${r}: REVOKE ${r} FROM ${q(server.name)}`);
  if (server.bypassRls && !server.superuser) warnings.push(`${q(server.name)} has BYPASSRLS: row-level security policies do not apply to writes`);
  if (server.memberOf.includes("pg_signal_backend") && !server.superuser) warnings.push(`${q(server.name)} is a member of pg_signal_backend: admin calls can end other roles' sessions (write calls are refused signals by scope by effect)`);
  if (server.memberOf.includes("pg_write_all_data")) warnings.push(`${q(server.name)} is a member of pg_write_all_data: it may write every table`);
  if (server.createRole && !server.superuser) warnings.push(`${q(server.name)} has CREATEROLE: admin calls can create and alter roles (write calls are refused role changes by scope by effect)`);
  if (server.replication && !server.superuser) warnings.push(`${q(server.name)} has REPLICATION`);
  if (server.relations > 0 && server.owned === server.relations && server.relations > 1) warnings.push(`${q(server.name)} owns every table (${server.owned}): write calls may drop or alter any of them`);

  let read: Posture["read"];
  if (readRole) {
    const r = row.read;
    read = { name: readRole, exists: r !== null, settable: r?.settable ?? false, role: r ? toRole(r) : undefined, writable: r?.writable ?? 0 };
    if (!r) broken.push(`READ_ROLE ${q(readRole)} does not exist: run migrations/roles.sql (README, Security), or set READ_ROLE="" to read as the server's role`);
    else {
      if (!r.settable) broken.push(`the server's role ${q(server.name)} cannot SET ROLE ${q(readRole)}: GRANT ${q(readRole)} TO ${q(server.name)}`);
      if (r.superuser) broken.push(`READ_ROLE ${q(readRole)} is a superuser: ALTER ROLE ${q(readRole)} NOSUPERUSER`);
      for (const p of PRIVILEGED_ROLES) if (!r.superuser && r.member_of.includes(p)) broken.push(`READ_ROLE ${q(readRole)} is a member of ${p}: REVOKE ${p} FROM ${q(readRole)}`);
      if (r.bypass_rls) warnings.push(`READ_ROLE ${q(readRole)} has BYPASSRLS`);
      if (r.writable > 0) warnings.push(`READ_ROLE ${q(readRole)} may write ${r.writable} table(s) (reads are READ ONLY anyway): REVOKE INSERT, UPDATE, DELETE, TRUNCATE ... FROM ${q(readRole)}`);
    }
  } else {
    warnings.push("READ_ROLE is not set: reads act as the server's role (the READ ONLY transaction and the lexer still apply)");
  }
  const callers = (row.callers ?? []).map((c) => judgeCallerRole(c.requested, c.name === null ? undefined : c));
  return { server, read, privileged, broken, warnings, callers };
}

/** Thrown for every tool call while the posture refuses service. */
export class UnsafeRoleError extends Error {
  override readonly name = "UnsafeRoleError";
  readonly code = "unsafe_database_role";
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

/** Whether this deployment may serve tool calls with this posture; throws UnsafeRoleError naming the fix if not. */
export function enforcePosture(config: PostureConfig, posture: Posture): void {
  if (posture.broken.length > 0) {
    throw new UnsafeRoleError(`the read role is not usable: ${posture.broken.join("; ")}`, "fix the roles as the README's Security section shows; the server refuses calls until then");
  }
  if (posture.privileged.length > 0 && config.auth.mode === "required" && !config.allowPrivilegedRole) {
    throw new UnsafeRoleError(
      `refusing to serve: ${posture.privileged.join("; ")}`,
      "give the server a least-privilege role (migrations/roles.sql); to accept the risk knowingly, set ALLOW_PRIVILEGED_ROLE=true",
    );
  }
}

/** One line per finding about a caller role. */
export function describeCallerRole(c: CallerRolePosture): string[] {
  if (c.broken.length === 0 && c.warnings.length === 0) return [`caller role ${c.role}: ok`];
  return [...c.broken.map((f) => `BROKEN (calls as ${c.role} are refused): ${f}`), ...c.warnings.map((f) => `warning: ${f}`)];
}

/** Whether calls may act as this caller role; throws UnsafeRoleError naming the fix if not (no override: a broken caller role is a hole, not a risk). */
export function enforceCallerRole(p: CallerRolePosture): void {
  if (p.broken.length > 0) throw new UnsafeRoleError(`refusing to act as database role "${p.role}": ${p.broken.join("; ")}`, "fix the role as the README's Per-caller identity section shows; calls with this role are refused until then");
}

/** One line per finding, for logs and `npm run dev`. */
export function describePosture(p: Posture): string[] {
  const lines = [
    `database role ${p.server.name}: ${p.server.superuser ? "SUPERUSER" : "not a superuser"}${p.server.memberOf.length ? `, member of ${p.server.memberOf.join(", ")}` : ""}; owns ${p.server.owned} of ${p.server.relations} relations`,
  ];
  if (p.read) lines.push(`reads act as ${p.read.name}${p.read.exists ? (p.read.settable ? "" : " (NOT settable)") : " (MISSING)"}`);
  for (const f of p.privileged) lines.push(`REFUSED with authentication: ${f}`);
  for (const f of p.broken) lines.push(`BROKEN: ${f}`);
  for (const f of p.warnings) lines.push(`warning: ${f}`);
  for (const c of p.callers) lines.push(...describeCallerRole(c));
  return lines;
}

type Query = (sql: string, params: unknown[]) => Promise<Record<string, unknown>[]>;

const learned = new WeakMap<PostureConfig, Promise<Posture>>();

/** The posture for this deployment, asked of PostgreSQL once per isolate (a failed attempt is retried next time). */
export function learnPosture(config: PostureConfig, query: Query): Promise<Posture> {
  let p = learned.get(config);
  if (!p) {
    p = query(POSTURE_SQL, [config.readRole ?? null, POSTURE_ROLES, config.databaseRoles ?? []]).then((rows) => judgePosture(rows[0] as Parameters<typeof judgePosture>[0], config.readRole));
    learned.set(config, p);
    p.catch(() => learned.delete(config));
  }
  return p;
}

/** The posture if it has been learned in this isolate (health reports read it without a round trip of their own). */
export function knownPosture(config: PostureConfig): Promise<Posture> | undefined {
  return learned.get(config);
}
