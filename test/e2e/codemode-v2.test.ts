/**
 * Code mode v2: the run owns its calls (one connection), the surface is small
 * and discovered on demand, and the helpers return plain values that never
 * truncate silently.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type pg from "pg";
import { call, connectClient, text } from "../support/mcp";
import { useClientAndObserver } from "../support/db";
import { startWorker, type RunningWorker } from "../../scripts/lib/worker";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const fixture = useClientAndObserver();
let client: Client;
let db: pg.Client;
beforeAll(() => ({ client, db } = fixture));

type Out = { result: unknown; logs: string[]; dbCalls: number };
const runOk = async (code: string) => {
  const r = await call(client, "pg_execute_code", { code });
  if (r.isError) throw new Error(text(r));
  return r.structuredContent as Out;
};

describe("one run, one connection", () => {
  it("every call of a run uses the same backend, and the connection is closed when the run ends", async () => {
    const out = await runOk(`
      const pids = new Set();
      for (let i = 0; i < 20; i++) pids.add((await pg.query("select pg_backend_pid() as pid")).rows[0].pid);
      await pg.schema.list({ kind: "table", limit: 1 });
      return [...pids];`);
    expect(out.dbCalls).toBe(21);
    const [pid] = out.result as number[];
    expect(out.result).toHaveLength(1);
    // Closed with the run: the backend goes away (polled, not slept).
    let alive = 1;
    for (let i = 0; i < 50 && alive; i++) {
      alive = (await db.query("select count(*)::int as n from pg_stat_activity where pid = $1", [pid])).rows[0].n;
      if (alive) await new Promise((r) => setTimeout(r, 100));
    }
    expect(alive).toBe(0);
  });

  it("concurrent calls in one program are served one at a time on that connection, with the right answers", async () => {
    const out = await runOk(`
      const rs = await Promise.all([1, 2, 3, 4, 5].map((i) => pg.query("select $1::int * 10 as v, pg_backend_pid() as pid", [i])));
      return { values: rs.map((r) => r.rows[0].v), pids: new Set(rs.map((r) => r.rows[0].pid)).size };`);
    expect(out.result).toEqual({ values: [10, 20, 30, 40, 50], pids: 1 });
  });
});

describe("an API models get right the first time", () => {
  it("rows are objects keyed by column name, with column types", async () => {
    const out = await runOk(`const r = await pg.query("select 1::int as a, 'x'::text as b"); return { rows: r.rows, columns: r.columns };`);
    expect(out.result).toEqual({ rows: [{ a: 1, b: "x" }], columns: [{ name: "a", type: "int4" }, { name: "b", type: "text" }] });
  });

  it("listTables returns every table of a large schema, not the first page", async () => {
    await db.query("drop schema if exists cm_many cascade; create schema cm_many");
    await db.query("do $$ begin for i in 1..130 loop execute format('create table cm_many.t%s (id int primary key, v text)', i); end loop; end $$");
    try {
      const out = await runOk(`const t = await pg.listTables({ schema: "cm_many" }); return { n: t.length, isArray: Array.isArray(t), first: t[0], sameAsRows: t.rows === t };`);
      expect(out.result).toMatchObject({ n: 130, isArray: true, sameAsRows: true, first: { schema: "cm_many", kind: "table" } });
    } finally {
      await db.query("drop schema cm_many cascade");
    }
  });

  it("getColumns flags the primary key; getTableStats is a plain object; both take a name or { table }", async () => {
    const out = await runOk(`
      const cols = await pg.getColumns("order_items");
      const same = await pg.getColumns({ table: "order_items" });
      const stats = await pg.getTableStats("orders");
      return { pk: cols.filter((c) => c.isPrimaryKey).map((c) => c.name), same: JSON.stringify(cols) === JSON.stringify(same), statsKeys: Object.keys(stats).includes("seq_scan") };`);
    expect(out.result).toEqual({ pk: ["order_id", "product_id"], same: true, statsKeys: true });
  });

  it("an error thrown into the program carries the SQLSTATE", async () => {
    const out = await runOk(`try { await pg.query("select * from no_such_table"); } catch (e) { return { code: e.code, name: e.name, message: e.message }; }`);
    expect(out.result).toMatchObject({ code: "42P01", name: "PgError", message: expect.stringMatching(/relation "no_such_table" does not exist/) });
  });

  it("the example in docs/CODE_MODE.md runs unchanged", async () => {
    const doc = readFileSync(join(import.meta.dirname, "..", "..", "docs", "CODE_MODE.md"), "utf8");
    const example = /```ts\n([\s\S]*?)```/.exec(doc)![1]!;
    const out = await runOk(example);
    expect(Array.isArray(out.result)).toBe(true);
  });
});

describe("a small surface the model discovers", () => {
  it("the pg_execute_code listing is at most 1 KB and says how to find the rest", async () => {
    const { tools } = await client.listTools();
    const entry = tools.find((t) => t.name === "pg_execute_code")!;
    expect(Buffer.byteLength(entry.description!)).toBeLessThanOrEqual(1024);
    expect(entry.description).toMatch(/pg\.help/);
  });

  it("pg.help finds signatures by words; with no words it lists the groups", async () => {
    const out = await runOk(`return { index: await pg.help("create index"), all: await pg.help() };`);
    const { index, all } = out.result as { index: string; all: string };
    expect(index).toMatch(/^pg\.createIndex\(a:\{table:string;columns:string\[\]/m);
    expect(index).toMatch(/^pg\.schema\.create\(a:\{/m);
    expect(all).toMatch(/^pg\.schema\.\{[a-zA-Z,]*list[a-zA-Z,]*\}/m);
  });

  it("the postgres://codemode/api resource holds the whole API as TypeScript", async () => {
    const r = await client.readResource({ uri: "postgres://codemode/api" });
    const ts = (r.contents[0] as { text: string }).text;
    expect(ts).toMatch(/^declare const pg:\{/m);
    expect(ts).toMatch(/listTables\(a\?:\{schema\?:string\}\)/);
    expect(ts).toMatch(/schema:\{\n\s+\/\*\*.*\*\/ list\(a\?:\{/);
  });

  describe("a code-mode-only deployment", () => {
    let worker: RunningWorker;
    let only: Client;
    beforeAll(async () => {
      worker = await startWorker({ databaseUrl: inject("serverDatabaseUrl"), vars: { AUTH_MODE: "none", TOOL_GROUPS: "codemode", RATE_LIMIT_PER_MINUTE: "0", RATE_LIMIT_CODE_PER_MINUTE: "0", PYTHON: "false" } });
      only = await connectClient(worker.mcpUrl);
    }, 120_000);
    afterAll(async () => {
      await only?.close();
      await worker?.stop();
    });

    it("lists at most 2 tools in at most 2 KB, and its programs can still reach every tool's work through pg", async () => {
      const listed = await only.listTools();
      expect(listed.tools.length).toBeLessThanOrEqual(2);
      expect(Buffer.byteLength(JSON.stringify(listed.tools))).toBeLessThanOrEqual(2048);
      const r = await call(only, "pg_execute_code", { code: `return (await pg.query("select count(*)::int as n from customers")).rows[0].n` });
      expect((r.structuredContent as Out).result).toBe(200);
    });
  });
});

describe("few bytes for the model", () => {
  it("an array of objects comes back as TSV text with the header once; structuredContent keeps the exact JSON", async () => {
    const r = await call(client, "pg_execute_code", { code: `return [{ t: "a", n: 1, cols: ["x", "y"] }, { t: "b\\tc", n: null, cols: [] }]` });
    expect(text(r).split("\n").slice(0, 3)).toEqual(["t\tn\tcols", 'a\t1\t["x","y"]', "b\\tc\t\\N\t[]"]);
    expect((r.structuredContent as Out).result).toEqual([{ t: "a", n: 1, cols: ["x", "y"] }, { t: "b\tc", n: null, cols: [] }]);
    const scalar = await call(client, "pg_execute_code", { code: `return { ok: true }` });
    expect(text(scalar).split("\n")[0]).toBe('{"ok":true}');
  });
});
