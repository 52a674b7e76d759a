/**
 * `npm run bench`: the cost of the MCP layer over raw PostgreSQL, the size of
 * what a model reads, and throughput. Prints measurements; asserts nothing.
 * `npm run bench -- --peers`: the product against Google's MCP Toolbox on the
 * same PostgreSQL, directly and behind PgBouncer (./peers.ts).
 */
import pg from "pg";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ms, percentile, startStack, table, time } from "./harness";

const CALLS = Number(process.env.BENCH_CALLS ?? 400);

async function mcpClient(url: string) {
  const c = new Client({ name: "bench", version: "1" });
  await c.connect(new StreamableHTTPClientTransport(new URL(url)));
  return c;
}

if (process.argv.includes("--peers")) await import("./peers");
else await overhead();

async function overhead() {
  const stack = await startStack();
  try {
    const client = await mcpClient(stack.mcpUrl);
    const direct = new pg.Client({ connectionString: stack.databaseUrl });
    await direct.connect();
    await direct.query("drop table if exists bench_rows; create table bench_rows as select g as id, 'name ' || g as name, (g * 1.25)::numeric(12,2) as amount, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute' as created_at, g % 2 = 0 as flag from generate_series(1, 1000) g");

    const full = await time(() => client.callTool({ name: "pg_query_read", arguments: { sql: "select 1" } }), CALLS, 50);
    // Where the overhead goes: the HTTP hop into workerd alone, and an MCP request that touches no database.
    const origin = new URL(stack.mcpUrl).origin;
    const hop = await time(() => fetch(`${origin}/`).then((r) => r.text()), CALLS, 20);
    const ping = await time(() => client.ping(), CALLS, 20);
    const open = await time(() => direct.query("select 1"), CALLS, 50);
    const perCall = await time(async () => {
      const c = new pg.Client({ connectionString: stack.databaseUrl });
      await c.connect();
      await c.query("select 1");
      await c.end();
    }, CALLS, 20);

    // 1000 x 5: what the model reads vs the raw row data (tab-separated text values, newline per row).
    const big = "select id, name, amount, created_at, flag from bench_rows order by id";
    let bigText = "";
    const bigTimes = await time(async () => {
      const r = (await client.callTool({ name: "pg_query_read", arguments: { sql: big } })) as { content: { text: string }[] };
      bigText = r.content[0]!.text;
    }, 30, 5);
    const raw = await direct.query<{ bytes: string }>(
      "select sum(octet_length(concat_ws(E'\\t', id::text, name, amount::text, created_at::text, flag::text)) + 1)::bigint as bytes from bench_rows",
    );
    const rawBytes = Number(raw.rows[0]!.bytes);
    const textBytes = Buffer.byteLength(bigText);

    const { tools } = await client.listTools();
    const listBytes = Buffer.byteLength(JSON.stringify({ tools }));

    // Throughput: 8 clients calling as fast as they can, bounded in time and count.
    const clients = await Promise.all(Array.from({ length: 8 }, () => mcpClient(stack.mcpUrl)));
    let calls = 0;
    const until = performance.now() + 5000;
    const t0 = performance.now();
    await Promise.all(
      clients.map(async (c) => {
        while (performance.now() < until && calls < 20_000) {
          await c.callTool({ name: "pg_query_read", arguments: { sql: "select 1" } });
          calls++;
        }
      }),
    );
    const rps = calls / ((performance.now() - t0) / 1000);

    const p50 = (s: number[]) => percentile(s, 50);
    const p99 = (s: number[]) => percentile(s, 99);
    console.log(`\npg_query_read "select 1", ${CALLS} calls each after warm-up\n`);
    console.log(
      table([
        ["path", "p50", "p99"],
        ["MCP client -> Worker -> PostgreSQL", ms(p50(full)), ms(p99(full))],
        ["pg, open connection", ms(p50(open)), ms(p99(open))],
        ["pg, connect + query + end", ms(p50(perCall)), ms(p99(perCall))],
      ]),
    );
    console.log(`\nMCP overhead per call (full p50 - connect+query+end p50): ${ms(p50(full) - p50(perCall))}   (target <= 0.75 ms)`);
    console.log(`  of which: HTTP round trip into workerd (GET /) ${ms(p50(hop))}; MCP ping (no database) ${ms(p50(ping))}, i.e. the MCP layer ${ms(p50(ping) - p50(hop))};`);
    console.log(`  the rest (${ms(p50(full) - p50(perCall) - p50(ping))}) is the database path in workerd, through the local Hyperdrive proxy, vs pg in Node`);
    console.log(`full / connect+query+end: ${(p50(full) / p50(perCall)).toFixed(2)}x;  full / open connection: ${(p50(full) / p50(open)).toFixed(1)}x`);
    console.log(`\n1000 x 5 result: p50 ${ms(p50(bigTimes))}, text ${textBytes} bytes, raw row data ${rawBytes} bytes, ratio ${(textBytes / rawBytes).toFixed(3)}x   (target <= 1.1x)`);
    console.log(`tools/list: ${listBytes} bytes for ${tools.length} tools, ${Math.round(listBytes / tools.length)} bytes per tool   (target <= 600)`);
    console.log(`throughput, 8 concurrent clients: ${rps.toFixed(0)} calls/s (${calls} calls)`);

    await Promise.all(clients.map((c) => c.close()));
    await direct.query("drop table bench_rows");
    await direct.end();
    await client.close();
  } finally {
    await stack.stop();
  }
}
