/**
 * Group `monitor`: what the server is doing now. All read-only except
 * pg_monitor_cancel, kept separate so the others stay readOnlyHint:true.
 *
 * Versions handled (detected, not assumed):
 * - checkpoints: pg_stat_checkpointer (num_timed/num_requested) since 17,
 *   pg_stat_bgwriter (checkpoints_timed/checkpoints_req) before;
 * - pg_stat_statements: total_exec_time/mean_exec_time since 13 (total_time
 *   before), shared_blk_read_time/shared_blk_write_time since 17
 *   (blk_read_time/blk_write_time before): read from the view's columns;
 * - pg_terminate_backend(pid, timeout) since 14 (waits for the exit);
 * - replication: standby lag from pg_last_xact_replay_timestamp(), primary
 *   lag from pg_stat_replication.replay_lag, WAL kept by inactive slots
 *   (pg_current_wal_lsn only on a primary).
 */
import { z } from "zod";
import type { SqlExecutor } from "../db/executor";
import type { Config } from "../config";
import { describeCallerRole, describePosture, knownPosture, learnPosture, POSTURE_ROLES, type Posture } from "../db/posture";
import { learnCallerRole, type CallerRolePosture } from "../db/identity";
import { quoteIdent } from "../sql/ident";
import { LOCKED_CTE, PagedRows, relationVisible, schemaVisible, int, page, pagedRows, prettyBytes, renderRows, schemaFilter, serverVersion, sizeUnlessLocked, type Row } from "./catalog";
import { ToolError } from "./errors";
import { READ, defineTool, scopeAllows, type ToolContext } from "./registry";
import { callerPattern } from "../db/tags";
import type { Principal } from "../auth/principal";
import { USER_SCHEMA_SQL } from "./schema.tools";
import { monitorFindings } from "./findings";

/** Query text shown per session or statement; pg_query_read on the view gives it whole. */
const QUERY_CHARS = 300;
const seconds = (col: string) => `round(extract(epoch from now() - ${col})::numeric, 1)::float8`;

// ---- who may see which sessions ---------------------------------------------

/**
 * Sessions are private: an admin sees every session; anyone else sees its own
 * (matched by the caller tag in application_name, see db/tags.ts) and of the
 * rest only counts. No pid, query, user or address of another caller's work.
 */
export type Viewer = { admin: true } | { admin: false; own: string };

export async function viewerOf(principal: Principal): Promise<Viewer> {
  return scopeAllows(principal.scopes, "admin") ? { admin: true } : { admin: false, own: await callerPattern(principal.id) };
}

const OTHERS_HIDDEN = "listing other callers' and applications' sessions needs the admin scope";

async function othersNote(ctx: ToolContext, viewer: Viewer, where: string): Promise<string> {
  if (viewer.admin) return "";
  const [r] = await ctx.sql.rows<{ n: number }>(`select count(*)::int as n from pg_stat_activity where pid <> pg_backend_pid() and ${where} and application_name not like $1`, [viewer.own]);
  return r!.n ? `\n(${r!.n} session(s) of others not shown: ${OTHERS_HIDDEN})` : "";
}

// ---- health --------------------------------------------------------------

type Status = "ok" | "warn" | "critical";
interface Check {
  check: string;
  status: Status;
  value: unknown;
  reason: string;
}

const XID_LIMIT = 2 ** 31;
const LONG_QUERY_WARN_S = 300;
const LONG_QUERY_CRITICAL_S = 3600;
const IDLE_TX_WARN_S = 60;
const IDLE_TX_CRITICAL_S = 900;
const BLOCKED_CRITICAL_S = 300;
const REPLICATION_LAG_WARN_S = 30;
const REPLICATION_LAG_CRITICAL_S = 300;
const SLOT_RETAINED_WARN_BYTES = 1024 ** 3;

function healthSql(version: number): string {
  const checkpoints =
    version >= 170000
      ? "(select num_timed::float8 from pg_stat_checkpointer) as ckpt_timed, (select num_requested::float8 from pg_stat_checkpointer) as ckpt_requested"
      : "(select checkpoints_timed::float8 from pg_stat_bgwriter) as ckpt_timed, (select checkpoints_req::float8 from pg_stat_bgwriter) as ckpt_requested";
  const clients = "from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()";
  return `select
  (select count(*)::int from pg_stat_activity where backend_type = 'client backend') as connections,
  current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int as max_connections,
  (select blks_hit::float8 from pg_stat_database where datname = current_database()) as blks_hit,
  (select blks_read::float8 from pg_stat_database where datname = current_database()) as blks_read,
  (select max(age(datfrozenxid))::float8 from pg_database where datallowconn) as xid_age,
  (select max(mxid_age(datminmxid))::float8 from pg_database where datallowconn) as mxid_age,
  current_setting('autovacuum_freeze_max_age')::float8 as freeze_max_age,
  (select json_build_object('n', count(*), 'max_s', max(${seconds("query_start")}), 'pids', json_agg(pid)) ${clients} and state = 'active' and now() - query_start > interval '${LONG_QUERY_WARN_S} seconds') as long_running,
  (select json_build_object('n', count(*), 'max_s', max(${seconds("state_change")}), 'pids', json_agg(pid)) ${clients} and state like 'idle in transaction%' and now() - state_change > interval '${IDLE_TX_WARN_S} seconds') as idle_in_tx,
  (select json_build_object('n', count(*), 'max_s', max(${seconds("query_start")}), 'pids', json_agg(pid)) from pg_stat_activity where cardinality(pg_blocking_pids(pid)) > 0) as blocked,
  (select json_agg(x.indexrelid::regclass::text order by 1) from pg_index x where not x.indisvalid) as invalid_indexes,
  pg_is_in_recovery() as in_recovery,
  case when pg_is_in_recovery() then extract(epoch from now() - pg_last_xact_replay_timestamp())::float8 end as standby_lag_s,
  (select count(*)::int from pg_stat_replication) as replicas,
  (select max(extract(epoch from replay_lag))::float8 from pg_stat_replication) as replica_lag_s,
  (select json_agg(json_build_object('slot', slot_name, 'bytes', case when not pg_is_in_recovery() then pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::float8 end)) from pg_replication_slots where not active) as inactive_slots,
  ${checkpoints}`;
}

interface Activity {
  n: number;
  max_s: number | null;
  pids: number[] | null;
}

function evaluate(h: Row, viewer: Viewer): Check[] {
  const pids = (a: Activity) => (viewer.admin ? ` (pids ${a.pids?.join(",")})` : "");
  const checks: Check[] = [];
  const add = (check: string, status: Status, value: unknown, reason: string) => checks.push({ check, status, value, reason });

  const conn = h.connections as number;
  const max = h.max_connections as number;
  const pct = Math.round((100 * conn) / max);
  add("connections", pct >= 90 ? "critical" : pct >= 75 ? "warn" : "ok", conn, `${conn} of ${max} usable connections (${pct}%)`);

  const hit = Number(h.blks_hit);
  const read = Number(h.blks_read);
  if (hit + read < 1000) add("cache_hit", "ok", null, "too little I/O yet to judge");
  else {
    const ratio = hit / (hit + read);
    add("cache_hit", ratio < 0.9 ? "critical" : ratio < 0.95 ? "warn" : "ok", Number(ratio.toFixed(4)), `${(ratio * 100).toFixed(2)}% of block reads served from shared buffers${ratio < 0.95 ? ": working set larger than shared_buffers?" : ""}`);
  }

  const xid = Number(h.xid_age);
  const mxid = Number(h.mxid_age);
  const worst = Math.max(xid, mxid) / XID_LIMIT;
  const freezeMax = Number(h.freeze_max_age);
  const wrapStatus: Status = worst > 0.7 ? "critical" : worst > 0.4 || xid > 2 * freezeMax ? "warn" : "ok";
  add("wraparound", wrapStatus, xid, `oldest xid age ${xid} (${(worst * 100).toFixed(1)}% of the 2^31 limit; autovacuum_freeze_max_age ${freezeMax})${wrapStatus === "ok" ? "" : ": check autovacuum and long transactions"}`);

  const long = h.long_running as Activity;
  add(
    "long_running",
    long.n === 0 ? "ok" : (long.max_s ?? 0) > LONG_QUERY_CRITICAL_S ? "critical" : "warn",
    long.n,
    long.n === 0 ? `no query running over ${LONG_QUERY_WARN_S}s` : `${long.n} running over ${LONG_QUERY_WARN_S}s, longest ${long.max_s}s${pids(long)}`,
  );

  const idle = h.idle_in_tx as Activity;
  add(
    "idle_in_transaction",
    idle.n === 0 ? "ok" : (idle.max_s ?? 0) > IDLE_TX_CRITICAL_S ? "critical" : "warn",
    idle.n,
    idle.n === 0 ? `no session idle in a transaction over ${IDLE_TX_WARN_S}s` : `${idle.n} idle in a transaction over ${IDLE_TX_WARN_S}s, longest ${idle.max_s}s${pids(idle)}: they hold locks and hold back vacuum`,
  );

  const blocked = h.blocked as Activity;
  add(
    "blocked",
    blocked.n === 0 ? "ok" : (blocked.max_s ?? 0) > BLOCKED_CRITICAL_S ? "critical" : "warn",
    blocked.n,
    blocked.n === 0 ? "no session waits on a lock held by another" : `${blocked.n} blocked${pids(blocked)}; see pg_monitor_locks`,
  );

  const invalid = (h.invalid_indexes as string[] | null) ?? [];
  add("invalid_indexes", invalid.length ? "warn" : "ok", invalid.length, invalid.length ? `invalid (failed CREATE INDEX CONCURRENTLY?): ${invalid.join(", ")}; rebuild with pg_admin_reindex or drop` : "all indexes valid");

  const slots = (h.inactive_slots as { slot: string; bytes: number | null }[] | null) ?? [];
  const bigSlots = slots.filter((s) => (s.bytes ?? 0) > SLOT_RETAINED_WARN_BYTES);
  if (h.in_recovery) {
    const lag = h.standby_lag_s as number | null;
    add("replication", lag !== null && lag > REPLICATION_LAG_CRITICAL_S ? "critical" : lag !== null && lag > REPLICATION_LAG_WARN_S ? "warn" : "ok", lag, `standby; last replayed transaction ${lag === null ? "unknown" : `${lag.toFixed(1)}s ago`} (also grows when the primary is idle)`);
  } else if (h.replicas === 0 && slots.length === 0) {
    add("replication", "ok", null, "no replicas or inactive slots");
  } else {
    const lag = h.replica_lag_s as number | null;
    const status: Status = lag !== null && lag > REPLICATION_LAG_CRITICAL_S ? "critical" : (lag !== null && lag > REPLICATION_LAG_WARN_S) || bigSlots.length ? "warn" : "ok";
    add("replication", status, lag, `${h.replicas} replica(s), max replay lag ${lag ?? 0}s; ${slots.length} inactive slot(s)${bigSlots.length ? ` retaining over 1 GB of WAL: ${bigSlots.map((s) => s.slot).join(", ")}` : ""}`);
  }

  const timed = Number(h.ckpt_timed);
  const requested = Number(h.ckpt_requested);
  add(
    "checkpoints",
    requested > timed && timed + requested >= 10 ? "warn" : "ok",
    requested,
    `${timed} timed, ${requested} requested checkpoints${requested > timed && timed + requested >= 10 ? ": WAL fills before checkpoint_timeout; consider raising max_wal_size" : ""}`,
  );
  return checks;
}

const STATUS_RANK: Record<Status, number> = { ok: 0, warn: 1, critical: 2 };

/** The server's role and read role as PostgreSQL sees them (learned once per isolate; see db/posture.ts). Never on a caller role's connection. */
export function rolePosture(sql: SqlExecutor, config: Config): Promise<Posture> {
  if (sql.callerRole) throw new Error("the server's posture is not learned on a caller role's connection");
  return knownPosture(config) ?? learnPosture(config, (q, params) => sql.rows(q, params));
}

/** The caller's own database role as its connection sees it, or undefined when the caller acts as the server's roles. */
export function callerRolePosture(sql: SqlExecutor): Promise<CallerRolePosture> | undefined {
  return sql.callerRole ? learnCallerRole(sql.callerRole, (q, params) => sql.rows(q, params), POSTURE_ROLES) : undefined;
}

/** The posture lines a caller may read: its own role's, or the server's. */
export async function postureLines(sql: SqlExecutor, config: Config): Promise<string[]> {
  const own = callerRolePosture(sql);
  return own ? [`this caller acts as database role ${sql.callerRole} (its own login)`, ...describeCallerRole(await own)] : describePosture(await rolePosture(sql, config));
}

function callerCheck(c: CallerRolePosture): Check {
  const status: Status = c.broken.length ? "critical" : c.warnings.length ? "warn" : "ok";
  return { check: "database_role", status, value: { role: c.role, callerRole: true }, reason: describeCallerRole(c).join("; ") };
}

function postureCheck(p: Posture): Check {
  const callersBroken = p.callers.some((c) => c.broken.length > 0);
  const status: Status = p.privileged.length || p.broken.length || callersBroken ? "critical" : p.warnings.length || p.callers.some((c) => c.warnings.length) ? "warn" : "ok";
  const findings = [...p.privileged, ...p.broken, ...p.warnings, ...p.callers.flatMap((c) => (c.broken.length || c.warnings.length ? describeCallerRole(c) : []))];
  return { check: "database_role", status, value: { role: p.server.name, superuser: p.server.superuser, memberOf: p.server.memberOf, readRole: p.read?.name ?? null }, reason: findings.length ? findings.join("; ") : describePosture(p).join("; ") };
}

/** The health report: shared with the health resource. */
export async function healthReport(sql: SqlExecutor, config: Config, viewer: Viewer): Promise<{ status: Status; checks: Check[] }> {
  const version = await serverVersion(sql);
  const [h] = await sql.rows(healthSql(version));
  const own = callerRolePosture(sql);
  const checks = [own ? callerCheck(await own) : postureCheck(await rolePosture(sql, config)), ...evaluate(h!, viewer)];
  const status = checks.reduce<Status>((w, c) => (STATUS_RANK[c.status] > STATUS_RANK[w] ? c.status : w), "ok");
  return { status, checks };
}

export function renderHealth(r: { status: Status; checks: Check[] }): string {
  return [`overall: ${r.status}`, ...r.checks.map((c) => `${c.status}\t${c.check}\t${c.reason}`)].join("\n");
}

export const monitorHealth = defineTool({
  name: "pg_monitor_health",
  group: "monitor",
  title: "Health report",
  description: "The server's database role and privileges, connections, cache hits, wraparound, long or idle-in-transaction sessions, blocking, invalid indexes, replication, checkpoints: ok/warn/critical, why.",
  scope: "read",
  input: z.object({}),
  output: z.object({ status: z.string(), checks: z.array(z.object({ check: z.string(), status: z.string(), value: z.unknown(), reason: z.string() })) }),
  annotations: READ,
  async handler(_args, ctx) {
    const r = await healthReport(ctx.sql, ctx.config, await viewerOf(ctx.principal));
    return { structured: r, text: renderHealth(r) };
  },
});

// ---- connections and activity -------------------------------------------------

export const monitorConnections = defineTool({
  name: "pg_monitor_connections",
  group: "monitor",
  title: "Connection counts",
  description: "Client connections by database, user, app, address and state, against max_connections.",
  scope: "read",
  input: z.object({}),
  output: z.object({ total: z.number(), max: z.number(), rows: z.array(z.record(z.string(), z.unknown())) }),
  annotations: READ,
  async handler(_args, ctx) {
    const viewer = await viewerOf(ctx.principal);
    // Counts for everyone; which application and address they come from only for an admin.
    const rows = viewer.admin
      ? await ctx.sql.rows(`select datname as database, usename as user, application_name as app, client_addr::text as client, coalesce(state, '?') as state,
  count(*)::int as n, max(${seconds("backend_start")}) as oldest_s
from pg_stat_activity where backend_type = 'client backend' group by 1, 2, 3, 4, 5 order by n desc, 1, 2, 3, 4, 5`)
      : await ctx.sql.rows(`select datname as database, usename as user, coalesce(state, '?') as state, count(*)::int as n
from pg_stat_activity where backend_type = 'client backend' group by 1, 2, 3 order by n desc, 1, 2, 3`);
    const [m] = await ctx.sql.rows<{ max: number }>("select current_setting('max_connections')::int as max");
    const total = rows.reduce((s, r) => s + (r.n as number), 0);
    return { structured: { total, max: m!.max, rows }, text: `${total} of max_connections ${m!.max}\n${renderRows(rows)}` };
  },
});

export const monitorActivity = defineTool({
  name: "pg_monitor_activity",
  group: "monitor",
  title: "Sessions and queries",
  description: "pg_stat_activity with durations (s), wait event, blocking pids, query. Default: non-idle client sessions.",
  scope: "read",
  input: z.object({
    state: z.enum(["active", "idle", "idle_in_transaction", "all"]).optional(),
    minSeconds: z.number().optional(),
    ...page,
  }),
  output: PagedRows,
  annotations: READ,
  async handler(args, ctx) {
    const stateSql = {
      default: "backend_type = 'client backend' and state is distinct from 'idle'",
      active: "state = 'active'",
      idle: "state = 'idle'",
      idle_in_transaction: "state like 'idle in transaction%'",
      all: "true",
    }[args.state ?? "default"];
    const viewer = await viewerOf(ctx.principal);
    const query = `select pid, usename as user, datname as db, application_name as app, client_addr::text as client, backend_type as type, state,
  wait_event_type || ':' || wait_event as wait, ${seconds("xact_start")} as xact_s, ${seconds("query_start")} as query_s, ${seconds("state_change")} as state_s,
  pg_blocking_pids(pid) as blocked_by, left(query, $1) as query
from pg_stat_activity
where pid <> pg_backend_pid() and ${stateSql} and ($2::float8 is null or now() - query_start >= make_interval(secs => $2))
  and ($3::text is null or application_name like $3)
order by query_start nulls last, pid`;
    const own = viewer.admin ? null : viewer.own;
    const { rows, nextOffset } = await pagedRows(ctx.sql, query, [QUERY_CHARS, args.minSeconds ?? null, own], args);
    const note = await othersNote(ctx, viewer, stateSql);
    return { structured: { rows, ...(nextOffset !== undefined ? { nextOffset } : {}) }, text: renderRows(rows, undefined, nextOffset) + note };
  },
});

/** pg_terminate_backend(pid, timeout): PostgreSQL 14+. */
const TERMINATE_WAIT_SINCE = 140000;
const TERMINATE_WAIT_MS = 5000;

export const monitorCancel = defineTool({
  name: "pg_monitor_cancel",
  group: "monitor",
  title: "Cancel/terminate a backend",
  description: "Cancel a backend's query, or with terminate close its connection. Pids from pg_monitor_activity or pg_monitor_locks.",
  scope: "admin",
  input: z.object({ pid: int(1, 2 ** 31 - 1), terminate: z.boolean().optional() }),
  output: z.object({ pid: z.number(), action: z.string(), signaled: z.boolean() }),
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  async handler(args, ctx) {
    const [target] = await ctx.sql.rows<{ user: string; state: string | null; query: string; own: boolean }>(
      "select usename as user, state, left(query, 200) as query, pid = pg_backend_pid() as own from pg_stat_activity where pid = $1",
      [args.pid],
    );
    if (!target) throw new ToolError("not_found", `no backend with pid ${args.pid}`, "list sessions with pg_monitor_activity");
    if (target.own) throw new ToolError("invalid_argument", "that pid is this call's own connection");
    const action = args.terminate ? "terminate" : "cancel";
    const version = await serverVersion(ctx.sql);
    const fn = !args.terminate ? "pg_cancel_backend($1)" : version >= TERMINATE_WAIT_SINCE ? `pg_terminate_backend($1, ${TERMINATE_WAIT_MS})` : "pg_terminate_backend($1)";
    const rs = await ctx.sql.write(`select ${fn}`, [args.pid]);
    const signaled = rs.rows[0]?.[0] === true;
    return {
      structured: { pid: args.pid, action, signaled },
      text: `${action} pid ${args.pid} (${target.user}, ${target.state ?? "?"}): ${signaled ? "signaled" : "not signaled (already gone or not permitted)"}\nquery: ${target.query}`,
    };
  },
});

// ---- locks -------------------------------------------------------------------

interface LockNode {
  pid: number;
  user: string | null;
  state: string | null;
  xact_s: number | null;
  wait_s: number | null;
  waiting: { mode: string; locktype: string; relation: string | null } | null;
  holds: { relation: string; mode: string }[] | null;
  query: string;
  blocked_by: number[];
  blocks: LockNode[];
}

const LOCKS = `with b as (select pid, pg_blocking_pids(pid) as blocked_by from pg_stat_activity where pid <> pg_backend_pid()),
involved as (select pid from b where cardinality(blocked_by) > 0 union select unnest(blocked_by) from b)
select a.pid, a.usename as user, a.state, ${seconds("a.xact_start")} as xact_s,
  case when cardinality(b.blocked_by) > 0 then ${seconds("a.state_change")} end as wait_s,
  (select json_build_object('mode', l.mode, 'locktype', l.locktype, 'relation', l.relation::regclass::text) from pg_locks l where l.pid = a.pid and not l.granted limit 1) as waiting,
  (select json_agg(json_build_object('relation', l.relation::regclass::text, 'mode', l.mode)) from pg_locks l
     where l.pid = a.pid and l.granted and l.locktype = 'relation' and l.database = (select oid from pg_database where datname = current_database())
       and l.relation in (select w.relation from pg_locks w where not w.granted)) as holds,
  left(a.query, $1) as query, b.blocked_by
from pg_stat_activity a join b on b.pid = a.pid
where a.pid in (select pid from involved)
order by a.pid`;

/** Blockers at the roots, each waiter under every session that blocks it. */
function lockTree(rows: LockNode[]): LockNode[] {
  const byPid = new Map(rows.map((r) => [r.pid, r]));
  const children = (pid: number, path: Set<number>): LockNode[] =>
    rows.filter((r) => r.blocked_by.includes(pid) && !path.has(r.pid)).map((r) => ({ ...r, blocks: children(r.pid, new Set([...path, r.pid])) }));
  let roots = rows.filter((r) => r.blocked_by.every((p) => !byPid.has(p)));
  // A cycle (a deadlock about to be broken) has no root: start from its lowest pid.
  if (roots.length === 0 && rows.length > 0) roots = [rows[0]!];
  return roots.map((r) => ({ ...r, blocks: children(r.pid, new Set([r.pid])) }));
}

function renderTree(nodes: LockNode[], depth = 0, out: string[] = []): string[] {
  for (const n of nodes) {
    const pad = depth ? `${"  ".repeat(depth - 1)}└ ` : "";
    const what = n.waiting
      ? `waits ${n.waiting.mode} on ${n.waiting.relation ?? n.waiting.locktype}${n.wait_s !== null ? ` ${n.wait_s}s` : ""}`
      : `${n.state ?? "?"}${n.xact_s !== null ? ` xact ${n.xact_s}s` : ""}${n.holds?.length ? ` holds ${n.holds.map((h) => `${h.mode} on ${h.relation}`).join(", ")}` : ""}`;
    out.push(`${pad}pid ${n.pid} ${n.user ?? "?"} ${what}: ${n.query.replace(/\s+/g, " ")}`);
    renderTree(n.blocks, depth + 1, out);
  }
  return out;
}

export const monitorLocks = defineTool({
  name: "pg_monitor_locks",
  group: "monitor",
  title: "Who blocks whom",
  description: "Lock waits as a tree: each blocker with the sessions waiting on it, the lock wanted, durations, queries.",
  scope: "read",
  input: z.object({}),
  output: z.object({ blocked: z.number(), tree: z.array(z.unknown()) }),
  annotations: READ,
  async handler(_args, ctx) {
    const viewer = await viewerOf(ctx.principal);
    const all = (await ctx.sql.rows(LOCKS, [QUERY_CHARS])) as unknown as (LockNode & { app?: string })[];
    // Not an admin: its own sessions only, and who blocks them as a count, not as pids.
    const ownPids = viewer.admin ? undefined : new Set((await ctx.sql.rows<{ pid: number }>("select pid from pg_stat_activity where application_name like $1", [viewer.own])).map((r) => r.pid));
    const rows = ownPids ? all.filter((r) => ownPids.has(r.pid)).map((r) => ({ ...r, blocked_by: r.blocked_by.filter((p) => ownPids.has(p)), blocked_by_others: r.blocked_by.filter((p) => !ownPids.has(p)).length })) : all;
    const tree = lockTree(rows);
    const blocked = rows.filter((r) => r.blocked_by.length > 0 || ("blocked_by_others" in r && (r.blocked_by_others as number) > 0)).length;
    const hidden = ownPids ? all.length - rows.length : 0;
    const note = hidden ? `\n(${hidden} session(s) of others involved in lock waits not shown: ${OTHERS_HIDDEN})` : "";
    return { structured: { blocked, tree }, text: (blocked === 0 ? (viewer.admin ? "no session is waiting on a lock" : "no session of yours is waiting on a lock") : renderTree(tree).join("\n")) + note };
  },
});

// ---- sizes -------------------------------------------------------------------

export const monitorSize = defineTool({
  name: "pg_monitor_size",
  group: "monitor",
  title: "Disk usage",
  description: "Sizes of the database, schemas and largest tables (heap, indexes, TOAST).",
  scope: "read",
  input: z.object({ schema: schemaFilter, ...page }),
  output: z.object({
    database: z.object({ name: z.string(), bytes: z.number() }),
    schemas: z.array(z.object({ schema: z.string(), bytes: z.number().nullable() })),
    tables: z.array(z.record(z.string(), z.unknown())),
    nextOffset: z.number().optional(),
  }),
  annotations: READ,
  async handler(args, ctx) {
    const filter = `(case when $1::text is null then ${USER_SCHEMA_SQL("n.nspname")} else n.nspname = $1 end)`;
    const [db] = await ctx.sql.rows<{ name: string; bytes: number; schemas: { schema: string; bytes: number | null }[] | null }>(`with ${LOCKED_CTE}
select current_database() as name, pg_database_size(current_database())::float8 as bytes,
  (select json_agg(s order by s.bytes desc nulls last, s.schema) from (
     select n.nspname as schema, sum(${sizeUnlessLocked("pg_total_relation_size", "c.oid")}) as bytes
     from pg_namespace n left join pg_class c on c.relnamespace = n.oid and c.relkind in ('r','m') and ${relationVisible("c.oid")}
     where ${filter} and ${schemaVisible("n.oid")} group by n.nspname) s) as schemas`, [args.schema ?? null]);
    const tables = await pagedRows(
      ctx.sql,
      `with ${LOCKED_CTE}, t as (
  select n.nspname as schema, c.relname as table, case when c.reltuples >= 0 then c.reltuples::float8 end as rows,
    ${sizeUnlessLocked("pg_total_relation_size", "c.oid")} as total, ${sizeUnlessLocked("pg_indexes_size", "c.oid")} as indexes,
    case when c.reltoastrelid <> 0 then ${sizeUnlessLocked("pg_total_relation_size", "c.reltoastrelid")} else 0 end as toast
  from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r','m') and ${filter} and ${relationVisible("c.oid")})
select schema, "table", rows, total, total - indexes - toast as heap, indexes, toast from t order by total desc nulls last, schema, "table"`,
      [args.schema ?? null],
      args,
    );
    const pretty = (r: Row) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, ["total", "heap", "indexes", "toast"].includes(k) ? (v === null ? "locked" : prettyBytes(v)) : v]));
    const text = [
      `database ${db!.name} ${prettyBytes(db!.bytes)}`,
      renderRows((db!.schemas ?? []).map((s) => ({ schema: s.schema, size: prettyBytes(s.bytes) }))),
      renderRows(tables.rows.map(pretty), ["schema", "table", "rows", "total", "heap", "indexes", "toast"], tables.nextOffset),
    ].join("\n");
    return {
      structured: { database: { name: db!.name, bytes: db!.bytes }, schemas: db!.schemas ?? [], tables: tables.rows, ...(tables.nextOffset !== undefined ? { nextOffset: tables.nextOffset } : {}) },
      text,
    };
  },
});

// ---- pg_stat_statements ----------------------------------------------------------

const EXTENSION_HINT = "run CREATE EXTENSION pg_stat_statements; in this database (the server also needs shared_preload_libraries = 'pg_stat_statements')";

/** The view's location and the names its columns have in this version. */
export async function statementsView(sql: SqlExecutor): Promise<{ view: string; total: string; mean: string; readTime: string; writeTime: string }> {
  const [ext] = await sql.rows<{ schema: string | null; preload: string; columns: string[] | null }>(`select n.nspname as schema, current_setting('shared_preload_libraries') as preload,
  (select array_agg(a.attname::text) from pg_attribute a where a.attrelid = to_regclass(quote_ident(n.nspname) || '.pg_stat_statements') and a.attnum > 0) as columns
from (select 1) one left join pg_extension e on e.extname = 'pg_stat_statements' left join pg_namespace n on n.oid = e.extnamespace`);
  if (!ext?.schema) {
    const preloaded = /(^|[\s,])pg_stat_statements($|[\s,])/.test(ext?.preload ?? "");
    throw new ToolError(
      "extension_missing",
      `the pg_stat_statements extension is not installed in this database${preloaded ? "" : " (and pg_stat_statements is not in shared_preload_libraries)"}`,
      preloaded ? "run CREATE EXTENSION pg_stat_statements; in this database" : EXTENSION_HINT,
    );
  }
  const has = new Set(ext.columns ?? []);
  return {
    view: `${quoteIdent(ext.schema)}.pg_stat_statements`,
    total: has.has("total_exec_time") ? "total_exec_time" : "total_time",
    mean: has.has("mean_exec_time") ? "mean_exec_time" : "mean_time",
    readTime: has.has("shared_blk_read_time") ? "shared_blk_read_time" : "blk_read_time",
    writeTime: has.has("shared_blk_write_time") ? "shared_blk_write_time" : "blk_write_time",
  };
}

export const monitorTopQueries = defineTool({
  name: "pg_monitor_top_queries",
  group: "monitor",
  title: "Top queries",
  description: "Costliest statements (pg_stat_statements): calls, total/mean ms, rows, hit ratio, I/O ms.",
  scope: "read",
  input: z.object({ orderBy: z.enum(["total", "mean", "calls", "rows", "io"]).optional(), ...page }),
  output: PagedRows,
  annotations: READ,
  async handler(args, ctx) {
    const v = await statementsView(ctx.sql);
    const order = { total: "total_ms", mean: "mean_ms", calls: "calls", rows: "rows", io: "io_ms" }[args.orderBy ?? "total"];
    const query = `select * from (select queryid::text as queryid, calls::float8 as calls, round(${v.total}::numeric, 1)::float8 as total_ms, round(${v.mean}::numeric, 2)::float8 as mean_ms,
  rows::float8 as rows, round(shared_blks_hit::numeric / nullif(shared_blks_hit + shared_blks_read, 0), 4)::float8 as hit_ratio,
  round((${v.readTime} + ${v.writeTime})::numeric, 1)::float8 as io_ms, left(regexp_replace(query, '\\s+', ' ', 'g'), $1) as query
from ${v.view} where dbid = (select oid from pg_database where datname = current_database())) s
order by ${order} desc nulls last, queryid`;
    const { rows, nextOffset } = await pagedRows(ctx.sql, query, [QUERY_CHARS], args);
    return { structured: { rows, ...(nextOffset !== undefined ? { nextOffset } : {}) }, text: renderRows(rows, undefined, nextOffset) };
  },
});

export const monitorTools = [monitorHealth, monitorFindings, monitorConnections, monitorActivity, monitorCancel, monitorLocks, monitorSize, monitorTopQueries];
