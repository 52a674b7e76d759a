/**
 * Transactions across tool calls, held in Durable Objects: checked with the
 * real MCP client and a second plain pg connection as the observer.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type pg from "pg";
import { call, connectClient, ok, text } from "../support/mcp";
import { uniqueName, useClientAndObserver } from "../support/db";
import { waitFor } from "../support/wait";
import { txTag } from "../../worker/db/tags";

const fixture = useClientAndObserver();
let client: Client;
let db: pg.Client;
beforeAll(() => ({ client, db } = fixture));

async function begin(c: Client, args: Record<string, unknown> = {}): Promise<string> {
  return (await ok<{ tx: string }>(c, "pg_tx_begin", args)).tx;
}

async function table(): Promise<string> {
  const t = uniqueName("tx");
  await db.query(`create table ${t} (id int primary key, v text)`);
  return t;
}

const count = async (t: string) => (await db.query(`select count(*)::int as n from ${t}`)).rows[0].n as number;

describe("transactions across calls", () => {
  it("the query tools take tx", async () => {
    const { tools } = await client.listTools();
    const read = tools.find((t) => t.name === "pg_query_read")!;
    expect(Object.keys(read.inputSchema.properties ?? {})).toContain("tx");
  });

  it("uncommitted rows are invisible to others and visible after commit", async () => {
    const t = await table();
    const tx = await begin(client);
    await ok(client, "pg_query_write", { tx, sql: `insert into ${t} values (1, 'a'), (2, 'b')` });
    expect((await ok<{ rows: unknown[][] }>(client, "pg_query_read", { tx, sql: `select count(*)::int from ${t}` })).rows).toEqual([[2]]);
    expect(await count(t)).toBe(0);
    expect((await ok<{ state: string }>(client, "pg_tx_commit", { tx })).state).toBe("committed");
    expect(await count(t)).toBe(2);
    // The id is spent: no silent new transaction.
    const again = await call(client, "pg_query_write", { tx, sql: `insert into ${t} values (3, 'c')` });
    expect(again.isError).toBe(true);
    expect(text(again)).toMatch(new RegExp(`transaction ${tx} was committed`));
    expect(await count(t)).toBe(2);
  });

  it("rollback discards", async () => {
    const t = await table();
    const tx = await begin(client);
    await ok(client, "pg_query_write", { tx, sql: `insert into ${t} values (1, 'a')` });
    await ok(client, "pg_tx_rollback", { tx });
    expect(await count(t)).toBe(0);
  });

  it("savepoints: roll back to one, keep what came before", async () => {
    const t = await table();
    const tx = await begin(client);
    await ok(client, "pg_query_write", { tx, sql: `insert into ${t} values (1, 'keep')` });
    await ok(client, "pg_tx_savepoint", { tx, name: "s1" });
    await ok(client, "pg_query_write", { tx, sql: `insert into ${t} values (2, 'drop')` });
    await ok(client, "pg_tx_rollback_to", { tx, name: "s1" });
    await ok(client, "pg_query_write", { tx, sql: `insert into ${t} values (3, 'keep')` });
    const status = await ok<{ savepoints: string[]; state: string }>(client, "pg_tx_status", { tx });
    expect(status).toMatchObject({ state: "open", savepoints: ["s1"] });
    await ok(client, "pg_tx_commit", { tx });
    expect((await db.query(`select id from ${t} order by id`)).rows).toEqual([{ id: 1 }, { id: 3 }]);
  });

  it("an error aborts the transaction, says so, and a rollback to a savepoint recovers", async () => {
    const t = await table();
    const tx = await begin(client);
    await ok(client, "pg_tx_savepoint", { tx, name: "before" });
    const bad = await call(client, "pg_query_write", { tx, sql: `insert into ${t} values (1, 'a'), (1, 'dup')` });
    expect(bad.isError).toBe(true);
    expect(text(bad)).toMatch(/ERROR 23505[\s\S]*the transaction is now aborted: call pg_tx_rollback, or pg_tx_rollback_to a savepoint/);
    const next = await call(client, "pg_query_read", { tx, sql: "select 1" });
    expect(text(next)).toMatch(/ERROR 25P02: current transaction is aborted/);
    expect((await ok<{ state: string }>(client, "pg_tx_status", { tx })).state).toBe("aborted");
    await ok(client, "pg_tx_rollback_to", { tx, name: "before" });
    await ok(client, "pg_query_write", { tx, sql: `insert into ${t} values (2, 'ok')` });
    await ok(client, "pg_tx_commit", { tx });
    expect((await db.query(`select id from ${t}`)).rows).toEqual([{ id: 2 }]);
  });

  it("a read inside a read-write transaction cannot write", async () => {
    const t = await table();
    await db.query(`create function ${t}_w() returns int language sql as $$ insert into ${t} values (99, 'x'); select 1 $$`);
    const tx = await begin(client);
    await ok(client, "pg_query_write", { tx, sql: `insert into ${t} values (1, 'a')` });
    const r = await call(client, "pg_query_read", { tx, sql: `select ${t}_w()` });
    expect(text(r)).toMatch(/read-only transaction/);
    await ok(client, "pg_tx_rollback_to", { tx, name: "pg_mcp_read" }).catch(() => undefined);
    await call(client, "pg_tx_rollback", { tx });
    expect(await count(t)).toBe(0);
    await db.query(`drop function ${t}_w()`);
  });

  it("two transactions on the same row: the second fails by the isolation rules with the PostgreSQL error", async () => {
    const t = await table();
    await db.query(`insert into ${t} values (1, 'v0')`);
    const a = await begin(client, { isolation: "repeatable read" });
    const b = await begin(client, { isolation: "repeatable read" });
    // b takes its snapshot first.
    await ok(client, "pg_query_read", { tx: b, sql: `select v from ${t} where id = 1` });
    await ok(client, "pg_query_write", { tx: a, sql: `update ${t} set v = 'a' where id = 1` });
    const pending = call(client, "pg_query_write", { tx: b, sql: `update ${t} set v = 'b' where id = 1` }); // waits for a's row lock
    await waitFor(async () => (await db.query("select wait_event_type from pg_stat_activity where application_name like $1", [`pg-mcp tx ${await txTag(b)} by %`])).rows[0]?.wait_event_type === "Lock", { what: "b waiting for a's row lock" });
    await ok(client, "pg_tx_commit", { tx: a });
    const rb = await pending;
    expect(rb.isError).toBe(true);
    expect(text(rb)).toMatch(/ERROR 40001: could not serialize access due to concurrent update/);
    await call(client, "pg_tx_rollback", { tx: b });
    expect((await db.query(`select v from ${t}`)).rows).toEqual([{ v: "a" }]);
  });

  it("an idle transaction is rolled back when its lease runs out, leaving no idle-in-transaction session", async () => {
    const t = await table();
    const tx = await begin(client, { idleTimeoutMs: 1000 });
    await ok(client, "pg_query_write", { tx, sql: `insert into ${t} values (1, 'a')` });
    const app = `pg-mcp tx ${await txTag(tx)} by %`;
    expect((await db.query("select state from pg_stat_activity where application_name like $1", [app])).rows).toEqual([{ state: "idle in transaction" }]);
    // The alarm rolls it back: wait (bounded) for its backend to go, rather than sleeping a guess.
    await waitFor(async () => (await db.query("select count(*)::int as n from pg_stat_activity where application_name like $1", [app])).rows[0].n === 0, { what: "the idle transaction's backend to go" });
    const r = await call(client, "pg_query_read", { tx, sql: "select 1" });
    expect(text(r)).toMatch(new RegExp(`transaction ${tx} was rolled back: it was idle for more than 1 s`));
    expect(await count(t)).toBe(0);
  });

  it("a lost connection gives a clear error, never a silent new transaction", async () => {
    const t = await table();
    const tx = await begin(client);
    await ok(client, "pg_query_write", { tx, sql: `insert into ${t} values (1, 'a')` });
    const app = `pg-mcp tx ${await txTag(tx)} by %`;
    await db.query("select pg_terminate_backend(pid) from pg_stat_activity where application_name like $1", [app]);
    await waitFor(async () => (await db.query("select count(*)::int as n from pg_stat_activity where application_name like $1", [app])).rows[0].n === 0, { what: "the terminated backend to go" });
    const r = await call(client, "pg_query_write", { tx, sql: `insert into ${t} values (2, 'b')` });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(new RegExp(`transaction ${tx} was rolled back: the database connection was lost`));
    const again = await call(client, "pg_tx_status", { tx });
    expect(text(again)).toMatch(/was rolled back/);
    expect(await count(t)).toBe(0);
  });

  it("an unknown transaction id is refused", async () => {
    const r = await call(client, "pg_query_read", { tx: `tx_${"0".repeat(32)}`, sql: "select 1" });
    expect(text(r)).toMatch(/no such transaction/);
  });

  it("a statement that cannot run in a transaction block is refused clearly", async () => {
    const tx = await begin(client);
    const r = await call(client, "pg_query_write", { tx, sql: "vacuum" });
    expect(text(r)).toMatch(/^ERROR not_in_transaction: this statement cannot run inside a transaction block: vacuum\nHINT: run it without tx/);
    await call(client, "pg_tx_rollback", { tx });
  });
});

describe("lease deadlines", () => {
  it("TX_MAX_AGE_MS: a busy transaction is rolled back at its deadline all the same", async () => {
    const lease = await connectClient(inject("leaseMcpUrl")); // TX_MAX_AGE_MS=3000, idle timeout 30 s
    const t = await table();
    const begun = await ok<{ tx: string; expiresAt: string; idleTimeoutMs: number }>(lease, "pg_tx_begin", {});
    const { tx } = begun;
    expect(begun.idleTimeoutMs).toBe(30_000);
    expect(Date.parse(begun.expiresAt) - Date.now()).toBeLessThanOrEqual(3000);
    // Never idle: a call every 200 ms until one is refused.
    let i = 0;
    const refused = await waitFor(
      async () => {
        const r = await call(lease, "pg_query_write", { tx, sql: `insert into ${t} values (${++i}, 'busy')` });
        return r.isError ? text(r) : undefined;
      },
      { intervalMs: 200, timeoutMs: 20_000, what: "the deadline to end the transaction" },
    );
    expect(refused).toMatch(new RegExp(`^ERROR tx_closed: transaction ${tx} was rolled back: it reached its deadline \\(\\d+ s old\\)`));
    expect(i).toBeGreaterThan(1);
    await waitFor(async () => (await db.query("select count(*)::int as n from pg_stat_activity where application_name like $1", [`pg-mcp tx ${await txTag(tx)} by %`])).rows[0].n === 0, { what: "its backend to go" });
    expect(await count(t)).toBe(0);
    await lease.close();
  });

  it("a caller cannot ask for a longer idle timeout than the server's", async () => {
    const r = await call(client, "pg_tx_begin", { idleTimeoutMs: 30_001 });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/^ERROR invalid_lease: idleTimeoutMs is at most 30000 on this server/);
  });

  it("arms PostgreSQL's idle_in_transaction_session_timeout as a backstop, a little past the lease's idle timeout", async () => {
    const tx = await begin(client, { idleTimeoutMs: 1000 });
    const r = await ok<{ rows: unknown[][] }>(client, "pg_query_read", { tx, sql: "select current_setting('idle_in_transaction_session_timeout')" });
    expect(r.rows).toEqual([["6s"]]);
    await ok(client, "pg_tx_rollback", { tx });
  });
});

describe("ownership", () => {
  it("another caller cannot use a transaction", async () => {
    const keys = inject("apiKeys");
    const url = inject("oauthMcpUrl"); // accepts API keys, no rate limits
    const owner = await connectClient(url, { headers: { authorization: `Bearer ${keys.write}` } });
    const other = await connectClient(url, { headers: { authorization: `Bearer ${keys.admin}` } });
    const tx = await begin(owner);
    for (const [tool, args] of [["pg_query_read", { sql: "select 1" }], ["pg_tx_commit", {}], ["pg_tx_status", {}]] as const) {
      const r = await call(other, tool, { tx, ...args });
      expect(r.isError, tool).toBe(true);
      expect(text(r)).toMatch(/belongs to another caller/);
    }
    await ok(owner, "pg_tx_rollback", { tx });
    await owner.close();
    await other.close();
  });

  it("a read key can only begin a read-only transaction", async () => {
    const keys = inject("apiKeys");
    const reader = await connectClient(inject("oauthMcpUrl"), { headers: { authorization: `Bearer ${keys.read}` } });
    const r = await call(reader, "pg_tx_begin", {});
    expect(text(r)).toMatch(/needs the write scope/);
    const tx = (await ok<{ tx: string; readOnly: boolean }>(reader, "pg_tx_begin", { readOnly: true }));
    expect(tx.readOnly).toBe(true);
    await ok(reader, "pg_tx_rollback", { tx: tx.tx });
    await reader.close();
  });
});

describe("limits", () => {
  let small: Client;
  beforeAll(async () => {
    small = await connectClient(inject("smallMcpUrl"));
  });
  afterAll(async () => small?.close());

  it("caps open transactions per deployment with a clear error", async () => {
    const a = await begin(small);
    const b = await begin(small);
    const c = await call(small, "pg_tx_begin", {});
    expect(text(c)).toMatch(/transactions are open on this server \(MAX_OPEN_TRANSACTIONS=2\)/);
    await ok(small, "pg_tx_rollback", { tx: a });
    const d = await begin(small);
    await ok(small, "pg_tx_rollback", { tx: b });
    await ok(small, "pg_tx_rollback", { tx: d });
  });

  it("the statement timeout applies inside a transaction", async () => {
    const tx = await begin(small);
    const r = await call(small, "pg_query_read", { tx, sql: "select pg_sleep(3)" });
    expect(text(r)).toMatch(/ERROR 57014/);
    await ok(small, "pg_tx_rollback", { tx });
  });
});
