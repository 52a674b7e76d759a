/**
 * Code mode end to end: programs run in a Worker Loader isolate whose only
 * capability is `pg`, and the security table: every row must fail safely,
 * leave the server serving, and be recorded.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type pg from "pg";
import { call, connectClient, ok, rows, text } from "../support/mcp";
import { observer, uniqueName, useClientAndObserver } from "../support/db";

const fixture = useClientAndObserver();
let client: Client;
let db: pg.Client;
beforeAll(() => ({ client, db } = fixture));

type Out = { result: unknown; logs: string[]; dbCalls: number; truncated: boolean; resultBytes: number };
const run = (code: string, timeout?: number) => call(client, "pg_execute_code", { code, ...(timeout ? { timeout } : {}) });
const runOk = async (code: string) => {
  const r = await run(code);
  if (r.isError) throw new Error(text(r));
  return r.structuredContent as Out;
};

describe("pg_execute_code", () => {
  it("runs TypeScript and returns only the result, with console output and call count", async () => {
    const out = await runOk(`
      interface Row { n: number }
      const r = await pg.query("select $1::int + 1 as n", [41]);
      const first: Row = r.rows[0] as Row;
      console.log("got", first.n);
      return { answer: first.n, big: 2n ** 70n, when: new Date(0) };`);
    expect(out.result).toEqual({ answer: 42, big: "1180591620717411303424", when: "1970-01-01T00:00:00.000Z" });
    expect(out.logs).toEqual(["got 42"]);
    expect(out.dbCalls).toBe(1);
  });

  it("calls tools by group and action, generated from the registry", async () => {
    const out = await runOk(`
      const r = await pg.query.read({ sql: "select count(*)::int as c from customers" });
      const plan = await pg.query.explain({ sql: "select * from orders where id = 1" });
      return { count: r.rows[0][0], planned: !!plan.plan };`);
    expect(out.result).toEqual({ count: 200, planned: true });
  });

  it("the seed helpers: listTables, getColumns, getTableStats", async () => {
    const out = await runOk(`
      const tables = await pg.listTables();
      const cols = await pg.getColumns({ table: "orders" });
      const stats = await pg.getTableStats({ table: "orders" });
      return { hasOrders: JSON.stringify(tables).includes("orders"), cols: Array.isArray(cols) ? cols.length : Object.keys(cols).length, stats: stats !== null };`);
    expect(out.result).toMatchObject({ hasOrders: true, stats: true });
    expect((out.result as { cols: number }).cols).toBeGreaterThanOrEqual(5);
  });

  it("pg.transaction commits, and rolls back when the function throws", async () => {
    const t = uniqueName("cm");
    await db.query(`create table ${t} (id int primary key)`);
    await runOk(`await pg.transaction(async (tx) => { await tx.query("insert into ${t} values (1)"); await tx.query("insert into ${t} values (2)"); }); return 1;`);
    const failed = await run(`await pg.transaction(async (tx) => { await tx.query("insert into ${t} values (3)"); throw new Error("changed my mind"); });`);
    expect(failed.isError).toBe(true);
    expect(text(failed)).toMatch(/changed my mind/);
    expect((await db.query(`select id from ${t} order by id`)).rows).toEqual([{ id: 1 }, { id: 2 }]);
    await db.query(`drop table ${t}`);
  });

  it("a bad call throws inside the program with the schema message, and the program can catch it", async () => {
    const out = await runOk(`try { await pg.query.read({ sql: 42 }); return "no"; } catch (e) { return String(e.message); }`);
    expect(String(out.result)).toMatch(/Invalid arguments for tool pg_query_read/);
  });

  it("pg_code_run_javascript runs JavaScript in the same sandbox", async () => {
    const r = await call(client, "pg_code_run_javascript", { code: `const r = await pg.query("select 2 as two"); return r.rows[0].two * 21;` });
    expect((r.structuredContent as Out).result).toBe(42);
    const loop = await call(client, "pg_code_run_javascript", { code: "for (;;) {}" });
    expect(text(loop)).toMatch(/operation budget/);
  });

  it("reports a syntax error with its position", async () => {
    const r = await run("const x = ;");
    expect(text(r)).toMatch(/compile_error: .*line 1, column 11/);
  });

  it("is recorded in the audit log with the code", async () => {
    const marker = uniqueName("audit_me");
    await runOk(`return "${marker}";`);
    const { entries } = await ok<{ entries: { tool: string; action: string; outcome: string }[] }>(client, "pg_audit_log", { tool: "pg_execute_code", limit: 100 });
    expect(entries.some((e) => e.action.includes(marker) && e.outcome === "ok")).toBe(true);
  });
});

/** [name, program, what the failure must say]. Keep adding rows. */
const hostile: [string, string, RegExp, number?][] = [
  ["fetch", `return await fetch("https://example.com")`, /not permitted to access the internet|fetch/i],
  ["connect via import", `const { connect } = await import("cloudflare:sockets"); return connect("127.0.0.1:5432")`, /import\/export are not available/],
  ["static import", `import fs from "node:fs"; return 1`, /import\/export are not available/],
  ["eval", `return eval("1 + 1")`, /Code generation from strings disallowed|eval/],
  ["new Function", `return new Function("return 1")()`, /Code generation from strings disallowed/],
  ["Function via constructor chain", `return pg.constructor.constructor("return globalThis")()`, /Code generation from strings disallowed/],
  ["require", `return require("fs")`, /require is not defined/],
  ["process and the parent's env", `if (typeof process !== "undefined" || typeof env !== "undefined" || Object.keys(globalThis).some((k) => /HYPERDRIVE|DATABASE|API_KEYS|PG/.test(k))) return "leak"; throw new Error("nothing to reach")`, /nothing to reach/],
  ["prototype pollution of the pg object", `pg.query = () => 1; return 1`, /read only|Cannot assign/],
  ["__proto__ tricks on pg", `Object.setPrototypeOf(pg, { evil: true }); return pg.evil`, /Cannot|not extensible|prototype/],
  ["calling an undeclared tool", `return await pg.nothing.here({})`, /Cannot read properties of undefined|undefined/],
  ["code calling code", `return await pg.execute.code({ code: "return 1" })`, /Cannot read properties of undefined|undefined|cannot be called/],
  ["reserved instrumentation names", `const __pg_tick = () => {}; while (true) {}`, /reserved/],
  ["synchronous infinite loop", `while (true) {}`, /operation budget/],
  ["infinite loop in a function called from a loop, errors swallowed", `function spin() { for (;;) {} } for (;;) { try { spin(); } catch {} }`, /operation budget/],
  ["loop disguised as recursion through catch", `function f() { try { f(); } catch { f(); } } f();`, /operation budget|Maximum call stack/],
  ["deep recursion", `function r(n) { return r(n + 1) + 1; } return r(0);`, /Maximum call stack|operation budget/],
  ["memory bomb: array growth", `const a = []; while (true) a.push(new Array(1e6).fill(0));`, /allocation budget/],
  ["memory bomb: one huge array", `return new Array(1e9).fill(1).length`, /allocation budget/],
  ["memory bomb: spread doubling", `let a = [1]; for (let i = 0; i < 40; i++) a = [...a, ...a]; return a.length`, /allocation budget/],
  ["memory bomb: typed array", `return new Float64Array(2e9).length`, /allocation budget/],
  ["string doubling", `let s = "x"; for (let i = 0; i < 40; i++) s += s; return s.length`, /Invalid string length|allocation budget/],
  ["catastrophic regular expression (answered by RE2 in linear time)", `throw new Error("answered " + /^(a+)+$/.test("a".repeat(40) + "b"))`, /answered false/],
  ["catastrophic regular expression built from a string", `throw new Error("answered " + new RegExp("(x+x+)+y").test("x".repeat(40)))`, /answered false/],
  ["regular expression features RE2 lacks", `return /(a)\\1/.test("aa")`, /backreferences .*are not supported in the sandbox/],
  ["thousands of pg calls", `for (let i = 0; i < 5000; i++) await pg.query("select 1");`, /too many database calls/],
  ["a program that never settles", `await new Promise(() => {});`, /can never finish|did not finish within 1500 ms/, 1500],
  ["a program that keeps itself alive with an interval", `setInterval(() => {}, 5); await new Promise(() => {});`, /did not finish within 1500 ms/, 1500],
  ["timer flood", `for (let i = 0; i < 100000; i++) setTimeout(() => {}, 10); return 1;`, /QuotaExceeded|active timeouts|operation budget/],
];

describe("the sandbox holds against hostile programs", () => {
  for (const [name, code, failure, timeout] of hostile) {
    it(`refuses: ${name}`, async () => {
      const r = await run(code, timeout);
      expect(r.isError, text(r)).toBe(true);
      expect(text(r)).toMatch(failure);
      expect(await rows(client, "select 1")).toEqual([[1]]);
    });
  }

  it("a huge return value is truncated with a marker", async () => {
    const out = await runOk(`return "x".repeat(3_000_000);`);
    expect(out.truncated).toBe(true);
    expect(String(out.result)).toMatch(/\[truncated: result was \d+ bytes, limit 100000\]$/);
  });

  it("huge console output is cut with a marker", async () => {
    const out = await runOk(`for (let i = 0; i < 100000; i++) console.log("spam " + i); return "done";`);
    expect(out.result).toBe("done");
    expect(out.logs.at(-1)).toBe("[console output truncated]");
    expect(out.logs.length).toBeLessThan(10000);
  });

  it("each hostile run was recorded", async () => {
    const { entries } = await ok<{ entries: { tool: string; outcome: string; action: string }[] }>(client, "pg_audit_log", { tool: "pg_execute_code", limit: 500 });
    expect(entries.some((e) => e.outcome === "error" && e.action.includes("while (true) {}"))).toBe(true);
  });
});
