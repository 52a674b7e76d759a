import { describe, expect, it } from "vitest";
import { checkReadOnly } from "../../worker/sql/readonly";

describe("checkReadOnly accepts reads", () => {
  const reads = [
    "select 1",
    "SELECT * FROM orders WHERE id = $1;",
    "with t as (select 1) select * from t",
    "values (1), (2)",
    "table orders",
    "show work_mem",
    "explain select 1",
    "(select 1) union (select 2)",
    "select 'insert into x' as s",
    'select "update" from t',
    "select * from orders for update", // refused by the READ ONLY transaction, not here
    "select current_setting('work_mem')",
  ];
  for (const sql of reads) it(sql, () => expect(checkReadOnly(sql)).toMatchObject({ ok: true }));
});

describe("checkReadOnly refuses", () => {
  const refusals: [string, RegExp][] = [
    ["commit; drop table orders", /one statement/],
    ["end; create table y(i int)", /one statement/],
    ["select 1; delete from orders", /one statement/],
    ["drop table orders", /DROP is not a read-only/],
    ["set transaction read write", /SET is not/],
    ["SET default_transaction_read_only = off", /SET is not/],
    ["select set_config('default_transaction_read_only', 'off', false)", /set_config/],
    ['select "set_config"(\'a.b\', \'c\', false)', /set_config/],
    ["select pg_catalog.set_config('a.b','c',false)", /set_config/],
    ["with d as (delete from orders returning *) select * from d", /DELETE/],
    ["with i as (insert into t values (1) returning *) select 1", /INSERT/],
    ["with u as (update orders set note = 'x' returning *) select 1", /UPDATE/],
    ["do $$ begin delete from orders; end $$", /DO is not/],
    ["copy (select 1) to program 'touch /tmp/x'", /COPY is not/],
    ["copy orders to '/tmp/orders.csv'", /COPY is not/],
    ["call my_proc()", /CALL is not/],
    ["select pg_terminate_backend(123)", /pg_terminate_backend/],
    ["select lo_export(123, '/tmp/x')", /lo_export/],
    ["select dblink_exec('dbname=postgres', 'drop table orders')", /dblink_exec/],
    ["select query_to_xml('delete from orders', true, true, '')", /query_to_xml/],
    ["select pg_advisory_lock(1)", /pg_advisory_lock/],
    ["explain analyze delete from orders", /DELETE/],
    ["lock table orders", /LOCK is not/],
    ["vacuum orders", /VACUUM is not/],
    ["prepare p as delete from orders", /PREPARE is not/],
    ["", /empty/],
    ["-- only a comment", /empty/],
    ["select 'unterminated", /could not parse/],
    ["merge into t using s on true when matched then delete", /MERGE is not/],
    ["select pg_reload_conf()", /pg_reload_conf/],
    ["select pg_read_file('/etc/passwd')", /pg_read_file/],
  ];
  for (const [sql, reason] of refusals) {
    it(sql || "(empty)", () => {
      const v = checkReadOnly(sql);
      expect(v.ok).toBe(false);
      if (!v.ok) expect(v.reason).toMatch(reason);
    });
  }
});

describe("checkReadOnly refuses function classes, however the name is spelled", () => {
  const refusals: [string, RegExp][] = [
    ['select U&"\\0070g_read_file"(\'/etc/passwd\')', /pg_read_file\(\) is not allowed in a read-only query: it reads or lists files/],
    ["select U&\"!0070g_ls_dir\" UESCAPE '!'('.')", /pg_ls_dir\(\)/],
    ["select * from pg_ls_waldir()", /pg_ls_waldir\(\)/],
    ["select pg_current_logfile()", /pg_current_logfile\(\)/],
    ["select query_to_xml('select 1', true, true, '')", /query_to_xml\(\) .*runs a query from a string/],
    ["select * from ts_stat('select 1')", /ts_stat\(\)/],
    ["select ts_rewrite('a'::tsquery, 'select 1')", /ts_rewrite\(\)/],
    ["select schema_to_xml('public', true, true, '')", /schema_to_xml\(\)/],
    ["select * from crosstab('select 1')", /crosstab\(\)/],
    ["select pg_stat_reset_single_table_counters(1)", /pg_stat_reset_single_table_counters\(\) .*statistics/],
    ["select pg_signal_backend(1, 15)", /pg_signal_backend\(\)/],
    ["select pg_try_advisory_xact_lock(1)", /pg_try_advisory_xact_lock\(\)/],
    ["select pg_logical_slot_get_changes('s', null, null)", /pg_logical_slot_get_changes\(\)/],
    [`select $${"t".repeat(90)}$ $$ $${"t".repeat(90)}$, pg_read_file('x'), $${"t".repeat(90)}$ $$ $${"t".repeat(90)}$`, /pg_read_file\(\)/],
  ];
  for (const [sql, reason] of refusals) {
    it(sql.slice(0, 80), () => {
      const v = checkReadOnly(sql);
      expect(v.ok).toBe(false);
      expect(!v.ok && v.reason).toMatch(reason);
    });
  }

  it("does not refuse a harmless function whose name only resembles a class", () => {
    expect(checkReadOnly("select pg_backend_pid(), pg_stat_get_numscans(1), to_tsvector('a')")).toMatchObject({ ok: true });
  });
});
