/**
 * pg_code_run_python end to end: Pyodide in a Worker Loader isolate, loaded
 * from the Worker's own modules (no network), with `pg` as the only way out.
 * Start-up takes seconds (much longer on a loaded machine), hence the timeouts.
 */
import { afterEach, beforeEach, describe, expect, inject, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { call, connectClient, text } from "../support/mcp";
import { startWorker, type RunningWorker } from "../../scripts/lib/worker";

// Each test gets a Worker of its own: every run starts a Pyodide isolate (~100-200 MB) that the
// runtime frees lazily, and a local workerd process that holds several dies near 1.4 GB.
let worker: RunningWorker;
let client: Client;
beforeEach(async () => {
  worker = await startWorker({
    databaseUrl: inject("databaseUrl"),
    vars: { AUTH_MODE: "none", RATE_LIMIT_PER_MINUTE: "0", RATE_LIMIT_CODE_PER_MINUTE: "0", RATE_LIMIT_EXPENSIVE_PER_MINUTE: "0", PYTHON: "true", TOOL_GROUPS: "query,code" },
  });
  client = await connectClient(worker.mcpUrl);
}, 120_000);
afterEach(async () => {
  await client?.close();
  await worker?.stop();
});

type Out = { result: unknown; logs: string[]; dbCalls: number };
const run = (code: string) => call(client, "pg_code_run_python", { code });
const runOk = async (code: string) => {
  const r = await run(code);
  if (r.isError) throw new Error(text(r));
  return r.structuredContent as Out;
};
const T = 150_000;

describe("pg_code_run_python", () => {
  it(
    "queries the database and returns rows as dicts, with print output",
    async () => {
      const out = await runOk(`
rows = await pg.query("select $1::int + 1 as n, 'x' as s", [41])
print("got", rows[0]["n"])
{"rows": rows, "sum": sum(r["n"] for r in rows)}`);
      expect(out.result).toEqual({ rows: [{ n: 42, s: "x" }], sum: 42 });
      expect(out.logs.join("\n")).toContain("got 42");
      expect(out.dbCalls).toBe(1);
    },
    T,
  );

  it(
    "cannot reach the network, the host's files, or code-running tools",
    async () => {
      const out = await runOk(`
import os
def attempt(f):
    try:
        f()
        return "allowed"
    except BaseException as e:
        return type(e).__name__
async def attempt_async(f):
    try:
        await f()
        return "allowed"
    except BaseException as e:
        return type(e).__name__
from js import fetch
async def net():
    await fetch("http://127.0.0.1:1/")
async def nested():
    await pg.call("pg_code_run_python", {"code": "1"})
async def db_error():
    await pg.query("select * from no_such_table_xyz")
{
  "fetch": await attempt_async(net),
  "host_file": attempt(lambda: open("/work/main/package.json").read()),
  "passwd": attempt(lambda: open("/etc/passwd").read()),
  "root": sorted(os.listdir("/")),
  "nested": await attempt_async(nested),
  "db_error": await attempt_async(db_error),
}`);
      const r = out.result as Record<string, unknown>;
      expect(r.fetch).not.toBe("allowed");
      expect(r.host_file).not.toBe("allowed");
      expect(r.passwd).not.toBe("allowed");
      expect(r.root).not.toContain("work");
      expect(r.nested).toBe("PgError");
      expect(r.db_error).toBe("PgError");
    },
    T,
  );

  it(
    "stops CPU-bound loops, even when the program catches the interrupt",
    async () => {
      const loop = await run("while True:\n    pass");
      expect(loop.isError).toBe(true);
      expect(text(loop)).toContain("operation budget");
      // Catching the KeyboardInterrupt does not help: the next stop cannot be caught.
      const stubborn = await run("while True:\n    try:\n        while True: pass\n    except BaseException:\n        pass");
      expect(stubborn.isError).toBe(true);
      expect(text(stubborn)).toContain("operation budget");
    },
    T * 2,
  );

  it(
    "stops runaway memory, reports Python errors, and the server keeps serving",
    async () => {
      const memory = await run("x = []\nwhile True:\n    x.append('a' * 1000000)");
      expect(memory.isError).toBe(true);
      expect(text(memory)).toContain("MemoryError");
      const err = await run("1/0");
      expect(err.isError).toBe(true);
      expect(text(err)).toContain("ZeroDivisionError");
      const out = await runOk(`(await pg.query("select 1 as one"))[0]["one"]`);
      expect(out.result).toBe(1);
    },
    T * 2,
  );
});
