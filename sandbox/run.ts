/**
 * Runs one program: compile, load a fresh dynamic Worker (load(), never get():
 * see docs/CODE_MODE.md, "Isolates and cost"), call it, and bound it.
 *
 * The bounds, and what enforces each:
 * - CPU: the operation budget compiled into the program (dev and production),
 *   plus the loader's `limits.cpuMs` in production.
 * - Memory: the allocation budget of the guarded built-ins (dev and
 *   production), plus the isolate's memory limit in production.
 * - Regular expressions: RE2 (re2js) for every pattern, linear in the input,
 *   with every character it reads charged to the operation budget.
 * - Wall time: the parent's timeout for a program that awaits forever; after
 *   it, the run's dispatcher refuses further calls.
 * - Cancellation: when the client cancels the call (rc.call.signal) the run
 *   ends the same way, at once; the statement in flight is cancelled by the
 *   MCP layer (worker/mcp/calls.ts).
 * - Database: at most maxCalls calls, each through the normal tool path.
 * - Network: globalOutbound null (fetch and connect throw).
 */
import { compileProgram } from "./compile";
import type { ApiEntry } from "./api";
import { MAIN_MODULE, sandboxModules, type ApiMap, type SandboxLimits } from "./module";
import { RunDispatcher } from "./dispatcher";
import type { RequestContext } from "../worker/context";

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

const ENTRY_MODULE = "entry.js";

/**
 * The isolate's entrypoint: run(pg, body) hands the runner module (JavaScript
 * or Python, both a fetch handler reading env.PG) the run's dispatcher stub as
 * its env, and answers with the runner's JSON text. An RpcTarget cannot be a
 * binding in the loader's env, only an RPC argument, so it comes this way.
 */
function entryModule(main: string): string {
  return `import { WorkerEntrypoint } from "cloudflare:workers";
import runner from "./${main}";
export default class extends WorkerEntrypoint {
  async run(pg, body) {
    const response = await runner.fetch(new Request("http://sandbox/run", body === undefined ? undefined : { method: "POST", body }), { PG: pg });
    return response.text();
  }
}
`;
}

export interface IsolateRun {
  timeoutMs: number;
  maxCalls: number;
  maxResultBytes: number;
  /** The dynamic Worker's code; everything that bounds it (env, network, limits) is set here, in one place. */
  mainModule: string;
  modules: Record<string, WorkerLoaderModule | string>;
  /** The body of the request that starts the program (the Python runner sends the code). */
  body?: string;
  /** Added to the timeout message (Python's start-up counts against it). */
  timeoutNote?: string;
  /** The API entries the caller may use (pg.help). */
  api: readonly ApiEntry[];
}

/**
 * One run of a program in a fresh dynamic Worker: makes the run's dispatcher,
 * loads the isolate with it as `env.PG`, its only binding, and no network,
 * races it against the timeout, and always ends the run (no further calls, its
 * connection closed, transactions it left open rolled back). Shared by the
 * JavaScript and Python runners.
 */
export async function runIsolate(rc: RequestContext, run: IsolateRun): Promise<RunOutcome> {
  const started = Date.now();
  const dispatcher = new RunDispatcher(rc, { deadline: started + run.timeoutMs, maxCalls: run.maxCalls, api: run.api });
  const failed = (status: "timeout" | "error", name: string, message: string): RunOutcome => ({
    status,
    error: { name, message },
    logs: [],
    logTruncated: false,
    dbCalls: RunDispatcher.calls(dispatcher),
    durationMs: Date.now() - started,
    resultBytes: 0,
    resultTruncated: false,
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const worker = rc.env.LOADER.load({
      compatibilityDate: COMPATIBILITY_DATE,
      mainModule: ENTRY_MODULE,
      modules: { ...run.modules, [ENTRY_MODULE]: { js: entryModule(run.mainModule) } },
      // Nothing: the one capability arrives as an argument of run(), not as a binding.
      env: {},
      globalOutbound: null,
      limits: { cpuMs: run.timeoutMs, subRequests: run.maxCalls + 10 },
    });
    const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), run.timeoutMs)));
    // The runtime cancels an isolate that awaits something nothing can resolve: that is the program's failure, not ours.
    // The RpcTarget reaches the isolate as a stub: its calls run here, in this request, on this run's connection.
    const request = (worker.getEntrypoint() as unknown as { run(pg: RunDispatcher, body?: string): Promise<string> })
      .run(dispatcher, run.body)
      .catch((e: Error) => ({ failed: /hung and would never generate a response/.test(e.message) ? "the program can never finish: it awaits a promise that nothing will resolve" : `the sandbox failed: ${e.message}` }));
    const signal = rc.call?.signal;
    const cancelled = new Promise<"cancelled">((resolve) => {
      if (signal?.aborted) resolve("cancelled");
      else signal?.addEventListener("abort", () => resolve("cancelled"), { once: true });
    });
    const response = await Promise.race([request, timeout, cancelled]);
    if (response === "cancelled") return failed("error", "CancelledError", "the run was cancelled by the client; what it had committed before stays committed");
    if (response === "timeout") return failed("timeout", "TimeoutError", `the program did not finish within ${run.timeoutMs} ms${run.timeoutNote ?? ""}`);
    if (typeof response !== "string") return failed("error", "SandboxError", response.failed);
    return readOutcome(response, RunDispatcher.calls(dispatcher), Date.now() - started, run.maxResultBytes);
  } finally {
    clearTimeout(timer);
    await RunDispatcher.finish(dispatcher);
  }
}

export function runProgram(rc: RequestContext, code: string, opts: RunOptions & { api: readonly ApiEntry[]; map: ApiMap }): Promise<RunOutcome> {
  const program = compileProgram(code);
  const modules = sandboxModules(program, opts.map, opts.limits);
  return runIsolate(rc, { ...opts, mainModule: MAIN_MODULE, modules });
}

/** The sandbox's JSON answer as a RunOutcome, with the result size checked. */
function readOutcome(text: string, dbCalls: number, durationMs: number, maxResultBytes: number): RunOutcome {
  let out: { status: "ok" | "error"; value?: unknown; error?: RunOutcome["error"]; logs?: string[]; logTruncated?: boolean; ticks?: number };
  try {
    out = JSON.parse(text);
  } catch {
    out = { status: "error", error: { name: "SandboxError", message: `the sandbox answered: ${text.slice(0, 300)}` } };
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
