/**
 * What clients reach besides tools, in both protocol eras: completions of
 * database object names, PostgreSQL's notices as log messages (or summarised
 * in the result), permission errors that name the grant, and what a browser
 * client needs (CORS, 405 with Allow). The 2025 era through the SDK client
 * (and raw HTTP where the SDK hides the wire), 2026-07-28 through raw HTTP
 * with the per-request _meta, as in protocol.test.ts.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { LoggingMessageNotificationSchema, type LoggingMessageNotification } from "@modelcontextprotocol/sdk/types.js";
import type pg from "pg";
import { call, connectClient, rawText, rows } from "../support/mcp";
import { observer } from "../support/db";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

let client: Client;
let mcpUrl: string;
let db: pg.Client;
/** Log messages the SDK client received, in order. */
const logs: LoggingMessageNotification["params"][] = [];
beforeAll(async () => {
  mcpUrl = inject("mcpUrl");
  client = await connectClient(mcpUrl);
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    logs.push(n.params);
  });
  db = await observer();
});
afterAll(async () => {
  await client?.close();
  await db?.end();
});

const headers = (protocolVersion?: string) => ({
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
  ...(protocolVersion ? { "mcp-protocol-version": protocolVersion } : {}),
});

const META = { "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}, "io.modelcontextprotocol/clientInfo": { name: "raw-2026", version: "1" } };
const LOG_LEVEL = "io.modelcontextprotocol/logLevel";

type JsonRpc = { id?: number; method?: string; params?: Record<string, any>; result?: any; error?: { code: number; message: string } };

/** A 2026-07-28 request over raw HTTP (no initialize, the per-request _meta, Mcp-Method/Mcp-Name): its response and the notifications sent before it. */
async function modern(method: string, params: Record<string, unknown>, meta: Record<string, unknown> = {}) {
  const name = typeof params.name === "string" ? params.name : undefined;
  const res = await fetch(mcpUrl, {
    method: "POST",
    headers: { ...headers("2026-07-28"), "mcp-method": method, ...(name ? { "mcp-name": name } : {}) },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params: { ...params, _meta: { ...META, ...meta } } }),
  });
  return { status: res.status, ...(await messagesOf(res)) };
}

/** The JSON-RPC messages of an answer, SSE or JSON. */
async function messagesOf(res: Response) {
  const raw = await res.text();
  const messages: JsonRpc[] = raw.includes("data:") ? raw.split("\n").filter((l) => l.startsWith("data:")).map((l) => JSON.parse(l.slice(5))) : raw ? [JSON.parse(raw)] : [];
  return { json: messages.find((m) => m.id !== undefined)!, notifications: messages.filter((m) => m.id === undefined) };
}

const texts = (result: { content: { type: string; text?: string }[] }) => result.content.map((c) => c.text ?? "").join("\n");

describe("capabilities", () => {
  it("a 2025 client sees completions and logging declared; logging/setLevel answers {}", async () => {
    const caps = client.getServerCapabilities()!;
    expect(caps.completions).toBeDefined();
    expect(caps.logging).toBeDefined();
    expect(await client.setLoggingLevel("info")).toEqual({});
  });

  it("server/discover declares them to a 2026-07-28 client", async () => {
    const r = await modern("server/discover", {});
    expect(r.json.result.capabilities.completions).toBeDefined();
    expect(r.json.result.capabilities.logging).toBeDefined();
  });
});

describe("completion/complete of database object names", () => {
  const TABLE = { type: "ref/resource" as const, uri: "postgres://schema/{schema}/{table}" };
  const SCHEMA = { type: "ref/resource" as const, uri: "postgres://schema/{schema}" };
  beforeAll(async () => {
    // The read role may see proto_shown.* but not proto_hidden (no USAGE) nor ord_proto_hidden (no SELECT).
    await db.query(`
      create schema if not exists proto_shown; create schema if not exists proto_hidden;
      create table if not exists proto_shown.ord_proto_ledger (n int); create table if not exists proto_hidden.ord_proto_secret (n int);
      create table if not exists public.ord_proto_hidden (n int);
      grant usage on schema proto_shown to pgmcp_read; grant select on proto_shown.ord_proto_ledger to pgmcp_read;
      revoke all on schema proto_hidden from pgmcp_read; revoke all on public.ord_proto_hidden from pgmcp_read`);
  });
  afterAll(async () => {
    await db.query("drop schema if exists proto_shown cascade; drop schema if exists proto_hidden cascade; drop table if exists public.ord_proto_hidden");
  });

  it("a demo table from a prefix, in the schema already chosen (2025 SDK client)", async () => {
    const r = await client.complete({ ref: TABLE, argument: { name: "table", value: "ord" }, context: { arguments: { schema: "public" } } });
    expect(r.completion.values).toEqual(expect.arrayContaining(["orders", "order_items"]));
    expect(r.completion.values).not.toContain("customers");
    expect(r.completion.values).not.toContain("ord_proto_ledger");
  });

  it("a table the read role may not SELECT is not offered; one it may, in another schema, is", async () => {
    const r = await client.complete({ ref: TABLE, argument: { name: "table", value: "ORD_PROTO" } });
    expect(r.completion.values).toContain("ord_proto_ledger");
    expect(r.completion.values).not.toContain("ord_proto_hidden");
    expect(r.completion.values).not.toContain("ord_proto_secret");
  });

  it("schemas: only those the read role has USAGE on", async () => {
    const r = await client.complete({ ref: SCHEMA, argument: { name: "schema", value: "proto_" } });
    expect(r.completion.values).toEqual(["proto_shown"]);
    const pub = await client.complete({ ref: TABLE, argument: { name: "schema", value: "pub" } });
    expect(pub.completion.values).toEqual(["public"]);
  });

  it("the review_indexes prompt's [schema.]table: bare names in public, qualified elsewhere", async () => {
    const ref = { type: "ref/prompt" as const, name: "review_indexes" };
    const bare = await client.complete({ ref, argument: { name: "table", value: "cust" } });
    expect(bare.completion.values).toContain("customers");
    const qualified = await client.complete({ ref, argument: { name: "table", value: "proto_shown.o" } });
    expect(qualified.completion.values).toEqual(["proto_shown.ord_proto_ledger"]);
    const bySchema = await client.complete({ ref, argument: { name: "table", value: "proto_" } });
    expect(bySchema.completion.values).toEqual(["proto_shown.ord_proto_ledger"]);
  });

  it("a 2026-07-28 client completes the same way, without initialize", async () => {
    const r = await modern("completion/complete", { ref: TABLE, argument: { name: "table", value: "ord" }, context: { arguments: { schema: "public" } } });
    expect(r.status).toBe(200);
    expect(r.json.result.completion.values).toEqual(expect.arrayContaining(["orders", "order_items"]));
    expect(r.json.result.completion.values).not.toContain("ord_proto_hidden");
  });

  it("an unknown prompt is invalid params; the server keeps serving", async () => {
    const r = await modern("completion/complete", { ref: { type: "ref/prompt", name: "no_such_prompt" }, argument: { name: "x", value: "" } });
    expect(r.json.error?.code).toBe(-32602);
    expect(await rows(client, "select 1")).toEqual([[1]]);
  });
});

describe("PostgreSQL notices as log messages", () => {
  const DO = "do $$ begin raise notice 'proto notice %', 42; raise warning 'proto warning'; end $$";
  /** Level and first line (a notice from a DO block goes on with its CONTEXT line, as psql prints it). */
  const firstLine = (data: unknown) => String(data).split("\n")[0];
  const data = (ns: { params?: Record<string, any> }[]) => ns.map((n) => `${n.params!.level} ${firstLine(n.params!.data)}`);

  it("a 2025 client gets every notice at its level, on the call's stream, and no summary", async () => {
    logs.length = 0;
    const r = await call(client, "pg_query_write", { sql: DO });
    expect(r.isError).toBeFalsy();
    expect(logs.map((l) => `${l.level} ${l.logger} ${firstLine(l.data)}`)).toEqual(["notice postgres NOTICE: proto notice 42", "warning postgres WARNING: proto warning"]);
    expect(logs[0]!.data).toBe("NOTICE: proto notice 42\nCONTEXT: PL/pgSQL function inline_code_block line 1 at RAISE");
    expect(rawText(r)).not.toContain("proto notice");
  });

  it("a 2025 client naming a level in the call's _meta gets nothing below it", async () => {
    logs.length = 0;
    const r = await client.callTool({ name: "pg_query_write", arguments: { sql: DO }, _meta: { [LOG_LEVEL]: "warning" } });
    expect(r.isError).toBeFalsy();
    expect(logs.map((l) => l.level)).toEqual(["warning"]);
    expect(texts(r as never)).not.toContain("proto notice");
  });

  it("notices of a statement in a held transaction come back from its Durable Object the same way", async () => {
    const begin = await call(client, "pg_tx_begin", {});
    const tx = (begin.structuredContent as { tx: string }).tx;
    try {
      logs.length = 0;
      const r = await call(client, "pg_query_write", { sql: DO, tx });
      expect(r.isError).toBeFalsy();
      expect(logs.map((l) => `${l.level} ${firstLine(l.data)}`)).toEqual(["notice NOTICE: proto notice 42", "warning WARNING: proto warning"]);
    } finally {
      await call(client, "pg_tx_rollback", { tx });
    }
  });

  it("2026-07-28: the per-request log level decides; nothing below it is sent", async () => {
    const notice = await modern("tools/call", { name: "pg_query_write", arguments: { sql: DO } }, { [LOG_LEVEL]: "notice" });
    expect(notice.status).toBe(200);
    expect(data(notice.notifications.filter((n) => n.method === "notifications/message"))).toEqual(["notice NOTICE: proto notice 42", "warning WARNING: proto warning"]);
    expect(texts(notice.json.result)).not.toContain("proto notice");

    const warning = await modern("tools/call", { name: "pg_query_write", arguments: { sql: DO } }, { [LOG_LEVEL]: "warning" });
    expect(data(warning.notifications.filter((n) => n.method === "notifications/message"))).toEqual(["warning WARNING: proto warning"]);
  });

  it("2026-07-28 without a log level: no log messages, the notices summarised in the result", async () => {
    const r = await modern("tools/call", { name: "pg_query_write", arguments: { sql: DO } });
    expect(r.notifications.filter((n) => n.method === "notifications/message")).toEqual([]);
    const t = texts(r.json.result);
    expect(t).toContain("PostgreSQL sent 2 messages (not sent as log messages: this request named no log level)");
    expect(t).toContain("NOTICE: proto notice 42");
    expect(t).toContain("WARNING: proto warning");
  });

  it("VACUUM VERBOSE's report arrives at info, and not when the client asked for notice", async () => {
    await db.query("create table if not exists proto_vacuum (n int); insert into proto_vacuum select generate_series(1, 100)");
    try {
      const info = await modern("tools/call", { name: "pg_query_write", arguments: { sql: "vacuum verbose proto_vacuum" } }, { [LOG_LEVEL]: "info" });
      expect(info.json.result.isError).toBeFalsy();
      const messages = info.notifications.filter((n) => n.method === "notifications/message");
      expect(messages.length).toBeGreaterThan(0);
      expect(messages[0]!.params!.level).toBe("info");
      expect(messages[0]!.params!.data).toMatch(/^INFO: vacuuming "[^"]*proto_vacuum"/);
      const quiet = await modern("tools/call", { name: "pg_query_write", arguments: { sql: "vacuum verbose proto_vacuum" } }, { [LOG_LEVEL]: "notice" });
      expect(quiet.notifications.filter((n) => n.method === "notifications/message")).toEqual([]);
    } finally {
      await db.query("drop table if exists proto_vacuum");
    }
  });

  it("a client that asked for one JSON answer (curl) gets the summary in the result", async () => {
    const res = await fetch(mcpUrl, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json", "mcp-protocol-version": "2025-11-25" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "pg_query_write", arguments: { sql: DO } } }),
    });
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    const t = texts((await res.json()).result);
    expect(t).toContain("(not sent as log messages: this request asked for one JSON answer, which cannot carry them)");
    expect(t).toContain("NOTICE: proto notice 42");
  });
});

describe("browser clients", () => {
  const ORIGIN = "http://localhost:5173";
  const exposed = (res: Response) => (res.headers.get("access-control-expose-headers") ?? "").toLowerCase().split(/\s*,\s*/);

  it("a preflight succeeds before authentication and allows the headers a client sends", async () => {
    const res = await fetch(inject("authMcpUrl"), {
      method: "OPTIONS",
      headers: { origin: ORIGIN, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type, mcp-protocol-version, mcp-method" },
    });
    expect(res.status).toBeLessThan(300);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    const allowed = (res.headers.get("access-control-allow-headers") ?? "").toLowerCase();
    for (const h of ["authorization", "content-type", "mcp-protocol-version", "mcp-method"]) expect(allowed).toContain(h);
    expect(res.headers.get("access-control-allow-methods")).toContain("POST");
  });

  it("a 401 is readable from a page, WWW-Authenticate included", async () => {
    const res = await fetch(inject("authMcpUrl"), { method: "POST", headers: { ...headers("2025-11-25"), origin: ORIGIN }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }) });
    expect(res.status).toBe(401);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer resource_metadata=/);
    expect(exposed(res)).toContain("www-authenticate");
  });

  it("an authorized answer exposes the rate-limit headers it carries", async () => {
    const res = await fetch(inject("authMcpUrl"), {
      method: "POST",
      headers: { ...headers("2025-11-25"), origin: ORIGIN, authorization: `Bearer ${inject("apiKeys").read}` },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "pg_query_read", arguments: { sql: "select 1" } } }),
    });
    expect(res.status).toBe(200);
    await res.text();
    expect(res.headers.get("ratelimit-limit")).toBe("30");
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    for (const h of ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "retry-after", "www-authenticate", "mcp-session-id", "mcp-protocol-version"]) expect(exposed(res)).toContain(h);
  });

  for (const method of ["GET", "DELETE"]) {
    it(`${method} /mcp is 405 with Allow (a stateless server has no stream to open and no session to end), before authentication`, async () => {
      for (const url of [mcpUrl, inject("authMcpUrl")]) {
        const res = await fetch(url, { method, headers: { accept: "text/event-stream", origin: ORIGIN } });
        expect(res.status).toBe(405);
        expect(res.headers.get("allow")).toBe("POST, OPTIONS");
        expect(res.headers.get("access-control-allow-origin")).toBe("*");
        const body = await res.json();
        expect(body.error.message).toMatch(/^Method not allowed: .*stateless/);
      }
    });
  }

  it("the SDK client, which opens a GET stream after initialize, still works", async () => {
    expect(await rows(client, "select 405 as n")).toEqual([[405]]);
  });
});

describe("permission errors (42501) name the grant that would allow the statement", () => {
  it("a read of a table the read role was not granted: SQLSTATE, message and GRANT ... TO the read role", async () => {
    const db = await observer();
    try {
      await db.query("create table if not exists proto_private (secret text); revoke all on proto_private from pgmcp_read; insert into proto_private values ('classified')");
      const r = await call(client, "pg_query_read", { sql: "select secret from proto_private" });
      expect(r.isError).toBe(true);
      expect(rawText(r)).toMatch(/^ERROR 42501: permission denied for table proto_private\n/);
      expect(rawText(r)).toContain("HINT: Reads act as the role pgmcp_read, which lacks this privilege. If it should be allowed, the database owner can run: GRANT SELECT ON proto_private TO pgmcp_read");
      expect(rawText(r)).not.toContain("classified");
      // The same refusal inside a held transaction comes back through its Durable Object with the same hint.
      const begin = await call(client, "pg_tx_begin", {});
      const tx = (begin.structuredContent as { tx: string }).tx;
      try {
        const inTx = await call(client, "pg_query_read", { sql: "select secret from proto_private", tx });
        expect(rawText(inTx)).toContain("GRANT SELECT ON proto_private TO pgmcp_read");
      } finally {
        await call(client, "pg_tx_rollback", { tx });
      }
    } finally {
      await db.query("drop table if exists proto_private");
      await db.end();
    }
  });

  it("a write the server's role may not make: the privilege the statement needs, granted to the server's role", async () => {
    const db = await observer();
    try {
      await db.query("create table if not exists proto_locked (n int); revoke all on proto_locked from pgmcp");
      const r = await call(client, "pg_query_write", { sql: "insert into proto_locked values (1)" });
      expect(r.isError).toBe(true);
      expect(rawText(r)).toMatch(/^ERROR 42501: permission denied for table proto_locked\n/);
      expect(rawText(r)).toContain("GRANT INSERT ON proto_locked TO pgmcp");
      expect((await db.query("select count(*)::int as n from proto_locked")).rows[0].n).toBe(0);
    } finally {
      await db.query("drop table if exists proto_locked");
      await db.end();
    }
  });
});

describe("the README's client examples run as written", () => {
  const readme = readFileSync(join(import.meta.dirname, "..", "..", "README.md"), "utf8");
  const block = (lang: string, marker: string) => {
    const found = [...readme.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]!.replace(/^ {2}/gm, "")).find((b) => b.includes(marker));
    if (!found) throw new Error(`no ${lang} block with ${marker} in README.md`);
    return found;
  };

  it("curl with a bearer key", () => {
    const script = block("sh", "curl -s").replace("https://pg-mcp.example.workers.dev/mcp", inject("authMcpUrl"));
    const r = spawnSync("bash", ["-c", script], { encoding: "utf8", env: { ...process.env, PG_MCP_KEY: inject("apiKeys").read }, timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).result.structuredContent.rows).toEqual([[1]]);
  });

  it("the 2026-07-28 fetch", async () => {
    const code = block("js", "2026-07-28");
    const run = new Function("url", "key", `return (async () => { ${code}\nreturn result; })()`) as (url: string, key: string) => Promise<{ structuredContent: { rows: unknown[][] } }>;
    const result = await run(inject("authMcpUrl"), inject("apiKeys").read);
    const [[n]] = result.structuredContent.rows as [[string]];
    expect(Number(n)).toBeGreaterThan(0);
  });
});
