/**
 * The steps that plan workload statements inside a trial transaction. A
 * statement with $n placeholders and no values (pg_stat_statements keeps them
 * normalized so) is planned as PostgreSQL plans a prepared statement's
 * generic plan: PREPARE, then EXPLAIN EXECUTE with NULLs under
 * plan_cache_mode = force_generic_plan (the values are never looked at), then
 * DEALLOCATE. This works on every supported version (EXPLAIN GENERIC_PLAN is
 * 16+ and cannot take its placeholders through the extended protocol, where
 * they count as the protocol's own parameters). Writes are planned as the
 * server's role (their privileges are checked as if they ran; nothing runs),
 * then the transaction switches to the read role for the reads.
 */
import type { TrialStep } from "../../db/executor";
import { setLocalRole } from "../../db/transaction";
import type { ExplainOutput } from "./plan";

export interface Plannable {
  id: number;
  sql: string;
  params: unknown[];
  /** The highest $n when planned generically, else 0. */
  generic: number;
  write: boolean;
}

export interface PlanningSteps {
  steps: TrialStep[];
  /** Statement id -> index of its EXPLAIN step. */
  explainAt: Map<number, number>;
  /** The DEALLOCATEs still owed when only `completed` steps ran. */
  cleanup(completed: number): TrialStep[];
}

/** Appends to `steps` (already holding `steps.length` steps) the planning of `statements`. */
export function planningSteps(statements: readonly Plannable[], readRole: string | undefined, steps: TrialStep[] = []): PlanningSteps {
  const explainAt = new Map<number, number>();
  const prepared: { name: string; at: number; deallocAt: number }[] = [];
  const nonce = Math.random().toString(36).slice(2, 8);
  steps.push({ sql: "SET LOCAL transaction_read_only = on" }, { sql: "SET LOCAL plan_cache_mode = force_generic_plan" });
  const ordered = [...statements.filter((s) => s.write), ...statements.filter((s) => !s.write)];
  let switched = false;
  for (const s of ordered) {
    if (!s.write && !switched && readRole) {
      steps.push({ sql: setLocalRole(readRole) });
      switched = true;
    }
    if (s.generic) {
      const name = `pgmcp_plan_${nonce}_${s.id}`;
      const at = steps.length;
      steps.push({ sql: `PREPARE ${name} AS ${s.sql}` });
      explainAt.set(s.id, steps.length);
      steps.push({ sql: `EXPLAIN (FORMAT JSON, VERBOSE) EXECUTE ${name}(${Array.from({ length: s.generic }, () => "NULL").join(", ")})` });
      prepared.push({ name, at, deallocAt: steps.length });
      steps.push({ sql: `DEALLOCATE ${name}` });
    } else {
      explainAt.set(s.id, steps.length);
      steps.push({ sql: `EXPLAIN (FORMAT JSON, VERBOSE) ${s.sql}`, params: s.params });
    }
  }
  return {
    steps,
    explainAt,
    // Prepared statements belong to the connection, not the transaction: a failure between PREPARE and DEALLOCATE must still deallocate.
    cleanup: (completed) => prepared.filter((p) => p.at < completed && p.deallocAt >= completed).map((p) => ({ sql: `DEALLOCATE ${p.name}` })),
  };
}

/** The plan an EXPLAIN step returned. */
export function planOf(rows: unknown[][]): ExplainOutput {
  return (rows[0]![0] as ExplainOutput[])[0]!;
}

/** The highest $n placeholder in a statement's tokens. */
export function highestParam(tokens: readonly { kind: string; text: string }[]): number {
  return tokens.reduce((n, t) => (t.kind === "param" ? Math.max(n, Number(t.text.slice(1))) : n), 0);
}
