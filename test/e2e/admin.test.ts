/** The admin tools through the Worker, checked against pg_catalog and the statistics views. */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type pg from "pg";
import { call, connectClient, ok, text } from "../support/mcp";
import { observer, uniqueName } from "../support/db";

let client: Client;
let db: pg.Client;
let t: string;
beforeAll(async () => {
  client = await connectClient(inject("mcpUrl"));
  db = await observer();
  t = uniqueName("adm");
  await db.query(`create table ${t} (id int primary key, v text); create index ${t}_v on ${t} (v); insert into ${t} select g, 'v' || g from generate_series(1, 2000) g; delete from ${t} where id % 2 = 0`);
});
afterAll(async () => {
  await db?.query(`drop table if exists ${t}`).catch(() => {});
  await client?.close();
  await db?.end();
});

const filenode = async (rel: string) => (await db.query("select pg_relation_filenode($1::regclass)::text as f", [rel])).rows[0].f as string;

describe("maintenance", () => {
  it("VACUUMs a table outside a transaction block and reports the state after", async () => {
    const r = await ok<{ statement: string; after: { last_vacuum: string | null; live: number } }>(client, "pg_admin_vacuum", { table: t, analyze: true });
    expect(r.statement).toBe(`VACUUM (ANALYZE) "${t}"`);
    expect(r.after.last_vacuum).not.toBeNull();
    const { rows } = await db.query("select last_vacuum is not null as vacuumed, last_analyze is not null as analyzed from pg_stat_user_tables where relid = $1::regclass", [t]);
    expect(rows[0]).toEqual({ vacuumed: true, analyzed: true });
  });

  it("VACUUM FULL rewrites the table (new file)", async () => {
    const before = await filenode(t);
    await ok(client, "pg_admin_vacuum", { table: t, full: true });
    expect(await filenode(t)).not.toBe(before);
  });

  it("ANALYZEs chosen columns: pg_stats gains them", async () => {
    const u = uniqueName("an");
    await db.query(`create table ${u} (a int, b text); insert into ${u} select g, 'x' from generate_series(1, 100) g`);
    try {
      const r = await ok<{ statement: string }>(client, "pg_admin_analyze", { table: u, columns: ["a"] });
      expect(r.statement).toBe(`ANALYZE "${u}" ("a")`);
      const { rows } = await db.query("select attname from pg_stats where schemaname = 'public' and tablename = $1 order by attname", [u]);
      expect(rows.map((x) => x.attname)).toEqual(["a"]);
    } finally {
      await db.query(`drop table ${u}`);
    }
  });

  it("REINDEXes an index and a table concurrently (PostgreSQL 12+): the index gets a new file", async () => {
    const before = await filenode(`${t}_v`);
    const r = await ok<{ statement: string; concurrently: boolean }>(client, "pg_admin_reindex", { kind: "index", name: `${t}_v` });
    expect(r).toEqual({ statement: `REINDEX INDEX CONCURRENTLY "${t}_v"`, concurrently: true });
    const mid = await filenode(`${t}_v`);
    expect(mid).not.toBe(before);
    await ok(client, "pg_admin_reindex", { kind: "table", name: t, concurrently: false });
    expect(await filenode(`${t}_v`)).not.toBe(mid);
    expect((await db.query("select bool_and(indisvalid) as ok from pg_index where indrelid = $1::regclass", [t])).rows[0].ok).toBe(true);
  });

  it("reports a missing table as a tool error", async () => {
    const r = await call(client, "pg_admin_vacuum", { table: "no_such_table_x" });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/ERROR not_found/);
  });
});

describe("pg_admin_stats", () => {
  it("gives table statistics with a bloat estimate once analyzed", async () => {
    await db.query(`analyze ${t}`);
    const r = await ok<{ rows: Record<string, unknown>[] }>(client, "pg_admin_stats", { table: t });
    expect(r.rows).toHaveLength(1);
    const row = r.rows[0]!;
    expect(row).toMatchObject({ schema: "public", table: t });
    for (const k of ["seq_scan", "idx_scan", "live", "dead", "last_vacuum", "last_analyze", "bytes", "bloat_pct", "hit_ratio", "last_seq_scan"]) expect(row, k).toHaveProperty(k);
    expect(typeof row.bloat_pct).toBe("number");
    expect(row.bloat_pct as number).toBeGreaterThanOrEqual(0);
    expect(row.bytes as number).toBeGreaterThan(0);
  });

  it("gives index statistics: unique and unused flags", async () => {
    const r = await ok<{ rows: { index: string; unique: boolean; valid: boolean; unused: boolean }[] }>(client, "pg_admin_stats", { kind: "indexes", table: t });
    const byName = Object.fromEntries(r.rows.map((x) => [x.index, x]));
    expect(byName[`${t}_pkey`]).toMatchObject({ unique: true, valid: true, unused: false });
    expect(byName[`${t}_v`]).toMatchObject({ unique: false, valid: true });
    const tsv = text(await call(client, "pg_admin_stats", { kind: "indexes", table: t }));
    expect(tsv.split("\n")[0]).toBe("schema\ttable\tindex\tscans\ttup_read\tbytes\thit_ratio\tunique\tvalid\tunused");
  });
});

describe("settings", () => {
  it("reads a setting with unit, source and context", async () => {
    const r = await ok<{ rows: Record<string, unknown>[] }>(client, "pg_admin_settings", { name: "work_mem" });
    expect(r.rows).toHaveLength(1);
    expect(r.rows[0]).toMatchObject({ name: "work_mem", unit: "kB", context: "user", pending_restart: false });
  });

  it("without filters lists only settings changed from their defaults", async () => {
    const r = await ok<{ rows: { name: string; source: string }[] }>(client, "pg_admin_settings", {});
    expect(r.rows.map((x) => x.name)).toContain("max_connections");
    expect(r.rows.every((x) => x.source !== "default")).toBe(true);
  });

  it("sets a setting for the call's own connection only", async () => {
    // What a fresh connection has: the value nothing set in a session (reset_val).
    const fresh = (await db.query("select reset_val from pg_settings where name = 'work_mem'")).rows[0].reset_val as string;
    expect(["65536", "32768"]).not.toContain(fresh);
    const r = await ok<{ name: string; value: string }>(client, "pg_admin_set", { name: "work_mem", value: "64MB" });
    expect(r).toEqual({ name: "work_mem", value: "64MB" });
    expect(text(await call(client, "pg_admin_set", { name: "work_mem", value: "32MB" }))).toContain("this call's connection only");
    // The next call's connection has exactly the fresh value: neither set value leaked.
    const after = await ok<{ rows: { setting: string; source: string }[] }>(client, "pg_admin_settings", { name: "work_mem" });
    expect(after.rows[0]).toMatchObject({ setting: fresh });
    expect(after.rows[0]!.source).not.toBe("session");
  });

  it("reports a bad value and an unknown name as tool errors", async () => {
    const bad = await call(client, "pg_admin_set", { name: "work_mem", value: "lots" });
    expect(text(bad)).toMatch(/^ERROR 22023/);
    const unknown = await call(client, "pg_admin_set", { name: "no_such_setting", value: "1" });
    expect(text(unknown)).toMatch(/^ERROR unknown_setting/);
  });

  it("refuses ALTER SYSTEM unless the deployment allows it", async () => {
    const r = await call(client, "pg_admin_set", { name: "work_mem", value: "8MB", scope: "system" });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/ERROR alter_system_disabled[\s\S]*ALLOW_ALTER_SYSTEM/);
    const { rows } = await db.query("select count(*)::int as n from pg_file_settings where sourcefile like '%postgresql.auto.conf' and name = 'work_mem'");
    expect(rows[0].n).toBe(0);
  });
});
