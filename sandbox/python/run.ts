/**
 * Runs one Python program: a fresh dynamic Worker (load(), never get(): its
 * env names this run and its caller) with Pyodide and the program's `pg`
 * bridge, bounded like runProgram (sandbox/run.ts):
 * - Network: globalOutbound null, and the child's fetch refuses everything
 *   but Pyodide's own files (served from modules).
 * - Files: Emscripten's in-memory file system only.
 * - Wall time: the parent's timeout (it covers Pyodide's start-up); after it,
 *   the PgBinding refuses further calls. A CPU-bound loop is stopped by the
 *   operation budget (KeyboardInterrupt at CPython's periodic checks) and, in
 *   production, by the loader's `limits.cpuMs`.
 * - Memory: the heap cap in the child, plus the isolate's limit in production.
 * - Database: at most maxCalls calls through PgBinding.
 */
import wasm from "./assets/pyodide.asm.wasm.bin";
import stdlib from "./assets/python_stdlib.zip.bin";
import asm from "./assets/pyodide.asm.mjs.txt";
import loader from "./assets/pyodide.mjs.txt";
import lock from "pyodide/pyodide-lock.json";
import { MODULES, pythonModule, type PythonLimits } from "./module";
import { RUNS, type PgBindingProps } from "../runs";
import { readOutcome, type RunOutcome } from "../run";
import type { RequestContext } from "../../worker/mcp/server";
import { txStub } from "../../worker/tx/remote";

export interface PythonRunOptions {
  timeoutMs: number;
  maxCalls: number;
  maxResultBytes: number;
  limits: PythonLimits;
}

const COMPATIBILITY_DATE = "2026-04-01";

export async function runPython(rc: RequestContext, code: string, opts: PythonRunOptions): Promise<RunOutcome> {
  const runId = crypto.randomUUID();
  const state = { calls: 0, openTx: new Set<string>(), done: false };
  RUNS.set(runId, state);
  const started = Date.now();
  const props: PgBindingProps = { runId, principal: rc.principal, deadline: started + opts.timeoutMs, maxCalls: opts.maxCalls };
  const exports = rc.exports;
  if (!exports?.PgBinding) throw new Error("code mode needs ctx.exports.PgBinding (export PgBinding from the Worker's main module)");
  const base = { logs: [] as string[], logTruncated: false, resultBytes: 0, resultTruncated: false };
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const worker = rc.env.LOADER.load({
      compatibilityDate: COMPATIBILITY_DATE,
      mainModule: MODULES.main,
      modules: {
        [MODULES.main]: pythonModule(opts.limits),
        [MODULES.loader]: { js: loader },
        [MODULES.asm]: { js: asm },
        [MODULES.wasm]: { wasm },
        [MODULES.stdlib]: { data: stdlib },
        [MODULES.lock]: { json: lock },
      },
      env: { PG: exports.PgBinding({ props }) },
      globalOutbound: null,
      limits: { cpuMs: opts.timeoutMs, subRequests: opts.maxCalls + 10 },
    });
    const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), opts.timeoutMs)));
    const request = worker
      .getEntrypoint()
      .fetch("http://sandbox/run", { method: "POST", body: code })
      .catch((e: Error) => ({ failed: /hung and would never generate a response/.test(e.message) ? "the program can never finish: it awaits a promise that nothing will resolve" : `the sandbox failed: ${e.message}` }));
    const response = await Promise.race([request, timeout]);
    const durationMs = Date.now() - started;
    if (response === "timeout") {
      return { ...base, status: "timeout", error: { name: "TimeoutError", message: `the program did not finish within ${opts.timeoutMs} ms (Pyodide's start-up included)` }, dbCalls: state.calls, durationMs };
    }
    if ("failed" in response) {
      return { ...base, status: "error", error: { name: "SandboxError", message: response.failed }, dbCalls: state.calls, durationMs };
    }
    return readOutcome(response, state.calls, durationMs, opts.maxResultBytes);
  } finally {
    clearTimeout(timer);
    state.done = true;
    RUNS.delete(runId);
    for (const tx of state.openTx) await txStub(rc.env, tx).control(rc.principal.id, { kind: "rollback" }).catch(() => {});
  }
}
