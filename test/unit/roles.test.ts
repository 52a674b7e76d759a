import { describe, expect, it } from "vitest";
import { roleChange } from "../../worker/sql/roles";
import { judgeCallerRole } from "../../worker/db/identity";

describe("roleChange finds every spelling of a role change a caller role must not make", () => {
  const refused = [
    "SET ROLE tenant_b",
    "set role to 'tenant_b'",
    "SET LOCAL ROLE tenant_b",
    "SET SESSION ROLE tenant_b",
    'SET "role" = tenant_b',
    'set local "ROLE" to tenant_b',
    "SET ROLE NONE",
    "RESET ROLE",
    'reset "role"',
    "RESET ALL",
    "SET SESSION AUTHORIZATION tenant_b",
    "set local session authorization default",
    "SET session_authorization = tenant_b",
    "RESET SESSION AUTHORIZATION",
    "DISCARD ALL",
    "select set_config('role', 'tenant_b', true)",
    "select pg_catalog.set_config('ROLE', 'tenant_b', false)",
    "select SET_CONFIG(' role', 'tenant_b', true)",
    "select set_config(E'ro\\le', 'tenant_b', true)",
    "select set_config('session_authorization', 'tenant_b', false)",
    "select set_config('ro' || 'le', 'tenant_b', true)",
    "select set_config(lower('ROLE'), 'tenant_b', true)",
    "select set_config('pgmcp.claims', '{\"tenant\":\"b\"}', true)",
    "SET pgmcp.caller = 'someone'",
    "set local pgmcp.claims to '{}'",
    "update pg_settings set setting = 'tenant_b' where name = 'role'",
    "UPDATE pg_catalog.pg_settings SET setting = 'x' WHERE name = 'session_authorization'",
    "DO $$ BEGIN EXECUTE 'SET ROLE tenant_b'; END $$",
    "DO $$ BEGIN PERFORM set_config('role', 'tenant_b', true); END $$",
    "DO $$ BEGIN RESET ROLE; END $$",
    "do $x$ begin execute format('%s', 'x'); set local role tenant_b; end $x$",
    "DO 'BEGIN EXECUTE ''SET ROLE tenant_b''; END'",
    "CREATE FUNCTION f() RETURNS void LANGUAGE sql SET role = tenant_b AS 'select 1'",
    "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'RESET ROLE'; END $$",
    "ALTER ROLE CURRENT_USER SET role = 'tenant_b'",
    "alter user tenant_a set session_authorization = tenant_b",
  ];
  for (const sql of refused) it(`refuses ${sql}`, () => expect(roleChange(sql)).toBeDefined());

  const allowed = [
    "select * from orders",
    "update accounts set role = 'admin' where id = 1",
    "insert into tenant_notes (body) values ('set role tenant_b')",
    "select set_config('app.tenant', 'a', true)",
    "SET LOCAL app.tenant = 'a'",
    "SET statement_timeout = 1000",
    "select current_setting('role'), current_setting('pgmcp.claims', true)",
    "DISCARD PLANS",
    "create table roles (role text)",
  ];
  for (const sql of allowed) it(`allows ${sql}`, () => expect(roleChange(sql)).toBeUndefined());
});

describe("judgeCallerRole: a caller role must bound its caller", () => {
  const row = { name: "tenant_a", login: true, superuser: false, bypass_rls: false, create_role: false, replication: false, reaches: [] as string[], owned: 0 };
  it("accepts a plain login role", () => expect(judgeCallerRole("tenant_a", row, "tenant_a")).toEqual({ role: "tenant_a", broken: [], warnings: [] }));
  it("refuses a connection that logs in as someone else, naming the binding", () =>
    expect(judgeCallerRole("tenant_a", row, "pgmcp").broken.join()).toMatch(/logs in as "pgmcp": point HYPERDRIVE_TENANT_A/));
  it("refuses a missing role, a superuser, BYPASSRLS, CREATEROLE, NOLOGIN and membership in a login role", () => {
    expect(judgeCallerRole("tenant_a", undefined).broken.join()).toMatch(/does not exist/);
    for (const [change, message] of [
      [{ superuser: true }, /superuser/],
      [{ bypass_rls: true }, /BYPASSRLS/],
      [{ create_role: true }, /CREATEROLE/],
      [{ login: false }, /cannot log in/],
      [{ reaches: ["pgmcp"] }, /member of "pgmcp".*REVOKE "pgmcp" FROM "tenant_a"/],
    ] as [Partial<typeof row>, RegExp][]) expect(judgeCallerRole("tenant_a", { ...row, ...change }).broken.join(), JSON.stringify(change)).toMatch(message);
  });
  it("warns about owned tables (an owner is exempt from RLS unless FORCE)", () => expect(judgeCallerRole("tenant_a", { ...row, owned: 2 }).warnings.join()).toMatch(/FORCE ROW LEVEL SECURITY/));
});
