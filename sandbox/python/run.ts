/**
 * Runs one Python program: a fresh dynamic Worker (load(), never get(): its
 * env names this run and its caller) with Pyodide and the program's `pg`
 * bridge, bounded like runProgram (runIsolate in sandbox/run.ts):
 * - JavaScript: none. Once the program starts, no JavaScript object crosses
 *   the WebAssembly boundary (module.ts); the first attempt ends the run.
 * - Network: globalOutbound null, and the child's fetch refuses everything
 *   but Pyodide's own files (served from modules).
 * - Files: Emscripten's in-memory file system only, with a byte quota.
 * - CPU and wall time: the operation budget and the deadline, both checked at
 *   CPython's signal checks (eval loop and `re`), then an uncatchable stop;
 *   the parent's timeout (it covers Pyodide's start-up); in production the
 *   loader's `limits.cpuMs`. After the timeout the run's dispatcher refuses calls.
 * - Memory: the heap cap in the child, plus the isolate's limit in production.
 * - Database: at most maxCalls calls through the run's dispatcher, on one connection.
 */
import wasm from "./assets/pyodide.asm.wasm.bin";
import stdlib from "./assets/python_stdlib.zip.bin";
import asm from "./assets/pyodide.asm.mjs.txt";
import loader from "./assets/pyodide.mjs.txt";
import lock from "pyodide/pyodide-lock.json";
import { MODULES, pythonModule, type PythonLimits } from "./module";
import { runIsolate, type RunOutcome } from "../run";
import type { ApiEntry } from "../api";
import type { RequestContext } from "../../worker/context";

export interface PythonRunOptions {
  /** The API entries the caller may use (pg.help). */
  api: readonly ApiEntry[];
  timeoutMs: number;
  maxCalls: number;
  maxResultBytes: number;
  limits: PythonLimits;
}

export function runPython(rc: RequestContext, code: string, opts: PythonRunOptions): Promise<RunOutcome> {
  rc.call?.progress("starting the Python interpreter (Pyodide, a few seconds)");
  return runIsolate(rc, {
    ...opts,
    mainModule: MODULES.main,
    modules: {
      [MODULES.main]: pythonModule(opts.limits),
      [MODULES.loader]: { js: loader },
      [MODULES.asm]: { js: asm },
      [MODULES.wasm]: { wasm },
      [MODULES.stdlib]: { data: stdlib },
      [MODULES.lock]: { json: lock },
    },
    body: code,
    timeoutNote: " (Pyodide's start-up included)",
  });
}
