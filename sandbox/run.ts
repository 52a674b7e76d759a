/**
 * Runs one program: compile, load a fresh dynamic Worker (load(), never get():
 * a reused id would silently run old code), call it, and bound it.
 *
 * The bounds, and what enforces each:
 * - CPU: the operation budget compiled into the program (dev and production),
 *   plus the loader's `limits.cpuMs` in production.
 * - Memory: the allocation budget of the guarded built-ins (dev and
 *   production), plus the isolate's memory limit in production.
 * - Regular expressions: RE2 (re2js) for every pattern, linear in the input,
 *   with every character it reads charged to the operation budget.
 * - Wall time: the parent's timeout for a program that awaits forever; after
 *   it, the PgBinding refuses further calls from that run.
 * - Database: at most maxCalls calls, each through the normal tool path.
 * - Network: globalOutbound null (fetch and connect throw).
 */
import { compileProgram } from "./compile";
import { apiMap } from "./api";
import { MAIN_MODULE, sandboxModules, type SandboxLimits } from "./module";
import { RUNS, type PgBindingProps } from "./runs";
import type { RequestContext } from "../worker/mcp/server";
import { visibleTools } from "../worker/mcp/server";
import { txStub } from "../worker/tx/remote";

export interface RunOptions {
  timeoutMs: number;
  maxCalls: number;
  maxResultBytes: number;
  limits: SandboxLimits;
}

export interface RunOutcome {
  status: "ok" | "error" | "timeout";
  value?: unknown;
  error?: { name: string; message: string; code?: string };
  logs: string[];
  logTruncated: boolean;
  dbCalls: number;
  durationMs: number;
  resultBytes: number;
  resultTruncated: boolean;
  ticks?: number;
}

const COMPATIBILITY_DATE = "2026-04-01";

export interface IsolateRun {
  timeoutMs: number;
  maxCalls: number;
  maxResultBytes: number;
  /** The dynamic Worker's code; everything that bounds it (env, network, limits) is set here, in one place. */
  mainModule: string;
  modules: Record<string, WorkerLoaderModule | string>;
  /** The request that starts the program (the Python runner sends the code in its body). */
  init?: RequestInit;
  /** Added to the timeout message (Python's start-up counts against it). */
  timeoutNote?: string;
}

/**
 * One run of a program in a fresh dynamic Worker: registers the run for
 * PgBinding, loads the isolate with `pg` as its only binding and no network,
 * races it against the timeout, and always ends the run (no further calls,
 * transactions it left open rolled back). Shared by the JavaScript and Python runners.
 */
export async function runIsolate(rc: RequestContext, run: IsolateRun): Promise<RunOutcome> {
  const exports = rc.exports;
  if (!exports?.PgBinding) throw new Error("code mode needs ctx.exports.PgBinding (export PgBinding from the Worker's main module)");
  const runId = crypto.randomUUID();
  const state = { calls: 0, openTx: new Set<string>(), done: false };
  RUNS.set(runId, state);
  const started = Date.now();
  const props: PgBindingProps = { runId, principal: rc.principal, deadline: started + run.timeoutMs, maxCalls: run.maxCalls };
  const failed = (status: "timeout" | "error", name: string, message: string): RunOutcome => ({
    status,
    error: { name, message },
    logs: [],
    logTruncated: false,
    dbCalls: state.calls,
    durationMs: Date.now() - started,
    resultBytes: 0,
    resultTruncated: false,
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const worker = rc.env.LOADER.load({
      compatibilityDate: COMPATIBILITY_DATE,
      mainModule: run.mainModule,
      modules: run.modules,
      env: { PG: exports.PgBinding({ props }) },
      globalOutbound: null,
      limits: { cpuMs: run.timeoutMs, subRequests: run.maxCalls + 10 },
    });
    const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), run.timeoutMs)));
    // The runtime cancels an isolate that awaits something nothing can resolve: that is the program's failure, not ours.
    const request = worker
      .getEntrypoint()
      .fetch("http://sandbox/run", run.init)
      .catch((e: Error) => ({ failed: /hung and would never generate a response/.test(e.message) ? "the program can never finish: it awaits a promise that nothing will resolve" : `the sandbox failed: ${e.message}` }));
    const response = await Promise.race([request, timeout]);
    if (response === "timeout") return failed("timeout", "TimeoutError", `the program did not finish within ${run.timeoutMs} ms${run.timeoutNote ?? ""}`);
    if ("failed" in response) return failed("error", "SandboxError", response.failed);
    return readOutcome(response, state.calls, Date.now() - started, run.maxResultBytes);
  } finally {
    clearTimeout(timer);
    state.done = true;
    RUNS.delete(runId);
    // A transaction the program left open is rolled back with the run.
    for (const tx of state.openTx) await txStub(rc.env, tx).control(rc.principal.id, { kind: "rollback" }).catch(() => {});
  }
}

export function runProgram(rc: RequestContext, code: string, opts: RunOptions): Promise<RunOutcome> {
  const program = compileProgram(code);
  const modules = sandboxModules(program, apiMap(visibleTools(rc.config, rc.principal)), opts.limits);
  return runIsolate(rc, { ...opts, mainModule: MAIN_MODULE, modules });
}

/** The sandbox's JSON answer as a RunOutcome, with the result size checked. */
async function readOutcome(response: Response, dbCalls: number, durationMs: number, maxResultBytes: number): Promise<RunOutcome> {
  const text = await response.text();
  let out: { status: "ok" | "error"; value?: unknown; error?: RunOutcome["error"]; logs?: string[]; logTruncated?: boolean; ticks?: number };
  try {
    out = JSON.parse(text);
  } catch {
    out = { status: "error", error: { name: "SandboxError", message: `the sandbox answered ${response.status}: ${text.slice(0, 300)}` } };
  }
  const valueText = JSON.stringify(out.value ?? null);
  const resultTruncated = valueText.length > maxResultBytes;
  return {
    status: out.status,
    value: resultTruncated ? `${valueText.slice(0, maxResultBytes)}…[truncated: result was ${valueText.length} bytes, limit ${maxResultBytes}]` : out.value,
    ...(out.error ? { error: out.error } : {}),
    logs: out.logs ?? [],
    logTruncated: out.logTruncated ?? false,
    dbCalls,
    durationMs,
    resultBytes: valueText.length,
    resultTruncated,
    ticks: out.ticks,
  };
}
