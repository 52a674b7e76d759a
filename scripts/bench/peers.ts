/**
 * `npm run bench -- --peers`: the product against Google's MCP Toolbox for
 * Databases on the same PostgreSQL, in one run, so the ratios mean something
 * on a noisy machine. Prints measurements; asserts nothing.
 *
 * Rows: the product as `npm run dev` serves it (wrangler dev, with its proxy
 * worker) and as Miniflare serves it (one workerd hop), both with an API key
 * and the default limits on (as deployed), and Toolbox (`--prebuilt postgres`,
 * MCP over HTTP). Two floor rows (./floor/index.ts) say what any MCP server
 * on Workers pays here: MCP answered by hand, and the MCP SDK's stateless
 * handler, each with one tool that opens a connection per call through the
 * same Miniflare, local Hyperdrive and pooler as the product. The product's
 * distance to the SDK floor is its own; the floors' distance to Toolbox is
 * the platform's (a connection per request; one workerd thread locally).
 * "CPU per select 1" is the CPU time of the serving processes (workerd for
 * the Miniflare rows, Toolbox's process group) over the sequential calls,
 * read from /proc: steadier than latency on a shared machine. Tables: the product directly to PostgreSQL (a connection
 * per call, SCRAM and all), and behind PgBouncer in transaction mode (the
 * stand-in for Hyperdrive's pool; skipped with a message when `pgbouncer` is
 * not installed). Toolbox connects directly in both (it keeps its own pool).
 * In each table the three servers run at once and take turns, in BENCH_ROUNDS
 * rounds (default 4, the order rotating), so a busy machine slows them alike.
 *
 * Sizes: the 1000 x 5 answer as a client gets it (text + structuredContent),
 * by default and with the rows once (request `_meta` "pg-mcp/rows": "text"
 * or "structured"; README "Where the rows are"). Vector search: the
 * pg_vector_search tool against the same SELECT through the same PgBouncer
 * (PGlite with pgvector; BENCH_VECTOR=0 skips it).
 *
 * Toolbox comes from npm on demand (`npm exec`, pinned version): it is a
 * ~100 MB platform binary that only this script needs, so it is not a
 * dependency every install downloads. The first run fetches it into npm's
 * cache; later runs start it from there.
 *
 * Bounded: every timed loop has a call count and a time limit
 * (BENCH_CALLS, BENCH_THROUGHPUT_MS, BENCH_VECTOR_CALLS), and every server it
 * starts is stopped by its own handle. BENCH_COLUMNS=PgBouncer measures only
 * the pooled table.
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
import { startPgliteVector } from "../lib/pglite";
import { rng } from "../lib/rng";
import { pgbouncerMissing, startPgBouncer } from "../lib/pgbouncer";
import { cpuMs } from "../lib/cpu";
import { join } from "node:path";

const CALLS = Number(process.env.BENCH_CALLS ?? 300);
const BIG_CALLS = 20;
const THROUGHPUT_MS = Number(process.env.BENCH_THROUGHPUT_MS ?? 4000);
const THROUGHPUT_MAX_CALLS = 20_000;
/** Each measurement is split into this many rounds, the servers taking turns, so a noisy machine slows them alike. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const CLIENTS = 8;
const START_TIMEOUT_MS = 180_000;
const TOOLBOX = "Toolbox";
const BIG_SQL = "select id, name, amount, created_at, flag from bench_rows order by id";
const VECTOR_ROWS = Number(process.env.BENCH_VECTOR_ROWS ?? 3000);
const VECTOR_DIM = 384;
const VECTOR_CALLS = Number(process.env.BENCH_VECTOR_CALLS ?? 120);
const VECTOR_K = 10;
/** The product's request `_meta` key for where a row set's rows go (README "Where the rows are"). */
const ROWS_META_KEY = "pg-mcp/rows";
const FLOOR_CONFIG = join(import.meta.dirname, "floor", "wrangler.toml");
const FLOOR_PLAIN = "floor: MCP by hand, a connection per call";
const FLOOR_SDK = "floor: the MCP SDK's handler, a connection per call";

interface Target {
  name: string;
  mcpUrl: string;
  headers: Record<string, string>;
  /** The tool that runs one SQL statement, and its arguments. */
  sqlTool: string;
  args(sql: string): Record<string, unknown>;
  /** The product only: it can place a row set's rows once. */
  placesRows?: boolean;
  /** The processes serving it, whose CPU time is read (Linux); none: not measured. */
  pids?: () => number[];
  stop(): Promise<void>;
}

interface Result {
  p50: number;
  p99: number;
  bigP50: number;
  bigBytes: number;
  /** Bytes of the 1000 x 5 answer with the rows once, by placement (the product only). */
  placedBytes?: { text: number; structured: number };
  listBytes: number;
  tools: number;
  rps: number;
  calls: number;
  /** CPU milliseconds the serving processes spent per sequential select 1. */
  cpuPerCall?: number;
  /** Synchronous Durable Object round trips per read call, by object scope, as the product reports them. */
  doHops?: string;
}

type ToolResult = { isError?: boolean; content: { text?: string }[]; structuredContent?: unknown };

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

/** What a model (and the client) receives: every text part and the structured content. */
const answerBytes = (r: ToolResult) => r.content.reduce((n, p) => n + Buffer.byteLength(p.text ?? ""), 0) + (r.structuredContent ? Buffer.byteLength(JSON.stringify(r.structuredContent)) : 0);

/** One target under measurement: its clients and the samples of every round so far. */
class Measured {
  small: number[] = [];
  big: number[] = [];
  bigBytes = 0;
  placedBytes?: { text: number; structured: number };
  listBytes = 0;
  tools = 0;
  calls = 0;
  busyMs = 0;
  doHops?: string;
  cpuMs = 0;
  cpuCalls = 0;
  private constructor(
    readonly target: Target,
    private client: Client,
    private clients: Client[],
  ) {}

  static async open(target: Target): Promise<Measured> {
    let serverTiming: string | null = null;
    const client = await mcpClient(target, (r) => (serverTiming = r.headers.get("server-timing")));
    const m = new Measured(target, client, await Promise.all(Array.from({ length: CLIENTS }, () => mcpClient(target))));
    const first = await m.call("select 1");
    if (first.isError) throw new Error(`${target.name}: select 1 failed: ${first.content[0]?.text}`);
    // Warm-up, then what is measured once: the Durable Object hops, the listing, the answer's size by placement.
    for (let i = 0; i < 20; i++) await m.call("select 1");
    m.doHops = hopsOf(serverTiming);
    const { tools } = await client.listTools();
    m.listBytes = Buffer.byteLength(JSON.stringify({ tools }));
    m.tools = tools.length;
    const big = await m.call(BIG_SQL);
    if (big.isError) throw new Error(`${target.name}: the 1000-row query failed: ${big.content[0]?.text?.slice(0, 300)}`);
    m.bigBytes = answerBytes(big);
    if (target.placesRows) m.placedBytes = { text: answerBytes(await m.call(BIG_SQL, "text")), structured: answerBytes(await m.call(BIG_SQL, "structured")) };
    return m;
  }

  call(sql: string, rows?: "text" | "structured", client = this.client): Promise<ToolResult> {
    return client.callTool({ name: this.target.sqlTool, arguments: this.target.args(sql), ...(rows ? { _meta: { [ROWS_META_KEY]: rows } } : {}) }) as Promise<ToolResult>;
  }

  /** One round: a share of the sequential calls, of the big results and of the throughput time. */
  async round(): Promise<void> {
    const pids = this.target.pids?.() ?? [];
    const cpu0 = cpuMs(pids);
    const small = await time(() => this.call("select 1"), Math.ceil(CALLS / ROUNDS), 3);
    const cpu1 = cpuMs(pids);
    if (cpu0 !== undefined && cpu1 !== undefined) {
      this.cpuMs += cpu1 - cpu0;
      this.cpuCalls += small.length + 3; // the warm-up calls are in the interval too
    }
    this.small.push(...small);
    this.big.push(
      ...(await time(async () => {
        const r = await this.call(BIG_SQL);
        if (r.isError) throw new Error(`${this.target.name}: the 1000-row query failed: ${r.content[0]?.text?.slice(0, 300)}`);
      }, Math.ceil(BIG_CALLS / ROUNDS), 0)),
    );
    const t0 = performance.now();
    const until = t0 + THROUGHPUT_MS / ROUNDS;
    await Promise.all(
      this.clients.map(async (c) => {
        while (performance.now() < until && this.calls < THROUGHPUT_MAX_CALLS) {
          const r = await this.call("select 1", undefined, c);
          if (r.isError) throw new Error(`${this.target.name}: a throughput call failed: ${r.content[0]?.text}`);
          this.calls++;
        }
      }),
    );
    this.busyMs += performance.now() - t0;
  }

  result(): Result {
    const { small, big } = this;
    return {
      p50: percentile(small, 50),
      p99: percentile(small, 99),
      bigP50: percentile(big, 50),
      bigBytes: this.bigBytes,
      ...(this.placedBytes ? { placedBytes: this.placedBytes } : {}),
      listBytes: this.listBytes,
      tools: this.tools,
      rps: this.calls / (this.busyMs / 1000),
      calls: this.calls,
      ...(this.doHops ? { doHops: this.doHops } : {}),
      ...(this.cpuCalls ? { cpuPerCall: this.cpuMs / this.cpuCalls } : {}),
    };
  }

  close(): Promise<unknown> {
    return Promise.all([...this.clients, this.client].map((c) => c.close().catch(() => {})));
  }
}

/** Measures targets side by side: ROUNDS rounds, each target taking its turn in a rotating order. */
async function measureTogether(targets: Target[]): Promise<Map<string, Result | string>> {
  const out = new Map<string, Result | string>();
  const live: Measured[] = [];
  for (const t of targets) {
    try {
      live.push(await Measured.open(t));
    } catch (e) {
      out.set(t.name, `failed: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < live.length; i++) {
      const m = live[(i + r) % live.length]!;
      if (out.has(m.target.name)) continue;
      try {
        await m.round();
      } catch (e) {
        out.set(m.target.name, `failed: ${(e as Error).message.split("\n")[0]}`);
      }
    }
  }
  for (const m of live) {
    if (!out.has(m.target.name)) out.set(m.target.name, m.result());
    await m.close();
  }
  return out;
}

/** `do-caller;desc="1"` style entries of the product's Server-Timing header, as "caller 1, deployment 0". */
function hopsOf(header: string | null): string | undefined {
  if (!header) return undefined;
  const hops = [...header.matchAll(/do-(\w+);desc="?(\d+)"?/g)].map((m) => `${m[1]} ${m[2]}`);
  return hops.length ? hops.join(", ") : undefined;
}

async function startProduct(mode: "wrangler" | "miniflare", databaseUrl: string, token: string, secret: string, vars: Record<string, string> = {}): Promise<Target> {
  const worker = await startWorker({
    databaseUrl,
    mode,
    startTimeoutMs: START_TIMEOUT_MS,
    // As deployed (authentication, limits and the concurrency cap on), with a per-minute budget the run cannot spend.
    vars: { AUTH_MODE: "required", API_KEYS: secret, RATE_LIMIT_PER_MINUTE: "1000000", INJECTION_GUARD: "true", ...vars },
  });
  return {
    name: mode === "wrangler" ? "pg-mcp, wrangler dev (npm run dev)" : "pg-mcp, Miniflare",
    mcpUrl: worker.mcpUrl,
    headers: { authorization: `Bearer ${token}` },
    sqlTool: "pg_query_read",
    args: (sql) => ({ sql }),
    placesRows: true,
    ...(worker.pid ? { pids: () => [worker.pid!] } : {}),
    stop: () => worker.stop(),
  };
}

/** The floor rows (./floor/index.ts): one Miniflare serving a hand-written MCP answer and the SDK's handler, each a connection per call. */
async function startFloors(databaseUrl: string): Promise<Target[]> {
  const worker = await startWorker({ databaseUrl, config: FLOOR_CONFIG, startTimeoutMs: START_TIMEOUT_MS });
  let stopped: Promise<void> | undefined;
  const common = { headers: {}, sqlTool: "execute_sql", args: (sql: string) => ({ sql }), ...(worker.pid ? { pids: () => [worker.pid!] } : {}), stop: () => (stopped ??= worker.stop()) };
  return [
    { name: FLOOR_PLAIN, mcpUrl: `${worker.url}/plain`, ...common },
    { name: FLOOR_SDK, mcpUrl: `${worker.url}/sdk`, ...common },
  ];
}

/**
 * pg_vector_search against the same SQL through the same pooler: PGlite with
 * pgvector (the embedded PostgreSQL has none) behind PgBouncer, an HNSW
 * index on VECTOR_ROWS x 384 vectors, k = 10. The tool's calls and the
 * direct statements (one pg connection to PgBouncer, kept open, as an
 * application would) alternate, so they share the machine's noise.
 */
async function measureVector(token: string, secret: string): Promise<string> {
  const stops: (() => Promise<void>)[] = [];
  try {
    const pglite = await startPgliteVector();
    stops.push(() => pglite.stop());
    const bouncer = await startPgBouncer(pglite.url, { poolSize: 4 });
    stops.push(() => bouncer.stop());
    const random = rng(20261130);
    const vector = () => `[${Array.from({ length: VECTOR_DIM }, () => Math.round((random() * 2 - 1) * 1e4) / 1e4).join(",")}]`;
    const load = new pg.Client({ connectionString: pglite.url });
    await load.connect();
    await load.query(`create table bench_vec (id int primary key, embedding vector(${VECTOR_DIM}))`);
    for (let i = 0; i < VECTOR_ROWS; i += 500) {
      const ids = Array.from({ length: Math.min(500, VECTOR_ROWS - i) }, (_, j) => i + j + 1);
      await load.query("insert into bench_vec select * from unnest($1::int[], $2::text[]::vector[])", [ids, ids.map(vector)]);
    }
    await load.query("create index on bench_vec using hnsw (embedding vector_cosine_ops)");
    await load.end();

    // PGlite has one role, a superuser: the posture check is told so (reads still switch to the read role).
    const product = await startProduct("miniflare", bouncer.url, token, secret, { ALLOW_PRIVILEGED_ROLE: "true" });
    stops.push(() => product.stop());
    const client = await mcpClient(product);
    stops.push(() => client.close());
    // The same SELECT through the floor Worker (MCP by hand, a connection per call): what the platform alone costs.
    const [floor] = await startFloors(bouncer.url);
    stops.push(() => floor!.stop());
    const floorClient = await mcpClient(floor!);
    stops.push(() => floorClient.close());
    const direct = new pg.Client({ connectionString: bouncer.url });
    await direct.connect();
    stops.push(() => direct.end());
    const SQL = `SELECT id, embedding <=> $1::vector AS distance FROM bench_vec ORDER BY embedding <=> $1::vector LIMIT ${VECTOR_K}`;
    const queries = Array.from({ length: VECTOR_CALLS }, vector);
    const viaTool = async (q: string) => {
      const r = (await client.callTool({ name: "pg_vector_search", arguments: { table: "bench_vec", vector: q, metric: "cosine", k: VECTOR_K } })) as ToolResult;
      if (r.isError) throw new Error(`pg_vector_search failed: ${r.content[0]?.text}`);
    };
    const viaRead = async (q: string) => {
      const r = (await client.callTool({ name: "pg_query_read", arguments: { sql: SQL, params: [q] } })) as ToolResult;
      if (r.isError) throw new Error(`pg_query_read failed: ${r.content[0]?.text}`);
    };
    const viaSql = (q: string) => direct.query(SQL, [q]);
    const viaFloor = async (q: string) => {
      const r = (await floorClient.callTool({ name: "execute_sql", arguments: { sql: SQL.replaceAll("$1", `'${q}'`) } })) as ToolResult;
      if (r.isError) throw new Error(`the floor's execute_sql failed: ${r.content[0]?.text}`);
    };
    for (let i = 0; i < 10; i++) await Promise.all([viaTool(queries[i]!), viaSql(queries[i]!), viaFloor(queries[i]!)]).then(() => viaRead(queries[i]!));
    const samples = { tool: [] as number[], read: [] as number[], floor: [] as number[], sql: [] as number[] };
    for (const q of queries) {
      for (const [k, fn] of [["tool", viaTool], ["read", viaRead], ["floor", viaFloor], ["sql", viaSql]] as const) {
        const t = performance.now();
        await fn(q);
        samples[k].push(performance.now() - t);
      }
    }
    const p = (k: keyof typeof samples, n: number) => percentile(samples[k], n);
    return [
      `\nvector search, PgBouncer (transaction mode) in front of PGlite + pgvector: ${VECTOR_ROWS} x ${VECTOR_DIM} vectors, HNSW (cosine), k=${VECTOR_K}, ${VECTOR_CALLS} queries each, interleaved\n`,
      table([
        ["path", "p50", "p99", "p50 / SQL"],
        ["pg_vector_search (pg-mcp, Miniflare)", ms(p("tool", 50)), ms(p("tool", 99)), `${(p("tool", 50) / p("sql", 50)).toFixed(2)}x`],
        ["the same SELECT via pg_query_read", ms(p("read", 50)), ms(p("read", 99)), `${(p("read", 50) / p("sql", 50)).toFixed(2)}x`],
        [`the same SELECT via the ${FLOOR_PLAIN}`, ms(p("floor", 50)), ms(p("floor", 99)), `${(p("floor", 50) / p("sql", 50)).toFixed(2)}x`],
        ["the same SELECT, pg through PgBouncer", ms(p("sql", 50)), ms(p("sql", 99)), "1.00x"],
      ]),
    ].join("\n");
  } finally {
    for (const s of stops.reverse()) await s().catch(() => {});
  }
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

  // The PgBouncer column is skipped, with the reason, when it cannot run here. BENCH_COLUMNS=PgBouncer measures that one alone.
  const wanted = (process.env.BENCH_COLUMNS ?? "direct,PgBouncer").split(",").map((c) => c.trim().toLowerCase());
  const missing = pgbouncerMissing();
  const bouncer = missing ? `${missing}: the PgBouncer column is skipped` : await startPgBouncer(serverUrl, { poolSize: 20 }).catch((e: Error) => e.message);
  if (typeof bouncer !== "string") stops.push(() => bouncer.stop());
  const columns = ([
    ["direct", serverUrl],
    ["PgBouncer", typeof bouncer === "string" ? undefined : bouncer.url],
  ] as [string, string | undefined][]).filter(([c]) => wanted.includes(c.toLowerCase()));

  // Toolbox connects directly only (its own pool; see scripts/lib/peers.ts); it is measured again beside the product in each column.
  process.stderr.write("starting Toolbox...\n");
  const toolbox = await startToolbox(serverUrl);
  stops.push(() => toolbox.stop());
  const toolboxTarget: Target = { name: TOOLBOX, headers: {}, sqlTool: "execute_sql", args: (sql) => ({ sql }), mcpUrl: toolbox.mcpUrl, pids: toolbox.pids, stop: toolbox.stop };
  const results = new Map<string, Map<string, Result | string>>();
  for (const [column, url] of columns) {
    if (!url) continue;
    process.stderr.write(`measuring ${column}: Toolbox, the floors, wrangler dev and Miniflare in ${ROUNDS} rounds...\n`);
    const products: Target[] = [];
    try {
      products.push(...(await startFloors(url)));
      for (const mode of ["wrangler", "miniflare"] as const) products.push(await startProduct(mode, url, token, secret));
      results.set(column, await measureTogether([toolboxTarget, ...products]));
    } catch (e) {
      results.set(column, new Map([["start-up", `failed: ${(e as Error).message.split("\n")[0]}`]]));
    } finally {
      for (const p of products) await p.stop().catch(() => {});
    }
  }
  await admin.query("drop table bench_rows");
  await admin.end();
  const vector =
    process.env.BENCH_VECTOR === "0"
      ? "\nvector search: skipped (BENCH_VECTOR=0)"
      : typeof bouncer === "string"
        ? `\nvector search: skipped: ${bouncer}`
        : await (process.stderr.write("measuring vector search...\n"), measureVector(token, secret)).catch((e: Error) => `\nvector search: failed: ${e.message.split("\n")[0]}`);

  console.log(
    `\n${CALLS} sequential "select 1" calls per server after warm-up; 1000 x 5 result ${BIG_CALLS} times; ${CLIENTS} clients for ${THROUGHPUT_MS} ms; each split into ${ROUNDS} rounds, the servers taking turns. Raw row data of the 1000 x 5 result: ${rawBytes} bytes.`,
  );
  for (const [column] of columns) {
    const rows = results.get(column);
    if (!rows) {
      console.log(`\n${column}: skipped: ${bouncer}`);
      continue;
    }
    const peer = rows.get(TOOLBOX);
    const base = typeof peer === "object" ? peer : undefined;
    const ratio = (v: number, b: number | undefined, invert = false) => (b ? ` (${(invert ? b / v : v / b).toFixed(2)}x)` : "");
    const lines: (string | number)[][] = [
      ["server", "select 1 p50", "p99", "CPU per select 1", "1000x5 p50", "1000x5 bytes", "bytes/raw", "rows once: text / structured", "tools/list bytes", `throughput, ${CLIENTS} clients`, "DO round trips per read call"],
    ];
    for (const [name, r] of rows) {
      if (typeof r === "string") {
        lines.push([name, r, "", "", "", "", "", "", "", "", ""]);
        continue;
      }
      const self = r === base;
      lines.push([
        name + (self && column !== "direct" ? " (direct, its own pool)" : ""),
        ms(r.p50) + (self ? "" : ratio(r.p50, base?.p50)),
        ms(r.p99) + (self ? "" : ratio(r.p99, base?.p99)),
        r.cpuPerCall === undefined ? "-" : ms(r.cpuPerCall) + (self ? "" : ratio(r.cpuPerCall, base?.cpuPerCall)),
        ms(r.bigP50) + (self ? "" : ratio(r.bigP50, base?.bigP50)),
        String(r.bigBytes) + (self ? "" : ratio(r.bigBytes, base?.bigBytes)),
        (r.bigBytes / rawBytes).toFixed(2) + "x",
        r.placedBytes ? `${(r.placedBytes.text / rawBytes).toFixed(2)}x / ${(r.placedBytes.structured / rawBytes).toFixed(2)}x` : "-",
        `${r.listBytes} (${r.tools} tools)`,
        `${r.rps.toFixed(0)}/s` + (self ? "" : ratio(r.rps, base?.rps, false)),
        r.doHops ?? (name.startsWith("pg-mcp") ? "not reported" : "-"),
      ]);
    }
    console.log(`\n${column}${column === "PgBouncer" ? " (transaction mode: connection set-up as cheap as Hyperdrive's pool makes it)" : ""}; ratios against ${TOOLBOX} in the same rounds\n`);
    console.log(table(lines));
  }
  console.log(vector);
} finally {
  await stopAll();
}
