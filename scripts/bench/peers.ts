/**
 * `npm run bench -- --peers`: the product against Google's MCP Toolbox for
 * Databases on the same PostgreSQL, in one run, so the ratios mean something
 * on a noisy machine. Prints measurements; asserts nothing.
 *
 * Rows: the product as `npm run dev` serves it (wrangler dev, with its proxy
 * worker) and as Miniflare serves it (one workerd hop), both with an API key
 * and the default limits on (as deployed), and Toolbox (`--prebuilt postgres`,
 * MCP over HTTP). Columns: directly to PostgreSQL, and behind PgBouncer in
 * transaction mode (the stand-in for Hyperdrive's pool; skipped with a message
 * when `pgbouncer` is not installed).
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
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ms, percentile, table, time } from "./harness";
import { startEmbeddedPostgres } from "../lib/postgres";
import { applyRoles, migrate } from "../lib/migrate";
import { startWorker } from "../lib/worker";
import { freePort } from "../lib/ports";

const CALLS = Number(process.env.BENCH_CALLS ?? 300);
const BIG_CALLS = 20;
const THROUGHPUT_MS = Number(process.env.BENCH_THROUGHPUT_MS ?? 4000);
const THROUGHPUT_MAX_CALLS = 20_000;
const CLIENTS = 8;
const TOOLBOX_PACKAGE = "@toolbox-sdk/server@1.12.0";
const START_TIMEOUT_MS = 180_000;
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

// ---------------------------------------------------------------- servers

/** PgBouncer in transaction mode in front of `databaseUrl`, or why not. */
async function startPgBouncer(databaseUrl: string, users: Record<string, string>): Promise<{ url(user: string, password: string): string; stop(): Promise<void> } | string> {
  const binary = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer", "/usr/local/bin/pgbouncer"].find((p) => existsSync(p));
  if (!binary) return "pgbouncer is not installed (Debian/Ubuntu: apt-get install -y pgbouncer; macOS: brew install pgbouncer): the PgBouncer column is skipped";
  const db = new URL(databaseUrl);
  const dir = mkdtempSync(join(tmpdir(), "pg-mcp-bouncer-"));
  const port = await freePort();
  writeFileSync(join(dir, "userlist.txt"), Object.entries(users).map(([u, p]) => `"${u}" "${p}"`).join("\n") + "\n");
  writeFileSync(
    join(dir, "pgbouncer.ini"),
    `[databases]
${db.pathname.slice(1) || "postgres"} = host=${db.hostname} port=${db.port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = trust
auth_file = ${join(dir, "userlist.txt")}
pool_mode = transaction
max_client_conn = 500
default_pool_size = 20
ignore_startup_parameters = extra_float_digits,statement_timeout,lock_timeout,idle_in_transaction_session_timeout,options
logfile = ${join(dir, "pgbouncer.log")}
`,
  );
  const root = userInfo().uid === 0;
  // PgBouncer refuses to run as root: as root, it drops to the postgres user (embedded PostgreSQL created it).
  if (root) {
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
    chownSync(dir, uid, gid);
  }
  const child = spawn(binary, [...(root ? ["-u", "postgres"] : []), join(dir, "pgbouncer.ini")], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  const url = (user: string, password: string) => `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}${db.pathname}?sslmode=disable`;
  const [user, password] = Object.entries(users)[0]!;
  const deadline = Date.now() + 15_000;
  for (;;) {
    const c = new pg.Client({ connectionString: url(user, password) });
    try {
      await c.connect();
      await c.query("select 1");
      await c.end();
      break;
    } catch (e) {
      await c.end().catch(() => {});
      if (child.exitCode !== null || Date.now() > deadline) {
        await stopChild(child);
        return `pgbouncer did not start (${(e as Error).message}): ${stderr.trim()}`;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    async stop() {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Stops a child (its whole process group when it was started detached) and waits for it to exit. */
async function stopChild(child: ChildProcess, group = false): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  const done = new Promise((r) => child.once("exit", r));
  try {
    process.kill(group ? -child.pid : child.pid, "SIGTERM");
  } catch {}
  const timer = setTimeout(() => {
    try {
      process.kill(group ? -child.pid! : child.pid!, "SIGKILL");
    } catch {}
  }, 5000);
  await done;
  clearTimeout(timer);
}

/** Google's MCP Toolbox, prebuilt postgres tools, on a free loopback port. */
async function startToolbox(databaseUrl: string, pooled: boolean): Promise<Target> {
  const db = new URL(databaseUrl);
  const port = await freePort();
  // Its own process group, so stopping it stops npm exec and the binary it started.
  const child = spawn("npm", ["exec", "--yes", `--package=${TOOLBOX_PACKAGE}`, "--", "toolbox", "--prebuilt", "postgres", "--address", "127.0.0.1", "--port", String(port)], {
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      POSTGRES_HOST: db.hostname,
      POSTGRES_PORT: db.port,
      POSTGRES_DATABASE: db.pathname.slice(1) || "postgres",
      POSTGRES_USER: decodeURIComponent(db.username),
      POSTGRES_PASSWORD: decodeURIComponent(db.password),
      // Behind a transaction-mode pooler, pgx's cached named statements collide across server connections
      // ("prepared statement ... already exists"): unnamed statements, as the product sends, are what works there.
      ...(pooled ? { POSTGRES_QUERY_PARAMS: "{default_query_exec_mode: exec}" } : {}),
    },
  });
  let output = "";
  const collect = (d: Buffer) => (output = (output + d).slice(-4000));
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  const stop = () => stopChild(child, true);
  process.once("exit", () => {
    try {
      if (child.pid && child.exitCode === null) process.kill(-child.pid, "SIGKILL");
    } catch {}
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + START_TIMEOUT_MS; // the first run downloads the binary
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Toolbox exited during start-up:\n${output}`);
    try {
      if ((await fetch(`${base}/`)).ok) break;
    } catch {}
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`Toolbox did not answer within ${START_TIMEOUT_MS} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { name: "Toolbox", mcpUrl: `${base}/mcp`, headers: {}, sqlTool: "execute_sql", args: (sql) => ({ sql }), stop };
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

  const server = new URL(serverUrl);
  const bouncer = await startPgBouncer(serverUrl, { [decodeURIComponent(server.username)]: decodeURIComponent(server.password) });
  if (typeof bouncer !== "string") stops.push(() => bouncer.stop());
  const columns: [string, string | undefined][] = [
    ["direct", serverUrl],
    ["PgBouncer", typeof bouncer === "string" ? undefined : bouncer.url(decodeURIComponent(server.username), decodeURIComponent(server.password))],
  ];

  const starters: [string, (url: string, pooled: boolean) => Promise<Target>][] = [
    ["toolbox", (url, pooled) => startToolbox(url, pooled)],
    ["wrangler", (url) => startProduct("wrangler", url, token, secret)],
    ["miniflare", (url) => startProduct("miniflare", url, token, secret)],
  ];
  const results = new Map<string, Map<string, Result | string>>();
  for (const [column, url] of columns) {
    if (!url) continue;
    for (const [key, start] of starters) {
      let target: Target | undefined;
      process.stderr.write(`measuring ${key} (${column})...\n`);
      try {
        target = await start(url, column === "PgBouncer");
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
    const rows = results.get(column);
    if (!rows) {
      console.log(`\n${column}: skipped: ${bouncer}`);
      continue;
    }
    const peer = rows.get("Toolbox");
    const base = typeof peer === "object" ? peer : undefined;
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
        r.doHops ?? (name === "Toolbox" ? "-" : "not reported"),
      ]);
    }
    console.log(`\n${column}${column === "PgBouncer" ? " (transaction mode: connection set-up as cheap as Hyperdrive's pool makes it)" : ""}; ratios against Toolbox in the same column\n`);
    console.log(table(lines));
  }
} finally {
  await stopAll();
}
