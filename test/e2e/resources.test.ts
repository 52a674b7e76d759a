/** MCP resources and prompts through the Worker with the real client; and the size of tools/list. */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import type pg from "pg";
import { connectClient } from "../support/mcp";
import { observer, uniqueName } from "../support/db";

let client: Client;
let db: pg.Client;
/** Sorts before "public", so tables other tests create meanwhile in public do not interleave with ours. */
const schema = uniqueName("a0res");
const TABLES = 120;
const uriOf = (s: string, t: string) => `postgres://schema/${encodeURIComponent(s)}/${encodeURIComponent(t)}`;

beforeAll(async () => {
  client = await connectClient(inject("mcpUrl"));
  db = await observer();
  await db.query(`create schema ${schema}`);
  await db.query(`do $$ begin for i in 1..${TABLES} loop execute format('create table %I.%I (id int primary key, v text)', '${schema}', 't' || lpad(i::text, 3, '0')); end loop; end $$`);
  await db.query(`create table ${schema}."we ird/na,me%" (id int, note text); comment on table ${schema}."we ird/na,me%" is 'odd name'`);
});
afterAll(async () => {
  await db?.query(`drop schema if exists ${schema} cascade`).catch(() => {});
  await client?.close();
  await db?.end();
});

/** Resource text inside the injection guard's data boundaries (INJECTION_GUARD is on here: they must be there). */
const GUARD = /^<data ([0-9a-f]{12})> [^\n]*\n([\s\S]*)\n<\/data \1>$/;
const textOf = (r: { contents: unknown[] }) => {
  const t = (r.contents[0] as { text: string }).text;
  const m = GUARD.exec(t);
  if (!m) throw new Error(`resource text without data boundaries:\n${t.slice(0, 200)}`);
  return m[2]!;
};

describe("resources", () => {
  it("advertises the table and schema templates", async () => {
    const { resourceTemplates } = await client.listResourceTemplates();
    expect(resourceTemplates.map((t) => t.uriTemplate).sort()).toEqual(["postgres://schema/{schema}", "postgres://schema/{schema}/{table}"]);
    expect(resourceTemplates.every((t) => t.mimeType === "text/plain")).toBe(true);
  });

  it("lists every table as a resource across pages (nextCursor), each exactly once", async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await client.listResources(cursor ? { cursor } : {});
      seen.push(...page.resources.map((r) => r.uri));
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 50);
    expect(cursor).toBeUndefined();
    expect(pages).toBeGreaterThanOrEqual(2);
    expect(seen[0]).toBe("postgres://health");
    const ours = seen.filter((u) => u.startsWith(`postgres://schema/${schema}/`));
    expect(ours).toHaveLength(TABLES + 1);
    expect(new Set(ours).size).toBe(ours.length);
    expect(seen).toContain(uriOf("public", "orders"));
    expect(seen).toContain(uriOf("public", "order_totals"));
    expect(seen).toContain(uriOf(schema, "we ird/na,me%"));
  });

  it("refuses a cursor it did not issue", async () => {
    await expect(client.listResources({ cursor: "not-a-cursor" })).rejects.toBeInstanceOf(McpError);
  });

  it("reads a table: columns, keys and indexes as compact text", async () => {
    const r = await client.readResource({ uri: uriOf("public", "orders") });
    expect(r.contents[0]).toMatchObject({ uri: uriOf("public", "orders"), mimeType: "text/plain" });
    const t = textOf(r);
    expect(t).toMatch(/^table public\.orders/);
    expect(t).toContain("customer_id\tbigint\tNO");
    expect(t).toContain("referenced by: order_items.order_items_order_id_fkey");
  });

  it("reads a table whose name needs encoding", async () => {
    const t = textOf(await client.readResource({ uri: uriOf(schema, "we ird/na,me%") }));
    expect(t).toContain(`table ${schema}.we ird/na,me%`);
    expect(t).toContain("-- odd name");
  });

  it("reads a schema and the health report", async () => {
    const s = textOf(await client.readResource({ uri: `postgres://schema/${schema}` }));
    expect(s.split("\n")[0]).toBe("name\tkind\trows\tbytes\tcomment");
    expect(s).toContain("t001\ttable");
    const h = textOf(await client.readResource({ uri: "postgres://health" }));
    expect(h).toMatch(/^overall: (ok|warn|critical)\n/);
    const f = textOf(await client.readResource({ uri: "postgres://findings" }));
    expect(f).toMatch(/^overall: (ok|warn|critical)\n/);
    expect(f).toMatch(/\t(connections)\tserver: \d+ of \d+ usable connections/);
  });

  it("answers an unknown table with a protocol error", async () => {
    await expect(client.readResource({ uri: uriOf("public", "no_such_table") })).rejects.toSatisfy((e) => e instanceof McpError && /no_such_table|not found/i.test(e.message));
  });
});

describe("prompts", () => {
  const promptText = (r: { messages: { content: unknown }[] }) => r.messages.map((m) => (m.content as { text: string }).text).join("\n");

  it("lists the prompts with their arguments", async () => {
    const { prompts } = await client.listPrompts();
    const byName = Object.fromEntries(prompts.map((p) => [p.name, p]));
    expect(Object.keys(byName).sort()).toEqual(["diagnose_health", "explain_query", "review_database", "review_indexes"]);
    expect(byName.explain_query!.arguments).toEqual([expect.objectContaining({ name: "sql", required: true })]);
    expect(byName.review_indexes!.arguments).toEqual([expect.objectContaining({ name: "table", required: true })]);
  });

  it("explain_query brings the plan and the tables it reads", async () => {
    const r = await client.getPrompt({ name: "explain_query", arguments: { sql: "select o.id from orders o join customers c on c.id = o.customer_id where c.country = 'DE'" } });
    const t = promptText(r);
    expect(t).toContain("Plan (EXPLAIN, not executed):");
    expect(t).toMatch(/(Hash|Merge|Nested Loop).*Join/);
    expect(t).toMatch(/Table:\n<data [0-9a-f]{12}>[^\n]*\ntable public\.orders/);
    expect(t).toMatch(/Table:\n<data [0-9a-f]{12}>[^\n]*\ntable public\.customers/);
  });

  it("explain_query on a broken query still gives the error as evidence", async () => {
    const t = promptText(await client.getPrompt({ name: "explain_query", arguments: { sql: "select * form orders" } }));
    expect(t).toContain("ERROR 42601");
  });

  it("review_indexes brings the table, its index usage and statistics", async () => {
    const t = promptText(await client.getPrompt({ name: "review_indexes", arguments: { table: "orders" } }));
    expect(t).toContain("Review the indexes of public.orders");
    expect(t).toContain("orders_customer_id_idx");
    expect(t).toMatch(/Index usage:\n<data [0-9a-f]{12}>[^\n]*\nschema\ttable\tindex\tscans/);
    await expect(client.getPrompt({ name: "review_indexes", arguments: { table: "no_such_table" } })).rejects.toBeInstanceOf(McpError);
  });

  it("diagnose_health brings the health report, locks and top queries", async () => {
    const t = promptText(await client.getPrompt({ name: "diagnose_health", arguments: {} }));
    expect(t).toMatch(/Health:\n<data [0-9a-f]{12}>[^\n]*\noverall: /);
    expect(t).toContain("Lock waits:");
    expect(t).toContain("Top queries (pg_stat_statements):");
  });

  it("review_database brings the findings, health, top queries and index advice", async () => {
    const t = promptText(await client.getPrompt({ name: "review_database", arguments: {} }));
    expect(t).toMatch(/Findings:\n<data [0-9a-f]{12}>[^\n]*\noverall: /);
    expect(t).toMatch(/Health:\n<data [0-9a-f]{12}>[^\n]*\noverall: /);
    expect(t).toContain("Top queries (pg_stat_statements):");
    expect(t).toMatch(/Index advice \(pg_advisor_indexes on the top queries\):\n(<data [0-9a-f]{12}>[^\n]*\n\d+ statement\(s\) from pg_stat_statements|ERROR )/);
  });
});

describe("tools/list size", () => {
  it("keeps the schema, admin and monitor tools compact", async () => {
    const { tools } = await client.listTools();
    const bytes = (ts: unknown[]) => Buffer.byteLength(JSON.stringify({ tools: ts }));
    const mine = tools.filter((t) => /^pg_(schema|admin|monitor)_/.test(t.name));
    expect(mine).toHaveLength(19);
    // Without the `tx` argument the server adds to transactional tools: these tools' own share.
    const own = mine.map((t) => {
      const { tx: _tx, ...properties } = (t.inputSchema.properties ?? {}) as Record<string, unknown>;
      return { ...t, inputSchema: { ...t.inputSchema, properties } };
    });
    const perTool = Math.round(bytes(own) / own.length);
    console.log(`tools/list: ${Math.round(bytes(tools) / tools.length)} bytes per tool over ${tools.length} tools; schema/admin/monitor: ${Math.round(bytes(mine) / mine.length)} (${perTool} without tx)`);
    expect(perTool).toBeLessThanOrEqual(700);
  });
});
