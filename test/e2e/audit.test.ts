/**
 * The audit promise: every write, DDL, admin action and code run is recorded
 * before its result returns, and a call whose entry cannot be written does not
 * report success. The second half runs on a Worker whose AUDIT_LOG binding
 * points at a class that is not the audit log (a miswired deployment), so
 * every audit write fails there.
 */
import { describe, expect, inject, it } from "vitest";
import { call, connectClient, ok, rawText } from "../support/mcp";
import { observer, uniqueName } from "../support/db";

type Entry = { principal: string; tool: string; action: string; outcome: string; error?: string; actionHash: string; detail?: Record<string, unknown> };

describe("audit: recorded before the result returns", () => {
  it("the entry for a write is in the log the moment its result arrives", async () => {
    const client = await connectClient(inject("mcpUrl"));
    const db = await observer();
    const t = uniqueName("audit_now");
    try {
      await ok(client, "pg_query_write", { sql: `create table ${t} (id int)` });
      // No waiting: the very next request must find it.
      const { entries } = await ok<{ entries: Entry[] }>(client, "pg_audit_log", { tool: "pg_query_write", limit: 1000 });
      const mine = entries.filter((e) => e.action === `create table ${t} (id int)`);
      expect(mine).toHaveLength(1);
      expect(mine[0]).toMatchObject({ principal: "local", tool: "pg_query_write", outcome: "ok", detail: { command: "CREATE" } });
      expect(mine[0]!.actionHash).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      await db.query(`drop table if exists ${t}`);
      await db.end();
      await client.close();
    }
  });
});

describe("audit: a failing audit store fails the call", () => {
  it("a write whose entry cannot be written is an audit_failed error that says the write ran", async () => {
    const client = await connectClient(inject("auditlessMcpUrl"));
    const db = await observer();
    const t = uniqueName("unaudited");
    try {
      const r = await call(client, "pg_query_write", { sql: `create table ${t} (id int)` });
      expect(r.isError).toBe(true);
      expect(r.structuredContent).toBeUndefined();
      expect(rawText(r)).toMatch(/^ERROR audit_failed: the audit entry for pg_query_write could not be written/);
      expect(rawText(r)).toContain("DETAIL: The action ran (a write may have been committed) but it is not in the audit log.");
      // The caller is told the truth: the statement did run.
      expect((await db.query("select to_regclass($1) is not null as there", [t])).rows[0].there).toBe(true);
    } finally {
      await db.query(`drop table if exists ${t}`);
      await db.end();
      await client.close();
    }
  });

  it("a failed write keeps its own error and adds that it was not recorded", async () => {
    const client = await connectClient(inject("auditlessMcpUrl"));
    const r = await call(client, "pg_query_write", { sql: "insert into no_such_table_audit values (1)" });
    expect(r.isError).toBe(true);
    expect(rawText(r)).toMatch(/^ERROR 42P01: relation "no_such_table_audit" does not exist/);
    expect(rawText(r)).toMatch(/\nERROR audit_failed: the audit entry for pg_query_write could not be written[\s\S]*DETAIL: The action failed and it is not in the audit log\./);
    await client.close();
  });

  it("reads are not audited, so they keep working there", async () => {
    const client = await connectClient(inject("auditlessMcpUrl"));
    const r = await call(client, "pg_query_read", { sql: "select 7" });
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ rows: [[7]] });
    await client.close();
  });
});
