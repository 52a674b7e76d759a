/**
 * The read-only refusal table: every way we know of to make a read write.
 * Each row: a name, the SQL (given the victim table's name), and what the
 * refusal must say. Run by readonly.test.ts (pg_query_read) and auth.test.ts
 * (a read-only deployment). Keep adding rows.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type pg from "pg";
import { existsSync } from "node:fs";
import { call, connectClient, rows, text } from "./mcp";
import { observer, uniqueName } from "./db";

export type Attempt = [name: string, sql: (victim: string) => string, reason: RegExp];

export function readOnlyAttempts(marker: string): Attempt[] {
  return [
  ["COMMIT then DROP", (t) => `commit; drop table ${t}`, /one statement/],
  ["END then CREATE", (t) => `end; create table ${t}_new (i int)`, /one statement/],
  ["ROLLBACK then DELETE", (t) => `rollback; delete from ${t}`, /one statement/],
  ["second statement after a comment", (t) => `select 1 /* ; */; delete from ${t}`, /one statement/],
  ["SET TRANSACTION READ WRITE", () => "set transaction read write", /SET is not/],
  ["set_config of default_transaction_read_only", () => "select set_config('default_transaction_read_only', 'off', false)", /set_config/],
  ["set_config of transaction_read_only", () => "select set_config('transaction_read_only', 'off', true)", /set_config/],
  ["writable CTE with DELETE", (t) => `with d as (delete from ${t} returning *) select * from d`, /DELETE/],
  ["writable CTE with UPDATE", (t) => `with u as (update ${t} set v = 'x' returning *) select * from u`, /UPDATE/],
  ["writable CTE with INSERT", (t) => `with i as (insert into ${t} values (2, 'x') returning *) select * from i`, /INSERT/],
  ["DO block", (t) => `do $$ begin delete from ${t}; end $$`, /DO is not/],
  ["COPY TO PROGRAM", () => `copy (select 1) to program 'touch ${marker}'`, /COPY is not/],
  ["COPY TO file", () => `copy (select 1) to '${marker}'`, /COPY is not/],
  ["plain DELETE", (t) => `delete from ${t}`, /DELETE is not/],
  ["TRUNCATE", (t) => `truncate ${t}`, /TRUNCATE is not/],
  ["SELECT INTO a new table", (t) => `select * into ${t}_new from ${t}`, /read-only transaction/],
  ["SELECT FOR UPDATE", (t) => `select * from ${t} for update`, /read-only transaction/],
  ["nextval", (t) => `select nextval('${t}_seq')`, /read-only transaction/],
  ["function that writes", (t) => `select ${t}_evil()`, /read-only transaction/],
  ["lo_export", () => `select lo_export(1, '${marker}')`, /lo_export/],
  ["pg_terminate_backend", () => "select pg_terminate_backend(pg_backend_pid())", /pg_terminate_backend/],
  ["dblink_exec", (t) => `select dblink_exec('dbname=postgres', 'drop table ${t}')`, /dblink_exec/],
  ["query_to_xml running a DELETE", (t) => `select query_to_xml('delete from ${t} returning 1', true, true, '')`, /query_to_xml/],
  ["EXPLAIN ANALYZE DELETE", (t) => `explain analyze delete from ${t}`, /DELETE/],
  ["PREPARE a DELETE", (t) => `prepare p as delete from ${t}`, /PREPARE is not/],
  ["CALL", () => "call some_proc()", /CALL is not/],
  ["LOCK", (t) => `lock table ${t}`, /LOCK is not/],
  ["ALTER SYSTEM", () => "alter system set work_mem = '1GB'", /ALTER is not/],
  ["quoted function name", () => `select "set_config"('a.b', 'c', false)`, /set_config/],
  ["schema-qualified function", () => `select pg_catalog.set_config('a.b', 'c', false)`, /set_config/],
  ["advisory lock held past the call", () => "select pg_advisory_lock(42)", /pg_advisory_lock/],
  ];
}

/**
 * Runs the whole table against one Worker: each row must be refused, leave the
 * victim table as it was, and leave the server serving; afterwards no trace.
 */
export function describeRefusals(title: string, connect: () => Promise<Client>, tool = "pg_query_read"): void {
  describe(title, () => {
    let client: Client;
    let db: pg.Client;
    const victim = uniqueName("victim");
    const marker = `/tmp/${uniqueName("pg_mcp_marker")}`;

    beforeAll(async () => {
      client = await connect();
      db = await observer();
      await db.query(`create table ${victim} (id int primary key, v text)`);
      await db.query(`insert into ${victim} values (1, 'original')`);
      await db.query(`create sequence ${victim}_seq`);
      // A function that writes: a read that calls it must still fail.
      await db.query(`create function ${victim}_evil() returns int language sql volatile as $$ update ${victim} set v = 'pwned'; select 1 $$`);
    });
    afterAll(async () => {
      await db?.query(`drop function if exists ${victim}_evil(); drop table if exists ${victim}; drop table if exists ${victim}_new; drop sequence if exists ${victim}_seq`);
      await client?.close();
      await db?.end();
    });

    for (const [name, sql, reason] of readOnlyAttempts(marker)) {
      it(`refuses: ${name}`, async () => {
        const r = await call(client, tool, { sql: sql(victim) });
        expect(r.isError).toBe(true);
        expect(text(r)).toMatch(reason);
        const state = await db.query(`select v from ${victim} order by id`);
        expect(state.rows).toEqual([{ v: "original" }]);
        expect(await rows(client, "select 1")).toEqual([[1]]);
      });
    }

    it("left no trace of any attempt", async () => {
      expect(existsSync(marker)).toBe(false);
      expect((await db.query("select to_regclass($1) as r", [`${victim}_new`])).rows[0].r).toBeNull();
      expect((await db.query(`select last_value::int, is_called from ${victim}_seq`)).rows[0]).toEqual({ last_value: 1, is_called: false });
      expect((await db.query("select count(*)::int as n from pg_locks where locktype = 'advisory'")).rows[0].n).toBe(0);
    });
  });
}

export { connectClient };
