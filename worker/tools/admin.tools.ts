/**
 * Group `admin`: maintenance (VACUUM, ANALYZE, REINDEX), table and index
 * statistics, and server settings. VACUUM, REINDEX CONCURRENTLY and ALTER
 * SYSTEM refuse a transaction block, so they go through ctx.sql.standalone.
 *
 * Versions: REINDEX CONCURRENTLY exists since PostgreSQL 12 (checked with
 * server_version_num, falling back to a plain REINDEX); last_seq_scan and
 * last_idx_scan exist since 16 and are NULL before; to_regtype and the other
 * catalog reads used here are the same on 14-18.
 */
import { z } from "zod";
import type { SqlExecutor } from "../db/executor";
import { parseQualifiedName, quoteIdent, sqlName } from "../sql/ident";
import { LOCKED_CTE, PagedRows, relationVisible, ident, objectName, page, qname, text, pagedRows, prettyBytes, renderRows, schemaFilter, serverLiteral, serverVersion, sizeUnlessLocked, type Row } from "./catalog";
import { refusedSetting } from "../sql/roles";
import { roleChangeError } from "./query.tools";
import { ToolError } from "./errors";
import { READ, WRITE, defineTool, type ToolAnnotations } from "./registry";
import { USER_SCHEMA_SQL } from "./schema.tools";

/** Maintenance changes no data and can be repeated. */
const MAINTENANCE: ToolAnnotations = { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false };

const tableArg = objectName.optional().describe("[schema.]table; omit: whole database");

const TABLE_STATE = `with ${LOCKED_CTE}
select s.n_live_tup::float8 as live, s.n_dead_tup::float8 as dead, ${sizeUnlessLocked("pg_total_relation_size", "s.relid")} as bytes,
  greatest(s.last_vacuum, s.last_autovacuum) as last_vacuum, greatest(s.last_analyze, s.last_autoanalyze) as last_analyze,
  case when c.reltuples >= 0 then c.reltuples::float8 end as rows
from pg_stat_all_tables s join pg_class c on c.oid = s.relid where s.relid = to_regclass($1) and ${relationVisible("s.relid")}`;

async function tableState(sql: SqlExecutor, table: string | undefined): Promise<Row | undefined> {
  if (!table) return undefined;
  const [row] = await sql.rows(TABLE_STATE, [sqlName(table)]);
  if (!row) throw new ToolError("not_found", `no table named ${table}`, "names are exact (case-sensitive); find them with pg_schema_list");
  return row;
}

const stateLine = (label: string, s: Row | undefined) => (s ? `${label}: live=${s.live} dead=${s.dead} size=${prettyBytes(s.bytes)} last_vacuum=${s.last_vacuum ?? "never"} last_analyze=${s.last_analyze ?? "never"}` : "");

const MaintenanceOutput = z.object({
  statement: z.string(),
  before: z.record(z.string(), z.unknown()).optional(),
  after: z.record(z.string(), z.unknown()).optional(),
});

export const adminVacuum = defineTool({
  name: "pg_admin_vacuum",
  cost: "expensive",
  group: "admin",
  title: "VACUUM",
  description: "Reclaim dead tuples (full: rewrite, exclusive lock). Reports live/dead tuples and size before and after.",
  scope: "admin",
  input: z.object({
    table: tableArg,
    full: z.boolean().optional(),
    freeze: z.boolean().optional(),
    analyze: z.boolean().optional(),
  }),
  output: MaintenanceOutput,
  annotations: MAINTENANCE,
  async handler(args, ctx) {
    const options = [args.full && "FULL", args.freeze && "FREEZE", args.analyze && "ANALYZE"].filter(Boolean);
    const statement = `VACUUM${options.length ? ` (${options.join(", ")})` : ""}${args.table ? ` ${sqlName(args.table)}` : ""}`;
    const before = await tableState(ctx.sql, args.table);
    await ctx.sql.standalone(statement);
    const after = await tableState(ctx.sql, args.table);
    const text = [statement, stateLine("before", before), stateLine("after", after)].filter(Boolean).join("\n");
    return { structured: { statement, ...(before ? { before, after } : {}) }, text };
  },
});

export const adminAnalyze = defineTool({
  name: "pg_admin_analyze",
  group: "admin",
  title: "ANALYZE",
  description: "Refresh planner statistics: after bulk loads or when row estimates are off.",
  scope: "admin",
  input: z.object({ table: tableArg, columns: z.array(ident).optional() }),
  output: MaintenanceOutput,
  annotations: MAINTENANCE,
  async handler(args, ctx) {
    if (args.columns?.length && !args.table) throw new ToolError("invalid_argument", "columns need a table");
    const statement = `ANALYZE${args.table ? ` ${sqlName(args.table)}` : ""}${args.columns?.length ? ` (${args.columns.map(quoteIdent).join(", ")})` : ""}`;
    await ctx.sql.write(statement);
    const after = await tableState(ctx.sql, args.table);
    return { structured: { statement, ...(after ? { after } : {}) }, text: [statement, stateLine("after", after)].filter(Boolean).join("\n") };
  },
});

/** REINDEX CONCURRENTLY: PostgreSQL 12+. */
const REINDEX_CONCURRENTLY_SINCE = 120000;

export const adminReindex = defineTool({
  name: "pg_admin_reindex",
  cost: "expensive",
  group: "admin",
  title: "REINDEX",
  description: "Rebuild bloated or invalid indexes; concurrently (default where supported) does not block writes.",
  scope: "admin",
  input: z.object({
    kind: z.enum(["index", "table", "schema", "database"]),
    name: qname.optional(),
    concurrently: z.boolean().optional(),
  }),
  output: z.object({ statement: z.string(), concurrently: z.boolean() }),
  annotations: MAINTENANCE,
  async handler(args, ctx) {
    const version = await serverVersion(ctx.sql);
    const supported = version >= REINDEX_CONCURRENTLY_SINCE;
    const concurrently = (args.concurrently ?? true) && supported;
    let target: string;
    if (args.kind === "database") {
      const [db] = await ctx.sql.rows<{ name: string }>("select current_database() as name");
      target = quoteIdent(db!.name);
    } else {
      if (!args.name) throw new ToolError("missing_argument", `kind ${args.kind} needs name`);
      if (args.kind === "schema" && parseQualifiedName(args.name).schema !== undefined) throw new ToolError("invalid_name", "a schema name is one part");
      target = sqlName(args.name);
    }
    const statement = `REINDEX ${args.kind.toUpperCase()} ${concurrently ? "CONCURRENTLY " : ""}${target}`;
    // REINDEX SCHEMA/DATABASE and anything CONCURRENTLY refuse a transaction block; alone is fine for all.
    await ctx.sql.standalone(statement);
    const note = args.concurrently && !supported ? `\n[server ${version} has no REINDEX CONCURRENTLY (12+): ran a plain REINDEX]` : "";
    return { structured: { statement, concurrently }, text: `${statement}\n[done]${note}` };
  },
});

export const adminStats = defineTool({
  name: "pg_admin_stats",
  group: "admin",
  title: "Table/index statistics",
  description: "Tables: scans, live/dead tuples, last vacuum/analyze, bloat, hit ratio. Indexes: scans, size, unused. Finds what needs VACUUM or an index.",
  scope: "read",
  input: z.object({
    kind: z.enum(["tables", "indexes"]).optional(),
    schema: schemaFilter,
    table: qname.optional(),
    ...page,
  }),
  output: PagedRows,
  annotations: READ,
  async handler(args, ctx) {
    const version = await serverVersion(ctx.sql);
    const params = [args.schema ?? null, args.table ? sqlName(args.table) : null];
    const where = `(case when $1::text is null then ${USER_SCHEMA_SQL("s.schemaname")} else s.schemaname = $1 end) and ($2::text is null or s.relid = to_regclass($2)) and ${relationVisible("s.relid")}`;
    let query: string;
    if (args.kind === "indexes") {
      query = `select s.schemaname as schema, s.relname as table, s.indexrelname as index, s.idx_scan::float8 as scans, s.idx_tup_read::float8 as tup_read,
  c.relpages::float8 * current_setting('block_size')::int as bytes,
  round(io.idx_blks_hit::numeric / nullif(io.idx_blks_hit + io.idx_blks_read, 0), 4)::float8 as hit_ratio,
  x.indisunique as unique, x.indisvalid as valid, (s.idx_scan = 0 and not x.indisunique) as unused
from pg_stat_all_indexes s join pg_index x on x.indexrelid = s.indexrelid join pg_class c on c.oid = s.indexrelid
left join pg_statio_all_indexes io on io.indexrelid = s.indexrelid
where ${where} order by c.relpages desc, 1, 2, 3`;
    } else {
      // Sizes come from relpages (as of the last VACUUM/ANALYZE): no lock is taken, so this never waits.
      // Bloat: 1 - expected pages (rows x (28-byte tuple overhead + average width from pg_stats)) / actual pages.
      const lastScans = version >= 160000 ? "s.last_seq_scan, s.last_idx_scan" : "null::timestamptz as last_seq_scan, null::timestamptz as last_idx_scan";
      query = `select s.schemaname as schema, s.relname as table, s.seq_scan::float8 as seq_scan, s.idx_scan::float8 as idx_scan,
  s.n_live_tup::float8 as live, s.n_dead_tup::float8 as dead,
  round(100.0 * s.n_dead_tup / nullif(s.n_live_tup + s.n_dead_tup, 0), 1)::float8 as dead_pct,
  greatest(s.last_vacuum, s.last_autovacuum) as last_vacuum, greatest(s.last_analyze, s.last_autoanalyze) as last_analyze, ${lastScans},
  c.relpages::float8 * current_setting('block_size')::int as bytes,
  (select round(greatest(0, 100 * (1 - c.reltuples::numeric * (28 + sum(st.avg_width)) / (c.relpages::numeric * current_setting('block_size')::int))), 1)::float8
     from pg_stats st where st.schemaname = s.schemaname and st.tablename = s.relname and c.relpages > 0 and c.reltuples > 0 having count(*) > 0) as bloat_pct,
  round(io.heap_blks_hit::numeric / nullif(io.heap_blks_hit + io.heap_blks_read, 0), 4)::float8 as hit_ratio
from pg_stat_all_tables s join pg_class c on c.oid = s.relid left join pg_statio_all_tables io on io.relid = s.relid
where ${where} order by c.relpages desc, 1, 2`;
    }
    const { rows, nextOffset } = await pagedRows(ctx.sql, query, params, args);
    const text = renderRows(
      rows.map((r) => ({ ...r, bytes: prettyBytes(r.bytes) })),
      undefined,
      nextOffset,
    );
    return { structured: { rows, ...(nextOffset !== undefined ? { nextOffset } : {}) }, text };
  },
});

export const adminSettings = defineTool({
  name: "pg_admin_settings",
  group: "admin",
  title: "Server settings",
  description: "pg_settings with unit, source, context, pending_restart. No filter: only changed settings.",
  scope: "read",
  input: z.object({
    name: text(200).optional().describe("ILIKE pattern"),
    category: text(200).optional(),
    all: z.boolean().optional(),
    ...page,
  }),
  output: PagedRows,
  annotations: READ,
  async handler(args, ctx) {
    const changedOnly = !args.name && !args.category && !args.all;
    const query = `select name, setting, unit, source, context, pending_restart${args.name ? ", short_desc as description" : ""}
from pg_settings
where ($1::text is null or name ilike $1) and ($2::text is null or category ilike $2)
  and (not $3 or source not in ('default', 'override'))
order by name`;
    const { rows, nextOffset } = await pagedRows(ctx.sql, query, [args.name ?? null, args.category ? `%${args.category}%` : null, changedOnly], args);
    return { structured: { rows, ...(nextOffset !== undefined ? { nextOffset } : {}) }, text: renderRows(rows, undefined, nextOffset) };
  },
});

export const adminSet = defineTool({
  name: "pg_admin_set",
  group: "admin",
  title: "Change a setting",
  description: "scope session: applies to this call's own connection only (every call gets a new one), so it checks a value. system: ALTER SYSTEM, if allowed. null resets.",
  scope: "admin",
  input: z.object({
    name: text(200),
    value: z.string().nullable(),
    scope: z.enum(["session", "system"]).optional(),
    reload: z.boolean().optional(),
  }),
  output: z.object({ name: z.string(), value: z.string().nullable() }),
  annotations: { ...WRITE, idempotentHint: true },
  async handler(args, ctx) {
    if (ctx.principal.db && refusedSetting(args.name)) throw roleChangeError(`setting ${args.name}`, ctx.principal.db.role, "pg_admin_set");
    const [known] = await ctx.sql.rows<{ name: string; context: string }>("select name, context from pg_settings where name = lower($1)", [args.name]);
    if ((args.scope ?? "session") === "session") {
      if (!known && !args.name.includes(".")) throw new ToolError("unknown_setting", `no setting named ${args.name}`, "find names with pg_admin_settings");
      const local = ctx.sql.inTransaction;
      // A write, so the change is committed to this connection (a read would roll it back).
      const rs = args.value === null
        ? await ctx.sql.write("select set_config($1, reset_val, $2) from pg_settings where name = lower($1)", [args.name, local])
        : await ctx.sql.write("select set_config($1, $2, $3)", [args.name, args.value, local]);
      const value = (rs.rows[0]?.[0] as string | undefined) ?? null;
      const text = `${args.name} = ${value} (${local ? "until the transaction ends" : "this call's connection only; use scope=system or ALTER ROLE/DATABASE to persist"})`;
      return { structured: { name: args.name, value }, text };
    }
    if (!ctx.config.allowAlterSystem) throw new ToolError("alter_system_disabled", "ALTER SYSTEM is disabled in this deployment", "the operator can set ALLOW_ALTER_SYSTEM=true in the Worker's vars");
    if (!known) throw new ToolError("unknown_setting", `no setting named ${args.name}`, "find names with pg_admin_settings");
    const name = known.name.split(".").map(quoteIdent).join(".");
    const statement = args.value === null ? `ALTER SYSTEM RESET ${name}` : `ALTER SYSTEM SET ${name} = ${await serverLiteral(ctx.sql, args.value)}`;
    await ctx.sql.standalone(statement);
    if (args.reload) await ctx.sql.read("select pg_reload_conf()", [], undefined, { asServer: true });
    const restart = known.context === "postmaster";
    const text = `${statement}\n[done${args.reload ? ", configuration reloaded" : "; takes effect after pg_reload_conf()"}${restart ? "; this setting needs a server restart" : ""}]`;
    return { structured: { name: known.name, value: args.value }, text };
  },
});

export const adminTools = [adminVacuum, adminAnalyze, adminReindex, adminStats, adminSettings, adminSet];
