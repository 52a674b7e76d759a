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
import { startWorker } from "../../scripts/lib/worker";

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

describe("audit: one shard per caller, read across shards", () => {
  it("two callers' writes are both in the log the moment their results arrive, each under its own principal", async () => {
    const keys = inject("apiKeys");
    const url = inject("authMcpUrl");
    const as = (k: string) => connectClient(url, { headers: { authorization: `Bearer ${k}` } });
    const [a, b, admin] = await Promise.all([as(keys.shardA), as(keys.shardB), as(keys.admin)]);
    const db = await observer();
    const ta = uniqueName("audit_shard_a");
    const tb = uniqueName("audit_shard_b");
    try {
      // At the same time, from two callers (two shards).
      await Promise.all([ok(a, "pg_query_write", { sql: `create table ${ta} (id int)` }), ok(b, "pg_query_write", { sql: `create table ${tb} (id int)` })]);
      // No waiting: a listing across callers finds both.
      const { entries } = await ok<{ entries: Entry[] }>(admin, "pg_audit_log", { tool: "pg_query_write", limit: 1000 });
      const ea = entries.filter((e) => e.action === `create table ${ta} (id int)`);
      const eb = entries.filter((e) => e.action === `create table ${tb} (id int)`);
      expect(ea).toHaveLength(1);
      expect(eb).toHaveLength(1);
      expect(ea[0]!.principal).toMatch(/^key:[0-9a-f]{16}$/);
      expect(eb[0]!.principal).toMatch(/^key:[0-9a-f]{16}$/);
      expect(ea[0]!.principal).not.toBe(eb[0]!.principal);
      expect(ea[0]).toMatchObject({ outcome: "ok", detail: { caller: "shardA" } });
      // Newest first across shards.
      const ats = entries.map((e) => (e as Entry & { at: string }).at);
      expect([...ats].sort().reverse()).toEqual(ats);
      // One caller's shard alone: its entry, not the other's.
      const onlyA = await ok<{ entries: Entry[] }>(admin, "pg_audit_log", { principal: ea[0]!.principal, limit: 1000 });
      expect(onlyA.entries.some((e) => e.action === `create table ${ta} (id int)`)).toBe(true);
      expect(onlyA.entries.every((e) => e.principal === ea[0]!.principal)).toBe(true);
    } finally {
      await db.query(`drop table if exists ${ta}; drop table if exists ${tb}`);
      await db.end();
      await Promise.all([a, b, admin].map((c) => c.close()));
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

describe("audit: a deployment upgraded from the single audit object", () => {
  it("entries in the pre-sharding object are still listed, across callers and for their principal", async () => {
    const worker = await startWorker({ databaseUrl: inject("serverDatabaseUrl"), vars: { AUTH_MODE: "none" } });
    try {
      // Before the log was sharded, every entry went to one object named "audit", which is in no index.
      // Seeding it through today's record() registers the name it is given, so it is given another one:
      // the object named "audit" then holds an entry that the index does not list, as after an upgrade.
      const ns = (await worker.durableObjects!("AUDIT_LOG")) as unknown as { idFromName(n: string): unknown; get(id: unknown): { record(shard: string, e: Entry & { at: string; durationMs: number }): Promise<void> } };
      const old = { at: "2026-01-02T03:04:05.000Z", principal: "key:0123456789abcdef", tool: "pg_query_write", action: "insert into before_upgrade values (1)", actionHash: "0".repeat(64), outcome: "ok", durationMs: 3 };
      await ns.get(ns.idFromName("audit")).record("not-the-legacy-name", old);

      const client = await connectClient(worker.mcpUrl);
      try {
        const all = await ok<{ entries: Entry[] }>(client, "pg_audit_log", { limit: 1000 });
        expect(all.entries.filter((e) => e.action === old.action)).toEqual([expect.objectContaining({ principal: old.principal, at: old.at })]);
        const one = await ok<{ entries: Entry[] }>(client, "pg_audit_log", { principal: old.principal });
        expect(one.entries.map((e) => e.action)).toEqual([old.action]);
        // Another caller's listing does not get it.
        const other = await ok<{ entries: Entry[] }>(client, "pg_audit_log", { principal: "key:fedcba9876543210" });
        expect(other.entries).toEqual([]);
      } finally {
        await client.close();
      }
    } finally {
      await worker.stop();
    }
  }, 120_000);
});
