/**
 * Cancellation behind a transaction pooler (PgBouncer in transaction mode,
 * the local stand-in for Hyperdrive): the cancel still reaches the
 * statement, and a cancel for a call that has finished never touches the
 * statement another call now runs on the same pooled backend. Skipped, with
 * the reason printed, where the machine has no pgbouncer binary; the same
 * guarantees without a pooler are in progress.test.ts.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type pg from "pg";
import { connectClient, ok } from "../support/mcp";
import { observer } from "../support/db";
import { waitFor } from "../support/wait";
import { mcpPost, running, statementsMarked, streamPost, uniqueMarker } from "../support/cancel";
import { pgbouncerMissing, startPgBouncer, type RunningPgBouncer } from "../../scripts/lib/pgbouncer";
import { startWorker, type RunningWorker } from "../../scripts/lib/worker";

const missing = pgbouncerMissing();
if (missing) console.log(`pooler.test.ts skipped: ${missing}`);

describe.skipIf(missing !== undefined)("cancellation behind PgBouncer (transaction pooling)", () => {
  let bouncer: RunningPgBouncer;
  let worker: RunningWorker;
  let client: Client;
  let db: pg.Client;

  beforeAll(async () => {
    // Two server connections: calls share backends, and a canceller still finds one free.
    // (Starting a Worker here bundles it again in this process: minutes on a loaded machine.)
    bouncer = await startPgBouncer(inject("serverDatabaseUrl"), { poolSize: 2 });
    worker = await startWorker({ databaseUrl: bouncer.url, vars: { AUTH_MODE: "none", RATE_LIMIT_PER_MINUTE: "0", RATE_LIMIT_EXPENSIVE_PER_MINUTE: "0", RATE_LIMIT_CODE_PER_MINUTE: "0", PYTHON: "false" } });
    client = await connectClient(worker.mcpUrl);
    db = await observer();
  }, 300_000);

  afterAll(async () => {
    await client?.close();
    await db?.end();
    await worker?.stop();
    await bouncer?.stop();
  });

  it("notifications/cancelled cancels the statement on the pooled backend", async () => {
    const marker = uniqueMarker();
    const controller = new AbortController();
    const pending = client.callTool({ name: "pg_query_read", arguments: { sql: `select pg_sleep(60) as "${marker}"` } }, undefined, { signal: controller.signal }).catch((e: Error) => e);
    await waitFor(() => running(db, marker), { timeoutMs: 15_000, what: "the statement to start" });
    controller.abort("enough");
    await pending;
    await waitFor(async () => !(await running(db, marker)), { timeoutMs: 10_000, what: "the statement to stop" });
    expect(await ok(client, "pg_query_read", { sql: "select 1 as one" })).toMatchObject({ rows: [[1]] });
  });

  it("an aborted request cancels the statement on the pooled backend", async () => {
    const marker = uniqueMarker();
    const s = streamPost(worker.mcpUrl, mcpPost("2025", { id: 3, method: "tools/call", params: { name: "pg_query_read", arguments: { sql: `select pg_sleep(60) as "${marker}"` } } }));
    await waitFor(() => running(db, marker), { timeoutMs: 15_000, what: "the statement to start" });
    s.abort();
    await s.done;
    await waitFor(async () => !(await running(db, marker)), { timeoutMs: 10_000, what: "the statement to stop" });
    expect(await ok(client, "pg_query_read", { sql: "select 1 as one" })).toMatchObject({ rows: [[1]] });
  });

  it("a late cancel for a finished call does not cancel the next call on the same backend", async () => {
    const first = streamPost(worker.mcpUrl, mcpPost("2025", { id: "done-1", method: "tools/call", params: { name: "pg_query_read", arguments: { sql: "select pg_backend_pid() as pid" } } }));
    expect(await first.done).toBe(200);
    const firstPid = first.messages.find((m) => m.id === "done-1").result.structuredContent.rows[0][0];
    const marker = uniqueMarker();
    const second = streamPost(worker.mcpUrl, mcpPost("2025", { id: "next-1", method: "tools/call", params: { name: "pg_query_read", arguments: { sql: `select pg_sleep(3) as "${marker}"` } } }));
    const [row] = await waitFor(async () => {
      const rows = (await statementsMarked(db, marker)).filter((r) => r.state === "active");
      return rows.length ? rows : undefined;
    }, { timeoutMs: 15_000, what: "the second call to start" });
    console.log(`late cancel: first call ran on backend ${firstPid}, the second runs on ${row!.pid}${row!.pid === firstPid ? " (the same pooled backend)" : ""}`);
    const note = mcpPost("2025", { method: "notifications/cancelled", params: { requestId: "done-1", reason: "late" } });
    expect((await fetch(worker.mcpUrl, { method: "POST", headers: note.headers, body: note.body })).status).toBe(202);
    expect(await second.done).toBe(200);
    const result = second.messages.find((m) => m.id === "next-1");
    expect(result.result.isError).toBeFalsy();
  });
});
