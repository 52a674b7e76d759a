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
 * Bounds inside the isolate: an operation budget (CPython's periodic signal
 * check is counted: past the budget, KeyboardInterrupt, then an error Python
 * cannot catch), and a heap cap
 * (emscripten_resize_heap refuses to grow past it: MemoryError). The files
 * the program sees are Emscripten's in-memory file system, not the host's.
 */

export interface PythonLimits {
  /** Interrupt checks (each about a few hundred bytecodes) the program may use. */
  checks: number;
  /** Maximum WebAssembly heap, bytes. */
  heapBytes: number;
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

/** Python run before the program: the `pg` object, whose only way out is the bridge to env.PG. */
const PY_PRELUDE = String.raw`
import json as _json, sys as _sys
import _pg_bridge

class PgError(Exception):
    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code

class _Pg:
    """The database. Every method is a coroutine: await it."""
    async def call(self, tool, args=None):
        """Any tool the caller may use, by name (e.g. "pg_schema_list"); returns its structured result."""
        r = _json.loads(await _pg_bridge.call(str(tool), _json.dumps(args if args is not None else {}, default=str)))
        if not r.get("ok"):
            raise PgError(r.get("error"), r.get("code"))
        return r.get("value")
    async def query(self, sql, params=None, tx=None):
        """Rows as a list of dicts."""
        args = {"sql": sql}
        if params is not None: args["params"] = list(params)
        if tx is not None: args["tx"] = tx
        rs = await self.call("pg.query", args)
        cols = [c["name"] for c in rs.get("columns", [])]
        return [dict(zip(cols, row)) if isinstance(row, list) else row for row in rs.get("rows", [])]
    async def list_tables(self, schema=None):
        return await self.call("pg.listTables", {} if schema is None else {"schema": schema})
    async def get_columns(self, table):
        return await self.call("pg.getColumns", {"table": table})

pg = _Pg()
del _Pg
for _m in ("pyodide_js", "_pg_bridge"):
    _sys.modules.pop(_m, None)
del _m
`;

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
let heapCap = Infinity;
// Operation budget: CPython calls this import from its eval loop (every few hundred bytecodes) once an
// interrupt buffer is set. Past the budget it answers SIGINT (KeyboardInterrupt, a clean Python error);
// if the program catches that and runs on, it throws a JavaScript error, which unwinds the WebAssembly
// stack: Python cannot catch it, and the run ends (the isolate is discarded).
const budget = { checks: 0, limit: Infinity, grace: 20000, stop: (_e) => {} };
const instantiate = WebAssembly.instantiate.bind(WebAssembly);
WebAssembly.instantiateStreaming = async (_response, imports) => {
  const grow = imports.env.emscripten_resize_heap;
  if (typeof grow === "function") imports.env.emscripten_resize_heap = (size) => ((size >>> 0) > heapCap ? 0 : grow(size));
  const check = imports.env._Py_CheckEmscriptenSignals_Helper;
  if (typeof check === "function") imports.env._Py_CheckEmscriptenSignals_Helper = () => {
    const n = ++budget.checks - budget.limit;
    if (n === 1) return 2;
    if (n > budget.grace) { const e = new Error("operation budget exceeded"); budget.stop(e); throw e; }
    return n > 0 ? 0 : check();
  };
  return { instance: await instantiate(wasmModule, imports), module: wasmModule };
};
`;

const MAIN = String.raw`
export default {
  async fetch(request, env) {
    const out = { logs: [], logTruncated: false };
    let logChars = 0;
    const log = (line) => {
      if (out.logTruncated) return;
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
      py.registerJsModule("_pg_bridge", {
        call: async (tool, argsJson) => {
          try { return JSON.stringify(await env.PG.call(tool, JSON.parse(argsJson))); }
          catch (e) { return JSON.stringify({ ok: false, error: String(e && e.message || e) }); }
        },
      });
      const ns = py.globals.get("dict")();
      py.runPython(PRELUDE, { globals: ns });
      py.unregisterJsModule("_pg_bridge");
      // Turns on CPython's periodic check (the import above); the buffer itself is never set.
      py.setInterruptBuffer(new Int32Array(1));
      budget.checks = 0;
      budget.limit = LIMITS.checks;
      // The uncatchable stop leaves Pyodide's promise unsettled: it settles this one instead.
      const stopped = new Promise((_resolve, reject) => (budget.stop = reject));
      const value = await Promise.race([py.runPythonAsync(code, { globals: ns, filename: "<program>" }), stopped]);
      budget.limit = Infinity;
      ns.set("__pg_result__", value);
      out.value = JSON.parse(py.runPython("_json.dumps(__pg_result__, default=str)", { globals: ns }));
      out.status = "ok";
    } catch (e) {
      const message = String(e && e.message || e);
      const over = budget.checks > LIMITS.checks;
      out.status = "error";
      out.error = over
        ? { name: "SandboxLimitError", message: "sandbox operation budget (" + LIMITS.checks + " interrupt checks) exceeded; the program was stopped" }
        : { name: e && e.type ? String(e.type) : String(e && e.name || "Error"), message: message.length > 4000 ? message.slice(-4000) : message };
    }
    out.ticks = budget.checks;
    return new Response(JSON.stringify(out), { headers: { "content-type": "application/json" } });
  },
};
`;
