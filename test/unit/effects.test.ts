import { describe, expect, it } from "vitest";
import { checkEffects, serverEffect } from "../../worker/sql/effects";
import { checkReadOnly } from "../../worker/sql/readonly";

describe("serverEffect finds server-level effects, wherever they hide", () => {
  const cases: [string, string, string][] = [
    ["ALTER SYSTEM SET work_mem = '1GB'", "alter_system", "ALTER SYSTEM"],
    ["alter system reset all", "alter_system", "ALTER SYSTEM"],
    ["select pg_reload_conf()", "configuration", "pg_reload_conf()"],
    ["select set_config('work_mem', '1GB', false)", "configuration", "set_config()"],
    ["alter database postgres set work_mem = '1GB'", "configuration", "ALTER DATABASE ... SET"],
    ["select pg_terminate_backend(pid) from pg_stat_activity", "sessions", "pg_terminate_backend()"],
    ["select pg_catalog.pg_cancel_backend(1)", "sessions", "pg_cancel_backend()"],
    ['select "pg_signal_backend"(1, 15)', "sessions", "pg_signal_backend()"],
    ["select U&\"pg_terminate\\005fbackend\"(1)", "sessions", "pg_terminate_backend()"],
    ["create role evil login password 'x'", "roles", "CREATE ROLE"],
    ["alter user pgmcp createrole", "roles", "ALTER USER"],
    ["drop role pgmcp_read", "roles", "DROP ROLE"],
    ["grant pg_signal_backend to pgmcp", "roles", "GRANT of a role"],
    ["revoke pgmcp_read from pgmcp", "roles", "REVOKE of a role"],
    ["alter default privileges grant all on tables to public", "roles", "ALTER DEFAULT PRIVILEGES"],
    ["reassign owned by pgmcp to postgres", "roles", "REASSIGN OWNED"],
    ["create extension if not exists pg_trgm", "extensions", "CREATE EXTENSION"],
    ["drop extension pg_trgm", "extensions", "DROP EXTENSION"],
    ["select pg_stat_reset()", "statistics", "pg_stat_reset()"],
    ["do $$ begin alter system set work_mem = '1GB'; end $$", "alter_system", "ALTER SYSTEM"],
    ["do $$ begin execute 'alter system set work_mem = ''1GB'''; end $$", "alter_system", "ALTER SYSTEM"],
    ["do $x$ begin perform pg_terminate_backend(42); end $x$", "sessions", "pg_terminate_backend()"],
    ["do 'begin perform pg_reload_conf(); end'", "configuration", "pg_reload_conf()"],
    ["create function f() returns void language sql as 'select pg_terminate_backend(1)'", "sessions", "pg_terminate_backend()"],
    ["create function f() returns void language plpgsql as $$ begin execute $q$create role x$q$; end $$", "roles", "CREATE ROLE"],
    ["insert into t select 1; alter system set work_mem = '1GB'", "alter_system", "ALTER SYSTEM"],
  ];
  for (const [sql, cls, what] of cases) it(sql, () => expect(serverEffect(sql)).toMatchObject({ class: cls, what }));
});

describe("serverEffect leaves data alone", () => {
  const data = [
    "insert into notes values ('alter system set work_mem; select pg_terminate_backend(1)')",
    "grant select on orders to pgmcp_read",
    "revoke insert on orders from public",
    "create table role (id int)",
    "create user mapping for pgmcp server s",
    "select set_config('app.user_id', '42', true)",
    "alter table t alter column role type text",
    "update orders set status = 'done' where id = $1",
    "create function f() returns int language sql as 'select 1'",
  ];
  for (const sql of data) it(sql, () => expect(serverEffect(sql)).toBeUndefined());
});

describe("checkEffects", () => {
  const caller = (admin: boolean, allowAlterSystem = false) => ({ admin, allowAlterSystem, tool: "pg_query_write" });
  it("asks a write caller for the admin scope, naming it", () => {
    expect(checkEffects("select pg_terminate_backend(1)", caller(false))).toMatchObject({ ok: false, code: "insufficient_scope", message: expect.stringMatching(/pg_terminate_backend\(\).*needs the admin scope/) });
  });
  it("lets an admin through", () => expect(checkEffects("create extension pg_trgm", caller(true))).toEqual({ ok: true }));
  it("refuses ALTER SYSTEM to everyone unless the deployment allows it", () => {
    expect(checkEffects("alter system set work_mem = '1GB'", caller(true))).toMatchObject({ ok: false, code: "alter_system_disabled" });
    expect(checkEffects("alter system set work_mem = '1GB'", caller(true, true))).toEqual({ ok: true });
    expect(checkEffects("alter system set work_mem = '1GB'", caller(false, true))).toMatchObject({ ok: false, code: "insufficient_scope" });
  });
  it("the read-only guard still refuses every class it refused", () => {
    expect(checkReadOnly("select pg_terminate_backend(1)")).toMatchObject({ ok: false, refusedFunction: "pg_terminate_backend" });
    expect(checkReadOnly("select set_config('app.user_id', '42', true)")).toMatchObject({ ok: false, refusedFunction: "set_config" });
  });
});
