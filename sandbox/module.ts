/**
 * The source of the dynamic Worker a program runs in. Its only capability is
 * env.PG, an RPC stub to the parent's PgBinding. Before the program runs, the
 * budgets are set up: __pg_tick (operations), __pg_take (allocations, charged
 * by the guarded built-ins below and by spreads), and a console that keeps a
 * bounded log. The program is the body of an async function, so it can
 * `await` and `return`; `this` is undefined and no binding is in scope.
 */

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

export function sandboxModule(program: string, api: ApiMap, limits: SandboxLimits): string {
  return `${PRELUDE}
const __pg_limits = ${JSON.stringify(limits)};
const __pg_map = ${JSON.stringify(api)};
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
    return new Response(JSON.stringify(out), { headers: { "content-type": "application/json" } });
  },
};
`;
}

// Plain JavaScript: this text is the module's head, evaluated inside the sandbox.
const PRELUDE = String.raw`
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
// Star height > 1 ((a+)+, (a*b?)*, (x|xx)+ and kin) is what makes backtracking exponential; refuse it.
function __pg_nested(source) {
  const stack = [{ quantified: false }];
  let escaped = false, inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (escaped) { escaped = false; continue; }
    if (c === "\\") { escaped = true; continue; }
    if (inClass) { if (c === "]") inClass = false; continue; }
    if (c === "[") { inClass = true; continue; }
    if (c === "(") { stack.push({ quantified: false }); continue; }
    const q = c === "*" || c === "+" || c === "{" || (c === "?" && source[i - 1] !== "(");
    if (c === ")") {
      const inner = stack.pop();
      const next = source[i + 1];
      const groupQuantified = next === "*" || next === "+" || next === "{";
      if (groupQuantified && inner.quantified) return true;
      if (stack.length && (inner.quantified || groupQuantified)) stack[stack.length - 1].quantified = true;
      continue;
    }
    if (q) stack[stack.length - 1].quantified = true;
  }
  return false;
}
function __pg_regex(re) {
  if (__pg_nested(re.source)) {
    const e = new Error("regular expression with nested quantifiers refused (catastrophic backtracking): /" + re.source + "/");
    e.name = "SandboxLimitError";
    throw e;
  }
  return re;
}
function __pg_take(n) {
  if (typeof n !== "number" || !(n > 0)) return;
  __pg_alloc += n;
  if (__pg_over !== null || __pg_alloc > __pg_limits.allocations) __pg_fail("allocation budget (" + __pg_limits.allocations + " elements)");
}
function __pg_spread(x) {
  __pg_tick();
  if (x != null) __pg_take(typeof x.length === "number" ? x.length : typeof x.size === "number" ? x.size : 0);
  return x;
}
// Guarded built-ins: every large allocation a program can ask for in one call is charged.
(() => {
  const A = Array, AP = Array.prototype, SP = String.prototype;
  const guard = (n) => { if (typeof n === "number") __pg_take(n); };
  const GuardedArray = new Proxy(A, {
    construct(t, args, nt) { if (args.length === 1) guard(args[0]); return Reflect.construct(t, args, nt === GuardedArray ? t : nt); },
    apply(t, self, args) { if (args.length === 1) guard(args[0]); return Reflect.apply(t, self, args); },
  });
  Object.defineProperty(globalThis, "Array", { value: GuardedArray, writable: false, configurable: false });
  Object.defineProperty(AP, "constructor", { value: GuardedArray, writable: false, configurable: false });
  const from = A.from;
  Object.defineProperty(A, "from", { value: function (src, ...rest) { if (src != null) guard(typeof src.length === "number" ? src.length : typeof src.size === "number" ? src.size : 0); return from.call(this, src, ...rest); }, writable: false, configurable: false });
  const wrap = (proto, name, cost) => {
    const f = proto[name];
    Object.defineProperty(proto, name, { value: function (...args) { __pg_take(cost(this, args)); return f.apply(this, args); }, writable: false, configurable: false });
  };
  const R = RegExp;
  const GuardedRegExp = new Proxy(R, {
    construct(t, args, nt) { return __pg_regex(Reflect.construct(t, args, nt === GuardedRegExp ? t : nt)); },
    apply(t, self, args) { return __pg_regex(Reflect.apply(t, self, args)); },
  });
  Object.defineProperty(globalThis, "RegExp", { value: GuardedRegExp, writable: false, configurable: false });
  Object.defineProperty(R.prototype, "constructor", { value: GuardedRegExp, writable: false, configurable: false });
  // String methods that turn a string argument into a regular expression.
  for (const name of ["match", "matchAll", "search"]) {
    const f = SP[name];
    Object.defineProperty(SP, name, { value: function (p, ...rest) { if (typeof p === "string") __pg_regex(new R(p)); return f.call(this, p, ...rest); }, writable: false, configurable: false });
  }
  wrap(AP, "push", (_, a) => a.length);
  wrap(AP, "unshift", (_, a) => a.length);
  wrap(AP, "fill", (self, a) => Math.max(0, (a[2] === undefined ? self.length : a[2]) - (a[1] || 0)));
  wrap(AP, "concat", (self, a) => self.length + a.reduce((n, x) => n + (x && typeof x.length === "number" ? x.length : 1), 0));
  wrap(AP, "join", (self) => self.length);
  wrap(SP, "repeat", (self, a) => self.length * (Number(a[0]) || 0));
  wrap(SP, "padStart", (_, a) => Number(a[0]) || 0);
  wrap(SP, "padEnd", (_, a) => Number(a[0]) || 0);
  for (const name of ["ArrayBuffer", "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array", "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array"]) {
    const C = globalThis[name];
    if (!C) continue;
    const G = new Proxy(C, { construct(t, args, nt) { if (typeof args[0] === "number") guard(args[0]); return Reflect.construct(t, args, nt === G ? t : nt); } });
    Object.defineProperty(globalThis, name, { value: G, writable: false, configurable: false });
  }
})();
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
function __pg_encode(v) {
  if (v === undefined) return null;
  return JSON.parse(JSON.stringify(v, __pg_replacer) ?? "null");
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
    listTables: (args) => call("pg.listTables", args || {}),
    getColumns: (args) => call("pg.getColumns", args),
    getTableStats: (args) => call("pg.getTableStats", args),
    createIndex: (args) => call("pg.createIndex", args),
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
