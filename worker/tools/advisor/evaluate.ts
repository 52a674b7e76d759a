/**
 * Asking the planner whether a candidate index helps: the candidate is made
 * to exist for one transaction, every affected statement is planned again,
 * and the transaction is rolled back.
 *
 * - hypopg (when the extension is installed): a hypothetical index, nothing
 *   built; READ ONLY; hypopg_reset() before the rollback, since hypothetical
 *   indexes live in the backend, not in the transaction.
 * - build: CREATE INDEX inside a transaction that is always rolled back
 *   (PostgreSQL's DDL is transactional). It runs as the server's role, which
 *   needs the privileges of the table's owner; the read role never can. It
 *   holds a SHARE lock (writes to the table wait) while it runs, so it is
 *   bounded: tables up to BUILD_MAX_TABLE_BYTES, a short lock_timeout (never
 *   queue behind a writer and make everyone else queue behind us) and a
 *   statement_timeout on the build.
 *
 * After the index exists the transaction turns READ ONLY and the statements
 * are planned as pg_query_explain plans them: reads as the read role.
 */
import type { Config } from "../../config";
import type { SqlExecutor, TrialStep } from "../../db/executor";
import { quoteIdent } from "../../sql/ident";
import { toErrorInfo } from "../errors";
import { columnList, tableKey, type Candidate } from "./candidates";
import { indexesUsed } from "./plan";
import { planOf, planningSteps } from "./planning";
import type { Statement } from "./workload";

export type Method = "hypopg" | "build";

/** A trial build refuses tables larger than this (the build write-locks the table while it runs). */
export const BUILD_MAX_TABLE_BYTES = 256 * 1024 ** 2;
/** statement_timeout of one trial build. */
export const BUILD_TIMEOUT_MS = 10_000;
/** lock_timeout of a trial: give up rather than wait behind (and in front of) other sessions' locks. */
export const BUILD_LOCK_TIMEOUT_MS = 1_000;
/** A candidate helps a statement when it lowers the planner's cost by at least this fraction. */
export const MIN_GAIN = 0.1;

export interface TrialResult {
  ok: true;
  /** Bytes of each candidate, in order (real for a build, estimated by hypopg). */
  bytes: number[];
  /** Per statement id: the cost with the candidates, and which of them the plan uses. */
  after: Map<number, { cost: number; uses: Set<number> }>;
}

export type TrialOutcome = TrialResult | { ok: false; reason: string };

export interface Evaluator {
  method: Method;
  /** hypopg's schema (quoted), for the hypopg method. */
  hypopgSchema?: string;
  config: Config;
  sql: SqlExecutor;
}

const createIndexSql = (c: Candidate, name?: string) => `CREATE INDEX${name ? ` ${quoteIdent(name)}` : ""} ON ${tableKey(c.schema, c.table)} (${columnList(c.columns)})`;

/** Planner costs of `statements` with all of `candidates` present. */
export async function trial(ev: Evaluator, candidates: Candidate[], statements: Statement[]): Promise<TrialOutcome> {
  const steps: TrialStep[] = [];
  const names: string[] = [];
  const nonce = Math.random().toString(36).slice(2, 8);
  if (ev.method === "build") {
    steps.push({ sql: `SET LOCAL statement_timeout = ${Math.min(BUILD_TIMEOUT_MS, ev.config.statementTimeoutMs)}` });
    candidates.forEach((c, i) => {
      names.push(`pgmcp_trial_${nonce}_${i}`);
      steps.push({ sql: createIndexSql(c, names[i]) });
    });
    steps.push({ sql: `select ${candidates.map((c, i) => `pg_relation_size(to_regclass($${i + 1}))::float8 as "${i}"`).join(", ")}`, params: candidates.map((c, i) => `${quoteIdent(c.schema)}.${quoteIdent(names[i]!)}`) });
  } else {
    const h = ev.hypopgSchema;
    for (const c of candidates) steps.push({ sql: `select h.indexname, ${h}.hypopg_relation_size(h.indexrelid)::float8 from ${h}.hypopg_create_index($1) h`, params: [createIndexSql(c)] });
  }
  const sizeStep = ev.method === "build" ? steps.length - 1 : -1;
  const hypoSteps = ev.method === "hypopg" ? candidates.map((_, i) => i) : [];
  steps.push({ sql: `SET LOCAL statement_timeout = ${ev.config.statementTimeoutMs}` });
  const planning = planningSteps(statements, ev.config.readRole, steps);
  const explainAt = planning.explainAt;
  const reset = ev.method === "hypopg" ? [{ sql: `select ${ev.hypopgSchema}.hypopg_reset()` }] : [];
  const cleanup = (completed: number) => [...planning.cleanup(completed), ...reset];
  let outcome;
  try {
    outcome = await ev.sql.trial(steps, { readOnly: ev.method === "hypopg", lockTimeoutMs: BUILD_LOCK_TIMEOUT_MS, cleanup });
  } catch (e) {
    return { ok: false, reason: failureReason(e) };
  }
  if (outcome.failure) return { ok: false, reason: failureReason(outcome.failure.error) };
  const r = outcome.results;
  let bytes: number[];
  if (ev.method === "build") {
    const row = r[sizeStep]!.rows[0]!;
    bytes = candidates.map((_, i) => Number(row[i]));
  } else {
    // hypopg names its indexes "<oid>btree_table_col" and estimates their size.
    for (const i of hypoSteps) names.push(String(r[i]!.rows[0]![0]));
    bytes = hypoSteps.map((i) => Number(r[i]!.rows[0]![1]));
  }
  const after = new Map<number, { cost: number; uses: Set<number> }>();
  for (const s of statements) {
    const plan = planOf(r[explainAt.get(s.id)!]!.rows).Plan;
    const used = indexesUsed(plan);
    after.set(s.id, { cost: plan["Total Cost"] ?? 0, uses: new Set(names.map((n, i) => (used.has(n) ? i : -1)).filter((i) => i >= 0)) });
  }
  return { ok: true, bytes, after };
}

function failureReason(e: unknown): string {
  const info = toErrorInfo(e);
  if (info.code === "55P03") return "the table is locked by another session (lock_timeout): try again when it is quieter";
  if (info.code === "57014") return "the trial build took longer than its time limit";
  return `${info.code}: ${info.message}`;
}

// ---- selection -------------------------------------------------------------------

export interface Evaluated {
  candidate: Candidate;
  bytes: number;
  /** Statement id -> cost with this candidate alone, where the plan uses it. */
  after: Map<number, number>;
}

export interface Selection {
  chosen: Evaluated[];
  rejected: { candidate: Candidate; reason: string }[];
}

const fmt = (n: number) => (n >= 100 ? Math.round(n).toString() : n.toFixed(2));

/**
 * Greedy: repeatedly take the candidate that lowers the weighted cost of the
 * workload most, given the ones already taken, while it fits the budget. A
 * candidate whose statements an earlier choice already serves as well is
 * redundant, and is rejected naming that choice.
 */
export function select(evaluated: Evaluated[], statements: Statement[], budgetBytes: number, label: (c: Candidate) => string = (c) => c.key): Selection {
  const byId = new Map(statements.map((s) => [s.id, s]));
  const current = new Map(statements.map((s) => [s.id, s.before]));
  const servedBy = new Map<number, Evaluated>();
  const chosen: Evaluated[] = [];
  const rejected: Selection["rejected"] = [];
  let remaining = budgetBytes;
  const gain = (e: Evaluated) => {
    let g = 0;
    for (const [id, cost] of e.after) {
      const now = current.get(id)!;
      if (cost <= now * (1 - MIN_GAIN)) g += byId.get(id)!.weight * (now - cost);
    }
    return g;
  };
  const pool = [...evaluated];
  while (pool.length) {
    pool.sort((a, b) => gain(b) - gain(a) || a.bytes - b.bytes);
    const best = pool.shift()!;
    if (gain(best) <= 0) {
      const by = [...best.after.keys()].map((id) => servedBy.get(id)).find(Boolean);
      const helped = [...best.after.keys()][0]!;
      rejected.push({ candidate: best.candidate, reason: by ? `redundant: ${label(by.candidate)} already brings the same statements to cost ${fmt(current.get(helped)!)} (this one: ${fmt(best.after.get(helped)!)})` : "no statement gains 10% or more" });
      continue;
    }
    if (best.bytes > remaining) {
      rejected.push({ candidate: best.candidate, reason: `over the size budget (${Math.round(best.bytes / 1024)} kB, ${Math.max(0, Math.round(remaining / 1024))} kB left)` });
      continue;
    }
    chosen.push(best);
    remaining -= best.bytes;
    for (const [id, cost] of best.after) {
      if (cost < current.get(id)!) {
        current.set(id, cost);
        servedBy.set(id, best);
      }
    }
  }
  return { chosen, rejected };
}
