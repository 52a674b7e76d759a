/**
 * The dynamic Worker a Python program runs in: Pyodide (CPython on
 * WebAssembly, from the npm package `pyodide`) loaded from modules the parent
 * hands to the Worker Loader, never from the network:
 * - pyodide.asm.wasm arrives as a `wasm` module, compiled by the loader (a
 *   Worker may not compile WebAssembly from bytes at run time), and
 *   WebAssembly.instantiateStreaming is replaced to instantiate it;
 * - python_stdlib.zip arrives as a `data` module and is served to Pyodide's
 *   fetch of it; every other fetch fails (and globalOutbound is null anyway);
 * - pyodide.mjs / pyodide.asm.mjs are ES modules imported after the shims.
 *
 * Everything that bounds the program lives here, in JavaScript closures that
 * Python cannot reach, because CPython cannot be sandboxed from inside:
 * - The boundary. Once the program starts, no JavaScript object or function
 *   may cross between WebAssembly and JavaScript, either way: every import
 *   the interpreter calls is checked. Each Python route to JavaScript (`js`,
 *   `pyodide_js`, `pyodide.ffi`, any JsProxy found by introspection) needs an
 *   object to cross, so the first use stops the run. The program does not
 *   need JavaScript: its event loop is pure Python (prelude.ts) and the
 *   driver below passes only strings.
 * - The operation budget and the deadline. CPython calls
 *   _Py_CheckEmscriptenSignals_Helper from its eval loop (every 50 eval-breaker
 *   checks) and from PyErr_CheckSignals, which sre (Python's `re`) calls every
 *   4096 steps. The helper below counts the calls and watches the clock; it
 *   never reads Module.Py_EmscriptenSignalBuffer or anything else Python could
 *   set. Past either limit it answers SIGINT (KeyboardInterrupt); if the
 *   program runs on (caught it, ignored the signal), it throws, which unwinds
 *   the WebAssembly stack: Python cannot catch that, the run ends and the
 *   isolate is discarded. In production the clock stands still during
 *   synchronous work, so there the loader's limits.cpuMs is the time bound.
 * - The heap cap: emscripten_resize_heap refuses to grow past it (MemoryError).
 * - The file quota: files live in Emscripten's in-memory file system, in
 *   JavaScript arrays outside the heap, so bytes written are capped (ENOSPC).
 */
import { PY_PRELUDE } from "./prelude";

export interface PythonLimits {
  /** Interrupt checks the program may use (the eval loop's come every 50 eval-breaker checks). */
  checks: number;
  /** Wall time from the request's arrival, Pyodide's start-up included, ms. */
  timeMs: number;
  /** Maximum WebAssembly heap, bytes. */
  heapBytes: number;
  /** Bytes the program may write to its in-memory files, in total. */
  fileBytes: number;
  /** Console output kept, in characters. */
  logChars: number;
}

/** Module names in the child, shared with run.ts. */
export const MODULES = {
  main: "main.js",
  loader: "pyodide.mjs",
  asm: "pyodide.asm.mjs",
  wasm: "pyodide.asm.wasm",
  stdlib: "python_stdlib.zip",
  lock: "pyodide-lock.json",
} as const;

export function pythonModule(limits: PythonLimits): string {
  return `${SHIMS}
const LIMITS = ${JSON.stringify(limits)};
const PRELUDE = ${JSON.stringify(PY_PRELUDE)};
${MAIN}`;
}

// Plain JavaScript, evaluated at the top of the child's main module: before Pyodide's modules are imported.
const SHIMS = String.raw`
import wasmModule from "${MODULES.wasm}";
import stdlib from "${MODULES.stdlib}";
import lock from "${MODULES.lock}";
const BASE = "https://pyodide.invalid/";
const refuse = async () => { throw new TypeError("network access is disabled in the sandbox"); };
globalThis.location = BASE;
globalThis.fetch = async (url) => {
  if (String(url) === BASE + "${MODULES.stdlib}") return new Response(stdlib);
  if (String(url) === BASE + "${MODULES.wasm}") return new Response(new Uint8Array(0));
  return refuse();
};
globalThis.setImmediate = (f, ...a) => setTimeout(f, 0, ...a);
globalThis.clearImmediate = (id) => clearTimeout(id);

// The run's guard: module-scope state, reachable from no JavaScript object Python could be handed.
const guard = {
  locked: false,            // the program has started: the boundary is closed
  checks: 0, limit: Infinity, deadline: Infinity,
  over: 0,                  // checks since a limit was passed
  stopped: null,            // { kind: "budget" | "time" | "javascript", detail }
};
// Checks past a limit before the uncatchable stop: room for a finally block, not for more work.
const GRACE_CHECKS = 5000;
class SandboxStop extends Error {}
const stop = (kind, detail) => {
  if (!guard.stopped) guard.stopped = { kind, detail };
  throw new SandboxStop("sandbox stop: " + kind);
};
const isObject = (v) => v !== null && (typeof v === "object" || typeof v === "function");
// Wraps one import: once locked, an object crossing in either direction ends the run.
const gate = (name, f) => {
  const g = function (...args) {
    if (guard.locked) for (const a of args) if (isObject(a)) stop("javascript", name);
    const r = f.apply(this, args);
    if (guard.locked && isObject(r)) stop("javascript", name);
    return r;
  };
  if ("sig" in f) g.sig = f.sig;
  return g;
};

let heapCap = Infinity;
const instantiate = WebAssembly.instantiate.bind(WebAssembly);
WebAssembly.instantiateStreaming = async (_response, imports) => {
  // env and wasi_snapshot_preview1 are the same object: gate each namespace once.
  for (const ns of new Set(Object.values(imports))) {
    if (!ns || typeof ns !== "object") continue;
    for (const [name, f] of Object.entries(ns)) {
      // A JSPI import (stack switching) cannot be wrapped without losing its suspension: refuse to run
      // rather than leave it ungated. Workers cannot build WebAssembly at run time, so Pyodide uses none.
      if (typeof WebAssembly.Suspending === "function" && f instanceof WebAssembly.Suspending) throw new Error("Pyodide asked for a JSPI import (" + name + "), which the sandbox cannot gate");
      if (typeof f === "function") ns[name] = gate(name, f);
    }
  }
  const env = imports.env;
  const grow = env.emscripten_resize_heap;
  env.emscripten_resize_heap = (size) => ((size >>> 0) > heapCap ? 0 : grow(size));
  if (typeof env._Py_CheckEmscriptenSignals_Helper !== "function") throw new Error("this Pyodide has no _Py_CheckEmscriptenSignals_Helper: the operation budget cannot work");
  env._Py_CheckEmscriptenSignals_Helper = () => {
    if (++guard.checks <= guard.limit && Date.now() <= guard.deadline) return 0;
    if (++guard.over === 1) return 2; // SIGINT: KeyboardInterrupt, a clean Python error
    if (guard.over > GRACE_CHECKS) stop(guard.checks > guard.limit ? "budget" : "time");
    return 0;
  };
  // Emscripten's sleep busy-waits in C on this clock with no signal check (the prelude refuses
  // time.sleep; this is the backstop for any other route to it): the clock checks the deadline.
  const now = env.emscripten_get_now;
  env.emscripten_get_now = () => {
    if (guard.locked && Date.now() > guard.deadline) stop("time");
    return now();
  };
  return { instance: await instantiate(wasmModule, imports), module: wasmModule };
};

// Files: MEMFS keeps their bytes in JavaScript arrays, outside the heap cap. Charges growth, never refunds.
function capFiles(FS) {
  const MEMFS = FS.filesystems.MEMFS;
  let used = 0;
  const charge = (bytes) => {
    if (!guard.locked || bytes <= 0) return;
    if (used + bytes > LIMITS.fileBytes) throw new FS.ErrnoError(28); // ENOSPC: a Python OSError
    used += bytes;
  };
  const write = MEMFS.stream_ops.write;
  const cappedWrite = function (stream, buffer, offset, length, position, canOwn) {
    charge(position + length - (stream.node.usedBytes || 0));
    return write.call(this, stream, buffer, offset, length, position, canOwn);
  };
  // Nodes made before now hold the table's copy of the function, later ones too: patch both.
  MEMFS.stream_ops.write = cappedWrite;
  if (MEMFS.ops_table) MEMFS.ops_table.file.stream.write = cappedWrite;
  const resize = MEMFS.resizeFileStorage; // truncate() to a larger size
  MEMFS.resizeFileStorage = function (node, size) {
    charge(size - (node.usedBytes || 0));
    return resize.call(this, node, size);
  };
}
`;

const MAIN = String.raw`
// Between steps the driver performs the program's pg calls and waits for its timers; only strings cross.
async function drive(sandbox, step, answer, env) {
  const inflight = new Map();
  const callPg = async (tool, argsJson) => {
    try { return JSON.stringify(await env.PG.call(tool, JSON.parse(argsJson))); }
    catch (e) { return JSON.stringify({ ok: false, error: String(e && e.message || e) }); }
  };
  for (;;) {
    const state = JSON.parse(step());
    if (state.done) return state;
    for (const [id, tool, args] of state.requests) inflight.set(id, callPg(tool, args).then((text) => [id, text]));
    const waits = [...inflight.values()];
    if (state.waitMs !== null) {
      const left = guard.deadline - Date.now();
      if (left <= 0) stop("time");
      waits.push(new Promise((resolve) => setTimeout(() => resolve(null), Math.min(state.waitMs, left))));
    }
    if (!waits.length) return { done: true, error: { name: "SandboxError", message: "the program can never finish: it awaits something that nothing will resolve" } };
    const got = await Promise.race(waits);
    if (got) {
      inflight.delete(got[0]);
      sandbox.set("_inbox", JSON.stringify(got));
      answer();
    }
  }
}

function stoppedError() {
  const s = guard.stopped;
  switch (s.kind) {
    case "budget": return { name: "SandboxLimitError", message: "sandbox operation budget (" + LIMITS.checks + " interrupt checks) exceeded; the program was stopped" };
    case "time": return { name: "TimeoutError", message: "the program ran past its time limit (" + LIMITS.timeMs + " ms, Pyodide's start-up included); it was stopped" };
    case "javascript": return { name: "SandboxViolation", message: "the program reached for a JavaScript object (" + s.detail + "); Python in this sandbox has no JavaScript access, and the run was stopped" };
  }
}

export default {
  async fetch(request, env) {
    guard.deadline = Date.now() + LIMITS.timeMs;
    const out = { logs: [], logTruncated: false };
    let logChars = 0;
    const log = (line) => {
      if (out.logTruncated || guard.stopped) return;
      logChars += line.length;
      if (logChars > LIMITS.logChars) { out.logTruncated = true; return; }
      out.logs.push(line);
    };
    try {
      const code = await request.text();
      const { loadPyodide } = await import("${MODULES.loader}");
      const { default: createPyodideModule } = await import("${MODULES.asm}");
      const py = await loadPyodide({ indexURL: BASE, lockFileContents: lock, createPyodideModule, stdout: log, stderr: log, env: {}, checkAPIVersion: true });
      globalThis.fetch = refuse;
      heapCap = LIMITS.heapBytes;
      capFiles(py.FS);
      // Courtesy: import js / import pyodide_js become ModuleNotFoundError instead of a stopped run.
      py.unregisterJsModule("js");
      py.unregisterJsModule("pyodide_js");
      const sandbox = py.globals.get("dict")();
      py.runPython(PRELUDE, { globals: sandbox });
      const [start, step, answer] = ["_start", "_step", "_answer"].map((name) => sandbox.get(name));
      // Turns on CPython's periodic check (the helper above); the buffer itself is never read.
      py.setInterruptBuffer(new Int32Array(1));
      guard.checks = 0;
      guard.limit = LIMITS.checks;
      guard.locked = true;
      sandbox.set("_inbox", code);
      start();
      const done = await drive(sandbox, step, answer, env);
      // A KeyboardInterrupt the budget or the deadline raised is reported as that limit.
      if (done.error && guard.over && !guard.stopped) guard.stopped = { kind: guard.checks > guard.limit ? "budget" : "time" };
      if (guard.stopped) throw guard.stopped;
      if (done.error) {
        out.status = "error";
        out.error = done.error;
      } else {
        out.status = "ok";
        out.value = done.value;
      }
    } catch (e) {
      const message = String(e && e.message || e);
      out.status = "error";
      out.error = guard.stopped ? stoppedError() : { name: String(e && e.name || "Error"), message: message.length > 4000 ? message.slice(-4000) : message };
    }
    guard.locked = false;
    out.ticks = guard.checks;
    return new Response(JSON.stringify(out), { headers: { "content-type": "application/json" } });
  },
};
`;
