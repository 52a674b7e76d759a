/** Protocol failures are JSON-RPC errors; tool failures are results. Malformed requests never break the server. */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { randomUUID } from "node:crypto";
import { call, connectClient, rows, text } from "../support/mcp";
import { observer, uniqueName } from "../support/db";

let client: Client;
let mcpUrl: string;
beforeAll(async () => {
  mcpUrl = inject("mcpUrl");
  client = await connectClient(mcpUrl);
});
afterAll(async () => client?.close());

const headers = (protocolVersion?: string) => ({
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
  ...(protocolVersion ? { "mcp-protocol-version": protocolVersion } : {}),
});

async function rpc(body: unknown, protocolVersion?: string) {
  const res = await fetch(mcpUrl, { method: "POST", headers: headers(protocolVersion), body: typeof body === "string" ? body : JSON.stringify(body) });
  const raw = await res.text();
  const json = raw.startsWith("event:") || raw.startsWith("data:") ? JSON.parse(raw.split("\n").find((l) => l.startsWith("data:"))!.slice(5)) : raw ? JSON.parse(raw) : undefined;
  return { status: res.status, json };
}

describe("protocol errors", () => {
  it("an unknown tool is a JSON-RPC invalid-params error", async () => {
    await expect(client.callTool({ name: "pg_nope", arguments: {} })).rejects.toSatisfy((e) => e instanceof McpError && e.code === -32602 && /Unknown tool/.test(e.message));
  });

  const invalid: [string, Record<string, unknown>][] = [
    ["missing sql", {}],
    ["sql of the wrong type", { sql: 42 }],
    ["empty sql", { sql: "" }],
    ["negative offset", { sql: "select 1", offset: -1 }],
    ["fractional limit", { sql: "select 1", limit: 1.5 }],
    ["params not an array", { sql: "select $1", params: "x" }],
  ];
  for (const [name, args] of invalid) {
    it(`invalid arguments (${name}) are a tool error naming the field, so the model can retry (SEP-1303)`, async () => {
      const r = await call(client, "pg_query_read", args);
      expect(r.isError).toBe(true);
      expect(r.structuredContent).toBeUndefined();
      expect(text(r)).toMatch(/^ERROR invalid_arguments: Invalid arguments for tool pg_query_read: /);
      expect(text(r)).toMatch(/→ at (sql|offset|limit|params)/);
    });
  }

  it("malformed JSON gets a parse error, not a 500", async () => {
    const r = await rpc("{not json", "2025-06-18");
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    expect(r.json.error.code).toBe(-32700);
  });

  it("keeps serving after malformed requests", async () => {
    expect(await rows(client, "select 3")).toEqual([[3]]);
  });
});

describe("protocol versions", () => {
  for (const version of ["2025-06-18", "2025-11-25"]) {
    it(`initializes and calls a tool on ${version}`, async () => {
      const init = await rpc({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: version, capabilities: {}, clientInfo: { name: "raw", version: "1" } } });
      expect(init.status).toBe(200);
      expect(init.json.result.protocolVersion).toBe(version);
      expect(init.json.result.capabilities.tools).toBeDefined();
      const res = await rpc({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "pg_query_read", arguments: { sql: "select 7 as n" } } }, version);
      expect(res.status).toBe(200);
      expect(res.json.result.structuredContent.rows).toEqual([[7]]);
      expect(text(res.json.result)).toBe("n:int4\n7");
    });
  }
});

describe("MCP 2026-07-28: stateless, no initialize", () => {
  const META = { "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}, "io.modelcontextprotocol/clientInfo": { name: "raw-2026", version: "1" } };
  async function modern(method: string, params: Record<string, unknown>, name?: string) {
    const res = await fetch(mcpUrl, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": "2026-07-28", "mcp-method": method, ...(name ? { "mcp-name": name } : {}) },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params: { ...params, _meta: META } }),
    });
    const raw = await res.text();
    const data = raw.includes("data:") ? raw.split("\n").filter((l) => l.startsWith("data:")).map((l) => JSON.parse(l.slice(5))).find((m) => m.id !== undefined) : raw ? JSON.parse(raw) : undefined;
    return { status: res.status, json: data };
  }

  it("server/discover answers without a session", async () => {
    const r = await modern("server/discover", {});
    expect(r.status).toBe(200);
    expect(r.json.result.supportedVersions).toContain("2026-07-28");
    expect(r.json.result.capabilities.tools).toBeDefined();
  });

  it("tools/list and tools/call answer without initialize", async () => {
    const list = await modern("tools/list", {});
    expect(list.status).toBe(200);
    expect(list.json.result.tools.map((t: { name: string }) => t.name)).toContain("pg_query_read");
    const call = await modern("tools/call", { name: "pg_query_read", arguments: { sql: "select 2026 as y" } }, "pg_query_read");
    expect(call.status).toBe(200);
    expect(call.json.result.structuredContent.rows).toEqual([[2026]]);
  });
});

describe("JSON when the client asks for JSON only", () => {
  const jsonOnly = { "content-type": "application/json", accept: "application/json", "mcp-protocol-version": "2025-11-25" };

  it("initialize and tools/call answer application/json, not 406", async () => {
    for (const body of [
      { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "curl", version: "1" } } },
      { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "pg_query_read", arguments: { sql: "select 5 as n" } } },
    ]) {
      const res = await fetch(mcpUrl, { method: "POST", headers: jsonOnly, body: JSON.stringify(body) });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      const json = await res.json();
      expect(json.id).toBe(body.id);
      if (body.method === "tools/call") expect(json.result.structuredContent.rows).toEqual([[5]]);
      else expect(json.result.protocolVersion).toBe("2025-11-25");
    }
  });

  it("a notification gets 202 with no body", async () => {
    const res = await fetch(mcpUrl, { method: "POST", headers: jsonOnly, body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) });
    expect(res.status).toBe(202);
  });

  it("curl with a bearer key works against an authenticated deployment", async () => {
    const res = await fetch(inject("authMcpUrl"), {
      method: "POST",
      headers: { ...jsonOnly, authorization: `Bearer ${inject("apiKeys").read}` },
      body: JSON.stringify({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "pg_query_read", arguments: { sql: "select 1 as one" } } }),
    });
    expect(res.status).toBe(200);
    expect((await res.json()).result.structuredContent.rows).toEqual([[1]]);
  });
});

describe('where the rows are (request _meta "pg-mcp/rows")', () => {
  const SQL = "select g as id, 'name ' || g as name from generate_series(1, 40) g";
  const TSV = ["id:int4\tname:text", ...Array.from({ length: 40 }, (_, i) => `${i + 1}\tname ${i + 1}`)].join("\n");
  const ROWS = Array.from({ length: 40 }, (_, i) => [i + 1, `name ${i + 1}`]);
  const placed = async (rows?: string, args: Record<string, unknown> = { sql: SQL }) =>
    (await client.callTool({ name: "pg_query_read", arguments: args, ...(rows ? { _meta: { "pg-mcp/rows": rows } } : {}) })) as { content: { text: string }[]; structuredContent: Record<string, unknown>; isError?: boolean };

  // The SDK client checks structuredContent against the advertised output schema once it has listed the tools (no field is
  // required there): every placement passes it.
  beforeAll(async () => void (await client.listTools()));

  it("by default both parts carry every row: the text for a model, structuredContent for a program", async () => {
    const r = await placed();
    expect(text(r as never)).toBe(TSV);
    expect(r.structuredContent).toEqual({ command: "SELECT", columns: [{ name: "id", type: "int4" }, { name: "name", type: "text" }], rows: ROWS, rowCount: 40, truncated: false });
    const both = await placed("both");
    expect(text(both as never)).toBe(TSV);
    expect(both.structuredContent).toEqual(r.structuredContent);
  });

  it('"text": the rows once, in the text; structuredContent keeps columns and counts without them', async () => {
    const r = await placed("text");
    expect(r.isError).toBeUndefined();
    expect(text(r as never)).toBe(TSV);
    expect(r.structuredContent).toEqual({ command: "SELECT", columns: [{ name: "id", type: "int4" }, { name: "name", type: "text" }], rowCount: 40, truncated: false });
  });

  it('"structured": the rows once, in structuredContent; the text says where they are and holds no database text', async () => {
    const r = await placed("structured");
    expect(r.structuredContent.rows).toEqual(ROWS);
    expect(r.content).toHaveLength(1);
    expect(r.content[0]!.text).toBe("[SELECT 40 rows of 2 columns: the rows are in structuredContent.rows]");
    const page = await placed("structured", { sql: SQL, limit: 10 });
    expect(page.structuredContent).toMatchObject({ truncated: true, nextOffset: 10 });
    expect((page.structuredContent.rows as unknown[]).length).toBe(10);
    expect(page.content[0]!.text).toBe("[SELECT 10 rows of 2 columns, more exist; next page: offset=10: the rows are in structuredContent.rows]");
  });

  it("a write's RETURNING rows are placed the same way; a write without rows keeps its command tag; a replay still says so", async () => {
    const db = await observer();
    try {
      const t = uniqueName("rows_placed");
      await db.query(`create table ${t} (id int primary key)`);
      const write = async (rows: string, sql: string, extra: Record<string, unknown> = {}) =>
        (await client.callTool({ name: "pg_query_write", arguments: { sql, ...extra }, _meta: { "pg-mcp/rows": rows } })) as { content: { text: string }[]; structuredContent: Record<string, unknown> };
      const asText = await write("text", `insert into ${t} values (1), (2) returning id`);
      expect(asText.structuredContent).toEqual({ command: "INSERT", columns: [{ name: "id", type: "int4" }], rowCount: 2, truncated: false });
      expect(text(asText as never)).toBe("id:int4\n1\n2\n[INSERT 2]");
      const args = { idempotency_key: `k-${randomUUID()}` };
      const first = await write("structured", `insert into ${t} values (3) returning id`, args);
      expect(first.structuredContent.rows).toEqual([[3]]);
      expect(first.content[0]!.text).toBe("[INSERT 1 rows of 1 columns: the rows are in structuredContent.rows]");
      const replay = await write("structured", `insert into ${t} values (3) returning id`, args);
      expect(replay.structuredContent).toMatchObject({ rows: [[3]], replayed: expect.any(String) });
      expect(replay.content[0]!.text).toMatch(/^\[replay: answered with the first outcome of this idempotency_key \(.+\); nothing ran now\]\n\[INSERT 1 rows of 1 columns: the rows are in structuredContent.rows\]$/);
      const plain = await write("structured", `insert into ${t} values (4)`);
      expect(text(plain as never)).toBe("[INSERT 1]");
      expect((await db.query(`select count(*)::int as n from ${t}`)).rows[0].n).toBe(4);
    } finally {
      await db.end();
    }
  });

  it("errors are unchanged: the text carries them and there is no structuredContent", async () => {
    const r = await placed("text", { sql: "select nope" });
    expect(r.isError).toBe(true);
    expect(r.structuredContent).toBeUndefined();
    expect(text(r as never)).toMatch(/^ERROR 42703: column "nope" does not exist/);
  });

  it("a value not understood is a JSON-RPC invalid-params error naming the key; nothing ran and the server keeps serving", async () => {
    for (const bad of ["json", 1]) {
      await expect(client.callTool({ name: "pg_query_read", arguments: { sql: "select 1" }, _meta: { "pg-mcp/rows": bad } })).rejects.toSatisfy(
        (e) => e instanceof McpError && e.code === -32602 && /_meta "pg-mcp\/rows" must be one of "both", "text", "structured"/.test(e.message),
      );
    }
    expect(await rows(client, "select 4")).toEqual([[4]]);
  });

  it("a 2026-07-28 request names it in its _meta too", async () => {
    const META = { "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}, "io.modelcontextprotocol/clientInfo": { name: "raw-2026", version: "1" } };
    const res = await fetch(mcpUrl, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "pg_query_read" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "pg_query_read", arguments: { sql: SQL }, _meta: { ...META, "pg-mcp/rows": "text" } } }),
    });
    const raw = await res.text();
    const json = raw.split("\n").filter((l) => l.startsWith("data:")).map((l) => JSON.parse(l.slice(5))).find((m) => m.id === 1);
    expect(json.result.structuredContent).toEqual({ command: "SELECT", columns: [{ name: "id", type: "int4" }, { name: "name", type: "text" }], rowCount: 40, truncated: false });
    expect(text(json.result)).toBe(TSV);
  });

  it("a program's calls still see every row (code mode reads the tool's result, not its answer)", async () => {
    const r = await client.callTool({ name: "pg_execute_code", arguments: { code: `return (await pg.query.read({ sql: ${JSON.stringify(SQL)} })).rows.length;` }, _meta: { "pg-mcp/rows": "text" } });
    expect((r.structuredContent as { result: unknown }).result).toBe(40);
  });
});
