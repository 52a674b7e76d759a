import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type pg from "pg";
import { call, connectClient, ok, rows, text } from "../support/mcp";
import { observer, uniqueName, useClientAndObserver } from "../support/db";

const fixture = useClientAndObserver();
let client: Client;
let db: pg.Client;
beforeAll(() => ({ client, db } = fixture));

describe("tools/list", () => {
  it("lists every query tool with title, schemas and annotations", async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(["pg_query_read", "pg_query_write", "pg_query_explain"]));
    for (const t of tools) {
      expect(t.title, t.name).toBeTruthy();
      expect(t.description!.length, t.name).toBeGreaterThan(20);
      expect(t.inputSchema.type).toBe("object");
      expect(t.outputSchema?.type, t.name).toBe("object");
      expect(t.annotations?.openWorldHint, t.name).toBe(false);
      expect(typeof t.annotations?.readOnlyHint).toBe("boolean");
      expect(typeof t.annotations?.destructiveHint).toBe("boolean");
      expect(typeof t.annotations?.idempotentHint).toBe("boolean");
    }
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    expect(byName.pg_query_read!.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false });
    expect(byName.pg_query_write!.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true });
  });
});

describe("pg_query_read", () => {
  it("returns column names and PostgreSQL types with the rows", async () => {
    const r = await ok<{ columns: unknown[]; rows: unknown[][]; rowCount: number; truncated: boolean }>(client, "pg_query_read", {
      sql: "select id, sku, price from products where id <= $1 order by id",
      params: [2],
    });
    expect(r.columns).toEqual([
      { name: "id", type: "int4" },
      { name: "sku", type: "text" },
      { name: "price", type: "numeric" },
    ]);
    expect(r.rows).toEqual([
      [1, "SKU-0001", "3.50"],
      [2, "SKU-0002", "7.00"],
    ]);
    expect(r.rowCount).toBe(2);
    expect(r.truncated).toBe(false);
  });

  it("keeps bigint and numeric exact, timestamps ISO 8601, bytea base64, json parsed", async () => {
    const [row] = await rows(
      client,
      "select 9223372036854775807::bigint, 123456789012345678901234.5678::numeric, timestamptz '2024-05-06 07:08:09.123+00', decode('cafe', 'hex'), '{\"a\":[1,2]}'::jsonb, array[1,2,null]::int[], date '2024-02-29', null::text",
    );
    expect(row).toEqual(["9223372036854775807", "123456789012345678901234.5678", "2024-05-06T07:08:09.123+00:00", "yv4=", { a: [1, 2] }, [1, 2, null], "2024-02-29", null]);
  });

  it("names user-defined types (enums) in columns", async () => {
    const r = await ok<{ columns: { type: string }[] }>(client, "pg_query_read", { sql: "select status from orders limit 1" });
    expect(r.columns[0]!.type).toBe("order_status");
  });

  it("renders compact TSV text: header once, \\N for NULL, escapes tabs", async () => {
    const r = await call(client, "pg_query_read", { sql: "select 1 as a, null::text as b, E'x\\ty' as c" });
    expect(text(r)).toBe("a:int4\tb:text\tc:text\n1\t\\N\tx\\ty");
  });

  it("binds values as parameters, so quotes in values are just data", async () => {
    const evil = "x'; drop table customers; --";
    expect(await rows(client, "select $1::text", [evil])).toEqual([[evil]]);
    expect((await db.query("select to_regclass('customers') is not null as ok")).rows[0].ok).toBe(true);
  });

  it("reports a syntax error with SQLSTATE and position", async () => {
    const r = await call(client, "pg_query_read", { sql: "select * form orders" });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/^ERROR 42601: syntax error at or near "form"/);
    expect(text(r)).toMatch(/POSITION: 10 \(near "form orders"\)/);
  });

  it("reports a missing table with 42P01", async () => {
    const r = await call(client, "pg_query_read", { sql: "select * from no_such_table" });
    expect(r.isError).toBe(true);
    expect(text(r)).toContain("ERROR 42P01");
  });

  it("reports a hint when PostgreSQL gives one", async () => {
    const r = await call(client, "pg_query_read", { sql: "select lenght('x')" });
    expect(text(r)).toMatch(/ERROR 42883[\s\S]*HINT: /);
  });
});

describe("pg_query_write", () => {
  it("creates, inserts with RETURNING, updates and drops, as the observer sees", async () => {
    const t = uniqueName("w");
    await ok(client, "pg_query_write", { sql: `create table ${t} (id int primary key, v text)` });
    const ins = await ok<{ rows: unknown[][]; rowCount: number; command: string }>(client, "pg_query_write", {
      sql: `insert into ${t} values ($1, $2), ($3, $4) returning id`,
      params: [1, "a", 2, "b"],
    });
    expect(ins.command).toBe("INSERT");
    expect(ins.rowCount).toBe(2);
    expect(ins.rows).toEqual([[1], [2]]);
    const upd = await ok<{ rowCount: number }>(client, "pg_query_write", { sql: `update ${t} set v = 'z' where id = 1` });
    expect(upd.rowCount).toBe(1);
    expect((await db.query(`select v from ${t} order by id`)).rows).toEqual([{ v: "z" }, { v: "b" }]);
    await ok(client, "pg_query_write", { sql: `drop table ${t}` });
    expect((await db.query("select to_regclass($1) as r", [t])).rows[0].r).toBeNull();
  });

  it("reports a constraint violation with detail and keeps nothing of the failed statement", async () => {
    const t = uniqueName("w");
    await db.query(`create table ${t} (id int primary key)`);
    await db.query(`insert into ${t} values (1)`);
    const r = await call(client, "pg_query_write", { sql: `insert into ${t} values (2), (1)` });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/ERROR 23505[\s\S]*DETAIL: Key \(id\)=\(1\) already exists/);
    expect((await db.query(`select count(*)::int as n from ${t}`)).rows[0].n).toBe(1);
    await db.query(`drop table ${t}`);
  });

  it("refuses transaction control and smuggled second statements", async () => {
    for (const sql of ["begin", "commit", "rollback", "select 1; drop table customers", "copy customers to program 'true'", "copy customers from stdin"]) {
      const r = await call(client, "pg_query_write", { sql });
      expect(r.isError, sql).toBe(true);
    }
    expect((await db.query("select to_regclass('customers') is not null as ok")).rows[0].ok).toBe(true);
  });

  it("runs statements that cannot run in a transaction block", async () => {
    const t = uniqueName("w");
    // Created through the server, so its role owns it (indexing needs ownership).
    await ok(client, "pg_query_write", { sql: `create table ${t} (id int)` });
    await ok(client, "pg_query_write", { sql: `create index concurrently ${t}_idx on ${t} (id)` });
    expect((await db.query("select count(*)::int as n from pg_indexes where indexname = $1", [`${t}_idx`])).rows[0].n).toBe(1);
    await ok(client, "pg_query_write", { sql: `vacuum ${t}` });
    await db.query(`drop table ${t}`);
  });
});

describe("pg_query_explain", () => {
  it("returns the JSON plan and a readable tree", async () => {
    const r = await call(client, "pg_query_explain", { sql: "select * from orders where customer_id = $1", params: [3] });
    expect(r.isError).toBeFalsy();
    const plan = (r.structuredContent as { plan: [{ Plan: { "Node Type": string } }] }).plan;
    expect(plan[0].Plan["Node Type"]).toBeTruthy();
    expect(text(r)).toMatch(/cost=/);
  });

  it("EXPLAIN ANALYZE of a DELETE runs it and rolls it back", async () => {
    const before = (await db.query("select count(*)::int as n from order_items")).rows[0].n;
    const r = await call(client, "pg_query_explain", { sql: "delete from order_items", analyze: true });
    expect(r.isError).toBeFalsy();
    expect(text(r)).toMatch(/actual time=/);
    expect(text(r)).toMatch(/rolled back/);
    expect((await db.query("select count(*)::int as n from order_items")).rows[0].n).toBe(before);
  });

  it("refuses a statement that already starts with EXPLAIN", async () => {
    const r = await call(client, "pg_query_explain", { sql: "explain select 1" });
    expect(r.isError).toBe(true);
  });
});
