/**
 * Runs one program: compile, load a fresh dynamic Worker (load(), never get():
 * a reused id would silently run old code), call it, and bound it.
 *
 * The bounds, and what enforces each:
 * - CPU: the operation budget compiled into the program (dev and production),
 *   plus the loader's `limits.cpuMs` in production.
 * - Memory: the allocation budget of the guarded built-ins (dev and
 *   production), plus the isolate's memory limit in production.
 * - Wall time: the parent's timeout for a program that awaits forever; after
 *   it, the PgBinding refuses further calls from that run.
 * - Database: at most maxCalls calls, each through the normal tool path.
 * - Network: globalOutbound null (fetch and connect throw).
 */
import { compileProgram } from "./compile";
import { apiMap } from "./api";
import { sandboxModule, type SandboxLimits } from "./module";
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

export async function runProgram(rc: RequestContext, code: string, opts: RunOptions): Promise<RunOutcome> {
  const program = compileProgram(code);
  const source = sandboxModule(program, apiMap(visibleTools(rc.config, rc.principal)), opts.limits);
  const runId = crypto.randomUUID();
  const state = { calls: 0, openTx: new Set<string>(), done: false };
  RUNS.set(runId, state);
  const started = Date.now();
  const props: PgBindingProps = { runId, principal: rc.principal, deadline: started + opts.timeoutMs, maxCalls: opts.maxCalls };
  const exports = rc.exports;
  if (!exports?.PgBinding) throw new Error("code mode needs ctx.exports.PgBinding (export PgBinding from the Worker's main module)");
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const worker = rc.env.LOADER.load({
      compatibilityDate: COMPATIBILITY_DATE,
      mainModule: "main.js",
      modules: { "main.js": source },
      env: { PG: exports.PgBinding({ props }) },
      globalOutbound: null,
      limits: { cpuMs: opts.timeoutMs, subRequests: opts.maxCalls + 10 },
    });
    const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), opts.timeoutMs)));
    // The runtime cancels an isolate that awaits something nothing can resolve: that is the program's failure, not ours.
    const request = worker
      .getEntrypoint()
      .fetch("http://sandbox/run")
      .catch((e: Error) => ({ failed: /hung and would never generate a response/.test(e.message) ? "the program can never finish: it awaits a promise that nothing will resolve" : `the sandbox failed: ${e.message}` }));
    const response = await Promise.race([request, timeout]);
    const durationMs = Date.now() - started;
    if (response === "timeout") {
      return { status: "timeout", error: { name: "TimeoutError", message: `the program did not finish within ${opts.timeoutMs} ms` }, logs: [], logTruncated: false, dbCalls: state.calls, durationMs, resultBytes: 0, resultTruncated: false };
    }
    if ("failed" in response) {
      return { status: "error", error: { name: "SandboxError", message: response.failed }, logs: [], logTruncated: false, dbCalls: state.calls, durationMs, resultBytes: 0, resultTruncated: false };
    }
    return readOutcome(response, state.calls, durationMs, opts.maxResultBytes);
  } finally {
    clearTimeout(timer);
    state.done = true;
    RUNS.delete(runId);
    // A transaction the program left open is rolled back with the run.
    for (const tx of state.openTx) await txStub(rc.env, tx).control(rc.principal.id, { kind: "rollback" }).catch(() => {});
  }
}

/** The sandbox's JSON answer as a RunOutcome, with the result size checked. Shared by the JavaScript and Python runners. */
export async function readOutcome(response: Response, dbCalls: number, durationMs: number, maxResultBytes: number): Promise<RunOutcome> {
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
