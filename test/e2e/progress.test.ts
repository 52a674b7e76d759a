/**
 * Progress and cancellation of long tool calls, in both protocol eras: the
 * SDK client (2025) and raw HTTP (2025 and 2026-07-28). A cancel is checked
 * where it matters, in pg_stat_activity from the superuser observer: the
 * statement stops, and the server still serves afterwards.
 */
import { beforeAll, describe, expect, inject, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type pg from "pg";
import { call, ok, text } from "../support/mcp";
import { useClientAndObserver } from "../support/db";
import { waitFor } from "../support/wait";
import { mcpPost, running, statementsMarked, streamPost, uniqueMarker, type Era } from "../support/cancel";

const fixture = useClientAndObserver();
let client: Client;
let db: pg.Client;
let mcpUrl: string;
beforeAll(() => {
  ({ client, db } = fixture);
  mcpUrl = inject("mcpUrl");
});

/** A read that sleeps a minute (far past any test), marked so the observer can find it. */
const sleeper = (marker: string, seconds = 60) => `select pg_sleep(${seconds}) as "${marker}"`;

const STOPPED = { timeoutMs: 10_000, what: "the statement to stop" };
const STARTED = { timeoutMs: 15_000, what: "the statement to start" };

async function stillServes(): Promise<void> {
  expect(await ok(client, "pg_query_read", { sql: "select 1 as one" })).toMatchObject({ rows: [[1]] });
}

describe("progress", () => {
  it("a 2025 SDK client receives heartbeats with the elapsed time during pg_sleep", async () => {
    const seen: { progress: number; message?: string }[] = [];
    const r = await client.callTool({ name: "pg_query_read", arguments: { sql: "select pg_sleep(3.5) as slept" } }, undefined, { onprogress: (p) => seen.push(p) });
    expect(r.isError).toBeFalsy();
    expect(seen.length).toBeGreaterThanOrEqual(1);
    expect(seen[0]!.message).toMatch(/pg_query_read running, \d+\.\d s/);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.progress).toBeGreaterThan(seen[i - 1]!.progress);
  });

  it.each(["2025", "2026"] as Era[])("raw HTTP (%s) gets notifications/progress on the call's stream, then the result", async (era) => {
    const s = streamPost(mcpUrl, mcpPost(era, { id: 7, method: "tools/call", params: { name: "pg_query_read", arguments: { sql: "select pg_sleep(3.5) as slept" }, _meta: { progressToken: "tok-1" } } }, "pg_query_read"));
    expect(await s.done).toBe(200);
    const progress = s.messages.filter((m) => m.method === "notifications/progress");
    expect(progress.length).toBeGreaterThanOrEqual(1);
    expect(progress[0].params.progressToken).toBe("tok-1");
    const result = s.messages.find((m) => m.id === 7);
    expect(result.result.structuredContent.rows).toEqual([[""]]);
  });

  it("a script reports each statement", async () => {
    const seen: { message?: string }[] = [];
    const r = await client.callTool({ name: "pg_code_run_sql_script", arguments: { sql: "select 1; select pg_sleep(1.7); select 3" } }, undefined, { onprogress: (p) => seen.push(p) });
    expect(r.isError).toBeFalsy();
    const messages = seen.map((p) => p.message ?? "");
    expect(messages).toContain("statement 1 of 3");
    expect(messages).toContain("statement 3 of 3");
  });

  it("a program reports the database calls it has made", async () => {
    const seen: { message?: string }[] = [];
    const code = "await pg.query('select 1'); await pg.query('select pg_sleep(1.7)'); return 'done'";
    const r = await client.callTool({ name: "pg_execute_code", arguments: { code } }, undefined, { onprogress: (p) => seen.push(p) });
    expect(r.isError).toBeFalsy();
    expect(seen.map((p) => p.message ?? "").some((m) => /database call 2\b/.test(m))).toBe(true);
  });

  it("a JSON-only client gets the result alone", async () => {
    const post = mcpPost("2025", { id: 8, method: "tools/call", params: { name: "pg_query_read", arguments: { sql: "select pg_sleep(1.7) as slept" }, _meta: { progressToken: 1 } } });
    const res = await fetch(mcpUrl, { method: "POST", headers: { ...post.headers, accept: "application/json" }, body: post.body });
    expect(res.headers.get("content-type")).toContain("application/json");
    const body = await res.json();
    expect(body.id).toBe(8);
    expect(body.result.structuredContent.rows).toEqual([[""]]);
  });
});

describe("cancellation reaches PostgreSQL", () => {
  it("notifications/cancelled from the SDK client cancels the running statement", async () => {
    const marker = uniqueMarker();
    const controller = new AbortController();
    const pending = client.callTool({ name: "pg_query_read", arguments: { sql: sleeper(marker) } }, undefined, { signal: controller.signal }).catch((e: Error) => e);
    await waitFor(() => running(db, marker), STARTED);
    controller.abort("enough");
    expect(await pending).toBeInstanceOf(Error);
    await waitFor(async () => !(await running(db, marker)), STOPPED);
    await stillServes();
  });

  it.each(["2025", "2026"] as Era[])("an aborted HTTP request (%s) cancels the running statement", async (era) => {
    const marker = uniqueMarker();
    const s = streamPost(mcpUrl, mcpPost(era, { id: 11, method: "tools/call", params: { name: "pg_query_read", arguments: { sql: sleeper(marker) } } }, "pg_query_read"));
    await waitFor(() => running(db, marker), STARTED);
    s.abort();
    await s.done;
    await waitFor(async () => !(await running(db, marker)), STOPPED);
    await stillServes();
  });

  it.each(["2025", "2026"] as Era[])("notifications/cancelled on another request (%s) cancels the call, which answers with the cancellation error", async (era) => {
    const marker = uniqueMarker();
    const id = `call-${marker}`;
    const s = streamPost(mcpUrl, mcpPost(era, { id, method: "tools/call", params: { name: "pg_query_read", arguments: { sql: sleeper(marker) }, _meta: { progressToken: 5 } } }, "pg_query_read"));
    await waitFor(() => running(db, marker), STARTED);
    const note = mcpPost(era, { method: "notifications/cancelled", params: { requestId: id, reason: "test" } });
    const res = await fetch(mcpUrl, { method: "POST", headers: note.headers, body: note.body });
    expect(res.status).toBe(202);
    await waitFor(async () => !(await running(db, marker)), STOPPED);
    await s.done;
    // The client that cancelled ignores it; another client of the same caller using the same id would be waiting for it.
    const answer = s.messages.find((m) => m.id === id);
    expect(answer.result.isError).toBe(true);
    expect(answer.result.content[0].text).toMatch(/^ERROR 57014: canceling statement due to user request/);
    await stillServes();
  });

  it("a cancel for another caller's request id does not touch a running call", async () => {
    // Same id, but the running name is derived from the caller too: here both are `local`, so use an id nobody runs.
    const marker = uniqueMarker();
    const s = streamPost(mcpUrl, mcpPost("2025", { id: `mine-${marker}`, method: "tools/call", params: { name: "pg_query_read", arguments: { sql: sleeper(marker, 4) } } }));
    await waitFor(() => running(db, marker), STARTED);
    const note = mcpPost("2025", { method: "notifications/cancelled", params: { requestId: `other-${marker}` } });
    expect((await fetch(mcpUrl, { method: "POST", headers: note.headers, body: note.body })).status).toBe(202);
    expect(await s.done).toBe(200);
    const result = s.messages.find((m) => m.id === `mine-${marker}`);
    expect(result.result.isError).toBeFalsy();
  });

  it("a cancelled program run stops: its statement is cancelled and it makes no further calls", async () => {
    const marker = uniqueMarker();
    const code = `for (let i = 0; i < 100; i++) await pg.query(${JSON.stringify(sleeper(marker, 2))}); return 'finished'`;
    const controller = new AbortController();
    const pending = client.callTool({ name: "pg_execute_code", arguments: { code } }, undefined, { signal: controller.signal }).catch((e: Error) => e);
    await waitFor(() => running(db, marker), STARTED);
    controller.abort("stop the program");
    await pending;
    await waitFor(async () => !(await running(db, marker)), STOPPED);
    // The run's connection is closed: no session of it is left to make a next call.
    await waitFor(async () => (await statementsMarked(db, marker)).length === 0, { timeoutMs: 10_000, what: "the program's session to close" });
    await stillServes();
  });

  it("a cancelled statement in a held transaction leaves it honestly aborted", async () => {
    const marker = uniqueMarker();
    const { tx } = await ok<{ tx: string }>(client, "pg_tx_begin", {});
    const controller = new AbortController();
    const pending = client.callTool({ name: "pg_query_write", arguments: { tx, sql: `select pg_sleep(60) as "${marker}"` } }, undefined, { signal: controller.signal }).catch((e: Error) => e);
    await waitFor(() => running(db, marker), STARTED);
    controller.abort("stop");
    await pending;
    await waitFor(async () => !(await running(db, marker)), STOPPED);
    const status = await waitFor(async () => {
      const s = await ok<{ state: string }>(client, "pg_tx_status", { tx });
      return s.state === "aborted" ? s : undefined;
    }, { timeoutMs: 10_000, what: "the transaction to say it is aborted" });
    expect(status.state).toBe("aborted");
    const next = await call(client, "pg_query_read", { tx, sql: "select 1" });
    expect(next.isError).toBe(true);
    expect(text(next)).toMatch(/25P02|aborted/);
    await ok(client, "pg_tx_rollback", { tx });
    await stillServes();
  });
});
