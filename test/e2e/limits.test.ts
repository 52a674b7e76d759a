/** Row and byte caps, pagination and the statement timeout, on a Worker configured with small limits. */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { call, connectClient, ok, rows, text } from "../support/mcp";

let client: Client;
beforeAll(async () => {
  client = await connectClient(inject("smallMcpUrl"));
});
afterAll(async () => client?.close());

type RowSet = { rows: unknown[][]; truncated: boolean; nextOffset?: number; rowCount: number | null };

describe("result caps", () => {
  it("caps rows at MAX_ROWS and says how to get the rest", async () => {
    const r = await call(client, "pg_query_read", { sql: "select g from generate_series(1, 100) g" });
    const s = r.structuredContent as RowSet;
    expect(s.rows).toEqual([[1], [2], [3], [4], [5]]);
    expect(s.truncated).toBe(true);
    expect(s.nextOffset).toBe(5);
    expect(text(r)).toMatch(/more exist; next page: offset=5/);
  });

  it("pages with offset until the end", async () => {
    const seen: unknown[] = [];
    let offset: number | undefined = 0;
    for (let page = 0; page < 10 && offset !== undefined; page++) {
      const s: RowSet = await ok<RowSet>(client, "pg_query_read", { sql: "select g from generate_series(1, 12) g", offset });
      seen.push(...s.rows.map((r) => r[0]));
      offset = s.nextOffset;
    }
    expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
  });

  it("caps bytes at MAX_RESULT_BYTES", async () => {
    const s = await ok<RowSet>(client, "pg_query_read", { sql: "select repeat('x', 900) from generate_series(1, 5)" });
    expect(s.truncated).toBe(true);
    expect(s.rows.length).toBe(2);
  });

  it("a limit below the cap applies", async () => {
    const s = await ok<RowSet>(client, "pg_query_read", { sql: "select g from generate_series(1, 100) g", limit: 2 });
    expect(s.rows).toEqual([[1], [2]]);
  });
});

describe("statement timeout", () => {
  it("cancels a slow statement with 57014 and keeps serving", async () => {
    const r = await call(client, "pg_query_read", { sql: "select pg_sleep(5)" });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/ERROR 57014: canceling statement due to statement timeout/);
    expect(await rows(client, "select 2")).toEqual([[2]]);
  });
});

describe("tool groups", () => {
  it("lists only the enabled groups", async () => {
    const { tools } = await client.listTools();
    expect(tools.length).toBeGreaterThan(0);
    for (const t of tools) expect(t.name).toMatch(/^pg_(query|tx)_/);
    expect(tools.some((t) => t.name.startsWith("pg_tx_"))).toBe(true);
  });
});
