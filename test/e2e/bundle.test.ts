/**
 * A bundle built without Pyodide and without the Neon driver (the aliases
 * `npm run deploy` and `npm run customer` add for a deployment that uses
 * neither), served by workerd and then configured as if it did use them, as a
 * dashboard change after the build would: each part says in one line that it
 * is not in the bundle and what to do, and the server keeps serving.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { join } from "node:path";
import { rmSync } from "node:fs";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { call, connectClient, rows, text } from "../support/mcp";
import { startWorker, PROJECT_ROOT, type RunningWorker } from "../../scripts/lib/worker";
import { ABSENT_MODULES, aliasFlags, dryRun } from "../../scripts/lib/bundle";
import { NEON_MISSING } from "../../worker/config";

const OPEN = { AUTH_MODE: "none", RATE_LIMIT_PER_MINUTE: "0", RATE_LIMIT_EXPENSIVE_PER_MINUTE: "0", RATE_LIMIT_CODE_PER_MINUTE: "0" };
const outDir = join(PROJECT_ROOT, ".wrangler", `test-bundle-lean-${process.pid}`);
let bundleDir: string;
const started: RunningWorker[] = [];

beforeAll(() => {
  const built = dryRun(join(PROJECT_ROOT, "wrangler.toml"), outDir, aliasFlags(ABSENT_MODULES));
  // The build really left both out: otherwise the tests below would prove nothing.
  expect(built.modules).toEqual(["index.js", "re2js.js.txt"]);
  expect(built.inputs.filter((f) => f.includes("@neondatabase") || f.includes("pyodide"))).toEqual([]);
  bundleDir = built.dir;
}, 180_000);
afterAll(async () => {
  for (const w of started) await w.stop();
  rmSync(outDir, { recursive: true, force: true });
});

const start = async (vars: Record<string, string>) => {
  const w = await startWorker({ databaseUrl: inject("serverDatabaseUrl"), bundleDir, vars: { ...OPEN, ...vars } });
  started.push(w);
  return w;
};

describe("a bundle without Pyodide and the Neon driver", () => {
  it("refuses DB_DRIVER=neon on every request with one line naming the fix", { timeout: 120_000 }, async () => {
    const w = await start({ DB_DRIVER: "neon", DATABASE_URL: inject("serverDatabaseUrl") });
    for (let i = 0; i < 2; i++) {
      const r = await fetch(w.mcpUrl, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } } }),
      });
      expect(r.status).toBe(500);
      expect(await r.json()).toEqual({ error: "misconfigured", message: NEON_MISSING });
    }
    expect(NEON_MISSING).not.toContain("\n");
    expect(NEON_MISSING).toMatch(/DB_DRIVER = "neon"/);
  });

  it("answers pg_code_run_python with a tool error naming the fix when the configuration lists it, and keeps serving", { timeout: 120_000 }, async () => {
    const w = await start({ TOOL_GROUPS: "query,code", PYTHON: "true" });
    const client: Client = await connectClient(w.mcpUrl);
    try {
      const listed = await client.listTools();
      expect(listed.tools.map((t) => t.name)).toContain("pg_code_run_python");
      const r = await call(client, "pg_code_run_python", { code: "1 + 1" });
      expect(r.isError).toBe(true);
      // worker/tools/python.tools.ts PYTHON_MISSING (that module needs the Worker's types, not Node's).
      expect(text(r)).toMatch(/this deployment was built without Python \(Pyodide\).*npm run deploy, or npm run customer/);
      // Hyperdrive, the JavaScript sandbox and the server itself are untouched.
      expect(await rows(client, "select 40 + 2")).toEqual([[42]]);
      const js = await call(client, "pg_code_run_javascript", { code: "return (await pg.query('select 1 as n')).rows[0].n" });
      expect(js.isError, text(js)).toBeFalsy();
      expect(text(js)).toContain("1");
    } finally {
      await client.close();
    }
  });
});
