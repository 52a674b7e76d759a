/**
 * Index advice for a workload: candidates from the plans, each checked by the
 * planner (evaluate.ts), a greedy choice under a size budget, and one last
 * trial with every chosen index at once, whose costs are the ones reported.
 */
import type { ToolContext } from "../registry";
import { scopeAllows } from "../registry";
import { parseQualifiedName, quoteIdent, sqlName } from "../../sql/ident";
import { ToolError } from "../errors";
import { prettyBytes } from "../catalog";
import { coveringIndex, planCandidates, tableKey, columnList, type Candidate, type Quote } from "./candidates";
import { BUILD_MAX_TABLE_BYTES, MIN_GAIN, select, trial, type Evaluated, type Evaluator, type Method } from "./evaluate";
import { baseline, isUserSchema, oneLine, tableInfo, topStatements, type Skipped, type Statement, type TableInfo, type WorkloadInput } from "./workload";

/** Candidates evaluated per call at most (each is one trial). */
export const MAX_CANDIDATES = 20;
/** Statements taken from pg_stat_statements by default. */
export const DEFAULT_TOP = 20;
/** Default size budget: the larger of this and the size of the tables indexed. */
export const MIN_DEFAULT_BUDGET_BYTES = 64 * 1024 ** 2;

export interface IndexAdviceArgs {
  queries?: (string | { sql: string; params?: unknown[]; weight?: number })[];
  top?: number;
  tables?: string[];
  budgetBytes?: number;
  method?: "auto" | "hypopg" | "build";
}

export interface Helped {
  statement: string;
  weight: number;
  before: number;
  after: number;
}

export interface Recommended {
  ddl: string;
  table: string;
  columns: string[];
  bytes: number;
  helps: Helped[];
  writeOverhead: string;
}

export interface IndexAdvice {
  method: Method | "none";
  source: "queries" | "pg_stat_statements";
  statements: number;
  skipped: Skipped[];
  recommended: Recommended[];
  rejected: { index: string; reason: string }[];
  unverified: { index: string; reason: string }[];
  /** Weighted planner cost of the workload without and with the recommended indexes. */
  total: { before: number; after: number } | null;
  note?: string;
}

/** hypopg's schema (quoted) when the extension is installed in this database. */
async function hypopgSchema(ctx: ToolContext): Promise<string | undefined> {
  const [r] = await ctx.sql.rows<{ schema: string }>("select quote_ident(n.nspname) as schema from pg_extension e join pg_namespace n on n.oid = e.extnamespace where e.extname = 'hypopg'");
  return r?.schema;
}

/** Why this caller cannot have candidates built, or undefined when it can. */
export function buildRefusal(ctx: Pick<ToolContext, "config" | "principal">): string | undefined {
  if (ctx.config.readOnly) return "this deployment is read-only: candidates are not built (install hypopg to evaluate them without building)";
  if (!scopeAllows(ctx.principal.scopes, "write")) return "building candidates (in a rolled-back transaction) needs the write scope; install hypopg to evaluate them with the read scope";
  return undefined;
}

/** The evaluation method for this call, or the reason there is none. */
export async function chooseMethod(ctx: ToolContext, wanted: "auto" | "hypopg" | "build" = "auto"): Promise<{ ev?: Evaluator; none?: string }> {
  const hypo = await hypopgSchema(ctx);
  const refusal = buildRefusal(ctx);
  if (wanted === "hypopg" && !hypo) throw new ToolError("extension_missing", "the hypopg extension is not installed in this database", "CREATE EXTENSION hypopg (packages: postgresql-NN-hypopg), or use method auto/build");
  if (wanted === "build" && refusal) throw new ToolError(ctx.config.readOnly ? "read_only" : "insufficient_scope", refusal);
  if (wanted !== "build" && hypo) return { ev: { method: "hypopg", hypopgSchema: hypo, config: ctx.config, sql: ctx.sql } };
  if (!refusal) return { ev: { method: "build", config: ctx.config, sql: ctx.sql } };
  return { none: refusal };
}

/** Identifiers quoted as PostgreSQL's quote_ident() does: only where needed, so DDL reads as people write it. */
export async function quoter(ctx: ToolContext, names: Iterable<string>): Promise<Quote> {
  const rows = await ctx.sql.rows<{ n: string; q: string }>("select n, quote_ident(n) as q from unnest($1::text[]) n", [[...new Set(names)]]);
  const map = new Map(rows.map((r) => [r.n, r.q]));
  return (name) => map.get(name) ?? quoteIdent(name);
}

/** A name for the recommended index: table_col_col_idx, within 63 bytes. */
function indexName(c: Candidate): string {
  const base = `${c.table}_${c.columns.map((x) => x.name).join("_")}`.replace(/[^A-Za-z0-9_]/g, "_").toLowerCase();
  return `${base.slice(0, 59)}_idx`;
}

export async function adviseIndexes(args: IndexAdviceArgs, ctx: ToolContext): Promise<IndexAdvice> {
  const source = args.queries ? "queries" : "pg_stat_statements";
  const inputs: WorkloadInput[] = args.queries
    ? args.queries.map((q) => (typeof q === "string" ? { sql: q } : { sql: q.sql, params: q.params, weight: q.weight }))
    : await topStatements(ctx.sql, args.top ?? DEFAULT_TOP, args.tables?.map((t) => parseQualifiedName(t).name));
  let { statements, skipped } = await baseline(ctx.sql, ctx.config, inputs);
  if (args.tables?.length) {
    const names = args.tables.map(sqlName);
    const wanted = await ctx.sql.rows<{ name: string; schema: string | null; table: string | null }>(
      "select n.name, ns.nspname as schema, c.relname as table from unnest($1::text[]) n(name) left join pg_class c on c.oid = to_regclass(n.name) left join pg_namespace ns on ns.oid = c.relnamespace",
      [names],
    );
    const missing = wanted.filter((w) => !w.table).map((w) => w.name);
    if (missing.length) throw new ToolError("not_found", `no table named ${missing.join(", ")}`, "names are exact (case-sensitive); find them with pg_schema_list");
    const keys = new Set(wanted.map((w) => tableKey(w.schema!, w.table!)));
    statements = statements.filter((s) => [...s.tables].some((t) => keys.has(t)));
  }

  const found = new Map<string, Candidate>();
  for (const s of statements) planCandidates(s.id, s.plan, found, isUserSchema);
  const byId = new Map(statements.map((s) => [s.id, s]));
  const weightOf = (c: Candidate) => c.statements.reduce((n, id) => n + (byId.get(id)?.weight ?? 0) * (byId.get(id)?.before ?? 0), 0);
  const candidates = [...found.values()].sort((a, b) => weightOf(b) - weightOf(a) || a.columns.length - b.columns.length);
  const info = await tableInfo(ctx.sql, new Set([...statements.flatMap((s) => [...s.tables])]));
  const tableOf = (c: Candidate) => info.get(tableKey(c.schema, c.table));
  const q = await quoter(ctx, candidates.flatMap((c) => [c.schema, c.table, ...c.columns.map((x) => x.name)]));
  const label = (c: Candidate) => `${tableKey(c.schema, c.table, q)} (${columnList(c.columns, q)})`;

  const { ev, none } = await chooseMethod(ctx, args.method);
  const rejected: IndexAdvice["rejected"] = [];
  const unverified: IndexAdvice["unverified"] = [];
  const evaluated: Evaluated[] = [];
  let tried = 0;
  for (const c of candidates) {
    const t = tableOf(c);
    const covering = t && coveringIndex(c, t.indexes);
    if (covering) {
      rejected.push({ index: label(c), reason: `already indexed: ${covering.name} (${covering.columns.join(", ")}) starts with these columns` });
      continue;
    }
    if (!ev) {
      unverified.push({ index: label(c), reason: `not evaluated: ${none}` });
      continue;
    }
    if (!t) continue;
    if (ev.method === "build") {
      if (!t.owned) {
        unverified.push({ index: label(c), reason: `not evaluated: building it needs the privileges of ${t.owner}, which owns the table (GRANT ${quoteIdent(t.owner)} TO the server's role, or install hypopg)` });
        continue;
      }
      if (t.bytes > BUILD_MAX_TABLE_BYTES) {
        unverified.push({ index: label(c), reason: `not evaluated: the table is ${prettyBytes(t.bytes)}, over the ${prettyBytes(BUILD_MAX_TABLE_BYTES)} a trial build may lock; install hypopg` });
        continue;
      }
    }
    if (tried >= MAX_CANDIDATES) {
      unverified.push({ index: label(c), reason: `not evaluated: over ${MAX_CANDIDATES} candidates per call (pass fewer statements or tables)` });
      continue;
    }
    tried++;
    const affected = statements.filter((s) => s.tables.has(tableKey(c.schema, c.table)));
    const r = await trial(ev, [c], affected);
    if (!r.ok) {
      (/lock_timeout|time limit/.test(r.reason) ? unverified : rejected).push({ index: label(c), reason: r.reason });
      continue;
    }
    const after = new Map<number, number>();
    let best: { before: number; after: number } | undefined;
    for (const s of affected) {
      const a = r.after.get(s.id)!;
      if (!a.uses.has(0)) continue;
      after.set(s.id, a.cost);
      if (!best || a.cost / s.before < best.after / best.before) best = { before: s.before, after: a.cost };
    }
    if (!best) rejected.push({ index: label(c), reason: `the planner does not use it for ${affected.length === 1 ? "the statement" : `any of ${affected.length} statements`}` });
    else if (best.after > best.before * (1 - MIN_GAIN)) rejected.push({ index: label(c), reason: `used, but no statement's cost falls by 10% (best ${fmt(best.before)} → ${fmt(best.after)})` });
    else evaluated.push({ candidate: c, bytes: r.bytes[0]!, after });
  }

  const tablesBytes = [...info.values()].reduce((n, t) => n + t.bytes, 0);
  const budget = args.budgetBytes ?? Math.max(MIN_DEFAULT_BUDGET_BYTES, tablesBytes);
  const selection = select(evaluated, statements, budget, label);
  for (const r of selection.rejected) rejected.push({ index: label(r.candidate), reason: r.reason });

  const advice: IndexAdvice = { method: ev?.method ?? "none", source, statements: statements.length, skipped, recommended: [], rejected, unverified, total: null };
  if (!ev || selection.chosen.length === 0) return advice;

  // The proof: every chosen index at once, every statement planned again.
  const chosen = selection.chosen.map((e) => e.candidate);
  const proof = await trial(ev, chosen, statements);
  if (!proof.ok) {
    advice.note = `the chosen indexes could not be checked together (${proof.reason}); each was checked alone`;
  }
  const names = chosen.map(indexName);
  const free = new Set((await ctx.sql.rows<{ n: string }>("select n from unnest($1::text[]) n where to_regclass(n) is null", [chosen.map((c, i) => `${quoteIdent(c.schema)}.${quoteIdent(names[i]!)}`)])).map((r) => r.n));
  advice.recommended = selection.chosen.map((e, i) => {
    const c = e.candidate;
    const t = tableOf(c)!;
    const qualified = `${quoteIdent(c.schema)}.${quoteIdent(names[i]!)}`;
    const helps: Helped[] = statements
      .filter((s) => (proof.ok ? proof.after.get(s.id)!.uses.has(i) : e.after.has(s.id)))
      .map((s) => ({ statement: oneLine(s.sql), weight: s.weight, before: round(s.before), after: round(proof.ok ? proof.after.get(s.id)!.cost : e.after.get(s.id)!) }));
    return {
      ddl: `CREATE INDEX CONCURRENTLY ${free.has(qualified) ? `${/^[a-z_][a-z0-9_]*$/.test(names[i]!) ? names[i] : quoteIdent(names[i]!)} ` : ""}ON ${tableKey(c.schema, c.table, q)} (${columnList(c.columns, q)});`,
      table: tableKey(c.schema, c.table, q),
      columns: c.columns.map((x) => x.name),
      bytes: proof.ok ? proof.bytes[i]! : e.bytes,
      helps,
      writeOverhead: writeOverhead(t),
    };
  });
  if (proof.ok) {
    const before = statements.reduce((n, s) => n + s.weight * s.before, 0);
    const after = statements.reduce((n, s) => n + s.weight * proof.after.get(s.id)!.cost, 0);
    advice.total = { before: round(before), after: round(after) };
  }
  return advice;
}

function writeOverhead(t: TableInfo): string {
  const n = t.indexes.length;
  return `one more index to update on every insert, delete and non-HOT update (${n} → ${n + 1}); ${t.writes} such row writes since statistics were reset`;
}

const round = (n: number) => Math.round(n * 100) / 100;
const fmt = (n: number) => (n >= 100 ? Math.round(n).toString() : n.toFixed(2));

export function renderAdvice(a: IndexAdvice): string {
  const how = a.method === "hypopg" ? "hypothetical indexes (hypopg)" : a.method === "build" ? "trial builds, rolled back" : "not evaluated";
  const out = [`${a.statements} statement(s) from ${a.source}; checked by the planner with ${how}`];
  if (a.total) out.push(`total cost ${fmt(a.total.before)} → ${fmt(a.total.after)}${a.source === "pg_stat_statements" ? " (weighted by calls)" : ""}`);
  if (a.recommended.length) out.push("RECOMMENDED");
  for (const r of a.recommended) {
    out.push(`${r.ddl} -- ${prettyBytes(r.bytes)}; ${r.writeOverhead}`);
    for (const h of r.helps) out.push(`  cost ${fmt(h.before)} → ${fmt(h.after)}${h.weight !== 1 ? ` x${h.weight}` : ""}: ${h.statement}`);
  }
  if (a.recommended.length === 0) out.push("no index to recommend");
  if (a.rejected.length) out.push("REJECTED", ...a.rejected.map((r) => `${r.index}: ${r.reason}`));
  if (a.unverified.length) out.push("UNVERIFIED", ...a.unverified.map((r) => `${r.index}: ${r.reason}`));
  if (a.skipped.length) out.push("SKIPPED", ...a.skipped.map((s) => `${s.sql}: ${s.reason}`));
  if (a.note) out.push(`note: ${a.note}`);
  return out.join("\n");
}
