/**
 * `npm run bench -- --peers`: the product against Google's MCP Toolbox for
 * Databases on the same PostgreSQL, in one run, so the ratios mean something
 * on a noisy machine. Prints measurements; asserts nothing.
 *
 * Rows: the product as `npm run dev` serves it (wrangler dev, with its proxy
 * worker) and as Miniflare serves it (one workerd hop), both with an API key
 * and the default limits on (as deployed), and Toolbox (`--prebuilt postgres`,
 * MCP over HTTP). Tables: the product directly to PostgreSQL (a connection
 * per call, SCRAM and all), and behind PgBouncer in transaction mode (the
 * stand-in for Hyperdrive's pool; skipped with a message when `pgbouncer` is
 * not installed). Toolbox runs directly in both (it keeps its own pool).
 *
 * Toolbox comes from npm on demand (`npm exec`, pinned version): it is a
 * ~100 MB platform binary that only this script needs, so it is not a
 * dependency every install downloads. The first run fetches it into npm's
 * cache; later runs start it from there.
 *
 * Bounded: every timed loop has a call count and a time limit
 * (BENCH_CALLS, BENCH_THROUGHPUT_MS), and every server it starts is stopped
 * by its own handle.
 */
import pg from "pg";
import { createHash, randomBytes } from "node:crypto";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ms, percentile, table, time } from "./harness";
import { startEmbeddedPostgres } from "../lib/postgres";
import { applyRoles, migrate } from "../lib/migrate";
import { startWorker } from "../lib/worker";
import { startToolbox } from "../lib/peers";
import { pgbouncerMissing, startPgBouncer } from "../lib/pgbouncer";

const CALLS = Number(process.env.BENCH_CALLS ?? 300);
const BIG_CALLS = 20;
const THROUGHPUT_MS = Number(process.env.BENCH_THROUGHPUT_MS ?? 4000);
const THROUGHPUT_MAX_CALLS = 20_000;
const CLIENTS = 8;
const START_TIMEOUT_MS = 180_000;
const TOOLBOX = "Toolbox";
const BIG_SQL = "select id, name, amount, created_at, flag from bench_rows order by id";

interface Target {
  name: string;
  mcpUrl: string;
  headers: Record<string, string>;
  /** The tool that runs one SQL statement, and its arguments. */
  sqlTool: string;
  args(sql: string): Record<string, unknown>;
  stop(): Promise<void>;
}

interface Result {
  p50: number;
  p99: number;
  bigP50: number;
  bigBytes: number;
  listBytes: number;
  tools: number;
  rps: number;
  calls: number;
  /** Synchronous Durable Object round trips per read call, by object scope, as the product reports them. */
  doHops?: string;
}

async function mcpClient(target: Target, onResponse?: (r: Response) => void) {
  const c = new Client({ name: "bench", version: "1" });
  const fetchWith: typeof fetch = async (input, init) => {
    const r = await fetch(input, init);
    onResponse?.(r);
    return r;
  };
  await c.connect(new StreamableHTTPClientTransport(new URL(target.mcpUrl), { requestInit: { headers: target.headers }, fetch: fetchWith }));
  return c;
}

async function measure(target: Target): Promise<Result> {
  let serverTiming: string | null = null;
  const client = await mcpClient(target, (r) => (serverTiming = r.headers.get("server-timing")));
  const call = (sql: string) => client.callTool({ name: target.sqlTool, arguments: target.args(sql) });
  const first = (await call("select 1")) as { isError?: boolean; content: { text: string }[] };
  if (first.isError) throw new Error(`${target.name}: select 1 failed: ${first.content[0]?.text}`);
  const small = await time(() => call("select 1"), CALLS, 30);
  const doHops = hopsOf(serverTiming);

  let bigBytes = 0;
  const big = await time(async () => {
    const r = (await call(BIG_SQL)) as { isError?: boolean; content: { text: string }[]; structuredContent?: unknown };
    if (r.isError) throw new Error(`${target.name}: the 1000-row query failed: ${r.content[0]?.text.slice(0, 300)}`);
    // What a model (and the client) receives: every text part and the structured content.
    bigBytes = r.content.reduce((n, p) => n + Buffer.byteLength(p.text ?? ""), 0) + (r.structuredContent ? Buffer.byteLength(JSON.stringify(r.structuredContent)) : 0);
  }, BIG_CALLS, 3);

  const { tools } = await client.listTools();
  const listBytes = Buffer.byteLength(JSON.stringify({ tools }));

  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => mcpClient(target)));
  let calls = 0;
  const t0 = performance.now();
  const until = t0 + THROUGHPUT_MS;
  await Promise.all(
    clients.map(async (c) => {
      while (performance.now() < until && calls < THROUGHPUT_MAX_CALLS) {
        const r = (await c.callTool({ name: target.sqlTool, arguments: target.args("select 1") })) as { isError?: boolean; content: { text: string }[] };
        if (r.isError) throw new Error(`${target.name}: a throughput call failed: ${r.content[0]?.text}`);
        calls++;
      }
    }),
  );
  const rps = calls / ((performance.now() - t0) / 1000);
  await Promise.all([...clients, client].map((c) => c.close()));
  return { p50: percentile(small, 50), p99: percentile(small, 99), bigP50: percentile(big, 50), bigBytes, listBytes, tools: tools.length, rps, calls, ...(doHops ? { doHops } : {}) };
}

/** `do-caller;desc="1"` style entries of the product's Server-Timing header, as "caller 1, deployment 0". */
function hopsOf(header: string | null): string | undefined {
  if (!header) return undefined;
  const hops = [...header.matchAll(/do-(\w+);desc="?(\d+)"?/g)].map((m) => `${m[1]} ${m[2]}`);
  return hops.length ? hops.join(", ") : undefined;
}

async function startProduct(mode: "wrangler" | "miniflare", databaseUrl: string, token: string, secret: string): Promise<Target> {
  const worker = await startWorker({
    databaseUrl,
    mode,
    startTimeoutMs: START_TIMEOUT_MS,
    // As deployed (authentication, limits and the concurrency cap on), with a per-minute budget the run cannot spend.
    vars: { AUTH_MODE: "required", API_KEYS: secret, RATE_LIMIT_PER_MINUTE: "1000000", INJECTION_GUARD: "true" },
  });
  return {
    name: mode === "wrangler" ? "pg-mcp, wrangler dev (npm run dev)" : "pg-mcp, Miniflare",
    mcpUrl: worker.mcpUrl,
    headers: { authorization: `Bearer ${token}` },
    sqlTool: "pg_query_read",
    args: (sql) => ({ sql }),
    stop: () => worker.stop(),
  };
}

// ---------------------------------------------------------------- run

const stops: (() => Promise<void>)[] = [];
const stopAll = async () => {
  for (const s of stops.splice(0).reverse()) await s().catch((e) => console.error("stop failed:", e));
};
process.once("SIGINT", () => void stopAll().then(() => process.exit(130)));

try {
  const embedded = process.env.BENCH_DATABASE_URL ? undefined : await startEmbeddedPostgres();
  if (embedded) stops.push(() => embedded.stop());
  const adminUrl = process.env.BENCH_DATABASE_URL ?? embedded!.url;
  const serverUrl = await applyRoles(adminUrl, { grantFutureTablesOf: decodeURIComponent(new URL(adminUrl).username) });
  await migrate(serverUrl);
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(
    "drop table if exists bench_rows; create table bench_rows as select g as id, 'name ' || g as name, (g * 1.25)::numeric(12,2) as amount, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute' as created_at, g % 2 = 0 as flag from generate_series(1, 1000) g; grant select on bench_rows to pgmcp, pgmcp_read",
  );
  const raw = await admin.query<{ bytes: string }>(
    "select sum(octet_length(concat_ws(E'\\t', id::text, name, amount::text, created_at::text, flag::text)) + 1)::bigint as bytes from bench_rows",
  );
  const rawBytes = Number(raw.rows[0]!.bytes);

  const token = `pgm_bench_${randomBytes(16).toString("hex")}`;
  const secret = JSON.stringify([{ name: "bench", hash: createHash("sha256").update(token).digest("hex"), scopes: ["read"] }]);

  // The PgBouncer column is skipped, with the reason, when it cannot run here.
  const missing = pgbouncerMissing();
  const bouncer = missing ? `${missing}: the PgBouncer column is skipped` : await startPgBouncer(serverUrl, { poolSize: 20 }).catch((e: Error) => e.message);
  if (typeof bouncer !== "string") stops.push(() => bouncer.stop());
  const columns: [string, string | undefined][] = [
    ["direct", serverUrl],
    ["PgBouncer", typeof bouncer === "string" ? undefined : bouncer.url],
  ];

  // Toolbox runs directly only (its own pool; see scripts/lib/peers.ts): it is the reference in both columns.
  const starters: [string, (url: string) => Promise<Target>][] = [
    ["toolbox", async (url) => ({ name: TOOLBOX, headers: {}, sqlTool: "execute_sql", args: (sql) => ({ sql }), ...(await startToolbox(url)) })],
    ["wrangler", (url) => startProduct("wrangler", url, token, secret)],
    ["miniflare", (url) => startProduct("miniflare", url, token, secret)],
  ];
  const results = new Map<string, Map<string, Result | string>>();
  for (const [column, url] of columns) {
    if (!url) continue;
    for (const [key, start] of starters) {
      if (key === "toolbox" && column !== "direct") continue;
      let target: Target | undefined;
      process.stderr.write(`measuring ${key} (${column})...\n`);
      try {
        target = await start(url);
        const r = await measure(target);
        if (!results.has(column)) results.set(column, new Map());
        results.get(column)!.set(target.name, r);
      } catch (e) {
        if (!results.has(column)) results.set(column, new Map());
        results.get(column)!.set(target?.name ?? key, `failed: ${(e as Error).message.split("\n")[0]}`);
      } finally {
        await target?.stop().catch(() => {});
      }
    }
  }
  await admin.query("drop table bench_rows");
  await admin.end();

  console.log(`\n${CALLS} sequential "select 1" calls per row after warm-up; 1000 x 5 result ${BIG_CALLS} times; ${CLIENTS} clients for ${THROUGHPUT_MS} ms. Raw row data of the 1000 x 5 result: ${rawBytes} bytes.`);
  for (const [column] of columns) {
    let rows = results.get(column);
    if (!rows) {
      console.log(`\n${column}: skipped: ${bouncer}`);
      continue;
    }
    const peer = results.get("direct")?.get(TOOLBOX);
    const base = typeof peer === "object" ? peer : undefined;
    if (column !== "direct" && peer) rows = new Map([[`${TOOLBOX} (direct, its own pool)`, peer], ...rows]);
    const ratio = (v: number, b: number | undefined, invert = false) => (b ? ` (${(invert ? b / v : v / b).toFixed(2)}x)` : "");
    const lines: (string | number)[][] = [["server", "select 1 p50", "p99", "1000x5 p50", "1000x5 bytes", "bytes/raw", "tools/list bytes", `throughput, ${CLIENTS} clients`, "DO round trips per read call"]];
    for (const [name, r] of rows) {
      if (typeof r === "string") {
        lines.push([name, r, "", "", "", "", "", "", ""]);
        continue;
      }
      const self = r === base;
      lines.push([
        name,
        ms(r.p50) + (self ? "" : ratio(r.p50, base?.p50)),
        ms(r.p99) + (self ? "" : ratio(r.p99, base?.p99)),
        ms(r.bigP50) + (self ? "" : ratio(r.bigP50, base?.bigP50)),
        String(r.bigBytes) + (self ? "" : ratio(r.bigBytes, base?.bigBytes)),
        (r.bigBytes / rawBytes).toFixed(2) + "x",
        `${r.listBytes} (${r.tools} tools)`,
        `${r.rps.toFixed(0)}/s` + (self ? "" : ratio(r.rps, base?.rps)),
        r.doHops ?? (name.startsWith(TOOLBOX) ? "-" : "not reported"),
      ]);
    }
    console.log(`\n${column}${column === "PgBouncer" ? " (transaction mode: connection set-up as cheap as Hyperdrive's pool makes it)" : ""}; ratios against ${TOOLBOX} (direct)\n`);
    console.log(table(lines));
  }
} finally {
  await stopAll();
}
