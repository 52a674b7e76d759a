/**
 * The runs in progress in this isolate, shared by the runner (which starts and
 * ends them) and PgBinding (which serves their calls). No Worker-only imports,
 * so the tool registry stays importable from Node (docs, tests).
 */
import type { Principal } from "../worker/auth/principal";

export interface PgBindingProps {
  runId: string;
  principal: Principal;
  /** ms since epoch after which calls are refused (the run timed out). */
  deadline: number;
  maxCalls: number;
}

export interface RunState {
  calls: number;
  /** Transactions begun by the program: rolled back if still open when the run ends. */
  openTx: Set<string>;
  done: boolean;
}

/** Runs in progress in this isolate, by run id. */
export const RUNS = new Map<string, RunState>();

