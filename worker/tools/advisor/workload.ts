/**
 * The workload the advisor plans against: statements the caller passes, or
 * the costliest ones pg_stat_statements has seen, each with its baseline plan.
 * Statements are only ever planned (EXPLAIN without ANALYZE): reads as the
 * read role, writes as the server's role inside a READ ONLY transaction, as
 * pg_query_explain does.
 */
import type { SqlExecutor } from "../../db/executor";
import type { Config } from "../../config";
import { splitStatements } from "../../sql/lexer";
import { checkReadOnly } from "../../sql/readonly";
import { statementsView } from "../monitor.tools";
import { toErrorInfo } from "../errors";
import { relationsByAlias, type PlanNode } from "./plan";
import { highestParam, planOf, planningSteps, type Plannable } from "./planning";
import { tableKey, type ExistingIndex } from "./candidates";

/** Characters of a statement shown in answers. */
export const SHOWN_CHARS = 120;

export interface WorkloadInput {
  sql: string;
  params?: unknown[];
  /** How much the statement counts (pg_stat_statements: its calls). @default 1 */
  weight?: number;
}

export interface Statement {
  id: number;
  sql: string;
  params: unknown[];
  /** The highest $n when it has placeholders and no values (planned generically), else 0. */
  generic: number;
  /** Not a read: planned as the server's role. */
  write: boolean;
  weight: number;
  /** Baseline total cost. */
  before: number;
  plan: PlanNode;
  /** tableKey()s of the user tables it reads or writes. */
  tables: Set<string>;
}

export interface Skipped {
  sql: string;
  reason: string;
}

const DML = new Set(["select", "with", "insert", "update", "delete", "merge", "table", "values"]);

export const oneLine = (sql: string, max = SHOWN_CHARS) => {
  const s = sql.replace(/\s+/g, " ").trim();
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
};

const SYSTEM_SCHEMAS = new Set(["pg_catalog", "information_schema", "pg_toast"]);
export const isUserSchema = (s: string) => !SYSTEM_SCHEMAS.has(s) && !s.startsWith("pg_temp") && !s.startsWith("pg_toast");

/** The costliest statements pg_stat_statements recorded in this database (reads and DML only). */
export async function topStatements(sql: SqlExecutor, limit: number, mentioning?: string[]): Promise<WorkloadInput[]> {
  const v = await statementsView(sql);
  const rows = await sql.rows<{ query: string; calls: number }>(
    `select query, calls::float8 as calls from ${v.view}
where dbid = (select oid from pg_database where datname = current_database()) and query ~* '^\\s*(select|with|insert|update|delete)\\M'
  and query !~* '\\m(pg_catalog|information_schema|pg_stat_|pg_class|pg_namespace|pg_attribute|pg_index|pg_roles|pg_locks|pg_settings|pg_extension|pg_database|pg_type|hypopg)'
  and ($2::text[] is null or exists (select 1 from unnest($2::text[]) w where strpos(lower(query), lower(w)) > 0))
order by ${v.total} desc limit $1`,
    [limit, mentioning ?? null],
  );
  return rows.map((r) => ({ sql: r.query, weight: r.calls }));
}

/** Plans each statement once; those that cannot be planned are skipped with PostgreSQL's reason. */
export async function baseline(sql: SqlExecutor, config: Config, inputs: WorkloadInput[]): Promise<{ statements: Statement[]; skipped: Skipped[] }> {
  const statements: Statement[] = [];
  const skipped: Skipped[] = [];
  for (const input of inputs) {
    const skip = (reason: string) => skipped.push({ sql: oneLine(input.sql), reason });
    let parts;
    try {
      parts = splitStatements(input.sql);
    } catch (e) {
      skip(toErrorInfo(e).message);
      continue;
    }
    if (parts.length !== 1) {
      skip(parts.length ? "more than one statement" : "empty");
      continue;
    }
    const text = parts[0]!.text;
    const first = parts[0]!.tokens[0]?.value ?? "";
    if (!DML.has(first)) {
      skip("only SELECT, INSERT, UPDATE, DELETE and MERGE are advised on");
      continue;
    }
    const read = checkReadOnly(text);
    if (!read.ok && read.refusedFunction) {
      skip(read.reason);
      continue;
    }
    const params = input.params ?? [];
    const generic = params.length === 0 ? highestParam(parts[0]!.tokens) : 0;
    const s: Plannable = { id: statements.length, sql: text, params, generic, write: !read.ok };
    try {
      const p = planningSteps([s], config.readRole);
      const outcome = await sql.trial(p.steps, { readOnly: true, cleanup: p.cleanup });
      if (outcome.failure) throw outcome.failure.error;
      const plan = planOf(outcome.results[p.explainAt.get(s.id)!]!.rows).Plan;
      const tables = new Set([...relationsByAlias(plan).values()].filter((r) => isUserSchema(r.schema)).map((r) => tableKey(r.schema, r.name)));
      if (tables.size === 0) {
        skip("it reads no user table");
        continue;
      }
      statements.push({ ...s, weight: input.weight ?? 1, before: plan["Total Cost"] ?? 0, plan, tables });
    } catch (e) {
      const info = toErrorInfo(e);
      skip(`${info.code}: ${info.message}`);
    }
  }
  return { statements, skipped };
}

export interface TableInfo {
  schema: string;
  name: string;
  rows: number;
  /** Heap bytes from relpages (no lock taken). */
  bytes: number;
  /** The server's role has the privileges of the owner (CREATE INDEX needs them). */
  owned: boolean;
  owner: string;
  indexes: ExistingIndex[];
  /** Rows written since the statistics were reset: inserts, non-HOT updates, deletes. */
  writes: number;
  lastAnalyze: string | null;
  /** pg_stats has rows for it (it was analyzed at least once). */
  hasStats: boolean;
  modifiedSinceAnalyze: number;
}

/** Catalog facts of the tables a workload touches, keyed by tableKey(). */
export async function tableInfo(sql: SqlExecutor, keys: Iterable<string>): Promise<Map<string, TableInfo>> {
  const names = [...keys];
  if (names.length === 0) return new Map();
  const rows = await sql.rows<TableInfo & { key: string }>(
    `select k.key, n.nspname as schema, c.relname as name, greatest(c.reltuples, 0)::float8 as rows,
  c.relpages::float8 * current_setting('block_size')::int as bytes,
  pg_has_role(current_user, c.relowner, 'USAGE') as owned, pg_get_userbyid(c.relowner) as owner,
  coalesce((select json_agg(json_build_object('name', i.relname, 'valid', x.indisvalid, 'partial', x.indpred is not null, 'am', am.amname,
     'columns', (select json_agg(a.attname order by k2.ord) from unnest(x.indkey::int2[]) with ordinality k2(attnum, ord)
                 left join pg_attribute a on a.attrelid = x.indrelid and a.attnum = k2.attnum and k2.attnum > 0 where k2.ord <= x.indnkeyatts))
     order by i.relname)
   from pg_index x join pg_class i on i.oid = x.indexrelid join pg_am am on am.oid = i.relam where x.indrelid = c.oid), '[]') as indexes,
  coalesce(s.n_tup_ins + s.n_tup_upd - s.n_tup_hot_upd + s.n_tup_del, 0)::float8 as writes,
  greatest(s.last_analyze, s.last_autoanalyze)::text as "lastAnalyze", coalesce(s.n_mod_since_analyze, 0)::float8 as "modifiedSinceAnalyze",
  exists (select 1 from pg_stats st where st.schemaname = n.nspname and st.tablename = c.relname) as "hasStats"
from unnest($1::text[]) k(key) join pg_class c on c.oid = to_regclass(k.key) join pg_namespace n on n.oid = c.relnamespace
left join pg_stat_all_tables s on s.relid = c.oid`,
    [names],
  );
  return new Map(rows.map(({ key, ...t }) => [key, t]));
}
