/**
 * `npm run bench:cancel`: how long after a client cancels a tool call its
 * statement stops in PostgreSQL, seen from a superuser observer polling
 * pg_stat_activity every few milliseconds. Three ways to cancel (the 2025
 * SDK client's notifications/cancelled, a raw notification on another
 * request, an aborted HTTP request in each era), directly and, when the
 * machine has pgbouncer, behind PgBouncer in transaction mode. Also the gap
 * between progress heartbeats. Prints a table; asserts nothing.
 */
import pg from "pg";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { startEmbeddedPostgres } from "../lib/postgres";
import { applyRoles } from "../lib/migrate";
import { startWorker } from "../lib/worker";
import { pgbouncerMissing, startPgBouncer } from "../lib/pgbouncer";
import { mcpPost, streamPost, uniqueMarker, type Era } from "../../test/support/cancel";
import { percentile, table } from "./harness";

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const OPEN = { AUTH_MODE: "none", RATE_LIMIT_PER_MINUTE: "0", RATE_LIMIT_EXPENSIVE_PER_MINUTE: "0", MAX_CONCURRENT_REQUESTS: "0", PYTHON: "false" };

const pgServer = await startEmbeddedPostgres();
const stops: (() => Promise<void>)[] = [() => pgServer.stop()];
try {
  const serverUrl = await applyRoles(pgServer.url, {});
  const observer = new pg.Client({ connectionString: pgServer.url });
  await observer.connect();
  const active = async (marker: string) =>
    (await observer.query("select count(*)::int as n from pg_stat_activity where state = 'active' and query like $1 and pid <> pg_backend_pid()", [`%${marker}%`])).rows[0].n > 0;
  const until = async (cond: () => Promise<boolean>, limitMs = 30_000) => {
    const deadline = Date.now() + limitMs;
    while (!(await cond())) {
      if (Date.now() > deadline) throw new Error("timed out");
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  const targets: { name: string; url: string }[] = [{ name: "direct", url: serverUrl }];
  const missing = pgbouncerMissing();
  if (missing) console.log(`PgBouncer rows skipped: ${missing}`);
  else {
    const bouncer = await startPgBouncer(serverUrl, { poolSize: 4 });
    stops.unshift(() => bouncer.stop());
    targets.push({ name: "pgbouncer", url: bouncer.url });
  }

  const rows: (string | number)[][] = [["database", "cancel by", "runs", "p50 ms", "max ms"]];
  let heartbeatGaps: number[] = [];
  for (const target of targets) {
    const worker = await startWorker({ databaseUrl: target.url, vars: OPEN });
    stops.unshift(() => worker.stop());
    const client = new Client({ name: "bench", version: "1" });
    await client.connect(new StreamableHTTPClientTransport(new URL(worker.mcpUrl)));
    const sql = (m: string) => `select pg_sleep(60) as "${m}"`;

    const ways: Record<string, (marker: string) => Promise<() => void>> = {
      "SDK notifications/cancelled": async (m) => {
        const c = new AbortController();
        void client.callTool({ name: "pg_query_read", arguments: { sql: sql(m) } }, undefined, { signal: c.signal }).catch(() => {});
        await until(() => active(m));
        return () => c.abort();
      },
      ...Object.fromEntries(
        (["2025", "2026"] as Era[]).flatMap((era) => [
          [
            `raw ${era} notification`,
            async (m: string) => {
              streamPost(worker.mcpUrl, mcpPost(era, { id: m, method: "tools/call", params: { name: "pg_query_read", arguments: { sql: sql(m) } } }, "pg_query_read"));
              await until(() => active(m));
              const note = mcpPost(era, { method: "notifications/cancelled", params: { requestId: m } });
              return () => void fetch(worker.mcpUrl, { method: "POST", headers: note.headers, body: note.body });
            },
          ],
          [
            `raw ${era} HTTP abort`,
            async (m: string) => {
              const s = streamPost(worker.mcpUrl, mcpPost(era, { id: m, method: "tools/call", params: { name: "pg_query_read", arguments: { sql: sql(m) } } }, "pg_query_read"));
              await until(() => active(m));
              return () => s.abort();
            },
          ],
        ]),
      ),
    };
    for (const [way, start] of Object.entries(ways)) {
      const samples: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const marker = uniqueMarker();
        const cancel = await start(marker);
        const t = performance.now();
        cancel();
        await until(async () => !(await active(marker)));
        samples.push(performance.now() - t);
      }
      rows.push([target.name, way, RUNS, percentile(samples, 50).toFixed(0), Math.max(...samples).toFixed(0)]);
    }
    if (target.name === "direct") {
      const times: number[] = [];
      await client.callTool({ name: "pg_query_read", arguments: { sql: "select pg_sleep(8)" } }, undefined, { onprogress: () => times.push(performance.now()), timeout: 60_000 });
      heartbeatGaps = times.slice(1).map((t, i) => t - times[i]!);
    }
    await client.close();
  }
  console.log(table(rows));
  if (heartbeatGaps.length) console.log(`\nprogress heartbeats during pg_sleep(8): ${heartbeatGaps.length + 1}, gaps p50 ${percentile(heartbeatGaps, 50).toFixed(0)} ms, max ${Math.max(...heartbeatGaps).toFixed(0)} ms`);
  await observer.end();
} finally {
  for (const stop of stops) await stop().catch(() => {});
}
