/**
 * Tuning one statement: its plan (with `analyze`, actual rows), the problems
 * in it, and fixes that the planner has checked the same way the index
 * advisor checks candidates, in a transaction that is always rolled back.
 *
 * Problems: a sequential scan of a large table under a selective filter; a
 * row estimate off by more than 10x (analyze); a sort or hash spilling to
 * disk (analyze); a nested loop over a large outer input into a sequential
 * scan; a table without statistics. Fixes: an index (as pg_advisor_indexes
 * evaluates one), ANALYZE, extended statistics (CREATE STATISTICS, then
 * ANALYZE, in the trial), work_mem for the statement.
 */
import type { ToolContext } from "../registry";
import { queryExplain, renderPlan } from "../query.tools";
import { ToolError } from "../errors";
import type { TrialStep } from "../../db/executor";
import { setLocalRole } from "../../db/transaction";
import { quoteIdent } from "../../sql/ident";
import { planCandidates, tableKey, columnList, type Candidate } from "./candidates";
import { comparisons, isScan, relationsByAlias, walk, type ExplainOutput, type PlanNode } from "./plan";
import { planOf, planningSteps } from "./planning";
import { baseline, isUserSchema, tableInfo, type Statement, type TableInfo } from "./workload";
import { MIN_GAIN, trial } from "./evaluate";
import { buildRefusal, chooseMethod, quoter } from "./indexes";

/** A table this large is worth an index when a filter keeps a small share of it. */
export const LARGE_TABLE_ROWS = 10_000;
/** "Selective": the filter keeps at most this share of the rows. */
export const SELECTIVE = 0.1;
/** A row estimate this many times off (either way) is a misestimate. */
export const MISESTIMATE_FACTOR = 10;
/** Below this many rows either way, an estimate error does not change plans. */
const MISESTIMATE_MIN_ROWS = 100;
/** A nested loop whose outer side has more rows than this is "over a large input". */
export const NESTED_LOOP_OUTER_ROWS = 1_000;
/** Index candidates evaluated for one statement at most. */
const MAX_QUERY_CANDIDATES = 8;

export interface Problem {
  kind: "seq_scan" | "misestimate" | "sort_spill" | "hash_spill" | "nested_loop" | "missing_statistics";
  node: string;
  detail: string;
}

export interface Fix {
  kind: "index" | "analyze" | "statistics" | "work_mem";
  sql: string;
  /** What the planner said with the fix in place, or why it was not checked. */
  checked: string;
  /** The planner confirmed it helps. */
  helps: boolean | null;
}

export interface QueryAdvice {
  plan: unknown;
  executed: boolean;
  text: string;
  problems: Problem[];
  fixes: Fix[];
}

const rowsOf = (n: PlanNode) => (n["Actual Rows"] ?? 0) * (n["Actual Loops"] ?? 1);
const describe = (n: PlanNode) => `${n["Node Type"]}${n["Relation Name"] ? ` on ${n["Relation Name"]}${n.Alias && n.Alias !== n["Relation Name"] ? ` ${n.Alias}` : ""}` : ""}`;
const fmt = (n: number) => (n >= 100 ? Math.round(n).toString() : n.toFixed(2));

export async function adviseQuery(args: { sql: string; params?: unknown[]; analyze?: boolean }, ctx: ToolContext): Promise<QueryAdvice> {
  // The statement itself, through the same checks as pg_query_explain (a write is analyzed only for write scopes, and rolled back).
  const base = await baseline(ctx.sql, ctx.config, [{ sql: args.sql, params: args.params }]);
  const stmt: Statement | undefined = base.statements[0];
  if (!stmt) throw new ToolError("cannot_plan", base.skipped[0]?.reason ?? "the statement could not be planned", "pass one SELECT/INSERT/UPDATE/DELETE, with params for its $n");
  let top: ExplainOutput;
  if (args.analyze) {
    if (stmt.generic) throw new ToolError("missing_params", "analyze executes the statement: pass params for its $n placeholders");
    const out = await queryExplain.handler({ sql: args.sql, params: args.params, analyze: true, buffers: true, verbose: true }, ctx);
    top = (out.structured.plan as ExplainOutput[])[0]!;
  } else {
    top = { Plan: stmt.plan };
  }
  const plan = top.Plan;
  const aliases = relationsByAlias(plan);
  const info = await tableInfo(ctx.sql, new Set([...aliases.values()].filter((r) => isUserSchema(r.schema)).map((r) => tableKey(r.schema, r.name))));
  const tableOfAlias = (alias: string | undefined) => {
    const r = alias ? aliases.get(alias) : undefined;
    return r ? { key: tableKey(r.schema, r.name), rel: r, info: info.get(tableKey(r.schema, r.name)) } : undefined;
  };
  const problems: Problem[] = [];
  const fixes: Fix[] = [];
  const analyzed = !!args.analyze;

  // ---- problems ----
  const misestimated = new Map<string, PlanNode>();
  walk(plan, (n) => {
    const t = tableOfAlias(n.Alias);
    if (n["Node Type"] === "Seq Scan" && t?.info && t.info.rows >= LARGE_TABLE_ROWS && n.Filter) {
      const kept = analyzed ? rowsOf(n) / Math.max(1, rowsOf(n) + (n["Rows Removed by Filter"] ?? 0) * (n["Actual Loops"] ?? 1)) : (n["Plan Rows"] ?? 0) / Math.max(1, t.info.rows);
      if (kept <= SELECTIVE) problems.push({ kind: "seq_scan", node: describe(n), detail: `reads all ~${Math.round(t.info.rows)} rows to keep ${(kept * 100).toFixed(2)}% (Filter: ${n.Filter})` });
    }
    if (analyzed && n["Actual Loops"]) {
      const est = n["Plan Rows"] ?? 0;
      const act = n["Actual Rows"] ?? 0;
      const factor = Math.max(est, act) / Math.max(1, Math.min(est, act));
      if (factor > MISESTIMATE_FACTOR && Math.max(est, act) >= MISESTIMATE_MIN_ROWS) {
        problems.push({ kind: "misestimate", node: describe(n), detail: `estimated ${est} rows, actual ${act} (${Math.round(factor)}x ${act > est ? "under" : "over"})` });
        if (n.Alias && isScan(n)) misestimated.set(n.Alias, n);
      }
    }
    if (n["Sort Space Type"] === "Disk") problems.push({ kind: "sort_spill", node: describe(n), detail: `${n["Sort Method"]} spilled ${n["Sort Space Used"]} kB to disk (work_mem ${"too small"})` });
    if ((n["Hash Batches"] ?? 1) > 1) problems.push({ kind: "hash_spill", node: describe(n), detail: `${n["Hash Batches"]} batches (peak ${n["Peak Memory Usage"]} kB): the hash table did not fit in work_mem` });
    if (n["Node Type"] === "Nested Loop" && n.Plans?.length === 2) {
      const [outer, inner] = n.Plans as [PlanNode, PlanNode];
      const outerRows = analyzed ? rowsOf(outer) : (outer["Plan Rows"] ?? 0);
      const innerTable = tableOfAlias(inner.Alias);
      if (outerRows > NESTED_LOOP_OUTER_ROWS && inner["Node Type"] === "Seq Scan" && (innerTable?.info?.rows ?? 0) > NESTED_LOOP_OUTER_ROWS) {
        problems.push({ kind: "nested_loop", node: describe(n), detail: `${Math.round(outerRows)} outer rows, each scanning ${inner["Relation Name"]} sequentially` });
      }
    }
  });
  const unanalyzed = [...new Map([...aliases.values()].map((r) => [tableKey(r.schema, r.name), r])).entries()].filter(([k]) => info.get(k) && !info.get(k)!.hasStats && info.get(k)!.rows !== 0);
  for (const [, r] of unanalyzed) problems.push({ kind: "missing_statistics", node: `${r.schema}.${r.name}`, detail: "never analyzed: the planner guesses its size and value distribution" });

  // ---- fixes, each checked by the planner ----
  const refusal = buildRefusal(ctx);
  // Statistics: for tables never analyzed or stale, ANALYZE; for a misestimated scan filtering on several columns, extended statistics.
  const statsFixes: { kind: "analyze" | "statistics"; table: string; sql: string[]; alias?: string; t: TableInfo }[] = [];
  for (const [k, r] of unanalyzed) statsFixes.push({ kind: "analyze", table: k, sql: [`ANALYZE ${k}`], t: info.get(k)!, alias: [...aliases].find(([, v]) => v === r)?.[0] });
  for (const [alias, n] of misestimated) {
    const t = tableOfAlias(alias);
    if (!t?.info || unanalyzed.some(([k]) => k === t.key)) continue;
    const stale = !t.info.lastAnalyze || t.info.modifiedSinceAnalyze > 0.1 * Math.max(1, t.info.rows);
    const cols = [...new Set(comparisons(n.Filter ?? n["Index Cond"] ?? n["Recheck Cond"]).filter((c) => c.alias === alias && !c.other).map((c) => c.column))];
    if (stale) statsFixes.push({ kind: "analyze", table: t.key, sql: [`ANALYZE ${t.key}`], alias, t: t.info });
    // Columns filtered together whose values depend on each other: per-column statistics multiply selectivities as if independent.
    if (cols.length >= 2) {
      const name = quoteIdent(`${t.rel.name}_${cols.join("_")}_stats`.slice(0, 63));
      statsFixes.push({ kind: "statistics", table: t.key, sql: [`CREATE STATISTICS ${quoteIdent(t.rel.schema)}.${name} (dependencies, ndistinct, mcv) ON ${cols.map(quoteIdent).join(", ")} FROM ${t.key}`, `ANALYZE ${t.key}`], alias, t: t.info });
    }
  }
  for (const f of statsFixes) {
    const sql = f.sql.join("; ");
    if (refusal) {
      fixes.push({ kind: f.kind, sql, checked: `not checked: ${refusal.replace(/building candidates/, "checking statistics")}`, helps: null });
      continue;
    }
    if (!f.t.owned && f.kind === "statistics") {
      fixes.push({ kind: f.kind, sql, checked: `not checked: CREATE STATISTICS needs the privileges of ${f.t.owner}, which owns the table`, helps: null });
      continue;
    }
    const steps: TrialStep[] = f.sql.map((s) => ({ sql: s }));
    const p = planningSteps([stmt], ctx.config.readRole, steps);
    const outcome = await ctx.sql.trial(p.steps, { cleanup: p.cleanup, lockTimeoutMs: 1_000 });
    if (outcome.failure) {
      const e = outcome.failure.error as { message?: string };
      fixes.push({ kind: f.kind, sql, checked: `not checked: ${e.message ?? String(e)}`, helps: null });
      continue;
    }
    const newPlan = planOf(outcome.results[p.explainAt.get(stmt.id)!]!.rows).Plan;
    let newEst: number | undefined;
    walk(newPlan, (n) => {
      if (newEst === undefined && n.Alias === f.alias && isScan(n)) newEst = n["Plan Rows"];
    });
    const old = f.alias ? misestimated.get(f.alias) : undefined;
    if (old && newEst !== undefined) {
      const act = old["Actual Rows"] ?? 0;
      const before = Math.max(old["Plan Rows"]!, act) / Math.max(1, Math.min(old["Plan Rows"]!, act));
      const after = Math.max(newEst, act) / Math.max(1, Math.min(newEst, act));
      fixes.push({ kind: f.kind, sql, checked: `estimate ${old["Plan Rows"]} → ${newEst} rows (actual ${act}); cost ${fmt(stmt.before)} → ${fmt(newPlan["Total Cost"] ?? 0)}`, helps: after < before / 2 });
    } else {
      fixes.push({ kind: f.kind, sql, checked: `${newEst !== undefined ? `estimate now ${newEst} rows; ` : ""}cost ${fmt(stmt.before)} → ${fmt(newPlan["Total Cost"] ?? 0)}`, helps: true });
    }
  }

  // Memory: re-run the read under a larger work_mem (reads only: a write is not executed twice).
  for (const p of problems.filter((x) => x.kind === "sort_spill" || x.kind === "hash_spill")) {
    let needKb = 0;
    walk(plan, (n) => {
      if (n["Sort Space Type"] === "Disk") needKb = Math.max(needKb, (n["Sort Space Used"] ?? 0) * 2);
      if ((n["Hash Batches"] ?? 1) > 1) needKb = Math.max(needKb, (n["Peak Memory Usage"] ?? 0) * (n["Hash Batches"] ?? 1) * 2);
    });
    const workMem = `${Math.ceil(Math.max(needKb, 4096) / 1024)}MB`;
    const sql = `SET work_mem = '${workMem}'`;
    if (stmt.write) {
      fixes.push({ kind: "work_mem", sql, checked: "not checked: the statement writes, and is not executed twice", helps: null });
      break;
    }
    const steps: TrialStep[] = [{ sql: `SET LOCAL work_mem = '${workMem}'` }, ...(ctx.config.readRole ? [{ sql: setLocalRole(ctx.config.readRole) }] : []), { sql: `EXPLAIN (FORMAT JSON, ANALYZE) ${stmt.sql}`, params: stmt.params }];
    const outcome = await ctx.sql.trial(steps, { readOnly: true });
    if (outcome.failure) {
      fixes.push({ kind: "work_mem", sql, checked: `not checked: ${(outcome.failure.error as Error).message}`, helps: null });
      break;
    }
    let spills = 0;
    walk(planOf(outcome.results[steps.length - 1]!.rows).Plan, (n) => {
      if (n["Sort Space Type"] === "Disk" || (n["Hash Batches"] ?? 1) > 1) spills++;
    });
    fixes.push({ kind: "work_mem", sql: `${sql}; -- for this statement's session or role only`, checked: spills ? "still spills at this size" : "no sort or hash spills to disk with it", helps: spills === 0 });
    break;
  }

  // Indexes: the statement's own candidates, each planned in (hypopg or a rolled-back build).
  if (problems.some((p) => p.kind === "seq_scan" || p.kind === "nested_loop" || p.kind === "sort_spill")) {
    const found = new Map<string, Candidate>();
    planCandidates(stmt.id, stmt.plan, found, isUserSchema);
    const { ev, none } = await chooseMethod(ctx);
    let best: { c: Candidate; after: number } | undefined;
    const candidates = [...found.values()].filter((c) => info.get(tableKey(c.schema, c.table))).slice(0, MAX_QUERY_CANDIDATES);
    const q = await quoter(ctx, candidates.flatMap((c) => [c.schema, c.table, ...c.columns.map((x) => x.name)]));
    const ddl = (c: Candidate) => `CREATE INDEX CONCURRENTLY ON ${tableKey(c.schema, c.table, q)} (${columnList(c.columns, q)})`;
    for (const c of candidates) {
      const t = info.get(tableKey(c.schema, c.table))!;
      if (!ev) {
        fixes.push({ kind: "index", sql: ddl(c), checked: `not checked: ${none}`, helps: null });
        continue;
      }
      if (ev.method === "build" && !t.owned) {
        fixes.push({ kind: "index", sql: ddl(c), checked: `not checked: building it needs the privileges of ${t.owner}, which owns the table`, helps: null });
        continue;
      }
      const r = await trial(ev, [c], [stmt]);
      if (!r.ok) continue;
      const a = r.after.get(stmt.id)!;
      if (a.uses.has(0) && a.cost <= stmt.before * (1 - MIN_GAIN) && (!best || a.cost < best.after)) best = { c, after: a.cost };
    }
    if (best) fixes.push({ kind: "index", sql: ddl(best.c), checked: `cost ${fmt(stmt.before)} → ${fmt(best.after)} (${ev!.method === "hypopg" ? "hypothetical index" : "built and rolled back"})`, helps: true });
    else if (ev && candidates.length) fixes.push({ kind: "index", sql: "", checked: `none of ${candidates.length} candidate index(es) lowers the cost by 10%`, helps: false });
  }

  const lines = renderPlan(plan as Parameters<typeof renderPlan>[0]);
  if (top["Execution Time"] !== undefined) lines.push(`Execution Time: ${top["Execution Time"]} ms`);
  return { plan: [top], executed: analyzed, text: lines.join("\n"), problems, fixes: fixes.filter((f) => f.sql || f.helps === false) };
}

export function renderQueryAdvice(a: QueryAdvice): string {
  const out = [a.text, a.problems.length ? "PROBLEMS" : "no problems found"];
  for (const p of a.problems) out.push(`${p.kind}\t${p.node}: ${p.detail}`);
  if (a.fixes.length) out.push("FIXES");
  for (const f of a.fixes) out.push(`${f.helps === true ? "helps" : f.helps === false ? "no help" : "unchecked"}\t${f.sql ? `${f.sql}; -- ` : ""}${f.checked}`);
  return out.join("\n");
}
