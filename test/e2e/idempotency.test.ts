/**
 * Idempotency keys on the write tools: a retry with the same key answers with
 * the first outcome and writes nothing; the same key with other arguments is
 * refused before anything runs; concurrent duplicates write once; a failed
 * write keeps no key; a keyed pg_tx_commit is answered truthfully on retry.
 * Keys are the caller's own: another caller (another key on the server's
 * role, another database role) neither replays nor sees them, and the read
 * role cannot read the table. What was written is counted from the superuser
 * observer.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createHash, randomUUID } from "node:crypto";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type pg from "pg";
import { call, connectClient, ok, text, type ToolResult } from "../support/mcp";
import { observer, scratchDatabase, uniqueName, useClientAndObserver } from "../support/db";
import { waitFor } from "../support/wait";
import { startWorker } from "../../scripts/lib/worker";
import { INTERNAL_SCHEMA, READY_SQL, STORE_COMMENT, idempotencyDdl } from "../../worker/db/idempotency-store";

const fixture = useClientAndObserver();
let client: Client;
let db: pg.Client;
beforeAll(() => ({ client, db } = fixture));

type Rows = { rows: unknown[][]; rowCount: number | null; replayed?: string };

async function table(): Promise<string> {
  const t = uniqueName("idem");
  await db.query(`create table ${t} (id int primary key, v text)`);
  return t;
}

const count = async (t: string) => (await db.query(`select count(*)::int as n from ${t}`)).rows[0].n as number;
const key = () => `k-${randomUUID()}`;
const codeOf = (r: ToolResult) => /^ERROR (\S+):/.exec(text(r))?.[1];
/** The token a caller's key is stored under (worker/tools/idempotency.ts): principal "key:<16 hex of the key's hash>". */
const tokenOf = (apiKey: string, k: string) => createHash("sha256").update(`key:${createHash("sha256").update(apiKey).digest("hex").slice(0, 16)}\u0000${k}`).digest("hex");

describe("pg_query_write with idempotency_key", () => {
  it("a retry with the same key writes once and answers with the first outcome, marked as a replay", async () => {
    const t = await table();
    const k = key();
    const args = { sql: `insert into ${t} values ($1, $2) returning id, v`, params: [1, "first"], idempotency_key: k };
    const first = await call(client, "pg_query_write", args);
    expect(first.isError).toBeFalsy();
    expect((first.structuredContent as Rows).replayed).toBeUndefined();
    const again = await call(client, "pg_query_write", args);
    expect(again.isError).toBeFalsy();
    const replay = again.structuredContent as Rows;
    expect(replay.rows).toEqual([[1, "first"]]);
    expect(replay.rowCount).toBe(1);
    expect(Date.parse(replay.replayed!)).toBeGreaterThan(0);
    expect(text(again)).toMatch(/^\[replay: answered with the first outcome of this idempotency_key/);
    expect(await count(t)).toBe(1);
    // Without a key the same statement runs (and fails here on the primary key): the key is what made the retry safe.
    expect(codeOf(await call(client, "pg_query_write", { sql: args.sql, params: args.params }))).toBe("23505");
  });

  it("the same key with other SQL or other params is refused with idempotency_key_reused, and nothing runs", async () => {
    const t = await table();
    const k = key();
    await ok(client, "pg_query_write", { sql: `insert into ${t} values (1, 'a')`, idempotency_key: k });
    const otherSql = await call(client, "pg_query_write", { sql: `insert into ${t} values (2, 'b')`, idempotency_key: k });
    expect(otherSql.isError).toBe(true);
    expect(text(otherSql)).toMatch(/^ERROR idempotency_key_reused: this idempotency_key was already used by another pg_query_write call with other arguments: nothing ran/);
    const otherParams = await call(client, "pg_query_write", { sql: `insert into ${t} values ($1, 'c')`, params: [3], idempotency_key: k });
    expect(codeOf(otherParams)).toBe("idempotency_key_reused");
    expect((await db.query(`select id from ${t} order by id`)).rows).toEqual([{ id: 1 }]);
  });

  it("concurrent calls with one key write once, and every answer is the first call's outcome", async () => {
    const t = await table();
    const k = key();
    // Each call sleeps inside its statement, so the others arrive while the first holds the key: they wait on it, then replay.
    const args = { sql: `insert into ${t} select 1, 'x' from pg_sleep(0.5) returning id`, idempotency_key: k };
    const results = await Promise.all(Array.from({ length: 4 }, () => call(client, "pg_query_write", args)));
    const answered = results.filter((r) => !r.isError);
    for (const r of results.filter((r) => r.isError)) expect(codeOf(r), text(r)).toBe("idempotency_key_busy");
    expect(answered.length).toBeGreaterThanOrEqual(1);
    for (const r of answered) expect((r.structuredContent as Rows).rows).toEqual([[1]]);
    expect(answered.filter((r) => !(r.structuredContent as Rows).replayed)).toHaveLength(1);
    expect(await count(t)).toBe(1);
  });

  it("a write that failed keeps no key: its retry runs again", async () => {
    const t = await table();
    await db.query(`insert into ${t} values (1, 'in the way')`);
    const k = key();
    const args = { sql: `insert into ${t} values (1, 'mine')`, idempotency_key: k };
    expect(codeOf(await call(client, "pg_query_write", args))).toBe("23505");
    await db.query(`delete from ${t}`);
    const retry = await call(client, "pg_query_write", args);
    expect(retry.isError).toBeFalsy();
    expect((retry.structuredContent as Rows).replayed).toBeUndefined();
    expect((await db.query(`select v from ${t}`)).rows).toEqual([{ v: "mine" }]);
  });

  it("a COMMIT whose answer was lost (commit_unknown) is retried safely with the key: the write is in the database once", async () => {
    // A deferred trigger makes COMMIT slow while a gate row exists, so the backend can be terminated during COMMIT.
    const t = await table();
    const gate = `${t}_gate`;
    await db.query(`create table ${gate} (x int)`);
    await db.query(`insert into ${gate} values (1)`);
    await db.query(`create function ${t}_slow() returns trigger language plpgsql as $$ begin if exists (select from ${gate}) then perform pg_sleep(20); end if; return null; end $$`);
    await db.query(`create constraint trigger ${t}_c after insert on ${t} deferrable initially deferred for each row execute function ${t}_slow()`);
    const marker = uniqueName("lost_commit");
    const args = { sql: `insert into ${t} values (1, '${marker}') returning v`, idempotency_key: key() };
    const pending = call(client, "pg_query_write", args);
    // The outcome (with the returned marker) is recorded in the statement that carries the COMMIT.
    const pid = await waitFor(
      async () => (await db.query<{ pid: number }>("select pid from pg_stat_activity where query like $1 and query like '%COMMIT%' and state = 'active'", [`%idempotency_record%${marker}%`])).rows[0]?.pid,
      { what: "the keyed COMMIT to run", timeoutMs: 20_000 },
    );
    await db.query("select pg_terminate_backend($1)", [pid]);
    const lost = await pending;
    expect(codeOf(lost), text(lost)).toBe("commit_unknown");
    await db.query(`delete from ${gate}`);
    expect(await count(t)).toBe(0);
    // The key was never committed, so the retry runs the write, once.
    const retry = await call(client, "pg_query_write", args);
    expect(retry.isError, text(retry)).toBeFalsy();
    expect((retry.structuredContent as Rows).rows).toEqual([[marker]]);
    expect(await count(t)).toBe(1);
    const replay = await call(client, "pg_query_write", args);
    expect((replay.structuredContent as Rows).replayed).toBeTruthy();
    expect(await count(t)).toBe(1);
  });

  it("a key expires after 24 h: then the same key runs again, and each new key removes a few expired ones", async () => {
    const t = await table();
    const k = key();
    const args = { sql: `insert into ${t} select coalesce(max(id), 0) + 1, 'v' from ${t} returning id`, idempotency_key: k };
    await ok(client, "pg_query_write", args);
    // The open Worker's caller is the principal "local".
    const token = createHash("sha256").update(`local\u0000${k}`).digest("hex");
    // Age the key, and leave some long-expired strangers behind.
    expect((await db.query("update pgmcp_internal.idempotency_keys set created_at = now() - interval '25 hours' where token = $1", [token])).rowCount).toBe(1);
    const strangers = Array.from({ length: 3 }, () => `expired_${randomUUID()}`);
    await db.query("insert into pgmcp_internal.idempotency_keys (db_role, token, tool, args_hash, outcome, created_at) select 'nobody', unnest($1::text[]), 'pg_query_write', '', '{}', now() - interval '30 days'", [strangers]);
    const again = await ok<Rows>(client, "pg_query_write", args);
    expect(again.replayed).toBeUndefined();
    expect(again.rows).toEqual([[2]]);
    expect(await count(t)).toBe(2);
    expect((await db.query("select count(*)::int as n from pgmcp_internal.idempotency_keys where token = any($1)", [strangers])).rows[0].n).toBe(0);
    expect((await ok<Rows>(client, "pg_query_write", args)).replayed).toBeTruthy();
    expect(await count(t)).toBe(2);
  });

  it("refuses a key inside a held transaction (the key belongs on pg_tx_commit) and on a statement that runs alone", async () => {
    const t = await table();
    const tx = (await ok<{ tx: string }>(client, "pg_tx_begin", {})).tx;
    const inTx = await call(client, "pg_query_write", { tx, sql: `insert into ${t} values (1, 'a')`, idempotency_key: key() });
    expect(text(inTx)).toMatch(/^ERROR idempotency_not_applicable: .*pass the key to pg_tx_commit/);
    await ok(client, "pg_tx_rollback", { tx });
    expect(codeOf(await call(client, "pg_query_write", { sql: `vacuum ${t}`, idempotency_key: key() }))).toBe("idempotency_not_applicable");
    expect(await count(t)).toBe(0);
  });

  it("validates the key: length and characters", async () => {
    for (const bad of ["short", "x".repeat(129), "has space-in-it", "semi;colon-key"]) {
      const r = await call(client, "pg_query_write", { sql: "select 1", idempotency_key: bad });
      expect(r.isError).toBe(true);
      expect(text(r)).toMatch(/^ERROR invalid_arguments: .*idempotency_key/s);
    }
  });
});

describe("pg_code_run_sql_script with idempotency_key", () => {
  it("an atomic script retried with its key runs once and answers with the first results", async () => {
    const t = await table();
    const args = { sql: `insert into ${t} values (1, 'a');\ninsert into ${t} values (2, 'b') returning id;`, transaction: true, idempotency_key: key() };
    const first = await ok<{ statements: { rows?: unknown[][] }[]; replayed?: string }>(client, "pg_code_run_sql_script", args);
    expect(first.replayed).toBeUndefined();
    const again = await call(client, "pg_code_run_sql_script", args);
    expect(again.isError).toBeFalsy();
    const replay = again.structuredContent as { statements: { command: string; rows?: unknown[][] }[]; replayed?: string };
    expect(replay.replayed).toBeTruthy();
    expect(replay.statements.map((s) => s.command)).toEqual(["INSERT", "INSERT"]);
    expect(replay.statements[1]!.rows).toEqual([[2]]);
    expect(await count(t)).toBe(2);
    expect(codeOf(await call(client, "pg_code_run_sql_script", { ...args, sql: `insert into ${t} values (3, 'c')` }))).toBe("idempotency_key_reused");
    expect(await count(t)).toBe(2);
  });

  it("refuses a key on a script whose statements commit one by one, before anything runs", async () => {
    const t = await table();
    const r = await call(client, "pg_code_run_sql_script", { sql: `insert into ${t} values (1, 'a')`, idempotency_key: key() });
    expect(text(r)).toMatch(/^ERROR idempotency_not_applicable: .*transaction: true/);
    expect(await count(t)).toBe(0);
  });
});

describe("pg_tx_commit with idempotency_key", () => {
  it("a retry after the commit answers committed from the first commit, and commits nothing twice", async () => {
    const t = await table();
    const tx = (await ok<{ tx: string }>(client, "pg_tx_begin", {})).tx;
    await ok(client, "pg_query_write", { tx, sql: `insert into ${t} values (1, 'a')` });
    const k = key();
    const first = await ok<{ state: string; replayed?: string }>(client, "pg_tx_commit", { tx, idempotency_key: k });
    expect(first).toEqual({ tx, state: "committed" });
    const again = await call(client, "pg_tx_commit", { tx, idempotency_key: k });
    expect(again.isError, text(again)).toBeFalsy();
    expect(again.structuredContent).toMatchObject({ tx, state: "committed" });
    expect(Date.parse((again.structuredContent as { replayed: string }).replayed)).toBeGreaterThan(0);
    expect(await count(t)).toBe(1);
    // Without the key, the same retry is the plain answer for a closed transaction.
    expect(text(await call(client, "pg_tx_commit", { tx }))).toMatch(new RegExp(`^ERROR tx_closed: transaction ${tx} was committed`));
  });

  it("the key of one commit on another transaction is refused, and that transaction stays open", async () => {
    const t = await table();
    const k = key();
    const tx1 = (await ok<{ tx: string }>(client, "pg_tx_begin", {})).tx;
    await ok(client, "pg_query_write", { tx: tx1, sql: `insert into ${t} values (1, 'a')` });
    await ok(client, "pg_tx_commit", { tx: tx1, idempotency_key: k });
    const tx2 = (await ok<{ tx: string }>(client, "pg_tx_begin", {})).tx;
    await ok(client, "pg_query_write", { tx: tx2, sql: `insert into ${t} values (2, 'b')` });
    const refused = await call(client, "pg_tx_commit", { tx: tx2, idempotency_key: k });
    expect(codeOf(refused), text(refused)).toBe("idempotency_key_reused");
    expect(await count(t)).toBe(1);
    expect((await ok<{ state: string }>(client, "pg_tx_status", { tx: tx2 })).state).toBe("open");
    expect((await ok<{ state: string }>(client, "pg_tx_commit", { tx: tx2, idempotency_key: key() })).state).toBe("committed");
    expect(await count(t)).toBe(2);
  });

  it("a key held by a COMMIT still in flight answers busy, and this transaction stays open and usable", async () => {
    const t = await table();
    const k = key();
    // Another COMMIT holding this key, not yet committed: a session of the server's own role (the key's db_role) claims it and waits.
    const { default: PG } = await import("pg");
    const holder = new PG.Client({ connectionString: inject("serverDatabaseUrl") });
    await holder.connect();
    try {
      await holder.query("begin");
      await holder.query("select pgmcp_internal.idempotency_claim($1, 'pg_tx_commit', 'another transaction', null)", [createHash("sha256").update(`local\u0000${k}`).digest("hex")]);
      const tx = (await ok<{ tx: string }>(client, "pg_tx_begin", {})).tx;
      await ok(client, "pg_query_write", { tx, sql: `insert into ${t} values (1, 'a')` });
      const busy = await call(client, "pg_tx_commit", { tx, idempotency_key: k });
      expect(codeOf(busy), text(busy)).toBe("idempotency_key_busy");
      // Not aborted by the wait: its write is still there to commit.
      expect((await ok<{ state: string }>(client, "pg_tx_status", { tx })).state).toBe("open");
      expect(await count(t)).toBe(0);
      expect((await ok<{ state: string }>(client, "pg_tx_commit", { tx, idempotency_key: key() })).state).toBe("committed");
      expect(await count(t)).toBe(1);
    } finally {
      await holder.query("rollback").catch(() => {});
      await holder.end();
    }
  }, 90_000);

  it("a transaction rolled back by its failed COMMIT answers rolled back on retry, and its key is free", async () => {
    const t = uniqueName("idem_deferred");
    await db.query(`create table ${t} (id int, constraint ${t}_u unique (id) deferrable initially deferred)`);
    const k = key();
    const tx = (await ok<{ tx: string }>(client, "pg_tx_begin", {})).tx;
    await ok(client, "pg_query_write", { tx, sql: `insert into ${t} values (1), (1)` });
    expect(codeOf(await call(client, "pg_tx_commit", { tx, idempotency_key: k }))).toBe("23505");
    expect(text(await call(client, "pg_tx_commit", { tx, idempotency_key: k }))).toMatch(new RegExp(`^ERROR tx_closed: transaction ${tx} was rolled back: COMMIT failed`));
    expect(await count(t)).toBe(0);
    const tx2 = (await ok<{ tx: string }>(client, "pg_tx_begin", {})).tx;
    await ok(client, "pg_query_write", { tx: tx2, sql: `insert into ${t} values (2)` });
    expect((await ok<{ state: string }>(client, "pg_tx_commit", { tx: tx2, idempotency_key: k })).state).toBe("committed");
  });

  it("settling an unknown COMMIT by its key waits for a transaction still holding the key, then tells committed from rolled back", async () => {
    // What a retry of a keyed pg_tx_commit does when the holder could not learn the outcome: idempotency_settle, on the caller's login.
    const holder = await observer();
    try {
      for (const end of ["commit", "rollback"] as const) {
        const token = `settle_${randomUUID()}`;
        await holder.query("begin");
        await holder.query("select pgmcp_internal.idempotency_claim($1, 'pg_tx_commit', 'h', $2)", [token, JSON.stringify({ v: 1, value: { state: "committed" } })]);
        const settler = (await db.query("select pg_backend_pid() as pid")).rows[0].pid as number;
        await db.query("begin");
        const settling = db.query("select tool, outcome from pgmcp_internal.idempotency_settle($1)", [token]);
        // The settle is blocked on the uncommitted key until its transaction ends.
        await waitFor(async () => (await holder.query("select 1 from pg_locks where not granted and locktype = 'transactionid' and pid = $1", [settler])).rowCount! > 0, { what: "the settle to wait on the key" });
        await holder.query(end);
        const found = (await settling).rows;
        await db.query("rollback");
        expect(found).toEqual(end === "commit" ? [{ tool: "pg_tx_commit", outcome: JSON.stringify({ v: 1, value: { state: "committed" } }) }] : []);
        // Settling leaves nothing behind.
        expect((await db.query("select count(*)::int as n from pgmcp_internal.idempotency_keys where token = $1", [token])).rows[0].n).toBe(end === "commit" ? 1 : 0);
      }
    } finally {
      await holder.end();
    }
  });

  it("a read-only transaction's commit takes no key", async () => {
    const tx = (await ok<{ tx: string }>(client, "pg_tx_begin", { readOnly: true })).tx;
    expect(codeOf(await call(client, "pg_tx_commit", { tx, idempotency_key: key() }))).toBe("idempotency_not_applicable");
    expect((await ok<{ state: string }>(client, "pg_tx_commit", { tx })).state).toBe("committed");
  });
});

describe("keys belong to their caller, and the table to the server", () => {
  it("the read role can neither read the table nor call its functions, directly or through pg_query_read", async () => {
    await ok(client, "pg_query_write", { sql: "select 1", idempotency_key: key() });
    const privileges = await db.query(
      `select has_table_privilege('pgmcp_read', 'pgmcp_internal.idempotency_keys', 'select') as t,
              has_function_privilege('pgmcp_read', 'pgmcp_internal.idempotency_get(text)', 'execute') as f,
              has_schema_privilege('pgmcp_read', 'pgmcp_internal', 'usage') as s`,
    );
    expect(privileges.rows[0]).toEqual({ t: false, f: false, s: false });
    for (const sql of ["select * from pgmcp_internal.idempotency_keys", "select * from pgmcp_internal.idempotency_get('x')"]) {
      const r = await call(client, "pg_query_read", { sql });
      expect(codeOf(r), text(r)).toBe("42501");
    }
    // Only the server's role touches the table itself.
    const grantees = await db.query("select distinct grantee from information_schema.role_table_grants where table_schema = 'pgmcp_internal'");
    expect(grantees.rows).toEqual([{ grantee: "pgmcp" }]);
    // And listings leave the product's schema out.
    const schemas = await ok<{ rows: Record<string, unknown>[] }>(client, "pg_schema_list", { kind: "schema" });
    expect(JSON.stringify(schemas.rows)).not.toContain("pgmcp_internal");
  });

  it("two callers on the server's role: the same key is two keys, and neither replays the other's", async () => {
    const url = inject("scopesMcpUrl");
    const keys = inject("apiKeys");
    const a = await connectClient(url, { headers: { authorization: `Bearer ${keys.write}` } });
    const b = await connectClient(url, { headers: { authorization: `Bearer ${keys.admin}` } });
    try {
      const t = await table();
      await db.query(`grant all on ${t} to pgmcp`);
      const k = key();
      const args = { sql: `insert into ${t} select coalesce(max(id), 0) + 1, current_user from ${t} returning id`, idempotency_key: k };
      expect((await ok<Rows>(a, "pg_query_write", args)).rows).toEqual([[1]]);
      const fromB = await ok<Rows>(b, "pg_query_write", args);
      expect(fromB.replayed).toBeUndefined();
      expect(fromB.rows).toEqual([[2]]);
      expect((await ok<Rows>(a, "pg_query_write", args)).replayed).toBeTruthy();
      expect(await count(t)).toBe(2);
      const stored = await db.query("select count(*)::int as n from pgmcp_internal.idempotency_keys where token = any($1)", [[tokenOf(keys.write, k), tokenOf(keys.admin, k)]]);
      expect(stored.rows[0].n).toBe(2);
    } finally {
      await a.close();
      await b.close();
    }
  });

  describe("per-caller identity", () => {
    const clients = {} as Record<"tenantA" | "tenantB", Client>;
    beforeAll(async () => {
      for (const name of ["tenantA", "tenantB"] as const) clients[name] = await connectClient(inject("identityMcpUrl"), { headers: { authorization: `Bearer ${inject("identityKeys")[name]}` } });
    }, 60_000);
    afterAll(async () => {
      for (const c of Object.values(clients)) await c?.close();
    });

    it("a caller role's keys are its own: another role neither replays them nor reads them, even through the functions", async () => {
      const marker = uniqueName("idem_tenant");
      const k = key();
      const args = { sql: "insert into tenants.notes (body) values ($1) returning tenant::text", params: [marker], idempotency_key: k };
      const a = await ok<Rows>(clients.tenantA, "pg_query_write", args);
      expect(a.rows).toEqual([["pgmcp_tenant_a"]]);
      expect((await ok<Rows>(clients.tenantA, "pg_query_write", args)).replayed).toBeTruthy();
      const b = await ok<Rows>(clients.tenantB, "pg_query_write", args);
      expect(b.replayed).toBeUndefined();
      expect(b.rows).toEqual([["pgmcp_tenant_b"]]);
      try {
        expect((await db.query("select tenant::text from tenants.notes where body = $1 order by 1", [marker])).rows.map((r) => r.tenant)).toEqual(["pgmcp_tenant_a", "pgmcp_tenant_b"]);
        // The rows are keyed by the login that wrote them.
        const tokenA = tokenOf(inject("identityKeys").tenantA, k);
        expect((await db.query("select db_role::text from pgmcp_internal.idempotency_keys where token = $1", [tokenA])).rows).toEqual([{ db_role: "pgmcp_tenant_a" }]);
        // The caller roles may call the functions but not read the table; through the functions a role sees only its own rows.
        const read = (c: Client, sql: string) => call(c, "pg_query_read", { sql });
        expect(codeOf(await read(clients.tenantB, "select * from pgmcp_internal.idempotency_keys"))).toBe("42501");
        expect((await read(clients.tenantA, `select tool from pgmcp_internal.idempotency_get('${tokenA}')`)).structuredContent?.rows).toEqual([["pg_query_write"]]);
        expect((await read(clients.tenantB, `select tool from pgmcp_internal.idempotency_get('${tokenA}')`)).structuredContent?.rows).toEqual([]);
        // Forging: B claiming A's token makes a row under B's own role, never A's.
        await ok(clients.tenantB, "pg_query_write", { sql: `select pgmcp_internal.idempotency_claim('${tokenA}', 'pg_query_write', 'forged', '{"v":1,"value":{"rows":[["forged"]]}}')` });
        expect((await ok<Rows>(clients.tenantA, "pg_query_write", args)).rows).toEqual([["pgmcp_tenant_a"]]);
        expect((await db.query("select db_role::text, args_hash = 'forged' as forged from pgmcp_internal.idempotency_keys where token = $1 order by 1", [tokenA])).rows).toEqual([
          { db_role: "pgmcp_tenant_a", forged: false },
          { db_role: "pgmcp_tenant_b", forged: true },
        ]);
      } finally {
        await db.query("delete from tenants.notes where body = $1", [marker]);
      }
    });
  });

  it("a read-only deployment: write tools are absent, and pg_tx_commit refuses a key", async () => {
    const c = await connectClient(inject("readOnlyMcpUrl"), { headers: { authorization: `Bearer ${inject("apiKeys").admin}` } });
    try {
      const names = (await c.listTools()).tools.map((t) => t.name);
      expect(names).not.toContain("pg_query_write");
      const tx = (await ok<{ tx: string }>(c, "pg_tx_begin", {})).tx;
      const r = await call(c, "pg_tx_commit", { tx, idempotency_key: key() });
      expect(text(r)).toMatch(/^ERROR idempotency_not_applicable: .*read-only deployment/);
      expect((await ok<{ state: string }>(c, "pg_tx_commit", { tx })).state).toBe("committed");
    } finally {
      await c.close();
    }
  });
});

describe("idempotency keys: the store is the server role's own or it is not used", () => {
  it("a pgmcp_internal schema another role made first is refused, never run as the server's role; once dropped, the server makes its own", async () => {
    // In a database of its own: the suite's store in the shared database stays untouched.
    const scratch = await scratchDatabase("idem_owner");
    const admin = await observer();
    const intruder = uniqueName("intruder");
    await admin.query(`create role ${intruder} nologin`);
    await admin.query(`grant connect, create on database ${scratch.name} to ${intruder}`);
    const { default: PG } = await import("pg");
    const super_ = new PG.Client({ connectionString: scratch.url(inject("databaseUrl")) });
    const mine = new PG.Client({ connectionString: scratch.url(inject("serverDatabaseUrl")) });
    try {
      await super_.connect();
      // A role with CREATE on the database gets there first, with a function the server would call.
      await super_.query(`create schema ${INTERNAL_SCHEMA} authorization ${intruder}`);
      // Marked complete, as the server's own store is: only ownership tells them apart.
      await super_.query(`comment on schema ${INTERNAL_SCHEMA} is '${STORE_COMMENT}'`);
      await super_.query(`set role ${intruder}; create function ${INTERNAL_SCHEMA}.idempotency_begin(text, text, text) returns void language sql as 'select'; reset role`);
      await mine.connect();
      expect((await mine.query<{ ready: boolean }>(READY_SQL, [[]])).rows[0]!.ready).toBe(false);
      const refused = await mine.query(`BEGIN; ${idempotencyDdl([], "pgmcp_read")}; COMMIT`).then(
        () => undefined,
        (e: { code?: string; message: string; hint?: string }) => e,
      );
      await mine.query("ROLLBACK").catch(() => {});
      expect(refused?.code).toBe("42501");
      expect(refused?.message).toMatch(/schema pgmcp_internal \(or an object in it\) exists and is not owned by the server's role/);
      expect(refused?.hint).toMatch(/drop the schema pgmcp_internal/);
      // Nothing of the server's went into it.
      expect((await super_.query(`select count(*)::int as n from pg_class where relnamespace = '${INTERNAL_SCHEMA}'::regnamespace`)).rows[0].n).toBe(0);

      await super_.query(`drop schema ${INTERNAL_SCHEMA} cascade`);
      await mine.query(`BEGIN; ${idempotencyDdl([], "pgmcp_read")}; COMMIT`);
      expect((await mine.query<{ ready: boolean }>(READY_SQL, [[]])).rows[0]!.ready).toBe(true);
    } finally {
      await mine.end().catch(() => {});
      await super_.end().catch(() => {});
      await scratch.drop();
      await admin.query(`drop role if exists ${intruder}`);
      await admin.end();
    }
  }, 60_000);
});

describe("idempotency keys: a store dropped while the server runs", () => {
  it("a keyed write after the store was dropped is refused with nothing run, and the next one makes the store again and writes once", async () => {
    // A database and a Worker of their own: the store of the suite's database stays in place for the other files.
    const scratch = await scratchDatabase("idem_gone");
    const { default: PG } = await import("pg");
    const su = new PG.Client({ connectionString: scratch.url(inject("databaseUrl")) });
    await su.connect();
    const worker = await startWorker({ databaseUrl: scratch.url(inject("serverDatabaseUrl")), bundleDir: inject("workerBundleDir"), vars: { AUTH_MODE: "none", RATE_LIMIT_PER_MINUTE: "0", READ_ROLE: "" } });
    const mcp = await connectClient(worker.mcpUrl);
    try {
      await su.query(`create table gone_t (id int); grant all on gone_t to ${scratch.serverRole}`);
      const rows = async () => (await su.query<{ n: number }>("select count(*)::int as n from gone_t")).rows[0]!.n;
      await ok(mcp, "pg_query_write", { sql: "insert into gone_t values (1)", idempotency_key: key() });
      expect(await rows()).toBe(1);
      await su.query(`drop schema ${INTERNAL_SCHEMA} cascade`);
      const k = key();
      const refused = await call(mcp, "pg_query_write", { sql: "insert into gone_t values (2)", idempotency_key: k });
      expect(codeOf(refused), text(refused)).toBe("idempotency_unavailable");
      expect(text(refused)).toMatch(/is gone: it was dropped after this server checked it/);
      expect(await rows()).toBe(1);
      const again = await ok<{ replayed?: string }>(mcp, "pg_query_write", { sql: "insert into gone_t values (2)", idempotency_key: k });
      expect(again.replayed).toBeUndefined();
      expect(await rows()).toBe(2);
      expect((await ok<{ replayed?: string }>(mcp, "pg_query_write", { sql: "insert into gone_t values (2)", idempotency_key: k })).replayed).toBeTruthy();
      expect(await rows()).toBe(2);
    } finally {
      await mcp.close().catch(() => {});
      await worker.stop();
      await su.end().catch(() => {});
      await scratch.drop();
    }
  }, 180_000);
});
