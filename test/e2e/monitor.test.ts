/** The monitor tools through the Worker, against sessions and locks the test creates with its own connections. */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import pg from "pg";
import { call, connectClient, ok, text } from "../support/mcp";
import { observer, uniqueName, useClientAndObserver } from "../support/db";
import { waitFor } from "../support/wait";

const fixture = useClientAndObserver();
let client: Client;
let db: pg.Client;
beforeAll(() => ({ client, db } = fixture));

/** Another connection that may be cancelled or terminated by the test: errors are expected, not crashes. */
/** A session of the server's own role: one the server may cancel or end without pg_signal_backend. */
async function session(app: string): Promise<{ c: pg.Client; pid: number }> {
  const c = new pg.Client({ connectionString: inject("serverDatabaseUrl") });
  await c.connect();
  c.on("error", () => {});
  await c.query(`set application_name = '${app}'`);
  const pid = (await c.query("select pg_backend_pid() as pid")).rows[0].pid as number;
  return { c, pid };
}

/** Polls `probe` until it returns a value, for at most 10 s. */
const until = <T>(probe: () => Promise<T | undefined>): Promise<T> => waitFor(probe, { timeoutMs: 10_000, intervalMs: 100 });

interface Check {
  check: string;
  status: string;
  value: unknown;
  reason: string;
}

describe("pg_monitor_health", () => {
  it("reports every check with a status and a reason", async () => {
    const r = await ok<{ status: string; checks: Check[] }>(client, "pg_monitor_health");
    expect(r.checks.map((c) => c.check)).toEqual(["database_role", "connections", "cache_hit", "wraparound", "long_running", "idle_in_transaction", "blocked", "invalid_indexes", "replication", "checkpoints"]);
    for (const c of r.checks) {
      expect(["ok", "warn", "critical"], c.check).toContain(c.status);
      expect(c.reason.length, c.check).toBeGreaterThan(5);
    }
    expect(r.checks.find((c) => c.check === "replication")).toMatchObject({ status: "ok" });
    const t = text(await call(client, "pg_monitor_health"));
    expect(t).toMatch(/^overall: (ok|warn|critical)\n/);
    expect(t).toMatch(/\twraparound\toldest xid age \d+/);
  });

  it("warns about an invalid index left by a failed CREATE INDEX CONCURRENTLY", async () => {
    const t = uniqueName("inv");
    await db.query(`create table ${t} (a int); insert into ${t} values (1), (1)`);
    try {
      await expect(db.query(`create unique index concurrently ${t}_a on ${t} (a)`)).rejects.toThrow(/could not create unique index/);
      const r = await ok<{ checks: Check[] }>(client, "pg_monitor_health");
      const check = r.checks.find((c) => c.check === "invalid_indexes")!;
      expect(check.status).toBe("warn");
      expect(check.reason).toContain(`${t}_a`);
    } finally {
      await db.query(`drop table ${t}`);
    }
  });
});

describe("sessions", () => {
  it("counts connections by application", async () => {
    const app = uniqueName("pgmcp_conn");
    const s = await session(app);
    try {
      const r = await ok<{ total: number; max: number; rows: { app: string; n: number; state: string }[] }>(client, "pg_monitor_connections");
      expect(r.max).toBe(200);
      expect(r.total).toBeGreaterThanOrEqual(2);
      expect(r.rows.find((x) => x.app === app)).toMatchObject({ n: 1, state: "idle" });
    } finally {
      await s.c.end();
    }
  });

  it("shows a running query in pg_monitor_activity, then cancels it with pg_monitor_cancel", async () => {
    const app = uniqueName("pgmcp_sleep");
    const s = await session(app);
    const sleeping = s.c.query("select pg_sleep(30)").then(
      () => "finished",
      (e: { code?: string }) => e.code,
    );
    try {
      const row = await until(async () => {
        const r = await ok<{ rows: { pid: number; app: string; state: string; query: string; query_s: number }[] }>(client, "pg_monitor_activity", { state: "active" });
        return r.rows.find((x) => x.pid === s.pid);
      });
      expect(row).toMatchObject({ app, state: "active", query: "select pg_sleep(30)" });
      expect(typeof row.query_s).toBe("number");
      const cancel = await ok<{ signaled: boolean; action: string }>(client, "pg_monitor_cancel", { pid: s.pid });
      expect(cancel).toEqual({ pid: s.pid, action: "cancel", signaled: true });
      expect(await sleeping).toBe("57014");
      // the connection survives a cancel
      expect((await s.c.query("select 1 as one")).rows[0].one).toBe(1);
    } finally {
      await s.c.end().catch(() => {});
    }
  });

  it("terminates a backend: its connection is gone", async () => {
    const s = await session(uniqueName("pgmcp_term"));
    try {
      const r = await ok<{ signaled: boolean }>(client, "pg_monitor_cancel", { pid: s.pid, terminate: true });
      expect(r.signaled).toBe(true);
      const gone = await until(async () => ((await db.query("select count(*)::int as n from pg_stat_activity where pid = $1", [s.pid])).rows[0].n === 0 ? true : undefined));
      expect(gone).toBe(true);
    } finally {
      await s.c.end().catch(() => {});
    }
  });

  it("refuses an unknown pid", async () => {
    const r = await call(client, "pg_monitor_cancel", { pid: 2_000_000_000 });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/ERROR not_found/);
  });

  it("keeps the read tool read-only and the cancel tool destructive", async () => {
    const { tools } = await client.listTools();
    const byName = Object.fromEntries(tools.map((x) => [x.name, x]));
    expect(byName.pg_monitor_activity!.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false });
    expect(byName.pg_monitor_cancel!.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true, openWorldHint: false });
  });
});

interface LockNode {
  pid: number;
  waiting: { mode: string; relation: string } | null;
  blocks: LockNode[];
}

describe("pg_monitor_locks and pg_monitor_size under a held lock", () => {
  it("shows who blocks whom as a tree, and sizes skip the locked table instead of waiting", async () => {
    const t = uniqueName("lck");
    await db.query(`create table ${t} (id int); insert into ${t} values (1)`);
    const holder = await session(uniqueName("pgmcp_holder"));
    const waiter = await session(uniqueName("pgmcp_waiter"));
    let waiting: Promise<unknown> | undefined;
    try {
      await holder.c.query(`begin; lock table ${t} in access exclusive mode`);
      waiting = waiter.c.query(`select * from ${t}`).catch(() => undefined);
      const root = await until(async () => {
        const r = await ok<{ blocked: number; tree: LockNode[] }>(client, "pg_monitor_locks");
        const node = r.tree.find((n) => n.pid === holder.pid);
        return node?.blocks.some((b) => b.pid === waiter.pid) ? node : undefined;
      });
      expect(root.waiting).toBeNull();
      expect(root.blocks.find((b) => b.pid === waiter.pid)!.waiting).toMatchObject({ mode: "AccessShareLock", relation: t });
      const tree = text(await call(client, "pg_monitor_locks"));
      expect(tree).toMatch(new RegExp(`pid ${holder.pid} .*holds AccessExclusiveLock on ${t}: .*lock table`));
      expect(tree).toMatch(new RegExp(`\\n *└ pid ${waiter.pid} .*waits AccessShareLock on ${t}.*: select \\* from ${t}`));

      const size = await ok<{ tables: { table: string; total: number | null }[] }>(client, "pg_monitor_size", { schema: "public", limit: 1000 });
      expect(size.tables.find((x) => x.table === t)).toMatchObject({ total: null });
    } finally {
      await holder.c.query("rollback").catch(() => {});
      await waiting;
      await holder.c.end().catch(() => {});
      await waiter.c.end().catch(() => {});
      await db.query(`drop table if exists ${t}`);
    }
    const after = await ok<{ tree: LockNode[] }>(client, "pg_monitor_locks");
    expect(after.tree.some((n) => n.pid === holder.pid)).toBe(false);
  });

  it("splits sizes into heap, indexes and TOAST, with the database and schema totals", async () => {
    const t = uniqueName("sz");
    await db.query(`create table ${t} (id int primary key, body text); insert into ${t} select g, repeat(md5(g::text), 200) from generate_series(1, 200) g`);
    try {
      const r = await ok<{ database: { name: string; bytes: number }; schemas: { schema: string; bytes: number }[]; tables: Record<string, number | string | null>[] }>(client, "pg_monitor_size", { schema: "public", limit: 1000 });
      expect(r.database.bytes).toBeGreaterThan(1_000_000);
      expect(r.schemas.map((s) => s.schema)).toEqual(["public"]);
      const row = r.tables.find((x) => x.table === t)!;
      const total = row.total as number;
      expect(row.indexes as number).toBeGreaterThan(0);
      expect(row.toast as number).toBeGreaterThan(0);
      expect((row.heap as number) + (row.indexes as number) + (row.toast as number)).toBe(total);
      const { rows } = await db.query("select pg_total_relation_size($1::regclass)::float8 as n", [t]);
      expect(total).toBe(rows[0].n);
    } finally {
      await db.query(`drop table ${t}`);
    }
  });
});

describe("pg_monitor_top_queries", () => {
  it("names the extension and how to install it when pg_stat_statements is missing, then ranks statements once it exists", async () => {
    // The extension is shared by the whole database: put it back however this ends.
    try {
      await db.query("drop extension if exists pg_stat_statements");
      const missing = await call(client, "pg_monitor_top_queries");
      expect(missing.isError).toBe(true);
      expect(text(missing)).toMatch(/^ERROR extension_missing: the pg_stat_statements extension is not installed/);
      expect(text(missing)).toContain("CREATE EXTENSION pg_stat_statements");
    } finally {
      await db.query("create extension if not exists pg_stat_statements");
    }
    // pg_stat_statements merges statements that differ only in constants or aliases: a table of our own makes this one unique.
    const marker = uniqueName("pss");
    await db.query(`create table ${marker} (id int)`);
    try {
      for (let i = 0; i < 3; i++) await db.query(`select count(*) from ${marker}`);
    } finally {
      await db.query(`drop table ${marker}`);
    }
    const r = await ok<{ rows: { query: string; calls: number; total_ms: number; mean_ms: number }[] }>(client, "pg_monitor_top_queries", { orderBy: "calls", limit: 1000 });
    const row = r.rows.find((x) => x.query === `select count(*) from ${marker}`);
    expect(row).toBeDefined();
    expect(row!.calls).toBeGreaterThanOrEqual(3);
    expect(typeof row!.total_ms).toBe("number");
    const calls = r.rows.map((x) => x.calls);
    expect(calls).toEqual([...calls].sort((a, b) => b - a));
  });
});
