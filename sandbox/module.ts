/**
 * The source of the dynamic Worker a program runs in. Its only capability is
 * env.PG, an RPC stub of this run's dispatcher (sandbox/dispatcher.ts). Before the program runs, the
 * budgets are set up: __pg_tick (operations), __pg_take (allocations, charged
 * by the guarded built-ins of isolate/allocations.ts and by spreads), the
 * RE2-backed RegExp of isolate/regexp.ts (no native RegExp is ever created for
 * the program), and a console that keeps a bounded log. The program is the body of an async function, so it can
 * `await` and `return`; `this` is undefined and no binding is in scope.
 */
import re2js from "./isolate/assets/re2js.js.txt";
import { REGEXP_MODULE } from "./isolate/regexp";
import { ALLOCATION_GUARDS } from "./isolate/allocations";

export interface SandboxLimits {
  /** Loop iterations + function calls the program may make. */
  ticks: number;
  /** Array elements / string characters / buffer bytes it may request from the guarded built-ins. */
  allocations: number;
  /** Console output kept, in characters. */
  logChars: number;
}

/** `{ group: { action: toolName } }`: the pg API, generated from the tools the caller may use. */
export type ApiMap = Record<string, Record<string, string>>;

/** The isolate's modules: main.js (prelude, budgets and the program), the RE2-backed RegExp and re2js itself. */
export function sandboxModules(program: string, api: ApiMap, limits: SandboxLimits): Record<string, WorkerLoaderModule | string> {
  return { [MAIN_MODULE]: { js: mainModule(program, api, limits) }, ...ENGINE_MODULES };
}

export const MAIN_MODULE = "main.js";

/** re2js as shipped on npm, plus one export: its input reader, whose step() is where engine work is charged. */
const ENGINE_MODULES = {
  "regexp.js": { js: REGEXP_MODULE },
  "re2js.js": { js: `${re2js}\nexport { MachineInput as __MachineInput };\n` },
};

function mainModule(program: string, api: ApiMap, limits: SandboxLimits): string {
  return `import { installRegExp as __pg_installRegExp } from "./regexp.js";
const __pg_limits = ${JSON.stringify(limits)};
const __pg_map = ${JSON.stringify(api)};
${PRELUDE}
async function __pg_user(pg, console) {
${program}
}
export default {
  async fetch(request, env) {
    const out = { logs: [], logTruncated: false };
    const console = __pg_console(out);
    const pg = __pg_api(env.PG, __pg_map);
    try {
      out.value = __pg_encode(await __pg_user(pg, console));
      out.status = "ok";
    } catch (e) {
      out.status = "error";
      out.error = { name: String(e && e.name || "Error"), message: String(e && e.message || e), ...(e && e.code ? { code: String(e.code) } : {}) };
    }
    out.ticks = __pg_used;
    return new Response(__pg_stringify(out), { headers: { "content-type": "application/json" } });
  },
};
`;
}

// Plain JavaScript: this text is the module's head, evaluated inside the sandbox.
const PRELUDE = String.raw`
// The answer to the parent is written with the original, uncharged JSON.stringify.
const __pg_stringify = JSON.stringify;
const __pg_parse = JSON.parse;
let __pg_used = 0;
let __pg_alloc = 0;
let __pg_over = null;
function __pg_fail(what) {
  __pg_over = __pg_over || what;
  const e = new Error("sandbox " + __pg_over + " exceeded; the program was stopped");
  e.name = "SandboxLimitError";
  throw e;
}
function __pg_tick(cost) {
  __pg_used += cost === undefined ? 1 : cost;
  if (__pg_over !== null || __pg_used > __pg_limits.ticks) __pg_fail("operation budget (" + __pg_limits.ticks + " loop iterations and calls)");
}
function __pg_take(n) {
  if (__pg_engine > 0 || typeof n !== "number" || !(n > 0)) return;
  __pg_alloc += n;
  if (__pg_over !== null || __pg_alloc > __pg_limits.allocations) __pg_fail("allocation budget (" + __pg_limits.allocations + " elements)");
}
// Inside re2js the engine's own arrays are not charged: its work is bounded by the characters it reads, which are.
let __pg_engine = 0;
function __pg_in_engine(f) {
  __pg_engine++;
  try { return f(); } finally { __pg_engine--; }
}
function __pg_spread(x) {
  __pg_tick();
  return __pg_drain(x);
}
${ALLOCATION_GUARDS}
const __pg_regex = __pg_installRegExp({ tick: __pg_tick, take: __pg_take, engine: __pg_in_engine });
function __pg_console(out) {
  let used = 0;
  const line = (level) => (...args) => {
    __pg_tick();
    if (out.logTruncated) return;
    let text;
    try { text = args.map((a) => typeof a === "string" ? a : JSON.stringify(a, __pg_replacer)).join(" "); } catch { text = String(args[0]); }
    if (used + text.length > __pg_limits.logChars) { out.logTruncated = true; return; }
    used += text.length;
    out.logs.push(level === "log" ? text : level + ": " + text);
  };
  return Object.freeze({ log: line("log"), info: line("info"), warn: line("warn"), error: line("error"), debug: line("debug") });
}
function __pg_replacer(key, v) {
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Map) return Object.fromEntries(v);
  if (v instanceof Set) return [...v];
  if (typeof v === "function" || typeof v === "symbol") return undefined;
  return v;
}
// The result is encoded with the original JSON functions, outside the program's allocation budget
// (what it returns was charged when it was built, and the parent truncates it), but under a cap of
// its own: shared references can make the text exponentially larger than the value.
function __pg_encode(v) {
  if (v === undefined) return null;
  let chars = 0;
  const text = __pg_stringify(v, function (key, x) {
    x = __pg_replacer(key, x);
    chars += key.length + (typeof x === "string" ? x.length : 8);
    if (chars > __pg_limits.allocations) {
      const e = new Error("the program's result is larger than " + __pg_limits.allocations + " characters as JSON");
      e.name = "SandboxLimitError";
      throw e;
    }
    return x;
  });
  return __pg_parse(text ?? "null");
}
function __pg_api(stub, map) {
  const call = async (tool, args) => {
    __pg_tick();
    const r = await stub.call(tool, args === undefined ? {} : args);
    if (!r.ok) { const e = new Error(r.error); e.name = "PgError"; if (r.code) e.code = r.code; throw e; }
    return r.value;
  };
  const objects = (rs) => ({ ...rs, rows: rs.rows.map((row) => Object.fromEntries(rs.columns.map((c, i) => [c.name, row[i]]))) });
  const groups = {};
  for (const [group, actions] of Object.entries(map)) {
    const g = {};
    for (const [action, tool] of Object.entries(actions)) g[action] = (args) => call(tool, args);
    groups[group] = Object.freeze(g);
  }
  const withTx = (tx) => Object.freeze({
    query: async (sql, params) => objects(await call("pg.query", { sql, params, tx })),
  });
  const api = {
    ...groups,
    query: Object.freeze(Object.assign(async (sql, params) => objects(await call("pg.query", { sql, params })), groups.query || {})),
    // An array of tables; its .rows (not enumerable) is the same array, for programs written against the first API.
    listTables: async (args) => { const tables = await call("pg.listTables", args || {}); Object.defineProperty(tables, "rows", { value: tables }); return tables; },
    getColumns: (table) => call("pg.getColumns", typeof table === "string" ? { table } : table),
    getTableStats: (table) => call("pg.getTableStats", typeof table === "string" ? { table } : table),
    createIndex: (args) => call("pg.createIndex", args),
    help: (query) => call("pg.help", { query: query === undefined ? "" : String(query) }),
    transaction: async (fn, options) => {
      const lease = await call("pg_tx_begin", options || {});
      try {
        const v = await fn(withTx(lease.tx));
        await call("pg_tx_commit", { tx: lease.tx });
        return v;
      } catch (e) {
        await call("pg_tx_rollback", { tx: lease.tx }).catch(() => {});
        throw e;
      }
    },
  };
  return Object.freeze(api);
}
`;
