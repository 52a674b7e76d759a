/** The Neon serverless driver (WebSocket) against the real PostgreSQL, through a local ws-to-TCP proxy. */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type pg from "pg";
import { call, connectClient, ok, rows, text } from "../support/mcp";
import { observer, uniqueName } from "../support/db";

let client: Client;
let db: pg.Client;
beforeAll(async () => {
  client = await connectClient(inject("neonMcpUrl"));
  db = await observer();
});
afterAll(async () => {
  await client?.close();
  await db?.end();
});

describe("neon driver", () => {
  it("reads with exact types", async () => {
    expect(await rows(client, "select 1::bigint, 2.50::numeric, $1::text", ["x"])).toEqual([["1", "2.50", "x"]]);
  });

  it("writes and commits", async () => {
    const t = uniqueName("neon");
    await ok(client, "pg_query_write", { sql: `create table ${t} (id int)` });
    await ok(client, "pg_query_write", { sql: `insert into ${t} values (1), (2)` });
    expect((await db.query(`select count(*)::int as n from ${t}`)).rows[0].n).toBe(2);
    await db.query(`drop table ${t}`);
  });

  it("surfaces PostgreSQL errors the same way", async () => {
    const r = await call(client, "pg_query_read", { sql: "select * from no_such_table" });
    expect(r.isError).toBe(true);
    expect(text(r)).toContain("ERROR 42P01");
  });

  it("still refuses writes in the read tool", async () => {
    const r = await call(client, "pg_query_read", { sql: "with d as (delete from customers returning 1) select * from d" });
    expect(r.isError).toBe(true);
  });
});
