/**
 * Health findings an operator acts on, beside pg_monitor_health's server-wide
 * checks: object by object, each with a status, the number behind it and one
 * line of advice (the statement to run). Unused, duplicate and invalid
 * indexes; tables nearing transaction-id wraparound; table bloat and dead
 * rows; connection saturation; the cache hit ratio. One catalog read, no
 * locks (sizes from relpages, as of the last VACUUM/ANALYZE).
 */
import { z } from "zod";
import type { SqlExecutor } from "../db/executor";
import { prettyBytes } from "./catalog";
import { READ, defineTool } from "./registry";
import { USER_SCHEMA_SQL } from "./schema.tools";

export type FindingStatus = "ok" | "warn" | "critical";

export interface Finding {
  check: string;
  status: FindingStatus;
  /** The index, table or server the finding is about. */
  object: string;
  value: number | null;
  advice: string;
}

/** Unused indexes smaller than this are not worth a finding. */
export const UNUSED_INDEX_MIN_BYTES = 1024 ** 2;
/** Table xid age, as a share of the 2^31 limit, that warns / is critical. */
export const WRAPAROUND_WARN = 0.5;
export const WRAPAROUND_CRITICAL = 0.75;
/** Estimated bloat share that warns / is critical, for tables of at least BLOAT_MIN_BYTES. */
export const BLOAT_WARN = 0.3;
export const BLOAT_CRITICAL = 0.6;
export const BLOAT_MIN_BYTES = 8 * 1024 ** 2;
/** Dead rows share of live rows that warns, for at least DEAD_MIN_ROWS dead rows. */
export const DEAD_WARN = 0.2;
export const DEAD_MIN_ROWS = 10_000;
/** Connections in use, as a share of the usable ones. */
export const CONNECTIONS_WARN = 0.75;
export const CONNECTIONS_CRITICAL = 0.9;
/** Shared-buffer hit ratio below which the cache warns / is critical (with at least CACHE_MIN_BLOCKS read). */
export const CACHE_WARN = 0.95;
export const CACHE_CRITICAL = 0.9;
export const CACHE_MIN_BLOCKS = 1000;
/** Findings of one kind listed at most. */
const MAX_PER_CHECK = 20;
const XID_LIMIT = 2 ** 31;

const INDEXES = `from pg_index x join pg_class i on i.oid = x.indexrelid join pg_class t on t.oid = x.indrelid join pg_namespace n on n.oid = t.relnamespace
  join pg_am am on am.oid = i.relam`;
const USER_SCHEMA = USER_SCHEMA_SQL("n.nspname");

const FINDINGS_SQL = `select
  (select coalesce(json_agg(u), '[]') from (
     select quote_ident(n.nspname) || '.' || quote_ident(i.relname) as index, quote_ident(n.nspname) || '.' || quote_ident(t.relname) as table,
       i.relpages::float8 * current_setting('block_size')::int as bytes, s.idx_scan::float8 as scans
     ${INDEXES} join pg_stat_all_indexes s on s.indexrelid = x.indexrelid
     where ${USER_SCHEMA} and not x.indisunique and not x.indisprimary and not exists (select 1 from pg_constraint c where c.conindid = x.indexrelid)
       and s.idx_scan = 0 and i.relpages::float8 * current_setting('block_size')::int >= ${UNUSED_INDEX_MIN_BYTES}
     order by i.relpages desc limit ${MAX_PER_CHECK}) u) as unused,
  (select coalesce(json_agg(d), '[]') from (
     select quote_ident(n.nspname) || '.' || quote_ident(i.relname) as index, quote_ident(n2.nspname) || '.' || quote_ident(i2.relname) as other,
       quote_ident(n.nspname) || '.' || quote_ident(t.relname) as table, i.relpages::float8 * current_setting('block_size')::int as bytes,
       (x.indkey::text = x2.indkey::text and x.indclass::text = x2.indclass::text) as exact
     ${INDEXES}
     -- another valid btree index whose key columns (and operator classes) start with all of this one's: it serves the same lookups
     join pg_index x2 on x2.indrelid = x.indrelid and x2.indexrelid <> x.indexrelid and x2.indpred is null and x2.indexprs is null and x2.indisvalid
       and (x2.indkey::text || ' ') like (x.indkey::text || ' %') and (x2.indclass::text || ' ') like (x.indclass::text || ' %')
       -- of two identical ones, name the newer (or the one that is not unique)
       and (x.indkey::text <> x2.indkey::text or x2.indisunique or x.indexrelid > x2.indexrelid)
     join pg_class i2 on i2.oid = x2.indexrelid join pg_namespace n2 on n2.oid = i2.relnamespace join pg_am am2 on am2.oid = i2.relam
     where ${USER_SCHEMA} and am.amname = 'btree' and am2.amname = 'btree' and x.indpred is null and x.indexprs is null and not x.indisunique
     order by i.relpages desc limit ${MAX_PER_CHECK}) d) as duplicates,
  (select coalesce(json_agg(v), '[]') from (
     select quote_ident(n.nspname) || '.' || quote_ident(i.relname) as index, quote_ident(n.nspname) || '.' || quote_ident(t.relname) as table
     ${INDEXES} where ${USER_SCHEMA} and not x.indisvalid order by 1 limit ${MAX_PER_CHECK}) v) as invalid,
  (select coalesce(json_agg(w), '[]') from (
     select quote_ident(n.nspname) || '.' || quote_ident(c.relname) as table, age(c.relfrozenxid)::float8 as age
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind in ('r', 'm', 't') and age(c.relfrozenxid)::float8 >= ${WRAPAROUND_WARN * XID_LIMIT}
     order by age(c.relfrozenxid) desc limit ${MAX_PER_CHECK}) w) as wraparound,
  (select max(age(c.relfrozenxid))::float8 from pg_class c where c.relkind in ('r', 'm', 't')) as max_xid_age,
  (select coalesce(json_agg(b), '[]') from (
     select quote_ident(s.schemaname) || '.' || quote_ident(s.relname) as table, c.relpages::float8 * current_setting('block_size')::int as bytes,
       s.n_live_tup::float8 as live, s.n_dead_tup::float8 as dead,
       (select greatest(0, 1 - c.reltuples::numeric * (28 + sum(st.avg_width)) / (c.relpages::numeric * current_setting('block_size')::int))::float8
          from pg_stats st where st.schemaname = s.schemaname and st.tablename = s.relname and c.relpages > 0 and c.reltuples > 0 having count(*) > 0) as bloat
     from pg_stat_all_tables s join pg_class c on c.oid = s.relid
     where ${USER_SCHEMA_SQL("s.schemaname")} and (c.relpages::float8 * current_setting('block_size')::int >= ${BLOAT_MIN_BYTES} or s.n_dead_tup >= ${DEAD_MIN_ROWS})
     order by c.relpages desc limit 200) b) as tables,
  (select count(*)::int from pg_stat_activity where backend_type = 'client backend') as connections,
  current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int as max_connections,
  (select blks_hit::float8 from pg_stat_database where datname = current_database()) as blks_hit,
  (select blks_read::float8 from pg_stat_database where datname = current_database()) as blks_read,
  (select stats_reset::text from pg_stat_database where datname = current_database()) as stats_reset`;

interface Raw {
  unused: { index: string; table: string; bytes: number; scans: number }[];
  duplicates: { index: string; other: string; table: string; bytes: number; exact: boolean }[];
  invalid: { index: string; table: string }[];
  wraparound: { table: string; age: number }[];
  max_xid_age: number | null;
  tables: { table: string; bytes: number; live: number; dead: number; bloat: number | null }[];
  connections: number;
  max_connections: number;
  blks_hit: number;
  blks_read: number;
  stats_reset: string | null;
}

const STATUS_RANK: Record<FindingStatus, number> = { ok: 0, warn: 1, critical: 2 };
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export function evaluateFindings(r: Raw): Finding[] {
  const out: Finding[] = [];
  const since = r.stats_reset ? `since statistics were reset (${r.stats_reset.slice(0, 16)})` : "since statistics began";
  for (const u of r.unused) out.push({ check: "unused_index", status: "warn", object: u.index, value: u.bytes, advice: `never scanned ${since}, ${prettyBytes(u.bytes)}: DROP INDEX CONCURRENTLY ${u.index}; (check replicas and rare jobs first)` });
  if (r.unused.length === 0) out.push({ check: "unused_index", status: "ok", object: "database", value: 0, advice: `no unused index over ${prettyBytes(UNUSED_INDEX_MIN_BYTES)} (unique and constraint indexes are never counted)` });
  for (const d of r.duplicates) {
    const how = d.exact ? `the same columns as ${d.other}` : `a prefix of ${d.other}, which serves the same lookups`;
    out.push({ check: "duplicate_index", status: "warn", object: d.index, value: d.bytes, advice: `${how} on ${d.table}: DROP INDEX CONCURRENTLY ${d.index}; (saves ${prettyBytes(d.bytes)} and its write cost)` });
  }
  if (r.duplicates.length === 0) out.push({ check: "duplicate_index", status: "ok", object: "database", value: 0, advice: "no duplicate or prefix-redundant btree index" });
  for (const v of r.invalid) out.push({ check: "invalid_index", status: "warn", object: v.index, value: null, advice: `invalid (a failed CREATE INDEX CONCURRENTLY?), still updated on writes, never used: REINDEX INDEX CONCURRENTLY ${v.index}; or DROP INDEX CONCURRENTLY ${v.index};` });
  if (r.invalid.length === 0) out.push({ check: "invalid_index", status: "ok", object: "database", value: 0, advice: "every index is valid" });
  for (const w of r.wraparound) {
    const share = w.age / XID_LIMIT;
    out.push({ check: "wraparound", status: share >= WRAPAROUND_CRITICAL ? "critical" : "warn", object: w.table, value: w.age, advice: `xid age ${w.age} (${pct(share)} of the limit): VACUUM (FREEZE, VERBOSE) ${w.table}; and look for long transactions holding the horizon back` });
  }
  if (r.wraparound.length === 0) out.push({ check: "wraparound", status: "ok", object: "database", value: r.max_xid_age, advice: `oldest table xid age ${r.max_xid_age ?? 0} (${pct((r.max_xid_age ?? 0) / XID_LIMIT)} of the limit)` });
  let bloated = 0;
  for (const t of r.tables) {
    if (t.bloat !== null && t.bytes >= BLOAT_MIN_BYTES && t.bloat >= BLOAT_WARN) {
      bloated++;
      out.push({ check: "bloat", status: t.bloat >= BLOAT_CRITICAL ? "critical" : "warn", object: t.table, value: Number(t.bloat.toFixed(3)), advice: `~${pct(t.bloat)} of ${prettyBytes(t.bytes)} is free space (estimate): VACUUM ${t.table}; reclaims it for reuse, VACUUM FULL (exclusive lock) or pg_repack returns it to the OS` });
    } else if (t.dead >= DEAD_MIN_ROWS && t.dead >= DEAD_WARN * Math.max(1, t.live)) {
      bloated++;
      out.push({ check: "bloat", status: "warn", object: t.table, value: t.dead, advice: `${t.dead} dead rows (${pct(t.dead / Math.max(1, t.live))} of live): VACUUM ${t.table}; and check autovacuum keeps up` });
    }
  }
  if (bloated === 0) out.push({ check: "bloat", status: "ok", object: "database", value: 0, advice: `no table over ${prettyBytes(BLOAT_MIN_BYTES)} with ${pct(BLOAT_WARN)} estimated bloat, none with many dead rows` });
  const used = r.connections / Math.max(1, r.max_connections);
  out.push({ check: "connections", status: used >= CONNECTIONS_CRITICAL ? "critical" : used >= CONNECTIONS_WARN ? "warn" : "ok", object: "server", value: r.connections, advice: `${r.connections} of ${r.max_connections} usable connections (${pct(used)})${used >= CONNECTIONS_WARN ? ": pool connections (Hyperdrive/pgbouncer), end idle sessions, or raise max_connections" : ""}` });
  const total = r.blks_hit + r.blks_read;
  if (total < CACHE_MIN_BLOCKS) out.push({ check: "cache_hit", status: "ok", object: "database", value: null, advice: "too little I/O yet to judge" });
  else {
    const ratio = r.blks_hit / total;
    out.push({ check: "cache_hit", status: ratio < CACHE_CRITICAL ? "critical" : ratio < CACHE_WARN ? "warn" : "ok", object: "database", value: Number(ratio.toFixed(4)), advice: `${pct(ratio)} of block reads from shared buffers${ratio < CACHE_WARN ? ": the working set outgrows shared_buffers; raise it, or add memory, or cut scans (pg_advisor_indexes)" : ""}` });
  }
  return out;
}

export async function findingsReport(sql: SqlExecutor): Promise<{ status: FindingStatus; findings: Finding[] }> {
  const [raw] = await sql.rows<Raw>(FINDINGS_SQL);
  const findings = evaluateFindings(raw!);
  const status = findings.reduce<FindingStatus>((w, f) => (STATUS_RANK[f.status] > STATUS_RANK[w] ? f.status : w), "ok");
  // Problems first, then the all-clear lines.
  findings.sort((a, b) => STATUS_RANK[b.status] - STATUS_RANK[a.status]);
  return { status, findings };
}

export function renderFindings(r: { status: FindingStatus; findings: Finding[] }): string {
  return [`overall: ${r.status}`, ...r.findings.map((f) => `${f.status}\t${f.check}\t${f.object}: ${f.advice}`)].join("\n");
}

export const monitorFindings = defineTool({
  name: "pg_monitor_findings",
  group: "monitor",
  title: "Health findings with advice",
  description: "Unused, duplicate and invalid indexes, tables near xid wraparound, bloat and dead rows, connection saturation, cache hit ratio: ok/warn/critical per object with the statement to run.",
  scope: "read",
  input: z.object({}),
  output: z.object({ status: z.string(), findings: z.array(z.object({ check: z.string(), status: z.string(), object: z.string(), value: z.number().nullable(), advice: z.string() })) }),
  annotations: READ,
  async handler(_args, ctx) {
    const r = await findingsReport(ctx.sql);
    return { structured: r, text: renderFindings(r) };
  },
});
