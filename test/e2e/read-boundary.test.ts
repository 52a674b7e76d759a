/**
 * The boundary underneath the lexer. The refusal table's rows marked
 * `underneath` run straight against PostgreSQL, as the server's role, inside
 * the exact statements the server wraps a read in (BEGIN READ ONLY, SET LOCAL
 * ROLE <read role>, ..., ROLLBACK, release of session-level locks), with no
 * lexer in the way: PostgreSQL must refuse each, or the wrap's end must leave
 * nothing behind. Then what else the database and the runtime enforce: the
 * posture check, the size of a single value, the read role in programs.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import pg from "pg";
import { transactionWrap } from "../../worker/db/transaction";
import { DATABASE_REFUSALS, readOnlyAttempts, useFixture } from "../support/readonly-attempts";
import { call, connectClient, ok, rawText, rows, text } from "../support/mcp";
import { observer } from "../support/db";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";

const READ_ROLE = "pgmcp_read";
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe("the database and the runtime refuse what the lexer would have refused", () => {
  const { state, expectNoEffect } = useFixture(() => inject("serverDatabaseUrl"));
  let server: pg.Client;
  const wrap = transactionWrap({ readOnly: true, statementTimeoutMs: 5000, lockTimeoutMs: 1000, commit: false, role: READ_ROLE });

  beforeAll(async () => {
    server = new pg.Client({ connectionString: inject("serverDatabaseUrl") });
    await server.connect();
  });
  afterAll(async () => {
    await server?.end();
  });

  for (const attempt of readOnlyAttempts().filter((a) => a.underneath)) {
    it(`${attempt.underneath === "refused" ? "refuses" : "undoes"} (${attempt.class}): ${attempt.name}`, async () => {
      for (const s of wrap.before!) await server.query(s);
      let answer = "";
      let code: string | undefined;
      try {
        answer = JSON.stringify((await server.query(attempt.sql(state.f))).rows);
        for (const s of wrap.after!) await server.query(s);
      } catch (e) {
        code = (e as { code?: string }).code;
        answer = (e as Error).message;
        await server.query(wrap.onError!);
      }
      if (attempt.underneath === "refused") expect(DATABASE_REFUSALS, `PostgreSQL answered: ${answer.slice(0, 200)}`).toContain(code);
      await expectNoEffect(answer);
      // The session is back to the server's role and its defaults: nothing leaks to the next call on a pooled connection.
      const after = (await server.query("select current_user as u, current_setting('default_transaction_read_only') as ro, current_setting('a.b', true) as custom")).rows[0];
      expect(after).toEqual({ u: "pgmcp", ro: "off", custom: expect.toBeOneOf([null, ""]) });
    });
  }
});

describe("the database role's posture", () => {
  it("refuses every tool call on a superuser behind authentication, naming what to fix, and keeps answering", async () => {
    const client = await connectClient(inject("privilegedMcpUrl"), { headers: bearer(inject("apiKeys").admin) });
    try {
      for (let i = 0; i < 2; i++) {
        const r = await call(client, "pg_query_read", { sql: "select 1" });
        expect(r.isError).toBe(true);
        expect(rawText(r)).toMatch(/^ERROR unsafe_database_role: refusing to serve: the server's role "postgres" is a superuser: ALTER ROLE "postgres" NOSUPERUSER/);
        expect(rawText(r)).toMatch(/ALLOW_PRIVILEGED_ROLE=true/);
      }
      // tools/list still answers: the refusal is per call, with its reason, not an outage.
      expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    } finally {
      await client.close();
    }
  });

  it("reports the server's role and the read role in pg_monitor_health and the posture resource", async () => {
    const client = await connectClient(inject("mcpUrl"));
    try {
      const health = await ok<{ checks: { check: string; status: string; value: { role: string; superuser: boolean; readRole: string } }[] }>(client, "pg_monitor_health");
      const role = health.checks.find((c) => c.check === "database_role")!;
      expect(role.value).toMatchObject({ role: "pgmcp", superuser: false, readRole: READ_ROLE });
      const posture = await client.readResource({ uri: "postgres://posture" });
      const body = (posture.contents[0] as { text: string }).text;
      expect(body).toMatch(/database role pgmcp: not a superuser, member of pg_monitor/);
      expect(body).toMatch(/reads act as pgmcp_read\n/);
    } finally {
      await client.close();
    }
  });
});

describe("reads act as the read role", () => {
  let client: Client;
  let db: pg.Client;
  beforeAll(async () => {
    client = await connectClient(inject("mcpUrl"));
    db = await observer();
  });
  afterAll(async () => {
    await client?.close();
    await db?.end();
  });

  it("pg_query_read, a held transaction's reads and a program's pg.query run as the read role; writes as the server's", async () => {
    expect(await rows(client, "select current_user")).toEqual([[READ_ROLE]]);
    const { tx } = await ok<{ tx: string }>(client, "pg_tx_begin", {});
    try {
      expect((await ok<{ rows: unknown[][] }>(client, "pg_query_read", { sql: "select current_user", tx })).rows).toEqual([[READ_ROLE]]);
      // The savepoint's SET LOCAL ROLE ended with the read: the transaction's writes act as the server.
      expect((await ok<{ rows: unknown[][] }>(client, "pg_query_write", { sql: "select current_user", tx })).rows).toEqual([["pgmcp"]]);
    } finally {
      await call(client, "pg_tx_rollback", { tx });
    }
    const program = await call(client, "pg_execute_code", { code: `return (await pg.query("select current_user as u")).rows` });
    expect(program.isError).toBeFalsy();
    expect(text(program)).toContain(READ_ROLE);
  });

  it("a table the read role was not granted is refused by PostgreSQL, not by a list", async () => {
    await db.query("create table if not exists rb_private (secret text); revoke all on rb_private from pgmcp_read; insert into rb_private values ('classified')");
    try {
      const r = await call(client, "pg_query_read", { sql: "select * from rb_private" });
      expect(rawText(r)).toMatch(/^ERROR 42501: permission denied for table rb_private/);
      expect(rawText(r)).not.toContain("classified");
    } finally {
      await db.query("drop table rb_private");
    }
  });
});

describe("a single oversized value", () => {
  let client: Client;
  let other: Client;
  beforeAll(async () => {
    client = await connectClient(inject("mcpUrl"));
    other = await connectClient(inject("mcpUrl"));
  });
  afterAll(async () => {
    await client?.close();
    await other?.close();
  });

  it("a first row over the byte budget is refused with a clear error, not returned", async () => {
    const r = await call(client, "pg_query_read", { sql: "select repeat('x', 1500000) as big" });
    expect(rawText(r)).toMatch(/^ERROR result_too_large: the first row of the result is 1\.4 MiB, over the 976\.6 KiB result limit/);
    expect(rawText(r)).toMatch(/HINT: select fewer or shorter columns/);
    expect(rawText(r).length).toBeLessThan(1000);
  });

  it("a value of hundreds of MB is cut off at its first bytes, and every client keeps being served", async () => {
    const db = await observer();
    try {
      const big = call(client, "pg_query_read", { sql: "select repeat('x', 200000000) as huge" });
      // Another client is served meanwhile.
      expect(await rows(other, "select 2")).toEqual([[2]]);
      const r = await big;
      expect(rawText(r)).toMatch(/^ERROR result_too_large: a single row of the result is 190\.7 MiB on the wire, over the 976\.6 KiB result limit: the statement was stopped/);
      // PostgreSQL gave up the statement: no backend is still sending it.
      for (let i = 0; i < 50; i++) {
        const n = (await db.query("select count(*)::int as n from pg_stat_activity where query like 'select repeat(''x'', 200000000)%' and state = 'active'")).rows[0].n;
        if (n === 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect((await db.query("select count(*)::int as n from pg_stat_activity where query like 'select repeat(''x'', 200000000)%' and state = 'active'")).rows[0].n).toBe(0);
      expect(await rows(client, "select 1")).toEqual([[1]]);
      expect(await rows(other, "select 3")).toEqual([[3]]);
    } finally {
      await db.end();
    }
  });
});
