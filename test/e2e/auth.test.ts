/**
 * Auth, scopes, rate limits, audit, payload limits and DNS-rebinding checks,
 * end to end through Workers configured as a real deployment would be.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import type pg from "pg";
import { createHash } from "node:crypto";
import { call, connectClient, ok, rows, text } from "../support/mcp";
import { MCP_HEADERS, raw, toolCall } from "../support/http";
import { observer, uniqueName } from "../support/db";
import { describeRefusals } from "../support/readonly-attempts";

const keys = () => inject("apiKeys");
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const authUrl = () => inject("authMcpUrl");

describe("authentication", () => {
  it("refuses a request without a token with 401 and a WWW-Authenticate challenge", async () => {
    const r = await raw(authUrl(), { headers: MCP_HEADERS, body: toolCall("pg_query_read", { sql: "select 1" }) });
    expect(r.status).toBe(401);
    expect(String(r.headers["www-authenticate"])).toMatch(/^Bearer resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"/);
    expect(r.json.error.message).toMatch(/unauthorized/);
  });

  const bad: [string, Record<string, string>][] = [
    ["an unknown key", bearer("pgm_not_a_real_key")],
    ["a key with the wrong prefix", bearer(keys().read.replace("pgm_", "xyz_"))],
    ["a truncated key", bearer(keys().read.slice(0, -1))],
    ["a non-bearer scheme", { authorization: `Basic ${keys().read}` }],
    ["an empty bearer", { authorization: "Bearer " }],
  ];
  for (const [name, headers] of bad) {
    it(`refuses ${name} with 401`, async () => {
      const r = await raw(authUrl(), { headers: { ...MCP_HEADERS, ...headers }, body: toolCall("pg_query_read", { sql: "select 1" }) });
      expect(r.status).toBe(401);
    });
  }

  it("publishes protected resource metadata", async () => {
    const url = new URL("/.well-known/oauth-protected-resource/mcp", authUrl()).href;
    const r = await raw(url, { method: "GET" });
    expect(r.status).toBe(200);
    expect(r.json.resource).toBe(authUrl());
    expect(r.json.scopes_supported).toEqual(["read", "write", "admin"]);
  });

  it("accepts a valid key", async () => {
    const client = await connectClient(authUrl(), { headers: bearer(keys().read) });
    expect(await rows(client, "select 1")).toEqual([[1]]);
    await client.close();
  });
});

describe("scopes", () => {
  it("tools/list shows only what each scope allows", async () => {
    const names = async (token: string) => {
      const client = await connectClient(authUrl(), { headers: bearer(token) });
      const { tools } = await client.listTools();
      await client.close();
      return tools.map((t) => t.name);
    };
    const read = await names(keys().read);
    const write = await names(keys().write);
    const admin = await names(keys().admin);
    expect(read).toContain("pg_query_read");
    expect(read).not.toContain("pg_query_write");
    expect(read).not.toContain("pg_audit_log");
    expect(read).not.toContain("pg_execute_code"); // code mode needs admin (CODE_MODE_SCOPE) here
    expect(write).toContain("pg_query_write");
    expect(write).not.toContain("pg_audit_log");
    expect(admin).toEqual(expect.arrayContaining(["pg_query_read", "pg_query_write", "pg_audit_log"]));
    expect(read.length).toBeLessThan(write.length);
    expect(write.length).toBeLessThan(admin.length);
  });

  it("a read key calling a hidden write tool is refused like an unknown tool", async () => {
    const client = await connectClient(authUrl(), { headers: bearer(keys().read) });
    await expect(client.callTool({ name: "pg_query_write", arguments: { sql: "create table should_not_exist (i int)" } })).rejects.toSatisfy(
      (e) => e instanceof McpError && e.code === -32602 && /Unknown tool: pg_query_write/.test(e.message),
    );
    await client.close();
  });

  it("a read key cannot EXPLAIN ANALYZE a write", async () => {
    const client = await connectClient(authUrl(), { headers: bearer(keys().read) });
    const r = await call(client, "pg_query_explain", { sql: "delete from order_items", analyze: true });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/insufficient_scope/);
    // The plan without executing is fine.
    expect((await call(client, "pg_query_explain", { sql: "delete from order_items" })).isError).toBeFalsy();
    await client.close();
  });
});

describe("audit log", () => {
  let db: pg.Client;
  beforeAll(async () => {
    db = await observer();
  });
  afterAll(async () => db?.end());

  it("records each write with who, what and the outcome, readable with the admin scope", async () => {
    const t = uniqueName("audited");
    const writer = await connectClient(authUrl(), { headers: bearer(keys().write) });
    await ok(writer, "pg_query_write", { sql: `create table ${t} (id int primary key)` });
    await ok(writer, "pg_query_write", { sql: `insert into ${t} values (1)` });
    expect((await call(writer, "pg_query_write", { sql: `insert into ${t} values (1)` })).isError).toBe(true);
    await writer.close();

    const admin = await connectClient(authUrl(), { headers: bearer(keys().admin) });
    const { entries } = await ok<{ entries: { principal: string; tool: string; action: string; outcome: string; error?: string }[] }>(admin, "pg_audit_log", {
      // A key's identity is derived from its hash, never its name (two keys may not share one).
      principal: `key:${createHash("sha256").update(keys().write).digest("hex").slice(0, 16)}`,
      limit: 50,
    });
    const mine = entries.filter((e) => e.action.includes(t));
    expect(mine.map((e) => [e.tool, e.outcome, e.action])).toEqual([
      ["pg_query_write", "error", `insert into ${t} values (1)`],
      ["pg_query_write", "ok", `insert into ${t} values (1)`],
      ["pg_query_write", "ok", `create table ${t} (id int primary key)`],
    ]);
    expect(mine[0]!.error).toMatch(/^23505/);
    await admin.close();
    await db.query(`drop table ${t}`);
  });

  it("does not record reads", async () => {
    const marker = uniqueName("readmark");
    const reader = await connectClient(authUrl(), { headers: bearer(keys().read) });
    await ok(reader, "pg_query_read", { sql: `select '${marker}'` });
    await reader.close();
    const admin = await connectClient(authUrl(), { headers: bearer(keys().admin) });
    const { entries } = await ok<{ entries: { action: string }[] }>(admin, "pg_audit_log", { limit: 200 });
    expect(entries.some((e) => e.action.includes(marker))).toBe(false);
    await admin.close();
  });
});

describe("rate limits", () => {
  it("answers 429 with Retry-After once a key's budget is spent, and other keys are unaffected", async () => {
    let passed = 0;
    let limited: Awaited<ReturnType<typeof raw>> | undefined;
    const started = Date.now();
    for (let i = 0; i < 200 && !limited; i++) {
      const r = await raw(authUrl(), { headers: { ...MCP_HEADERS, ...bearer(keys().burstA) }, body: toolCall("pg_query_read", { sql: "select 1" }, i) });
      if (r.status === 429) limited = r;
      else {
        expect(r.status).toBe(200);
        passed++;
      }
    }
    // The bucket starts full (30) and refills half a token a second while we call: bounds from the time it really took.
    expect(passed).toBeGreaterThanOrEqual(30);
    expect(passed).toBeLessThanOrEqual(30 + Math.ceil((Date.now() - started) / 2000));
    expect(limited).toBeDefined();
    expect(Number(limited!.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(limited!.headers["ratelimit-remaining"]).toBe("0");
    expect(limited!.json.error.message).toMatch(/rate limit exceeded: 30 calls per minute/);
    expect(limited!.json.error.data).toMatchObject({ reason: "rate", limit: 30, remaining: 0 });

    const other = await raw(authUrl(), { headers: { ...MCP_HEADERS, ...bearer(keys().burstB) }, body: toolCall("pg_query_read", { sql: "select 1" }) });
    expect(other.status).toBe(200);
    expect(Number(other.headers["ratelimit-remaining"])).toBeGreaterThan(20);
  });
});

describe("payload limits", () => {
  it("refuses a body over MAX_REQUEST_BYTES with 413", async () => {
    const r = await raw(authUrl(), { headers: { ...MCP_HEADERS, ...bearer(keys().read) }, body: toolCall("pg_query_read", { sql: `select '${"x".repeat(30_000)}'` }) });
    expect(r.status).toBe(413);
    expect(r.json.error.message).toMatch(/larger than 20000 bytes/);
  });

  it("refuses too many bind parameters with a clear error", async () => {
    const client = await connectClient(authUrl(), { headers: bearer(keys().read) });
    const r = await call(client, "pg_query_read", { sql: "select 1", params: Array(1001).fill(1) });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/^ERROR invalid_arguments: Invalid arguments for tool pg_query_read: [\s\S]*→ at params/);
    await client.close();
  });
});

describe("DNS rebinding protection", () => {
  it("refuses a Host header outside ALLOWED_HOSTS", async () => {
    const r = await raw(authUrl(), { headers: { ...MCP_HEADERS, ...bearer(keys().read), host: "evil.example.com" }, body: toolCall("pg_query_read", { sql: "select 1" }) });
    expect(r.status).toBe(403);
    const allowed = await raw(authUrl(), { headers: { ...MCP_HEADERS, ...bearer(keys().read), host: "mcp.example.com" }, body: toolCall("pg_query_read", { sql: "select 1" }) });
    expect(allowed.status).toBe(200);
  });
  it("an unauthenticated local server refuses a rebound Host (a page on evil.example.com resolving to 127.0.0.1)", async () => {
    const r = await raw(inject("mcpUrl"), { headers: { ...MCP_HEADERS, host: "evil.example.com" }, body: toolCall("pg_query_read", { sql: "select 1" }) });
    expect(r.status).toBe(403);
    expect(r.json.error.message).toMatch(/host not allowed: this server does not answer to evil\.example\.com/);
  });
  it("refuses a foreign browser Origin", async () => {
    const r = await raw(authUrl(), { headers: { ...MCP_HEADERS, ...bearer(keys().read), origin: "http://evil.example.com" }, body: toolCall("pg_query_read", { sql: "select 1" }) });
    expect(r.status).toBe(403);
  });
  it("accepts a loopback Origin", async () => {
    const r = await raw(authUrl(), { headers: { ...MCP_HEADERS, ...bearer(keys().read), origin: "http://localhost:6274" }, body: toolCall("pg_query_read", { sql: "select 1" }) });
    expect(r.status).toBe(200);
  });
});

describe("read-only deployment", () => {
  it("hides write tools even from an admin key", async () => {
    const client = await connectClient(inject("readOnlyMcpUrl"), { headers: bearer(keys().admin) });
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain("pg_query_read");
    expect(names).not.toContain("pg_query_write");
    expect(names).not.toContain("pg_audit_log");
    await client.close();
  });

  it("code mode there (CODE_MODE_SCOPE=read) cannot write either", async () => {
    const db = await observer();
    const t = uniqueName("ro_code");
    await db.query(`create table ${t} (id int)`);
    const client = await connectClient(inject("readOnlyMcpUrl"), { headers: bearer(keys().write) });
    const r = await call(client, "pg_execute_code", { code: `await pg.query("insert into ${t} values (1)"); return "wrote"` });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/Unknown tool: pg_query_write/);
    const tx = await call(client, "pg_execute_code", { code: `return await pg.transaction(async (tx) => tx.query("insert into ${t} values (2)"))` });
    expect(tx.isError).toBe(true);
    expect((await db.query(`select count(*)::int as n from ${t}`)).rows[0].n).toBe(0);
    await db.query(`drop table ${t}`);
    await db.end();
    await client.close();
  });

  describeRefusals("the refusal table under a read-only deployment and a write key", () => connectClient(inject("readOnlyMcpUrl"), { headers: bearer(keys().write) }), () => inject("serverDatabaseUrl"));
});
