/**
 * Per-caller database identity: two keys act as two database roles
 * (pgmcp_tenant_a, pgmcp_tenant_b of migrations/identity.example.sql, each
 * logging in through its own Hyperdrive binding) over one table with a
 * row-level security policy. Each sees and changes only its own rows through
 * every path, cannot change role by any path (the server refuses every
 * spelling it can read; what it cannot read, the database refuses, because
 * the session user IS the caller's role), does not see the other's tables in
 * listings, and finds its claims in current_setting. Effects are judged from
 * the superuser observer. A key without a role behaves as before.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type pg from "pg";
import { call, connectClient, ok, text, type ToolResult } from "../support/mcp";
import { observer } from "../support/db";
import { INFO_SQL } from "../../worker/tools/vector-info";
import { authorize, consent, TestOAuthClient } from "../support/oauth";
import { Client as McpClient } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

type KeyName = "tenantA" | "tenantB" | "plain" | "mislogged";
const A = "pgmcp_tenant_a";
const B = "pgmcp_tenant_b";

let db: pg.Client;
const clients = {} as Record<KeyName, Client>;
const marker = `m${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

beforeAll(async () => {
  db = await observer();
  for (const name of ["tenantA", "tenantB", "plain", "mislogged"] as KeyName[]) {
    clients[name] = await connectClient(inject("identityMcpUrl"), { headers: { authorization: `Bearer ${inject("identityKeys")[name]}` } });
  }
}, 60_000);
afterAll(async () => {
  await db?.query("delete from tenants.notes where body like $1", [`%${marker}%`]).catch(() => {});
  for (const c of Object.values(clients)) await c?.close();
  await db?.end();
});

type Rows = { rows: unknown[][] };
const read = async (c: Client, sql: string, extra: Record<string, unknown> = {}) => (await ok<Rows>(c, "pg_query_read", { sql, ...extra })).rows;
const write = async (c: Client, sql: string, extra: Record<string, unknown> = {}) => (await ok<Rows>(c, "pg_query_write", { sql, ...extra })).rows;
/** Tenants of the rows whose body carries `tag`, as the observer (a superuser, exempt from RLS) sees them. */
const tenantsOf = async (tag: string) => (await db.query("select tenant::text from tenants.notes where body like $1 order by 1", [`%${tag}%`])).rows.map((r) => r.tenant as string);
const program = async (c: Client, code: string) => {
  const r = await call(c, "pg_execute_code", { code });
  if (r.isError) throw new Error(`pg_execute_code failed: ${text(r)}`);
  return (r.structuredContent as { result: unknown }).result;
};
const scriptRows = async (c: Client, sql: string, transaction: boolean) => {
  const r = await call(c, "pg_code_run_sql_script", { sql, transaction });
  if (r.isError) throw new Error(`script failed: ${text(r)}`);
  return (r.structuredContent as { statements: { rows?: unknown[][] }[] }).statements.map((s) => s.rows ?? []);
};

describe("each caller role sees and changes only its own rows, by every path", () => {
  it("pg_query_read: the session user is the caller's role, and RLS filters the rows", async () => {
    expect(await read(clients.tenantA, "select current_user::text, session_user::text")).toEqual([[A, A]]);
    expect(await read(clients.tenantB, "select current_user::text, session_user::text")).toEqual([[B, B]]);
    const a = await read(clients.tenantA, "select tenant::text, body from tenants.notes where body not like 'm%' order by id");
    expect(a.length).toBeGreaterThanOrEqual(2);
    expect(new Set(a.map((r) => r[0]))).toEqual(new Set([A]));
    const b = await read(clients.tenantB, "select distinct tenant::text from tenants.notes");
    expect(b).toEqual([[B]]);
  });

  it("pg_query_write: inserts as its own tenant, cannot insert or update the other's rows", async () => {
    await write(clients.tenantA, `insert into tenants.notes (body) values ('${marker} write a')`);
    expect(await tenantsOf(`${marker} write a`)).toEqual([A]);
    const forged = await call(clients.tenantA, "pg_query_write", { sql: `insert into tenants.notes (tenant, body) values ('${B}', '${marker} forged')` });
    expect(forged.isError).toBe(true);
    expect(text(forged)).toMatch(/row-level security/);
    expect(await tenantsOf(`${marker} forged`)).toEqual([]);
    const before = (await db.query("select body from tenants.notes where tenant = $1 order by id", [B])).rows;
    const updated = await write(clients.tenantA, `update tenants.notes set body = body || ' touched ${marker}' returning tenant::text`);
    expect(new Set(updated.map((r) => r[0]))).toEqual(new Set([A]));
    expect((await db.query("select body from tenants.notes where tenant = $1 order by id", [B])).rows).toEqual(before);
    await db.query("update tenants.notes set body = replace(body, $1, '') where body like $2", [` touched ${marker}`, `% touched ${marker}`]);
  });

  it("a held transaction runs as the role with its claims, reads and writes alike", async () => {
    const { tx } = await ok<{ tx: string }>(clients.tenantB, "pg_tx_begin", {});
    expect(await read(clients.tenantB, "select current_user::text, current_setting('pgmcp.claims', true)::jsonb ->> 'tenant'", { tx })).toEqual([[B, "b"]]);
    expect(await read(clients.tenantB, "select distinct tenant::text from tenants.notes", { tx })).toEqual([[B]]);
    expect(await write(clients.tenantB, `insert into tenants.notes (body) values ('${marker} tx b') returning current_user::text`, { tx })).toEqual([[B]]);
    const forged = await call(clients.tenantB, "pg_query_write", { tx, sql: `insert into tenants.notes (tenant, body) values ('${A}', '${marker} tx forged')` });
    expect(forged.isError).toBe(true);
    await ok(clients.tenantB, "pg_tx_rollback", { tx });
    const { tx: tx2 } = await ok<{ tx: string }>(clients.tenantB, "pg_tx_begin", {});
    await write(clients.tenantB, `insert into tenants.notes (body) values ('${marker} tx b2')`, { tx: tx2 });
    await ok(clients.tenantB, "pg_tx_commit", { tx: tx2 });
    expect(await tenantsOf(`${marker} tx`)).toEqual([B]);
  });

  it("code mode: every pg.query of a program runs as the role", async () => {
    const result = await program(
      clients.tenantA,
      `const who = await pg.query("select current_user::text as u, current_setting('pgmcp.caller', true) as caller");
       const seen = await pg.query("select distinct tenant::text as t from tenants.notes");
       await pg.query("insert into tenants.notes (body) values ($1)", ["${marker} code a"]);
       let forged = "inserted";
       try { await pg.query("insert into tenants.notes (tenant, body) values ($1, $2)", ["${B}", "${marker} code forged"]); } catch (e) { forged = "refused"; }
       return { u: who.rows[0].u, caller: who.rows[0].caller, seen: seen.rows.map((r) => r.t), forged };`,
    );
    expect(result).toEqual({ u: A, caller: "tenantA", seen: [A], forged: "refused" });
    expect(await tenantsOf(`${marker} code`)).toEqual([A]);
  });

  it("SQL scripts, atomic and one transaction per statement, run as the role with its claims", async () => {
    for (const transaction of [true, false]) {
      const out = await scriptRows(
        clients.tenantB,
        `select current_user::text, current_setting('pgmcp.claims', true);
         insert into tenants.notes (body) values ('${marker} script ${transaction}');
         select count(*)::int from tenants.notes where tenant <> current_user`,
        transaction,
      );
      expect(out[0]).toEqual([[B, JSON.stringify({ tenant: "b" })]]);
      expect(out[2]).toEqual([[0]]);
    }
    expect(await tenantsOf(`${marker} script`)).toEqual([B, B]);
  });

});

describe("claims are transaction-local settings, never session-level", () => {
  it("pgmcp.claims and pgmcp.caller carry the key's claims and name in reads and writes", async () => {
    expect(await read(clients.tenantA, "select current_setting('pgmcp.claims', true)::jsonb, current_setting('pgmcp.caller', true)")).toEqual([[{ tenant: "a", plan: "gold" }, "tenantA"]]);
    expect(await write(clients.tenantA, "select current_setting('pgmcp.claims', true)::jsonb ->> 'plan'")).toEqual([["gold"]]);
  });

  it("each statement's own transaction gets the claims again, and nothing is stored on the role (ALTER ROLE ... SET)", async () => {
    const out = await scriptRows(clients.tenantA, "select current_setting('pgmcp.claims', true)", false);
    expect(out[0]).toEqual([[JSON.stringify({ tenant: "a", plan: "gold" })]]);
    const { rows } = await db.query("select count(*)::int as n from pg_db_role_setting s join pg_roles r on r.oid = s.setrole where r.rolname in ($1, $2)", [A, B]);
    expect(rows[0].n).toBe(0);
  });
});

describe("a caller role cannot change role by any path", () => {
  /** Each attempt tries to become tenant B (or leave tenant A) and then insert a row for B. */
  const evil = (n: string) => `insert into tenants.notes (tenant, body) values ('${B}', '${marker} evil ${n}')`;
  const spelled: [string, string][] = [
    ["SET ROLE", `set role ${B}`],
    ["SET LOCAL ROLE", `set local role ${B}`],
    ["SET SESSION ROLE", `set session role ${B}`],
    ['SET "role"', `set "ROLE" to '${B}'`],
    ["RESET ROLE", "reset role"],
    ["RESET ALL", "reset all"],
    ["SET SESSION AUTHORIZATION", `set session authorization ${B}`],
    ["SET session_authorization", `set session_authorization = ${B}`],
    ["RESET SESSION AUTHORIZATION", "reset session authorization"],
    ["set_config('role')", `select set_config('role', '${B}', true)`],
    ["pg_catalog.set_config('ROLE')", `select pg_catalog.set_config('ROLE', '${B}', false)`],
    ["set_config(E'...')", `select set_config(E'r\\x6fle', '${B}', true)`],
    ["set_config('session_authorization')", `select set_config('session_authorization', '${B}', false)`],
    ["set_config with a computed name", `select set_config('ro' || 'le', '${B}', true)`],
    ["set_config('pgmcp.claims')", `select set_config('pgmcp.claims', '{"tenant":"b"}', true)`],
    ["UPDATE pg_settings", `update pg_settings set setting = '${B}' where name = 'role'`],
    ["DO block with SET ROLE", `do $$ begin set role ${B}; end $$`],
    ["DO block with EXECUTE 'SET ROLE'", `do $$ begin execute 'set role ${B}'; end $$`],
    ["DO block with set_config", `do $$ begin perform set_config('role', '${B}', true); end $$`],
    ["function with SET role", `create function pg_temp.become() returns void language sql set role = ${B} as 'select 1'`],
    ["ALTER ROLE ... SET role", `alter role current_user set role = '${B}'`],
    ["DISCARD ALL", "discard all"],
  ];

  for (const [label, sql] of spelled) {
    it(`refuses ${label} in pg_query_write, an atomic script, a held transaction and a program`, async () => {
      const tag = label.replace(/[^a-z]/gi, "");
      const w = await call(clients.tenantA, "pg_query_write", { sql });
      expect(w.isError).toBe(true);
      expect(text(w)).toMatch(/role_change_refused/);
      const s = await call(clients.tenantA, "pg_code_run_sql_script", { sql: `${sql};\n${evil(`${tag} script`)}`, transaction: true });
      expect(s.isError).toBe(true);
      expect(text(s)).toMatch(/role_change_refused/);
      const { tx } = await ok<{ tx: string }>(clients.tenantA, "pg_tx_begin", {});
      const t = await call(clients.tenantA, "pg_query_write", { tx, sql });
      expect(text(t)).toMatch(/role_change_refused/);
      expect(await read(clients.tenantA, "select current_user::text", { tx })).toEqual([[A]]);
      await ok(clients.tenantA, "pg_tx_rollback", { tx });
      const p = await program(clients.tenantA, `try { await pg.query(${JSON.stringify(sql)}); return "ran"; } catch (e) { return String(e.code) + " " + String(e.message); }`);
      expect(String(p)).toMatch(/role_change_refused/);
      expect(await tenantsOf(`evil ${tag}`)).toEqual([]);
    });
  }

  it("refuses pg_admin_set of role, session_authorization and pgmcp.claims, even with the admin scope", async () => {
    for (const name of ["role", "ROLE", "session_authorization", "pgmcp.claims", "pgmcp.caller"]) {
      const r = await call(clients.tenantA, "pg_admin_set", { name, value: B });
      expect(r.isError).toBe(true);
      expect(text(r)).toMatch(/role_change_refused/);
    }
  });

  /** SQL assembled at run time: no lexer sees it, so the database must refuse it. */
  const dynamic: [string, string][] = [
    ["SET ROLE", `execute 'set ' || 'role ${B}'`],
    ["SET SESSION AUTHORIZATION", `execute 'set session ' || 'authorization ${B}'`],
    ["set_config('role')", `execute 'select set_con' || 'fig(''role'', ''${B}'', true)'`],
    ["set_config('session_authorization')", `execute 'select set_con' || 'fig(''session_authorization'', ''${B}'', true)'`],
    ["UPDATE pg_settings", `execute 'update pg_set' || 'tings set setting = ''${B}'' where name = ''role'''`],
  ];
  for (const [label, stmt] of dynamic) {
    it(`the database refuses ${label} assembled at run time in a DO block, and nothing is inserted`, async () => {
      const tag = `dyn${label.replace(/[^a-z]/gi, "")}`;
      const r = await call(clients.tenantA, "pg_query_write", { sql: `do $$ begin ${stmt}; ${evil(tag).replaceAll("'", "''").replace(/^/, "execute '")}'; end $$` });
      expect(r.isError).toBe(true);
      // Either PostgreSQL refuses the switch, or (pg_settings hides "role": the UPDATE matches no row) the insert still runs as A and RLS refuses it.
      expect(text(r)).toMatch(/permission denied to set (role|session authorization)|row-level security/);
      expect(await tenantsOf(`evil ${tag}`)).toEqual([]);
    });
  }

  it("RESET ROLE assembled at run time lands on the caller's own role: the session user is the caller", async () => {
    const out = await scriptRows(clients.tenantA, `do $$ begin execute 'res' || 'et role'; end $$;\nselect current_user::text, session_user::text`, true);
    expect(out[1]).toEqual([[A, A]]);
    const r = await call(clients.tenantA, "pg_query_write", { sql: `do $$ begin execute 'res' || 'et role'; execute '${evil("dynreset").replaceAll("'", "''")}'; end $$` });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/row-level security/);
    expect(await tenantsOf("evil dynreset")).toEqual([]);
  });

  it("claims overwritten at run time change nothing the policy trusts (it keys on current_user)", async () => {
    const out = await scriptRows(
      clients.tenantA,
      `do $$ begin execute 'select set_con' || 'fig(''pgmcp.claims'', ''{"tenant":"b"}'', true)'; end $$;\nselect count(*)::int from tenants.notes where tenant <> current_user`,
      true,
    );
    expect(out[1]).toEqual([[0]]);
  });

  it("still serves both tenants afterwards", async () => {
    expect(await read(clients.tenantA, "select current_user::text")).toEqual([[A]]);
    expect(await read(clients.tenantB, "select current_user::text")).toEqual([[B]]);
  });
});

describe("listings follow the caller role's privileges", () => {
  const names = (r: { rows: Record<string, unknown>[] }) => r.rows.map((x) => `${x.schema}.${x.name}`);

  it("pg_schema_list shows a tenant its own tables only, not the other's nor the server's", async () => {
    const a = names(await ok(clients.tenantA, "pg_schema_list", { schema: "tenants", limit: 1000 }) as { rows: Record<string, unknown>[] });
    expect(a).toContain("tenants.notes");
    expect(a).toContain("tenants.a_private");
    expect(a).not.toContain("tenants.b_private");
    const all = names(await ok(clients.tenantA, "pg_schema_list", { limit: 1000 }) as { rows: Record<string, unknown>[] });
    expect(all).not.toContain("public.orders");
    expect(all).not.toContain("tenants.b_private");
    const b = names(await ok(clients.tenantB, "pg_schema_list", { schema: "tenants", limit: 1000 }) as { rows: Record<string, unknown>[] });
    expect(b).toContain("tenants.b_private");
    expect(b).not.toContain("tenants.a_private");
  });

  it("pg_schema_describe and the table resource answer 'not found' for the other's table", async () => {
    const r = await call(clients.tenantA, "pg_schema_describe", { name: "tenants.b_private" });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/not_found|no table/);
    expect((await call(clients.tenantA, "pg_schema_describe", { name: "tenants.a_private" })).isError).toBeFalsy();
    await expect(clients.tenantA.readResource({ uri: "postgres://schema/tenants/b_private" })).rejects.toThrow();
    const own = await clients.tenantA.readResource({ uri: "postgres://schema/tenants/a_private" });
    expect(JSON.stringify(own.contents)).toContain("secret");
  });

  it("resources/list shows a tenant only the tables it may use", async () => {
    const uris = (await clients.tenantB.listResources()).resources.map((r) => r.uri);
    expect(uris).toContain("postgres://schema/tenants/b_private");
    expect(uris).not.toContain("postgres://schema/tenants/a_private");
    expect(uris.some((u) => u.startsWith("postgres://schema/public/"))).toBe(false);
  });

  it("the vector tools' table lookup reads the other tenant's table as missing, as that role", async () => {
    // The catalogs are readable by every role: the lookup itself must hide what the caller role may not use.
    const lookup = async (role: string, table: string, filter: boolean) => {
      await db.query("begin");
      try {
        await db.query(`set local role ${role}`);
        return (await db.query(INFO_SQL, [table, filter])).rows[0] as { table_exists: boolean; columns: { name: string }[] };
      } finally {
        await db.query("rollback");
      }
    };
    const hidden = await lookup(A, "tenants.b_private", true);
    expect(hidden.table_exists).toBe(false);
    expect(hidden.columns).toEqual([]);
    const own = await lookup(A, "tenants.a_private", true);
    expect(own.table_exists).toBe(true);
    expect(own.columns.map((c) => c.name)).toContain("secret");
    // Without the filter (the server's own lookups) the catalog answers for any table: what the filter closes.
    expect((await lookup(A, "tenants.b_private", false)).table_exists).toBe(true);
  });

  it("the schema resource of another schema lists nothing the tenant may not use", async () => {
    const r = await clients.tenantA.readResource({ uri: "postgres://schema/tenants" }).catch((e: Error) => e);
    const body = r instanceof Error ? "" : JSON.stringify(r.contents);
    expect(body).toContain("a_private");
    expect(body).not.toContain("b_private");
  });
});

describe("completions follow the caller role's privileges", () => {
  it("table names of schema tenants: its own tables, not the other's", async () => {
    const r = await clients.tenantA.complete({ ref: { type: "ref/resource", uri: "postgres://schema/{schema}/{table}" }, argument: { name: "table", value: "" }, context: { arguments: { schema: "tenants" } } });
    expect(r.completion.values).toContain("a_private");
    expect(r.completion.values).toContain("notes");
    expect(r.completion.values).not.toContain("b_private");
  });
});

describe("a key without a role behaves as before", () => {
  it("reads act as the read role, writes as the server's role, no claims, every table listed", async () => {
    expect(await read(clients.plain, "select current_user::text, session_user::text, coalesce(current_setting('pgmcp.claims', true), '')")).toEqual([["pgmcp_read", "pgmcp", ""]]);
    expect(await write(clients.plain, "select current_user::text")).toEqual([["pgmcp"]]);
    const all = (await ok<{ rows: Record<string, unknown>[] }>(clients.plain, "pg_schema_list", { limit: 1000 })).rows.map((x) => `${x.schema}.${x.name}`);
    expect(all).toContain("public.orders");
    expect(all).toContain("tenants.b_private");
  });

  it("the lexical role-change refusal is for caller roles only: a plain admin key's SET ROLE reaches the database", async () => {
    const r = await call(clients.plain, "pg_code_run_sql_script", { sql: "set local role pgmcp_read;\nselect current_user::text", transaction: true });
    expect(text(r)).not.toMatch(/role_change_refused/);
  });
});

describe("an OAuth grant acts as the role chosen at consent", () => {
  it("a grant for pgmcp_tenant_b reads as that role, with the user and client as claims", async () => {
    const { client, provider } = await authorize(["read", "write"], "read write", undefined, { mcpUrl: inject("identityMcpUrl"), role: B });
    try {
      const [user, role, claims] = (await read(client, "select current_setting('pgmcp.caller', true), current_user::text, current_setting('pgmcp.claims', true)::jsonb"))[0] as [string, string, Record<string, unknown>];
      expect(role).toBe(B);
      expect(user).toBe("admin");
      expect(claims).toEqual({ sub: "admin", client_id: provider.client!.client_id });
      expect(await read(client, "select distinct tenant::text from tenants.notes")).toEqual([[B]]);
    } finally {
      await client.close();
    }
  });

  it("a grant without a role acts as the server's roles, as before", async () => {
    const { client } = await authorize(["read"], "read", undefined, { mcpUrl: inject("identityMcpUrl") });
    try {
      expect(await read(client, "select current_user::text, session_user::text")).toEqual([["pgmcp_read", "pgmcp"]]);
    } finally {
      await client.close();
    }
  });

  it("the consent page refuses a role this deployment does not serve", async () => {
    // Up to the consent page (the client registers and is sent there), then a form naming a role that is not served.
    const p = new TestOAuthClient("read");
    await expect(new McpClient({ name: "x", version: "1" }).connect(new StreamableHTTPClientTransport(new URL(inject("identityMcpUrl")), { authProvider: p }))).rejects.toThrow();
    const r = await consent(p.authorizationUrl!, { password: inject("oauthPassword"), scopes: ["read"], role: "postgres" });
    expect(r.status).toBe(400);
    expect(r.body).toMatch(/is not one of this deployment&#39;s database roles/);
  });
});

describe("posture and audit", () => {
  it("refuses every call of a key whose role's binding logs in as another role, naming the binding", async () => {
    const r: ToolResult = await call(clients.mislogged, "pg_query_read", { sql: "select 1" });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/unsafe_database_role/);
    expect(text(r)).toMatch(/HYPERDRIVE_PGMCP_TENANT_C.*"pgmcp_tenant_c"|logs in as "pgmcp"/);
  });

  it("the health report names misconfigured caller roles for the operator, and a tenant's own role for the tenant", async () => {
    const plain = await ok<{ checks: { check: string; status: string; reason: string }[] }>(clients.plain, "pg_monitor_health", {});
    const role = plain.checks.find((c) => c.check === "database_role")!;
    expect(role.status).toBe("critical");
    expect(role.reason).toMatch(/pgmcp_tenant_c.*does not exist/);
    expect(role.reason).not.toMatch(/BROKEN \(calls as pgmcp_tenant_a/);
    const own = await ok<{ checks: { check: string; status: string; value: Record<string, unknown>; reason: string }[] }>(clients.tenantA, "pg_monitor_health", {});
    const mine = own.checks.find((c) => c.check === "database_role")!;
    expect(mine.value).toMatchObject({ role: A });
    expect(mine.status).toBe("ok");
  });

  it("audit entries name the database role a call ran as", async () => {
    await write(clients.tenantA, `insert into tenants.notes (body) values ('${marker} audited')`);
    const { entries } = await ok<{ entries: { action: string; detail?: Record<string, unknown> }[] }>(clients.plain, "pg_audit_log", { tool: "pg_query_write", limit: 200 });
    const mine = entries.find((e) => e.action.includes(`${marker} audited`));
    expect(mine?.detail).toMatchObject({ caller: "tenantA", role: A });
    await write(clients.plain, "select 1");
    const { entries: later } = await ok<{ entries: { action: string; detail?: Record<string, unknown> }[] }>(clients.plain, "pg_audit_log", { tool: "pg_query_write", limit: 5 });
    expect(later[0]?.detail).toMatchObject({ caller: "plain", role: "pgmcp" });
  });
});

// Last, on its own: a Python run keeps the Worker's CPU busy for seconds.
describe("Python", () => {
  it(
    "Python: pg.query runs as the role",
    async () => {
      // A Pyodide start is seconds of CPU on a loaded machine: a request timeout above the SDK's 60 s default.
      const r = (await clients.tenantA.callTool(
        { name: "pg_code_run_python", arguments: { code: `rows = await pg.query("select current_user::text as u, count(*)::int as others from tenants.notes where tenant <> current_user")\nrows[0]` } },
        undefined,
        { timeout: 170_000 },
      )) as ToolResult;
      if (r.isError) throw new Error(text(r));
      expect((r.structuredContent as { result: unknown }).result).toEqual({ u: A, others: 0 });
    },
    180_000,
  );
});
