/**
 * `npx tsx scripts/bench/idempotency.bench.ts`: what an idempotency key costs
 * a write (one more round trip: the outcome and COMMIT follow the statement),
 * and what a replay costs (the claim fails, the first outcome is read).
 * Sequential single-row INSERTs through the real Worker and MCP client.
 * Prints a table; asserts nothing. BENCH_RUNS sets the calls per row (default 200).
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { percentile, startStack, table, time } from "./harness";

const RUNS = Number(process.env.BENCH_RUNS ?? 200);

const stack = await startStack();
try {
  const admin = new pg.Client({ connectionString: stack.databaseUrl });
  await admin.connect();
  await admin.query("create table if not exists bench_idem (id bigserial primary key, v text)");
  await admin.end();
  const client = new Client({ name: "bench", version: "1" });
  await client.connect(new StreamableHTTPClientTransport(new URL(stack.mcpUrl)));
  const write = async (args: Record<string, unknown>) => {
    const r = (await client.callTool({ name: "pg_query_write", arguments: { sql: "insert into bench_idem (v) values ($1)", params: ["x"], ...args } })) as { isError?: boolean; content: { text?: string }[] };
    if (r.isError) throw new Error(r.content[0]?.text);
  };
  const replayKey = `bench-${randomUUID()}`;
  await write({ idempotency_key: replayKey });
  const cases: [string, () => Promise<unknown>][] = [
    ["no key", () => write({})],
    ["new key each call", () => write({ idempotency_key: `bench-${randomUUID()}` })],
    ["replay of one key", () => write({ idempotency_key: replayKey })],
  ];
  const rows: (string | number)[][] = [["pg_query_write INSERT", "calls", "p50 ms", "p90 ms", "p99 ms"]];
  for (const [name, fn] of cases) {
    const samples = await time(fn, RUNS);
    rows.push([name, RUNS, ...[50, 90, 99].map((p) => percentile(samples, p).toFixed(2))]);
  }
  console.log(table(rows));
  await client.close();
} finally {
  await stack.stop();
}
