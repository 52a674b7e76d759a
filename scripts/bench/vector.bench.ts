/**
 * `npm run bench:vector`: the pgvector tools on PGlite (PostgreSQL in
 * WebAssembly with pgvector; the embedded PostgreSQL has none). Loads 10,000
 * deterministic pseudo-random 384-dimensional vectors through pg_vector_upsert,
 * builds an HNSW index through pg_vector_create_index, then measures recall@10
 * of pg_vector_search against exact search (a sequential scan of an unindexed
 * copy), and the tool's latency next to the same SQL run directly with pg.
 * Prints measurements; asserts nothing. Bounded: it stops early (and says so)
 * past BENCH_DEADLINE_S seconds.
 */
import pg from "pg";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { startPgliteVector } from "../lib/pglite";
import { startWorker } from "../lib/worker";
import { ms, percentile, table } from "./harness";
import { rng } from "../lib/rng";

const ROWS = Number(process.env.BENCH_VECTOR_ROWS ?? 10_000);
const DIM = 384;
const QUERIES = Number(process.env.BENCH_VECTOR_QUERIES ?? 50);
const K = 10;
const BATCH = 500;
const CLUSTERS = 100;
const DEADLINE_MS = Number(process.env.BENCH_DEADLINE_S ?? 420) * 1000;
const EF_SEARCH = [10, 40, 100];
const NOISE = 1.0;

const t0 = performance.now();
const overTime = () => performance.now() - t0 > DEADLINE_MS;


// Embeddings cluster; uniform noise in 384 dimensions would not. Points are a
// random cluster centre plus noise, rounded to 4 decimals (smaller requests).
const random = rng(20240601);
const gauss = () => Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
const centres = Array.from({ length: CLUSTERS }, () => Array.from({ length: DIM }, gauss));
const point = () => {
  const c = centres[Math.floor(random() * CLUSTERS)]!;
  return c.map((x) => Math.round((x + NOISE * gauss()) * 1e4) / 1e4);
};
const vectors = Array.from({ length: ROWS }, point);
const queries = Array.from({ length: QUERIES }, point);
const literal = (v: number[]) => `[${v.join(",")}]`;

const pglite = await startPgliteVector();
const worker = await startWorker({
  databaseUrl: pglite.url,
  // No auth or rate limits; room for 500-vector upserts and the index build.
  vars: { AUTH_MODE: "none", RATE_LIMIT_PER_MINUTE: "0", MAX_CONCURRENT_REQUESTS: "0", MAX_REQUEST_BYTES: "50000000", STATEMENT_TIMEOUT_MS: "600000" },
});
const client = new Client({ name: "bench-vector", version: "1" });
const direct = new pg.Client({ connectionString: pglite.url });

async function tool<T>(name: string, args: Record<string, unknown>): Promise<T> {
  const r = (await client.callTool({ name, arguments: args })) as { isError?: boolean; content: { text: string }[]; structuredContent: T };
  if (r.isError) throw new Error(`${name}: ${r.content[0]?.text}`);
  return r.structuredContent;
}

try {
  await client.connect(new StreamableHTTPClientTransport(new URL(worker.mcpUrl)));
  await direct.connect();
  console.log(`PGlite ${(await direct.query("select extversion from pg_extension where extname = 'vector'")).rows[0].extversion} pgvector; ${ROWS} x ${DIM} vectors in ${CLUSTERS} clusters, ${QUERIES} queries, k=${K}\n`);

  // Load through the tool, in batches.
  let t = performance.now();
  for (let i = 0; i < ROWS && !overTime(); i += BATCH) {
    await tool("pg_vector_upsert", { table: "bench_vectors", create: true, rows: vectors.slice(i, i + BATCH).map((v, j) => ({ id: i + j + 1, vector: v, metadata: { cluster_hint: (i + j) % 10 } })) });
  }
  const loadMs = performance.now() - t;
  const loaded = Number((await direct.query("select count(*) from bench_vectors")).rows[0].count);

  // Exact search runs on an unindexed copy: a sequential scan, the ground truth.
  await direct.query("create table bench_exact as select * from bench_vectors");
  t = performance.now();
  await tool("pg_vector_create_index", { table: "bench_vectors", method: "hnsw", metric: "cosine", m: 16, efConstruction: 64 });
  const buildMs = performance.now() - t;

  const sql = (tableName: string) => `SELECT id, embedding <=> $1::vector AS distance FROM ${tableName} ORDER BY embedding <=> $1::vector LIMIT ${K}`;
  const truth: Set<string>[] = [];
  const exactMs: number[] = [];
  for (const q of queries) {
    if (overTime()) break;
    const s = performance.now();
    const r = await direct.query(sql("bench_exact"), [literal(q)]);
    exactMs.push(performance.now() - s);
    truth.push(new Set(r.rows.map((row) => String(row.id))));
  }

  const rows: (string | number)[][] = [["ef_search", "recall@10", "tool p50", "tool p95", "direct pg p50", "direct pg p95"]];
  for (const ef of EF_SEARCH) {
    let hits = 0;
    const toolMs: number[] = [];
    const directMs: number[] = [];
    let n = 0;
    for (let i = 0; i < truth.length && !overTime(); i++, n++) {
      const s = performance.now();
      const r = await tool<{ rows: [string | number, number][] }>("pg_vector_search", { table: "bench_vectors", vector: queries[i], metric: "cosine", k: K, efSearch: ef });
      toolMs.push(performance.now() - s);
      hits += r.rows.filter((row) => truth[i]!.has(String(row[0]))).length;
      // The same statement on an open connection, with ef_search set the same way.
      const d = performance.now();
      await direct.query("BEGIN");
      await direct.query(`SET LOCAL hnsw.ef_search = ${ef}`);
      await direct.query(sql("bench_vectors"), [literal(queries[i]!)]);
      await direct.query("COMMIT");
      directMs.push(performance.now() - d);
    }
    if (n === 0) break;
    rows.push([ef, (hits / (n * K)).toFixed(3), ms(percentile(toolMs, 50)), ms(percentile(toolMs, 95)), ms(percentile(directMs, 50)), ms(percentile(directMs, 95))]);
  }

  // The same SELECT through pg_query_read: the MCP path without the vector tool's catalog read.
  const readMs: number[] = [];
  for (let i = 0; i < truth.length && !overTime(); i++) {
    const s = performance.now();
    await tool("pg_query_read", { sql: sql("bench_vectors"), params: [literal(queries[i]!)] });
    readMs.push(performance.now() - s);
  }

  console.log(table([
    ["step", "result"],
    ["load via pg_vector_upsert", `${loaded} rows in ${(loadMs / 1000).toFixed(1)} s (${BATCH}/call, ${((loaded / loadMs) * 1000).toFixed(0)} rows/s)`],
    ["HNSW build via pg_vector_create_index", `${(buildMs / 1000).toFixed(1)} s (cosine, m=16, ef_construction=64)`],
    ["exact search (seq scan, direct pg)", `p50 ${ms(percentile(exactMs, 50))}, over ${exactMs.length} queries`],
    ["same HNSW SELECT via pg_query_read", readMs.length ? `p50 ${ms(percentile(readMs, 50))}, p95 ${ms(percentile(readMs, 95))} (ef_search 40)` : "skipped"],
  ]));
  console.log();
  console.log(table(rows));
  console.log("\ntool = MCP client -> Worker (workerd) -> local Hyperdrive -> PGlite socket; each call opens a connection and reads the catalog once before searching.");
  console.log("direct pg = the same search on an open connection (BEGIN; SET LOCAL hnsw.ef_search; SELECT; COMMIT).");
  if (overTime()) console.log(`\nStopped early: past the ${DEADLINE_MS / 1000} s deadline; numbers cover what ran.`);
  console.log(`\ntotal ${((performance.now() - t0) / 1000).toFixed(0)} s`);
} finally {
  await client.close().catch(() => {});
  await direct.end().catch(() => {});
  await worker.stop();
  await pglite.stop();
}
