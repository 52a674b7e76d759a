/**
 * Faults under a call: a backend terminated mid-statement, at COMMIT, or a
 * COMMIT the server refuses. Checked with the real MCP client and, from the
 * observer, what really happened in the database. Every test ends by showing
 * the server still serves. Backends are found by a marker in their statement
 * text, so other test files' sessions are never touched.
 */
import { beforeAll, describe, expect, inject, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type pg from "pg";
import { call, ok, text, type ToolResult } from "../support/mcp";
import { uniqueName, useClientAndObserver } from "../support/db";
import { waitFor } from "../support/wait";
import { txTag } from "../../worker/db/tags";
import { mcpPost, streamPost } from "../support/cancel";

const fixture = useClientAndObserver();
let client: Client;
let db: pg.Client;
beforeAll(() => ({ client, db } = fixture));

async function table(): Promise<string> {
  const t = uniqueName("faults");
  await db.query(`create table ${t} (id int primary key, v text)`);
  return t;
}

const count = async (t: string) => (await db.query(`select count(*)::int as n from ${t}`)).rows[0].n as number;

/** Waits until a backend is running a statement containing `marker` (or one of a session named like `app`), then terminates it. */
async function terminateWhenRunning(marker: string, app?: string): Promise<number> {
  const pid = await waitFor(
    async () => {
      const r = app
        ? await db.query<{ pid: number }>("select pid from pg_stat_activity where application_name like $1 and query = $2 and state = 'active'", [app, marker])
        : await db.query<{ pid: number }>("select pid from pg_stat_activity where query like $1 and state = 'active' and pid <> pg_backend_pid()", [`%${marker}%`]);
      return r.rows[0]?.pid;
    },
    { what: `a backend running ${marker}`, timeoutMs: 20_000 },
  );
  await db.query("select pg_terminate_backend($1)", [pid]);
  return pid;
}

/** The server answers a plain read: nothing stayed wedged. */
async function stillServes(): Promise<void> {
  expect((await ok<{ rows: unknown[][] }>(client, "pg_query_read", { sql: "select 41 + 1" })).rows).toEqual([[42]]);
}

describe("a connection lost mid-statement", () => {
  it("a read whose backend is terminated returns the retryable connection_lost, and the next call succeeds", async () => {
    const marker = uniqueName("lost_read");
    const pending = call(client, "pg_query_read", { sql: `select pg_sleep(20) as ${marker}` });
    await terminateWhenRunning(marker);
    const r = await pending;
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/^ERROR connection_lost: the database connection was lost: terminating connection due to administrator command[\s\S]*HINT: retryable: nothing was committed/);
    await stillServes();
  });

  it("a write whose backend is terminated before its COMMIT says nothing was committed, and nothing was", async () => {
    const t = await table();
    const marker = uniqueName("lost_write");
    const pending = call(client, "pg_query_write", { sql: `insert into ${t} select 1, '${marker}' from pg_sleep(20)` });
    await terminateWhenRunning(marker);
    const r = await pending;
    expect(text(r)).toMatch(/^ERROR connection_lost: [\s\S]*HINT: retryable: nothing was committed/);
    expect(await count(t)).toBe(0);
    await ok(client, "pg_query_write", { sql: `insert into ${t} values (2, 'after')` });
    expect(await count(t)).toBe(1);
  });
});

describe("held transactions and their connection", () => {
  it("a backend terminated mid-statement: the call answers that the transaction was rolled back, and a new one works", async () => {
    const t = await table();
    const tx = (await ok<{ tx: string }>(client, "pg_tx_begin", {})).tx;
    await ok(client, "pg_query_write", { tx, sql: `insert into ${t} values (1, 'a')` });
    const marker = uniqueName("lost_tx");
    const pending = call(client, "pg_query_write", { tx, sql: `insert into ${t} select 2, '${marker}' from pg_sleep(20)` });
    await terminateWhenRunning(marker);
    const r = await pending;
    expect(text(r)).toMatch(new RegExp(`^ERROR tx_closed: transaction ${tx} was rolled back: the database connection was lost[\\s\\S]*HINT: nothing was committed: begin a new transaction and retry`));
    // The same answer afterwards, for any call: no silent new transaction, no autocommit.
    expect(text(await call(client, "pg_tx_commit", { tx }))).toMatch(new RegExp(`transaction ${tx} was rolled back`));
    expect(await count(t)).toBe(0);
    const again = (await ok<{ tx: string }>(client, "pg_tx_begin", {})).tx;
    await ok(client, "pg_query_write", { tx: again, sql: `insert into ${t} values (3, 'c')` });
    expect((await ok<{ state: string }>(client, "pg_tx_commit", { tx: again })).state).toBe("committed");
    expect(await count(t)).toBe(1);
  });

  it("a COMMIT the server refuses ends the transaction as rolled back: later statements are refused, never autocommitted", async () => {
    const t = uniqueName("faults_deferred");
    await db.query(`create table ${t} (id int, constraint ${t}_u unique (id) deferrable initially deferred)`);
    const tx = (await ok<{ tx: string }>(client, "pg_tx_begin", {})).tx;
    await ok(client, "pg_query_write", { tx, sql: `insert into ${t} values (1), (1)` });
    const refused = await call(client, "pg_tx_commit", { tx });
    expect(text(refused)).toMatch(new RegExp(`^ERROR 23505: transaction ${tx} was rolled back: COMMIT failed: duplicate key value`));
    // Before, the session stayed "open" outside any transaction: this write was committed on its own.
    const after = await call(client, "pg_query_write", { tx, sql: `insert into ${t} values (2)` });
    expect(after.isError).toBe(true);
    expect(text(after)).toMatch(new RegExp(`^ERROR tx_closed: transaction ${tx} was rolled back: COMMIT failed`));
    expect((await db.query(`select count(*)::int as n from ${t}`)).rows[0].n).toBe(0);
    await stillServes();
  });

  it("a backend terminated during COMMIT: the outcome comes from PostgreSQL's own record, not a guess", async () => {
    // A deferred trigger makes COMMIT itself slow, so the backend can be terminated while it commits.
    const t = uniqueName("faults_commit");
    const marker = uniqueName("slow_commit");
    await db.query(`create table ${t} (id int primary key)`);
    await db.query(`create function ${t}_slow() returns trigger language plpgsql as $$ begin perform pg_sleep(20); return null; end $$`);
    await db.query(`create constraint trigger ${marker} after insert on ${t} deferrable initially deferred for each row execute function ${t}_slow()`);
    const tx = (await ok<{ tx: string }>(client, "pg_tx_begin", {})).tx;
    await ok(client, "pg_query_write", { tx, sql: `insert into ${t} values (1)` });
    const pending = call(client, "pg_tx_commit", { tx });
    await terminateWhenRunning("COMMIT", `pg-mcp tx ${await txTag(tx)} by %`);
    const r: ToolResult = await pending;
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(new RegExp(`^ERROR tx_closed: transaction ${tx} was rolled back: the connection was lost at COMMIT and PostgreSQL rolled it back`));
    expect((await db.query(`select count(*)::int as n from ${t}`)).rows[0].n).toBe(0);
    // Asking again gives the same answer; nothing is committed twice.
    expect(text(await call(client, "pg_tx_commit", { tx }))).toMatch(/PostgreSQL rolled it back/);
    await stillServes();
  });

  it("a call that arrives while COMMIT runs is refused, never run after it outside the transaction", async () => {
    // A deferred trigger keeps COMMIT busy for 2 s; meanwhile a second request uses the same tx.
    const t = uniqueName("faults_race");
    await db.query(`create table ${t} (id int primary key)`);
    await db.query(`create function ${t}_slow() returns trigger language plpgsql as $$ begin perform pg_sleep(2); return null; end $$`);
    await db.query(`create constraint trigger ${t}_c after insert on ${t} deferrable initially deferred for each row execute function ${t}_slow()`);
    const tx = (await ok<{ tx: string }>(client, "pg_tx_begin", {})).tx;
    await ok(client, "pg_query_write", { tx, sql: `insert into ${t} values (1)` });
    const commit = call(client, "pg_tx_commit", { tx });
    const app = `pg-mcp tx ${await txTag(tx)} by %`;
    await waitFor(async () => (await db.query("select 1 from pg_stat_activity where application_name like $1 and query = 'COMMIT' and state = 'active'", [app])).rowCount === 1, { what: "the COMMIT to run" });
    const late = await call(client, "pg_query_write", { tx, sql: `insert into ${t} values (2)` });
    expect(late.isError).toBe(true);
    expect(text(late)).toMatch(new RegExp(`^ERROR tx_busy: transaction ${tx} is (committing|ending)`));
    expect((await commit).structuredContent?.state).toBe("committed");
    // Before, the late insert waited behind the COMMIT on the same connection and was autocommitted on its own.
    expect((await db.query(`select id from ${t} order by id`)).rows).toEqual([{ id: 1 }]);
  });
});

describe("a cancel meant for another client", () => {
  it("a call whose request id another client of the same caller cancels answers with the cancellation, not silence; nothing is committed", async () => {
    // Two clients of one caller (one key in two agents) count request ids the same way; a stateless server cannot
    // tell whose call a notifications/cancelled names. Before, the call reached was stopped and its response closed
    // with no answer: its client waited until its own timeout, not knowing whether its write had happened.
    const t = await table();
    const marker = uniqueName("shared_id");
    const id = `shared-${marker}`;
    const s = streamPost(inject("mcpUrl"), mcpPost("2025", { id, method: "tools/call", params: { name: "pg_query_write", arguments: { sql: `insert into ${t} select 1, '${marker}' from pg_sleep(20)` } } }));
    await waitFor(async () => (await db.query("select 1 from pg_stat_activity where query like $1 and state = 'active' and pid <> pg_backend_pid()", [`%${marker}%`])).rowCount === 1, {
      what: "the write to run",
      timeoutMs: 20_000,
    });
    const note = mcpPost("2025", { method: "notifications/cancelled", params: { requestId: id, reason: "the other client gave up on its own call with this id" } });
    expect((await fetch(inject("mcpUrl"), { method: "POST", headers: note.headers, body: note.body })).status).toBe(202);
    expect(await s.done).toBe(200);
    const answer = s.messages.find((m) => m.id === id);
    expect(answer?.result?.isError).toBe(true);
    expect(answer.result.content[0].text).toMatch(/^ERROR 57014: canceling statement due to user request/);
    expect(await count(t)).toBe(0);
    await stillServes();
  });

  it("a call whose client went away cancels its own statement only, not another call of the same caller that reuses its request id", async () => {
    // A client may reuse a request id (one call after another; a refused call beside a running one). A call that stops
    // in its isolate cancels its statement by the call's whole running name; before, by the caller and the id alone,
    // and it went on cancelling for up to 5 s whatever ran under that pair: here, the other call's write.
    const t = await table();
    const marker = uniqueName("reused_id");
    const id = `reused-${marker}`;
    const write = streamPost(inject("mcpUrl"), mcpPost("2025", { id, method: "tools/call", params: { name: "pg_query_write", arguments: { sql: `insert into ${t} select 1, '${marker}' from pg_sleep(6)` } } }));
    const active = (m: string) => async () => (await db.query("select 1 from pg_stat_activity where query like $1 and state = 'active' and pid <> pg_backend_pid()", [`%${m}%`])).rowCount === 1;
    await waitFor(active(marker), { what: "the write to run", timeoutMs: 20_000 });
    const gone = `${marker}_gone`;
    const read = streamPost(inject("mcpUrl"), mcpPost("2025", { id, method: "tools/call", params: { name: "pg_query_read", arguments: { sql: `select pg_sleep(30) /* ${gone} */` } } }));
    await waitFor(active(gone), { what: "the read to run", timeoutMs: 20_000 });
    read.abort();
    // The read's own statement is cancelled...
    await waitFor(async () => !(await active(gone)()), { what: "the abandoned read's statement to end", timeoutMs: 20_000 });
    // ...and the write with the same caller and id runs to its end and commits.
    expect(await write.done).toBe(200);
    const answer = write.messages.find((m) => m.id === id);
    expect(answer?.result?.isError ?? false, JSON.stringify(answer)).toBe(false);
    expect(await count(t)).toBe(1);
    await stillServes();
  });

  it("two clients of one caller are told apart by the Mcp-Session-Id handed out at initialize: a cancel reaches only its own client's call", async () => {
    // Same caller, same request id, two clients: before, the other client's cancel stopped this call.
    const init = mcpPost("2025", { id: 0, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "faults", version: "1" } } });
    const sessions: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await fetch(inject("mcpUrl"), { method: "POST", headers: init.headers, body: init.body });
      await r.text();
      expect(r.status).toBe(200);
      sessions.push(r.headers.get("mcp-session-id") ?? "");
    }
    const [mine, theirs] = sessions as [string, string];
    expect(mine).toMatch(/^[0-9a-f-]{36}$/);
    expect(theirs).toMatch(/^[0-9a-f-]{36}$/);
    expect(mine).not.toBe(theirs);
    const as = (session: string, post: { headers: Record<string, string>; body: string }) => ({ headers: { ...post.headers, "mcp-session-id": session }, body: post.body });

    const t = await table();
    const marker = uniqueName("two_clients");
    const id = `same-${marker}`;
    const write = (sleep: number) => mcpPost("2025", { id, method: "tools/call", params: { name: "pg_query_write", arguments: { sql: `insert into ${t} select 1, '${marker}' from pg_sleep(${sleep})` } } });
    const running = () =>
      waitFor(async () => (await db.query("select 1 from pg_stat_activity where query like $1 and state = 'active' and pid <> pg_backend_pid()", [`%${marker}%`])).rowCount === 1, {
        what: "the write to run",
        timeoutMs: 20_000,
      });
    const cancel = mcpPost("2025", { method: "notifications/cancelled", params: { requestId: id, reason: "gave up" } });

    // The other client cancels its own call with this id: this client's write goes on and commits.
    const s = streamPost(inject("mcpUrl"), as(mine, write(4)));
    await running();
    expect((await fetch(inject("mcpUrl"), { method: "POST", ...as(theirs, cancel) })).status).toBe(202);
    expect(await s.done).toBe(200);
    const answer = s.messages.find((m) => m.id === id);
    expect(answer?.result?.isError ?? false).toBe(false);
    expect(await count(t)).toBe(1);

    // Its own cancel (the same session id) still reaches it.
    const again = streamPost(inject("mcpUrl"), as(mine, write(20)));
    await running();
    expect((await fetch(inject("mcpUrl"), { method: "POST", ...as(mine, cancel) })).status).toBe(202);
    expect(await again.done).toBe(200);
    expect(again.messages.find((m) => m.id === id)?.result?.content?.[0]?.text).toMatch(/^ERROR 57014: canceling statement due to user request/);
    expect(await count(t)).toBe(1);
    await stillServes();
  });

  it("a flood of cancel notifications opens a bounded number of connections, and the server still serves", async () => {
    // Each notification not matched in the isolate looks for its statement from a new connection. A notification
    // costs its sender nothing: before, 80 at once had the server open 80 connections (and 80 more to look again).
    const burst = Array.from({ length: 80 }, (_, i) => mcpPost("2025", { method: "notifications/cancelled", params: { requestId: `${uniqueName("nobody")}-${i}` } }));
    let peak = 0;
    let sentAt = Infinity;
    const watching = (async () => {
      // The look-ups run after each 202 (under waitUntil): watch a while after the last is sent.
      for (let i = 0; i < 2_000 && Date.now() < sentAt + 4_000; i++) {
        const r = await db.query<{ n: number }>("select count(*)::int as n from pg_stat_activity where application_name = 'pg-mcp cancel'");
        peak = Math.max(peak, r.rows[0]!.n);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const statuses = await Promise.all(burst.map((note) => fetch(inject("mcpUrl"), { method: "POST", headers: note.headers, body: note.body }).then((r) => r.status)));
    sentAt = Date.now();
    await watching;
    expect(statuses.every((s) => s === 202)).toBe(true);
    // MAX_CANCEL_LOOKUPS (4) in flight, and a closing session or two still listed; other test files' cancels share the isolate's bound.
    expect(peak).toBeLessThanOrEqual(6);
    await stillServes();
  });
});
