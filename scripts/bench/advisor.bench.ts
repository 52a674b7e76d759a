/**
 * `npm run bench:advisor`: pg_advisor_indexes on a workload with known
 * answers. Prints what it found against what was expected, the false
 * positives, its own total planner cost before and after, and the same
 * totals measured independently: the recommended indexes built for real
 * from a second connection and every statement EXPLAINed. Asserts nothing.
 * BENCH_DATABASE_URL (a superuser) runs it against another server, e.g. one
 * with hypopg installed (then BENCH_METHOD=hypopg).
 */
import pg from "pg";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { startStack, table } from "./harness";

/** Statements, and the leading column of the index that should serve each ("" when none should). */
const WORKLOAD: { sql: string; expect: string }[] = [
  { sql: "select id, total from bench_orders where customer_id = 4242", expect: "bench_orders.customer_id" },
  { sql: "select id from bench_orders where customer_id = 77 order by placed_at desc limit 20", expect: "bench_orders.customer_id" },
  { sql: "select count(*) from bench_events where user_id = 123 and kind = 'click'", expect: "bench_events.user_id" },
  { sql: "select id from bench_events where at between timestamptz '2026-03-01' and timestamptz '2026-03-01 06:00'", expect: "bench_events.at" },
  { sql: "select e.id from bench_orders o join bench_events e on e.user_id = o.customer_id where o.id = 31337", expect: "bench_events.user_id" },
  // Known negatives: low selectivity, a tiny table, an existing primary key.
  { sql: "select * from bench_orders where status = 'paid'", expect: "" },
  { sql: "select * from bench_tiny where label = 'x'", expect: "" },
  { sql: "select total from bench_orders where id = 999", expect: "" },
];

const SEED = `drop table if exists bench_orders, bench_events, bench_tiny;
create table bench_orders (id int primary key, customer_id int not null, status text not null, total numeric(10,2), placed_at timestamptz not null);
insert into bench_orders select g, g % 10000, (array['paid','pending'])[1 + g % 2], g % 500, timestamptz '2026-01-01' + g * interval '1 minute' from generate_series(1, 100000) g;
create table bench_events (id int primary key, user_id int not null, kind text not null, at timestamptz not null);
insert into bench_events select g, g % 20000, (array['click','view','buy'])[1 + g % 3], timestamptz '2026-01-01' + g * interval '30 seconds' from generate_series(1, 200000) g;
create table bench_tiny (id int, label text); insert into bench_tiny select g, g::text from generate_series(1, 30) g;
analyze bench_orders; analyze bench_events; analyze bench_tiny;
alter table bench_orders owner to pgmcp; alter table bench_events owner to pgmcp; alter table bench_tiny owner to pgmcp;`;

interface Advice {
  method: string;
  recommended: { ddl: string; table: string; columns: string[]; bytes: number }[];
  rejected: { index: string; reason: string }[];
  total: { before: number; after: number } | null;
}

const stack = await startStack();
const db = new pg.Client({ connectionString: stack.databaseUrl });
try {
  await db.connect();
  await db.query(SEED);
  const client = new Client({ name: "bench", version: "1" });
  await client.connect(new StreamableHTTPClientTransport(new URL(stack.mcpUrl)));
  const t0 = performance.now();
  const r = (await client.callTool({ name: "pg_advisor_indexes", arguments: { queries: WORKLOAD.map((w) => w.sql), ...(process.env.BENCH_METHOD ? { method: process.env.BENCH_METHOD } : {}) } })) as unknown as { structuredContent: Advice; content: { text: string }[]; isError?: boolean };
  const elapsed = performance.now() - t0;
  if (r.isError) throw new Error(r.content[0]!.text);
  const advice = r.structuredContent;
  await client.close();

  const leading = advice.recommended.map((x) => `${x.table.split(".").pop()}.${x.columns[0]}`);
  const expected = new Set(WORKLOAD.map((w) => w.expect).filter(Boolean));
  const found = [...expected].filter((e) => leading.includes(e));
  const falsePositives = leading.filter((l) => !expected.has(l));

  // Independently: the statements' cost from a superuser connection, without and with the recommended indexes built for real.
  const cost = async () => {
    let sum = 0;
    for (const w of WORKLOAD) sum += (await db.query(`explain (format json) ${w.sql}`)).rows[0]["QUERY PLAN"][0].Plan["Total Cost"];
    return sum;
  };
  const before = await cost();
  const names: string[] = [];
  for (const x of advice.recommended) {
    const name = `bench_adv_${names.length}`;
    await db.query(x.ddl.replace(/^CREATE INDEX CONCURRENTLY (\S+ )?ON/, `CREATE INDEX ${name} ON`));
    names.push(name);
  }
  const after = await cost();
  for (const n of names) await db.query(`drop index ${n}`);
  const leftovers = (await db.query("select count(*)::int as n from pg_indexes where tablename like 'bench_%' and indexname not like '%_pkey'")).rows[0].n;

  console.log(r.content[0]!.text.replace(/^<data [0-9a-f]+> [^\n]*\n|\n<\/data [0-9a-f]+>$/g, ""));
  console.log("");
  console.log(
    table([
      ["measure", "value"],
      ["method", advice.method],
      ["found / expected", `${found.length} / ${expected.size}`],
      ["false positives", `${falsePositives.length}${falsePositives.length ? ` (${falsePositives.join(", ")})` : ""}`],
      ["recommended / rejected", `${advice.recommended.length} / ${advice.rejected.length}`],
      ["planner cost, advisor's own", advice.total ? `${Math.round(advice.total.before)} -> ${Math.round(advice.total.after)}` : "n/a"],
      ["planner cost, built for real", `${Math.round(before)} -> ${Math.round(after)}`],
      ["indexes left behind", String(leftovers)],
      ["call time", `${(elapsed / 1000).toFixed(2)} s`],
    ]),
  );
} finally {
  await db.end().catch(() => {});
  await stack.stop();
}
