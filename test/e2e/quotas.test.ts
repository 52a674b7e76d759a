/**
 * Rate limits, concurrency caps and payload limits, each on its own: the
 * expensive and code token buckets, MAX_CONCURRENT_REQUESTS, the code run
 * cap, the RateLimit-* headers, the SQL length limit and
 * MAX_CODE_BYTES. On a Worker with tiny limits (see global-setup: 3 expensive
 * and 3 code calls per minute per key, 3 requests in flight, one program at
 * a time, MAX_CODE_BYTES=1000).
 *
 * Independent of machine speed: a bucket refills continuously, so bounds on
 * how many calls pass are computed from the time the calls really took.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type pg from "pg";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { call, connectClient, ok, rawText, text } from "../support/mcp";
import { MCP_HEADERS, raw, toolCall, type RawResponse } from "../support/http";
import { observer, scratchDatabase, uniqueName } from "../support/db";
import { waitFor } from "../support/wait";
import { startWorker } from "../../scripts/lib/worker";

const url = () => inject("limitsMcpUrl");
const keys = () => inject("apiKeys");
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const post = (token: string, name: string, args: unknown, id = 1, timeoutMs = 30_000) => raw(url(), { headers: { ...MCP_HEADERS, ...bearer(token) }, body: toolCall(name, args, id), timeoutMs });

let db: pg.Client;
beforeAll(async () => {
  db = await observer();
});
afterAll(async () => db?.end());

/** Calls until the first 429 (at most `max` calls); the successes before it, the 429, and how long it took. */
async function spend(send: (i: number) => Promise<RawResponse>, max: number) {
  const passed: RawResponse[] = [];
  const started = Date.now();
  for (let i = 0; i < max; i++) {
    const r = await send(i);
    if (r.status === 429) return { passed, refused: r, elapsedMs: Date.now() - started };
    expect(r.status, r.body).toBe(200);
    expect(r.json?.error, r.body).toBeUndefined();
    passed.push(r);
  }
  throw new Error(`no 429 within ${max} calls`);
}

/** Tokens a bucket of `perMinute` can have refilled in `ms`. */
const refilled = (perMinute: number, ms: number) => Math.ceil((ms * perMinute) / 60_000);

/** Backends running a statement that contains `marker`. */
const running = async (marker: string) => (await db.query("select count(*)::int as n from pg_stat_activity where query like $1 and pid <> pg_backend_pid()", [`%${marker}%`])).rows[0].n as number;

/**
 * Ends the statements holding a slot (they sleep far longer than any check
 * takes), so what the test sees while they hold it does not depend on how
 * fast the machine is.
 */
const release = (marker: string) => db.query("select pg_cancel_backend(pid) from pg_stat_activity where query like $1 and pid <> pg_backend_pid()", [`%${marker}%`]);

describe("token buckets", () => {
  it("the expensive bucket answers 429 with Retry-After once spent, while cheap calls still pass", async () => {
    const { passed, refused, elapsedMs } = await spend((i) => post(keys().expensive, "pg_query_explain", { sql: "select 1" }, i), 50);
    expect(passed.length).toBeGreaterThanOrEqual(3);
    expect(passed.length).toBeLessThanOrEqual(3 + refilled(3, elapsedMs));
    // Successful responses carry the tightest bucket: 3 per minute, one fewer each time.
    expect(passed[0]!.headers["ratelimit-limit"]).toBe("3");
    expect(passed[0]!.headers["ratelimit-remaining"]).toBe("2");
    expect(Number(passed[0]!.headers["ratelimit-reset"])).toBeGreaterThan(0);
    const remaining = passed.map((r) => Number(r.headers["ratelimit-remaining"]));
    expect(remaining.at(-1)).toBe(0);
    expect(refused.headers["retry-after"]).toMatch(/^\d+$/);
    expect(Number(refused.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers["retry-after"])).toBeLessThanOrEqual(20); // one token per 20 s
    expect(refused.headers["ratelimit-limit"]).toBe("3");
    expect(refused.headers["ratelimit-remaining"]).toBe("0");
    expect(refused.json.error.message).toMatch(/^rate limit exceeded: 3 calls per minute; retry after \d+s$/);
    expect(refused.json.error.data).toMatchObject({ reason: "rate", limit: 3, remaining: 0 });
    // The per-call bucket (1000 a minute) is separate: a cheap call with the same key passes.
    const cheap = await post(keys().expensive, "pg_query_read", { sql: "select 1" });
    expect(cheap.status).toBe(200);
    expect(cheap.headers["ratelimit-limit"]).toBe("1000");
  });

  it("the code bucket answers 429 once a key has run its programs for the minute", async () => {
    const { passed, refused, elapsedMs } = await spend((i) => post(keys().code, "pg_execute_code", { code: "return 1" }, i), 50);
    expect(passed.length).toBeGreaterThanOrEqual(3);
    expect(passed.length).toBeLessThanOrEqual(3 + refilled(3, elapsedMs));
    expect(passed[0]!.headers["ratelimit-limit"]).toBe("3");
    expect(Number(refused.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(refused.json.error.data).toMatchObject({ reason: "rate", limit: 3, remaining: 0 });
  });
});

describe("buckets across a restart of the caller's object", () => {
  it("spent tokens are written behind the calls: once written, a new incarnation of the caller's object has the bucket as spent as the old one", async () => {
    // A Worker of its own: the test evicts its caller's Limits object (AUTH_MODE=none: every call is the caller "local").
    const worker = await startWorker({ databaseUrl: inject("serverDatabaseUrl"), bundleDir: inject("workerBundleDir"), vars: { AUTH_MODE: "none", RATE_LIMIT_EXPENSIVE_PER_MINUTE: "1" } });
    try {
      const send = (name: string, i: number) => raw(worker.mcpUrl, { headers: MCP_HEADERS, body: toolCall(name, { sql: "select 1" }, i) });
      const spentFrom = Date.now();
      const { passed, refused } = await spend((i) => send("pg_query_explain", i), 5);
      expect(passed).toHaveLength(1);
      expect(refused.json.error.data).toMatchObject({ reason: "rate", limit: 1 });
      // The write comes PERSIST_MS (1 s) after the spending; a generous margin for a loaded machine.
      await new Promise((r) => setTimeout(r, 3_000));
      // The object still holds the request slot it was granted: a cheap call asks nothing of the deployment's object.
      const kept = await send("pg_query_read", 6);
      expect(kept.status, kept.body).toBe(200);
      expect(kept.headers["server-timing"]).toContain('do-deployment;desc="0"');
      await worker.evictDurableObject!("Limits", "caller:local");
      // A new incarnation: it holds no slot (slots live in memory), so it asks the deployment for one.
      const fresh = await send("pg_query_read", 7);
      expect(fresh.status, fresh.body).toBe(200);
      expect(fresh.headers["server-timing"]).toContain('do-deployment;desc="1"');
      // Its bucket is the one written: one token a minute, so refused unless a whole minute has passed since it was spent.
      const after = await send("pg_query_explain", 8);
      if (Date.now() - spentFrom >= 59_000) throw new Error("the machine took a minute for this test: the spent token has refilled, so the bucket proves nothing; run it again");
      expect(after.status, after.body).toBe(429);
      expect(after.json.error.data).toMatchObject({ reason: "rate", limit: 1, remaining: 0 });
    } finally {
      await worker.stop();
    }
  }, 120_000);
});

describe("a caller past its limits costs the database nothing", () => {
  it("refused calls open no connection: only the admitted ones are sessions in PostgreSQL", async () => {
    // A database and a Worker of their own, so that PostgreSQL's count of sessions is this test's alone.
    const scratch = await scratchDatabase("refused");
    const worker = await startWorker({ databaseUrl: scratch.url(inject("serverDatabaseUrl")), bundleDir: inject("workerBundleDir"), vars: { AUTH_MODE: "none", READ_ROLE: "", RATE_LIMIT_EXPENSIVE_PER_MINUTE: "1" } });
    try {
      const send = (name: string, i: number) => raw(worker.mcpUrl, { headers: MCP_HEADERS, body: toolCall(name, { sql: "select 1" }, i) });
      const sessions = async () => {
        await db.query("select pg_stat_clear_snapshot()");
        return Number((await db.query("select sessions from pg_stat_database where datname = $1", [scratch.name])).rows[0].sessions);
      };
      // An admitted call is counted: the count sees this Worker's connections.
      const s0 = await sessions();
      expect((await send("pg_query_explain", 0)).status).toBe(200);
      const s1 = await waitFor(async () => ((n) => (n > s0 ? n : undefined))(await sessions()), { what: "the admitted call's session to be counted" });
      // Twenty calls past the bucket: refused before any statement (each used to open a connection to look for one to cancel).
      for (let i = 1; i <= 20; i++) {
        const r = await send("pg_query_explain", i);
        expect(r.status, r.body).toBe(429);
      }
      // One more admitted call, counted after them: the refused ones added nothing.
      expect((await send("pg_query_read", 21)).status).toBe(200);
      await waitFor(async () => (await sessions()) > s1, { what: "the last call's session to be counted" });
      await new Promise((r) => setTimeout(r, 1_500)); // a straggler would be counted by now
      expect((await sessions()) - s1).toBe(1);
    } finally {
      await worker.stop();
      await scratch.drop();
    }
  }, 120_000);
});

describe("concurrency caps", () => {
  it("MAX_CONCURRENT_REQUESTS: a request beyond 3 in flight gets 429 (concurrency), and passes once they finish", async () => {
    const marker = uniqueName("inflight");
    const slow = [0, 1, 2].map((i) => post(keys().read, "pg_query_read", { sql: `select pg_sleep(25) /* ${marker} */` }, i));
    await waitFor(async () => (await running(marker)) === 3, { what: "three slow statements running" });
    const busy = await post(keys().read, "pg_query_read", { sql: "select 1" });
    await release(marker);
    expect(busy.status).toBe(429);
    expect(busy.json.error.message).toMatch(/^server busy: 3 requests already in flight for this deployment; retry after 1s$/);
    expect(busy.json.error.data).toMatchObject({ reason: "concurrency", limit: 3, remaining: 0 });
    expect(busy.headers["retry-after"]).toBe("1");
    for (const r of await Promise.all(slow)) expect(r.status).toBe(200);
    // Slots are released when each body has been sent.
    const after = await waitFor(async () => {
      const r = await post(keys().read, "pg_query_read", { sql: "select 1" });
      return r.status === 200 ? r : undefined;
    }, { what: "a request to pass once the slow ones are done" });
    expect(after.json.result.isError, after.body).toBeFalsy();
  });

  it("MAX_CONCURRENT_CODE_RUNS: a second program while one runs is refused with too_many_programs", async () => {
    const marker = uniqueName("coderun");
    const client = await connectClient(url(), { headers: bearer(keys().codeCap) });
    const first = call(client, "pg_execute_code", { code: `await pg.query("select pg_sleep(25) /* ${marker} */"); return "first"` });
    await waitFor(async () => (await running(marker)) === 1, { what: "the first program's statement running" });
    const second = await call(client, "pg_execute_code", { code: "return 2" });
    await release(marker);
    expect(second.isError).toBe(true);
    expect(rawText(second)).toMatch(/^ERROR too_many_programs: 1 programs of this kind are already running on this server \(MAX_CONCURRENT_CODE_RUNS=1\)/);
    expect(rawText(await first)).toMatch(/57014|canceling statement/);
    // The slot is freed when the run ends.
    expect((await ok<{ result: unknown }>(client, "pg_execute_code", { code: "return 3" })).result).toBe(3);
    await client.close();
  });
});

describe("limits per caller (one Durable Object each), the in-flight cap per deployment", () => {
  it("two callers do not share a bucket: one spends its expensive calls, the other still has all of its own", async () => {
    const { passed, refused, elapsedMs } = await spend((i) => post(keys().shardA, "pg_query_explain", { sql: "select 1" }, i), 50);
    expect(passed.length).toBeGreaterThanOrEqual(3);
    expect(passed.length).toBeLessThanOrEqual(3 + refilled(3, elapsedMs));
    expect(refused.json.error.data).toMatchObject({ reason: "rate", limit: 3, remaining: 0 });
    // The caller's own cap still holds: its next expensive call is refused too.
    expect((await post(keys().shardA, "pg_query_explain", { sql: "select 1" })).status).toBe(429);
    const other = await post(keys().shardB, "pg_query_explain", { sql: "select 1" });
    expect(other.status, other.body).toBe(200);
    expect(other.headers["ratelimit-limit"]).toBe("3");
    expect(other.headers["ratelimit-remaining"]).toBe("2");
  });

  it("MAX_CONCURRENT_REQUESTS counts every caller: two in flight for one and one for another refuse all three callers; slots no longer in use go to whoever asks next", async () => {
    const marker = uniqueName("shared_slots");
    const sleep = { sql: `select pg_sleep(25) /* ${marker} */` };
    const slow = [post(keys().shardA, "pg_query_read", sleep, 1), post(keys().shardA, "pg_query_read", sleep, 2), post(keys().shardB, "pg_query_read", sleep, 3)];
    await waitFor(async () => (await running(marker)) === 3, { what: "three slow statements from two callers running" });
    const refused = await Promise.all([keys().shardA, keys().shardB, keys().shardC].map((k) => post(k, "pg_query_read", { sql: "select 1" })));
    await release(marker);
    for (const r of refused) {
      expect(r.status, r.body).toBe(429);
      expect(r.json.error.data).toMatchObject({ reason: "concurrency", limit: 3, remaining: 0 });
    }
    for (const r of await Promise.all(slow)) expect(r.status).toBe(200);
    // The first two callers keep their slots after their requests end; a third caller gets them back from them.
    const third = await waitFor(async () => {
      const r = await post(keys().shardC, "pg_query_read", { sql: "select 1" });
      return r.status === 200 ? r : undefined;
    }, { what: "a third caller's request to pass once the slow ones are done" });
    expect(third.json.result.isError).toBeFalsy();
    // The cap is still exact afterwards: three held by the third caller fill it for the others.
    const marker2 = uniqueName("shared_slots_c");
    const held = [1, 2, 3].map((i) => post(keys().shardC, "pg_query_read", { sql: `select pg_sleep(25) /* ${marker2} */` }, i));
    await waitFor(async () => (await running(marker2)) === 3, { what: "three slow statements from the third caller running" });
    const busy = await post(keys().shardA, "pg_query_read", { sql: "select 1" });
    await release(marker2);
    expect(busy.status, busy.body).toBe(429);
    for (const r of await Promise.all(held)) expect(r.status).toBe(200);
  });
});

describe("payload limits", () => {
  it("SQL text: 100,000 characters pass, one more is an invalid-arguments error naming the limit", async () => {
    const client = await connectClient(url(), { headers: bearer(keys().read) });
    const exact = `select 1 --${"x".repeat(100_000 - "select 1 --".length)}`;
    expect(exact.length).toBe(100_000);
    expect((await ok<{ rows: unknown[][] }>(client, "pg_query_read", { sql: exact })).rows).toEqual([[1]]);
    const over = await call(client, "pg_query_read", { sql: `${exact}x` });
    expect(over.isError).toBe(true);
    expect(text(over)).toMatch(/^ERROR invalid_arguments: Invalid arguments for tool pg_query_read: .*(100000|100,000)[\s\S]*→ at sql/);
    await client.close();
  });

  it("MAX_CODE_BYTES counts bytes: a program over it is refused with code_too_large before it runs", async () => {
    const client = await connectClient(url(), { headers: bearer(keys().admin) });
    const marker = uniqueName("toolarge");
    // 501 two-byte characters: under 1000 characters, over 1000 bytes.
    const big = `await pg.query("select '${marker}'"); return "${"é".repeat(501)}"`;
    const r = await call(client, "pg_execute_code", { code: big });
    expect(r.isError).toBe(true);
    expect(rawText(r)).toMatch(/^ERROR code_too_large: the program is larger than 1000 bytes \(MAX_CODE_BYTES\)/);
    const fits = `return "${"é".repeat(400)}".length`;
    expect((await ok<{ result: unknown }>(client, "pg_execute_code", { code: fits })).result).toBe(400);
    await client.close();
  });
});
