/**
 * Scopes and identities mean what they say: escalation attempts by class, each
 * judged by its effect from a second (superuser) connection and by the server
 * still serving afterwards. The victim is another caller's held transaction.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type pg from "pg";
import { createHash, randomBytes } from "node:crypto";
import { call, connectClient, ok, rawText, text, type ToolResult } from "../support/mcp";
import { MCP_HEADERS, raw, toolCall } from "../support/http";
import { observer, uniqueName } from "../support/db";
import { startWorker } from "../../scripts/lib/worker";
import { txTag } from "../../worker/db/tags";

type KeyName = "read" | "write" | "admin";
const url = () => inject("scopesMcpUrl");
const bearer = (name: KeyName) => ({ authorization: `Bearer ${inject("apiKeys")[name]}` });

let db: pg.Client;
const clients = {} as Record<KeyName, Client>;
let victimTable: string;
let victimTx: string;
let victimPid: number;
let autoConf: unknown[];
let defaultAcl: number;
let extensions: string[];

const fileSettings = async () => (await db.query("select name, setting from pg_file_settings where sourcefile like '%auto.conf' order by name, seqno")).rows;
const defaultAclCount = async () => (await db.query("select count(*)::int as n from pg_default_acl")).rows[0].n as number;
const extensionNames = async () => (await db.query("select extname from pg_extension order by 1")).rows.map((r) => r.extname as string);

/** The victim's backend is alive and its transaction still open with its row. */
async function expectVictimIntact() {
  const r = await db.query("select state, application_name from pg_stat_activity where pid = $1", [victimPid]);
  expect(r.rows).toHaveLength(1);
  expect(r.rows[0].state).toMatch(/idle in transaction|active/);
  // Keep the lease fresh, and see the row inside it.
  expect((await ok<{ rows: unknown[][] }>(clients.admin, "pg_query_read", { tx: victimTx, sql: `select count(*)::int from ${victimTable}` })).rows).toEqual([[1]]);
}

/** Nothing server-level changed: the configuration file, default privileges, extensions. */
async function expectServerUnchanged() {
  expect(await fileSettings()).toEqual(autoConf);
  expect(await defaultAclCount()).toBe(defaultAcl);
  expect(await extensionNames()).toEqual(extensions);
  expect((await db.query("select count(*)::int as n from pg_roles where rolname = 'scopes_evil'")).rows[0].n).toBe(0);
}

beforeAll(async () => {
  db = await observer();
  for (const k of ["read", "write", "admin"] as const) clients[k] = await connectClient(url(), { headers: bearer(k) });
  victimTable = uniqueName("victim");
  await db.query(`create table ${victimTable} (id int)`);
  victimTx = (await ok<{ tx: string }>(clients.admin, "pg_tx_begin", {})).tx;
  await ok(clients.admin, "pg_query_write", { tx: victimTx, sql: `insert into ${victimTable} values (1)` });
  const pids = await db.query("select pid from pg_stat_activity where application_name like $1", [`pg-mcp tx ${await txTag(victimTx)} by %`]);
  expect(pids.rows).toHaveLength(1);
  victimPid = pids.rows[0].pid;
  autoConf = await fileSettings();
  defaultAcl = await defaultAclCount();
  extensions = await extensionNames();
}, 60_000);

afterAll(async () => {
  if (victimTx) await call(clients.admin, "pg_tx_rollback", { tx: victimTx }).catch(() => {});
  for (const c of Object.values(clients)) await c?.close();
  if (victimTable) await db?.query(`drop table if exists ${victimTable}`);
  await db?.end();
});

const refused = (r: ToolResult, pattern: RegExp) => {
  expect(r.isError, rawText(r)).toBe(true);
  expect(text(r)).toMatch(pattern);
};

/** Server-level statements a write key might try, each with what it would do if it ran (as the server's role). */
const ADMIN_EFFECTS: { class: string; sql: () => string; message: RegExp }[] = [
  { class: "configuration: ALTER SYSTEM", sql: () => "alter system set work_mem = '77MB'", message: /alter_system_disabled|ALTER SYSTEM is disabled/ },
  { class: "configuration: set_config of a server setting", sql: () => "select set_config('work_mem', '77MB', false)", message: /set_config\(\).*admin scope/ },
  { class: "configuration: pg_reload_conf", sql: () => "select pg_reload_conf()", message: /pg_reload_conf\(\).*admin scope/ },
  { class: "other sessions: pg_terminate_backend of another caller's transaction", sql: () => `select pg_terminate_backend(${victimPid})`, message: /pg_terminate_backend\(\).*admin scope/ },
  { class: "other sessions: pg_cancel_backend", sql: () => `select pg_cancel_backend(${victimPid})`, message: /pg_cancel_backend\(\).*admin scope/ },
  { class: "other sessions: found through pg_stat_activity", sql: () => "select pg_terminate_backend(pid) from pg_stat_activity where application_name like 'pg-mcp tx %'", message: /pg_terminate_backend\(\).*admin scope/ },
  { class: "other sessions: inside a DO block", sql: () => `do $$ begin perform pg_terminate_backend(${victimPid}); end $$`, message: /pg_terminate_backend\(\).*admin scope/ },
  { class: "other sessions: EXECUTE of a string", sql: () => `do $$ begin execute 'select pg_signal_backend(${victimPid}, 15)'; end $$`, message: /pg_signal_backend\(\).*admin scope/ },
  { class: "roles: CREATE ROLE", sql: () => "create role scopes_evil login password 'x'", message: /CREATE ROLE.*admin scope/ },
  { class: "roles: GRANT of a role", sql: () => "grant pgmcp_read to public", message: /GRANT of a role.*admin scope/ },
  { class: "roles: ALTER DEFAULT PRIVILEGES", sql: () => "alter default privileges grant all on tables to public", message: /ALTER DEFAULT PRIVILEGES.*admin scope/ },
  { class: "extensions: CREATE EXTENSION", sql: () => "create extension if not exists hstore", message: /CREATE EXTENSION.*admin scope/ },
];

/** Every tool path that runs a write key's SQL. */
const WRITE_PATHS: { name: string; run: (c: Client, sql: string) => Promise<ToolResult> }[] = [
  { name: "pg_query_write", run: (c, sql) => call(c, "pg_query_write", { sql }) },
  { name: "pg_code_run_sql_script", run: (c, sql) => call(c, "pg_code_run_sql_script", { sql: `select 1;\n${sql};\nselect 2` }) },
  {
    name: "pg_query_write in a held transaction",
    run: async (c, sql) => {
      const { tx } = await ok<{ tx: string }>(c, "pg_tx_begin", {});
      const r = await call(c, "pg_query_write", { tx, sql });
      await call(c, "pg_tx_rollback", { tx });
      return r;
    },
  },
  {
    name: "a program's pg.query",
    run: async (c, sql) => {
      const r = await call(c, "pg_execute_code", { code: `try { await pg.query(${JSON.stringify(sql)}); return "ran"; } catch (e) { return "refused: " + e.message; }` });
      const result = (r.structuredContent as { result?: unknown } | undefined)?.result;
      return typeof result === "string" && result.startsWith("refused") ? { content: [{ type: "text", text: result }], isError: true } : r;
    },
  },
];

describe("a write key attempting admin effects", () => {
  for (const path of WRITE_PATHS) {
    for (const attempt of ADMIN_EFFECTS) {
      it(`${path.name}: ${attempt.class} is refused, and nothing changed`, async () => {
        refused(await path.run(clients.write, attempt.sql()), attempt.message);
        await expectVictimIntact();
        await expectServerUnchanged();
      });
    }
  }

  it("EXPLAIN ANALYZE of a write that signals another backend is refused", async () => {
    refused(await call(clients.write, "pg_query_explain", { sql: `insert into ${victimTable} select 2 where pg_terminate_backend(${victimPid})`, analyze: true }), /pg_terminate_backend/);
    await expectVictimIntact();
  });

  it("data stays the write key's business: a custom setting and an object GRANT still run", async () => {
    const t = uniqueName("scoped_data");
    await ok(clients.write, "pg_query_write", { sql: `create table ${t} (id int)` });
    await ok(clients.write, "pg_query_write", { sql: `grant select on ${t} to pgmcp_read` });
    await ok(clients.write, "pg_code_run_sql_script", { sql: `select set_config('app.tenant', '7', true); insert into ${t} values (1)`, transaction: true });
    expect((await db.query(`select count(*)::int as n from ${t}`)).rows[0].n).toBe(1);
    await db.query(`drop table ${t}`);
  });

  it("an admin key may, except ALTER SYSTEM where the deployment forbids it", async () => {
    refused(await call(clients.admin, "pg_query_write", { sql: "alter system set work_mem = '77MB'" }), /ALTER SYSTEM is disabled in this deployment/);
    const r = await call(clients.admin, "pg_query_write", { sql: "select pg_cancel_backend(pg_backend_pid() + 1000000)" });
    expect(r.isError, rawText(r)).toBeFalsy();
    await expectServerUnchanged();
  });
});

describe("a read key through every tool and program path", () => {
  const attempts: [string, () => Promise<ToolResult>, RegExp][] = [
    ["pg_query_read with pg_terminate_backend", () => call(clients.read, "pg_query_read", { sql: `select pg_terminate_backend(${victimPid})` }), /read_only|not allowed in a read-only query/],
    ["pg_query_explain analyze of a signal", () => call(clients.read, "pg_query_explain", { sql: `select pg_terminate_backend(${victimPid})`, analyze: true }), /pg_terminate_backend/],
    ["pg_query_explain analyze of a write", () => call(clients.read, "pg_query_explain", { sql: `delete from ${victimTable}`, analyze: true }), /insufficient_scope/],
    ["pg_tx_begin read-write", () => call(clients.read, "pg_tx_begin", {}), /insufficient_scope/],
    ["a program's pg.query with ALTER SYSTEM", () => call(clients.read, "pg_execute_code", { code: `await pg.query("alter system set work_mem = '77MB'"); return "ran"` }), /Unknown tool: pg_query_write/],
    ["a program's pg.query with pg_terminate_backend", () => call(clients.read, "pg_execute_code", { code: `await pg.query("select pg_terminate_backend(${victimPid})"); return "ran"` }), /Unknown tool: pg_query_write|pg_terminate_backend/],
    ["a program's pg_code_run_sql_script", () => call(clients.read, "pg_execute_code", { code: `await pg.call("pg_code_run_sql_script", { sql: "create role scopes_evil" }); return "ran"` }), /Unknown tool|not/],
    ["another caller's transaction by id", () => call(clients.read, "pg_query_read", { tx: victimTx, sql: `select * from ${victimTable}` }), /not yours|owner|another|not found|belongs/i],
    ["committing another caller's transaction", () => call(clients.read, "pg_tx_commit", { tx: victimTx }), /not yours|owner|another|not found|belongs/i],
  ];
  for (const [name, run, pattern] of attempts) {
    it(`${name} is refused, and nothing changed`, async () => {
      refused(await run(), pattern);
      await expectVictimIntact();
      await expectServerUnchanged();
    });
  }

  it("the hidden write tools are refused like unknown tools", async () => {
    for (const name of ["pg_query_write", "pg_code_run_sql_script", "pg_monitor_cancel", "pg_admin_set"]) {
      await expect(clients.read.callTool({ name, arguments: { sql: "create role scopes_evil" } })).rejects.toThrow(/Unknown tool/);
    }
    await expectServerUnchanged();
  });
});

describe("sessions are private", () => {
  it("no transaction id appears in pg_stat_activity, for anyone", async () => {
    const apps = (await db.query("select application_name from pg_stat_activity")).rows.map((r) => r.application_name as string);
    expect(apps.some((a) => a.includes(victimTx))).toBe(false);
    expect(apps.some((a) => /tx_[0-9a-f]{32}/.test(a))).toBe(false);
  });

  for (const k of ["read", "write"] as const) {
    it(`a ${k} key's listings show neither the victim's backend nor its transaction id`, async () => {
      const activity = await call(clients[k], "pg_monitor_activity", { state: "all" });
      expect(activity.isError, rawText(activity)).toBeFalsy();
      const pids = (activity.structuredContent as { rows: { pid: number }[] }).rows.map((r) => r.pid);
      expect(pids).not.toContain(victimPid);
      expect(rawText(activity)).toMatch(/session\(s\) of others not shown/);
      for (const tool of ["pg_monitor_activity", "pg_monitor_locks", "pg_monitor_connections", "pg_monitor_health"]) {
        const r = await call(clients[k], tool, tool === "pg_monitor_activity" ? { state: "all" } : {});
        expect(rawText(r)).not.toContain(victimTx);
        expect(JSON.stringify(r.structuredContent ?? {})).not.toContain(victimTx);
        expect(JSON.stringify(r.structuredContent ?? {})).not.toMatch(new RegExp(`"pid":${victimPid}\\b`));
      }
      const health = await clients[k].readResource({ uri: "postgres://health" });
      expect(JSON.stringify(health)).not.toContain(victimTx);
      const direct = await ok<{ rows: unknown[][] }>(clients[k], "pg_query_read", { sql: "select application_name from pg_stat_activity" });
      expect(JSON.stringify(direct.rows)).not.toMatch(/tx_[0-9a-f]{32}/);
      await expectVictimIntact();
    });
  }

  it("an admin sees every session, the victim's included", async () => {
    const activity = await ok<{ rows: { pid: number }[] }>(clients.admin, "pg_monitor_activity", { state: "all", limit: 1000 });
    expect(activity.rows.map((r) => r.pid)).toContain(victimPid);
  });

  it("a caller sees its own held transaction's session", async () => {
    const { tx } = await ok<{ tx: string }>(clients.write, "pg_tx_begin", {});
    const mine = await ok<{ rows: { app: string }[] }>(clients.write, "pg_monitor_activity", { state: "all" });
    expect(mine.rows.map((r) => r.app)).toContain(`pg-mcp tx ${await txTag(tx)} by ${mine.rows[0]!.app.split(" by ")[1]}`);
    await ok(clients.write, "pg_tx_rollback", { tx });
  });
});

describe("identities", () => {
  it("a key's transaction belongs to that key alone: the read key cannot commit the write key's", async () => {
    const t = uniqueName("owned");
    await db.query(`create table ${t} (id int)`);
    const { tx } = await ok<{ tx: string }>(clients.write, "pg_tx_begin", {});
    await ok(clients.write, "pg_query_write", { tx, sql: `insert into ${t} values (1)` });
    expect((await call(clients.read, "pg_tx_commit", { tx })).isError).toBe(true);
    expect((await call(clients.admin, "pg_tx_commit", { tx })).isError).toBe(true);
    expect((await db.query(`select count(*)::int as n from ${t}`)).rows[0].n).toBe(0);
    await ok(clients.write, "pg_tx_rollback", { tx });
    await db.query(`drop table ${t}`);
  });

  it("a Worker whose API_KEYS repeats a name or a key answers every request with a ConfigError naming it", async () => {
    const hash = (t: string) => createHash("sha256").update(t).digest("hex");
    const a = `pgm_dup_${randomBytes(16).toString("hex")}`;
    const b = `pgm_dup_${randomBytes(16).toString("hex")}`;
    const sameName = JSON.stringify([{ name: "ci", hash: hash(a), scopes: ["read"] }, { name: "ci", hash: hash(b), scopes: ["write"] }]);
    const sameKey = JSON.stringify([{ name: "ci", hash: hash(a), scopes: ["read"] }, { name: "ci-admin", hash: hash(a), scopes: ["admin"] }]);
    const workers = await Promise.all([sameName, sameKey].map((keys) => startWorker({ databaseUrl: inject("serverDatabaseUrl"), vars: { API_KEYS: keys } })));
    try {
      const [byName, byKey] = await Promise.all(workers.map((w) => raw(w.mcpUrl, { headers: { ...MCP_HEADERS, authorization: `Bearer ${b}` }, body: toolCall("pg_query_read", { sql: "select 1" }) })));
      expect(byName!.status).toBe(500);
      expect(byName!.json).toMatchObject({ error: "misconfigured", message: expect.stringMatching(/API_KEYS has two keys named "ci": names must be unique/) });
      expect(byKey!.status).toBe(500);
      expect(byKey!.json.message).toMatch(/API_KEYS has the same key twice .*"ci-admin"/);
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
  }, 180_000);
});

describe("batches", () => {
  it("a JSON-RPC batch is refused whole with 400 and -32600, and none of its calls ran", async () => {
    const t = uniqueName("batched");
    await db.query(`create table ${t} (id int)`);
    const batch = Array.from({ length: 12 }, (_, i) => JSON.parse(toolCall("pg_query_write", { sql: `insert into ${t} values (${i})` }, i + 1)));
    const r = await raw(url(), { headers: { ...MCP_HEADERS, ...bearer("write") }, body: JSON.stringify(batch) });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ jsonrpc: "2.0", id: null, error: { code: -32600, message: expect.stringMatching(/batches are not accepted/) } });
    expect((await db.query(`select count(*)::int as n from ${t}`)).rows[0].n).toBe(0);
    // Still serving, one message at a time.
    const one = await raw(url(), { headers: { ...MCP_HEADERS, ...bearer("write") }, body: toolCall("pg_query_write", { sql: `insert into ${t} values (100)` }) });
    expect(one.status).toBe(200);
    expect((await db.query(`select count(*)::int as n from ${t}`)).rows[0].n).toBe(1);
    await db.query(`drop table ${t}`);
  });
});

describe("Host and Origin without ALLOWED_HOSTS", () => {
  const post = (headers: Record<string, string>) => raw(url(), { headers: { ...MCP_HEADERS, ...bearer("read"), ...headers }, body: toolCall("pg_query_read", { sql: "select 1" }) });
  it("refuses an arbitrary Host with 403 naming it", async () => {
    const r = await post({ host: "evil.example.com" });
    expect(r.status).toBe(403);
    expect(r.json.error.message).toMatch(/host not allowed: this server does not answer to evil\.example\.com/);
  });
  for (const host of ["localhost", "127.0.0.1", "pg-mcp.someone.workers.dev", "mcp.example.org"]) {
    it(`serves Host ${host} (loopback, *.workers.dev, PUBLIC_URL's host)`, async () => {
      expect((await post({ host })).status).toBe(200);
    });
  }
  it("refuses a look-alike of PUBLIC_URL's host and of workers.dev", async () => {
    expect((await post({ host: "mcp.example.org.evil.com" })).status).toBe(403);
    expect((await post({ host: "evilworkers.dev" })).status).toBe(403);
  });
  it("refuses a foreign browser Origin", async () => {
    expect((await post({ origin: "http://evil.example.com" })).status).toBe(403);
  });
});
