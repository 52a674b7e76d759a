/**
 * What READ_ONLY=true adds, path by path, each refused by its own mechanism:
 * the scope cap hides every write and admin tool (refused like an unknown
 * tool), held transactions default to READ ONLY and cannot be read-write,
 * EXPLAIN ANALYZE of a write needs a scope nobody has, programs only reach
 * the read tools. (pg_query_read's refusal table runs there in auth.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import type pg from "pg";
import { call, connectClient, ok, rawText } from "../support/mcp";
import { observer, uniqueName } from "../support/db";

/** Tools an admin key sees on a normal deployment that READ_ONLY must take away. */
const WRITE_AND_ADMIN_TOOLS = [
  "pg_query_write",
  "pg_schema_create",
  "pg_schema_alter",
  "pg_schema_drop",
  "pg_code_run_sql_script",
  "pg_admin_vacuum",
  "pg_admin_analyze",
  "pg_admin_reindex",
  "pg_admin_set",
  "pg_audit_log",
  "pg_monitor_cancel",
  "pg_vector_upsert",
  "pg_vector_create_index",
];

let client: Client;
let db: pg.Client;
const t = uniqueName("ro_dep");
beforeAll(async () => {
  // The admin key: READ_ONLY caps it at read.
  client = await connectClient(inject("readOnlyMcpUrl"), { headers: { authorization: `Bearer ${inject("apiKeys").admin}` } });
  db = await observer();
  await db.query(`create table ${t} (id int primary key, v text); insert into ${t} values (1, 'original')`);
});
afterAll(async () => {
  await db?.query(`drop table if exists ${t}`);
  await db?.end();
  await client?.close();
});

const unchanged = async () => expect((await db.query(`select id, v from ${t}`)).rows).toEqual([{ id: 1, v: "original" }]);

describe("READ_ONLY deployment, path by path", () => {
  it("the admin key sees none of the write and admin tools a normal deployment shows it", async () => {
    const normal = await connectClient(inject("authMcpUrl"), { headers: { authorization: `Bearer ${inject("apiKeys").admin}` } });
    const everything = (await normal.listTools()).tools.map((x) => x.name);
    await normal.close();
    expect(everything).toEqual(expect.arrayContaining(WRITE_AND_ADMIN_TOOLS));
    const visible = (await client.listTools()).tools.map((x) => x.name);
    expect(visible.filter((n) => WRITE_AND_ADMIN_TOOLS.includes(n))).toEqual([]);
    expect(visible).toEqual(expect.arrayContaining(["pg_query_read", "pg_query_explain", "pg_tx_begin", "pg_schema_list"]));
  });

  for (const name of WRITE_AND_ADMIN_TOOLS) {
    it(`refuses ${name} like an unknown tool (-32602)`, async () => {
      await expect(client.callTool({ name, arguments: { sql: `delete from ${t}`, kind: "table", name: t, table: t } })).rejects.toSatisfy(
        (e) => e instanceof McpError && e.code === -32602 && e.message.includes(`Unknown tool: ${name}`),
      );
      await unchanged();
    });
  }

  it("a held transaction is read-only by default and cannot be begun read-write", async () => {
    const lease = await ok<{ tx: string; readOnly: boolean }>(client, "pg_tx_begin", {});
    expect(lease.readOnly).toBe(true);
    await ok(client, "pg_tx_rollback", { tx: lease.tx });
    const rw = await call(client, "pg_tx_begin", { readOnly: false });
    expect(rw.isError).toBe(true);
    expect(rawText(rw)).toMatch(/^ERROR insufficient_scope: a read-write transaction needs the write scope/);
  });

  it("EXPLAIN ANALYZE of a write is refused for lack of the write scope, and plain EXPLAIN still plans it", async () => {
    const r = await call(client, "pg_query_explain", { sql: `delete from ${t}`, analyze: true });
    expect(r.isError).toBe(true);
    expect(rawText(r)).toMatch(/^ERROR insufficient_scope/);
    await unchanged();
    expect((await call(client, "pg_query_explain", { sql: `delete from ${t}` })).isError).toBeFalsy();
    expect((await call(client, "pg_query_explain", { sql: `select * from ${t}`, analyze: true })).isError).toBeFalsy();
  });

  it("a program reaches only the read tools: a write inside it is an unknown tool", async () => {
    const r = await call(client, "pg_execute_code", { code: `return await pg.query("delete from ${t}")` });
    expect(r.isError).toBe(true);
    expect(rawText(r)).toMatch(/Unknown tool: pg_query_write/);
    await unchanged();
  });
});
