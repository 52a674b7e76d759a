/**
 * `npm run bench:codemode`: two workloads on a database with TABLES tables,
 * each done as direct tool calls through the MCP client (what a model does
 * without code mode) and as one pg_execute_code program, in the same run
 * against the same database, checked to give the same answer.
 *
 * - seed: "analyze every table and suggest indexes": list the tables, then
 *   per table its statistics, then its columns where sequential scans dominate.
 * - aggregate: one aggregate per table (rows and the sum of a column), only the
 *   top five returned.
 *
 * Model-visible bytes are what a model reads or writes for the work: the
 * tools/list entries of the tools it uses, every call's name and arguments,
 * and every result's text. Prints a table; asserts nothing (targets live in
 * the closing notes, not in tests).
 */
import pg from "pg";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ms, percentile, startStack, table, time } from "./harness";

const TABLES = Number(process.env.BENCH_TABLES ?? 120);
const bytes = (v: unknown) => Buffer.byteLength(typeof v === "string" ? v : JSON.stringify(v));
const resultText = (r: unknown) => (((r as { content?: { text?: string }[] }).content) ?? []).map((c) => c.text ?? "").join("\n");

const stack = await startStack({ CODE_MAX_DB_CALLS: "5000", MAX_ROWS: "1000" });
try {
  const direct = new pg.Client({ connectionString: stack.databaseUrl });
  await direct.connect();
  await direct.query("drop schema if exists bench cascade; create schema bench");
  for (let i = 0; i < TABLES; i++) {
    await direct.query(`create table bench.t${i} (id int primary key, a int, b text, c timestamptz default now())`);
    await direct.query(`insert into bench.t${i} select g, (g * ${i + 7}) % 100, 'x' || g, now() from generate_series(1, ${100 + ((i * 37) % 400)}) g`);
    // Some tables get sequential scans, some index scans.
    for (let k = 0; k < (i % 3) + 1; k++) await direct.query(i % 2 ? `select count(*) from bench.t${i} where a = 3` : `select * from bench.t${i} where id = 5`);
  }
  await direct.query("analyze");
  // Table statistics reach pg_stat_* when the backend flushes them.
  await direct.query("select pg_stat_force_next_flush()").catch(() => {});
  await direct.query("select 1");
  await new Promise((r) => setTimeout(r, 1500));

  const client = new Client({ name: "bench", version: "1" });
  await client.connect(new StreamableHTTPClientTransport(new URL(stack.mcpUrl)));
  const { tools } = await client.listTools();
  const toolByName = Object.fromEntries(tools.map((t) => [t.name, t]));

  /** Direct calls, counting what the model would see. */
  const directSession = (used: string[]) => {
    const s = { bytes: used.reduce((n, name) => n + bytes(toolByName[name]), 0), calls: 0 };
    const call = async (name: string, args: Record<string, unknown>) => {
      const r = await client.callTool({ name, arguments: args });
      if (r.isError) throw new Error(`${name}: ${resultText(r)}`);
      s.calls++;
      s.bytes += bytes({ name, arguments: args }) + bytes(resultText(r));
      return r.structuredContent as { rows: Record<string, unknown>[] };
    };
    return { s, call };
  };
  const program = async (code: string) => {
    const t = performance.now();
    const r = await client.callTool({ name: "pg_execute_code", arguments: { code } });
    const wall = performance.now() - t;
    if (r.isError) throw new Error(resultText(r));
    const out = r.structuredContent as { result: unknown; dbCalls: number };
    return { wall, result: out.result, dbCalls: out.dbCalls, bytes: bytes(toolByName.pg_execute_code) + bytes({ name: "pg_execute_code", arguments: { code } }) + bytes(resultText(r)) };
  };

  // ---- seed workload ------------------------------------------------------
  const seedDirect = directSession(["pg_schema_list", "pg_admin_stats", "pg_schema_describe"]);
  let t0 = performance.now();
  const suggestionsDirect: { table: string; seqScans: number; columns: string[] }[] = [];
  for (let offset: number | undefined = 0; offset !== undefined; ) {
    const list = (await seedDirect.call("pg_schema_list", { schema: "bench", kind: "table", limit: 100, offset })) as { rows: { name: string }[]; nextOffset?: number };
    for (const t of list.rows) {
      const name = `bench.${t.name}`;
      const stats = (await seedDirect.call("pg_admin_stats", { kind: "tables", table: name })).rows[0] as { seq_scan?: number; idx_scan?: number } | undefined;
      if (stats && Number(stats.seq_scan ?? 0) > Number(stats.idx_scan ?? 0)) {
        const d = (await seedDirect.call("pg_schema_describe", { name })) as unknown as { detail: { columns: { name: string }[] } };
        suggestionsDirect.push({ table: name, seqScans: Number(stats.seq_scan), columns: d.detail.columns.map((c) => c.name) });
      }
    }
    offset = list.nextOffset;
  }
  const seedDirectMs = performance.now() - t0;
  const seedCode = await program(`
    const tables = await pg.listTables({ schema: "bench" });
    const suggestions = [];
    for (const t of tables) {
      const name = t.schema + "." + t.name;
      const stats = await pg.getTableStats(name);
      if (stats && stats.seq_scan > (stats.idx_scan ?? 0)) {
        const cols = await pg.getColumns(name);
        suggestions.push({ table: name, seqScans: stats.seq_scan, columns: cols.map((c) => c.name) });
      }
    }
    return suggestions;`);
  const seedSame = JSON.stringify(sortBy(suggestionsDirect, "table")) === JSON.stringify(sortBy(seedCode.result as typeof suggestionsDirect, "table"));

  // ---- aggregate workload ---------------------------------------------------
  const aggDirect = directSession(["pg_schema_list", "pg_query_read"]);
  t0 = performance.now();
  const totals: { table: string; n: number; sum: number }[] = [];
  for (let offset: number | undefined = 0; offset !== undefined; ) {
    const list = (await aggDirect.call("pg_schema_list", { schema: "bench", kind: "table", limit: 100, offset })) as { rows: { name: string }[]; nextOffset?: number };
    for (const t of list.rows) {
      const r = (await aggDirect.call("pg_query_read", { sql: `select count(*)::int as n, coalesce(sum(a), 0)::int as s from bench.${t.name}` })) as unknown as { rows: unknown[][] };
      totals.push({ table: `bench.${t.name}`, n: Number(r.rows[0]![0]), sum: Number(r.rows[0]![1]) });
    }
    offset = list.nextOffset;
  }
  const topDirect = totals.sort((a, b) => b.sum - a.sum || a.table.localeCompare(b.table)).slice(0, 5);
  const aggDirectMs = performance.now() - t0;
  const aggCode = await program(`
    const out = [];
    for (const t of await pg.listTables({ schema: "bench" })) {
      const r = await pg.query("select count(*)::int as n, coalesce(sum(a), 0)::int as s from " + t.schema + "." + t.name);
      out.push({ table: t.schema + "." + t.name, n: r.rows[0].n, sum: r.rows[0].s });
    }
    return out.sort((a, b) => b.sum - a.sum || a.table.localeCompare(b.table)).slice(0, 5);`);
  const aggSame = JSON.stringify(topDirect) === JSON.stringify(aggCode.result);

  // ---- isolate start ------------------------------------------------------------
  const start = await time(() => client.callTool({ name: "pg_execute_code", arguments: { code: "return 1" } }), 30, 5);
  const ping = await time(() => client.callTool({ name: "pg_query_read", arguments: { sql: "select 1" } }), 30, 5);

  const row = (label: string, d: { s: { bytes: number; calls: number } }, directMs: number, code: { wall: number; bytes: number; dbCalls: number }, same: boolean) => [
    [`${label}: direct tool calls`, ms(directMs), String(d.s.calls), String(d.s.bytes), ""],
    [`${label}: one pg_execute_code`, ms(code.wall), `1 (${code.dbCalls} inside)`, String(code.bytes), same ? "same answer" : "DIFFERENT ANSWER"],
    [`${label}: ratio direct / code`, `${(directMs / code.wall).toFixed(1)}x`, "", `${(d.s.bytes / code.bytes).toFixed(1)}x`, ""],
  ];
  console.log(`\nCode mode against direct calls, ${TABLES} tables (seed: ${suggestionsDirect.length} tables where sequential scans dominate)\n`);
  console.log(table([["", "wall time", "MCP calls", "model-visible bytes", "check"], ...row("seed", seedDirect, seedDirectMs, seedCode, seedSame), ...row("aggregate", aggDirect, aggDirectMs, aggCode, aggSame)]));
  const entry = toolByName.pg_execute_code!;
  console.log(`\npg_execute_code listing: description ${bytes(entry.description ?? "")} bytes, whole tools/list entry ${bytes(entry)} bytes`);
  console.log(`isolate start, "return 1" through the full stack: p50 ${ms(percentile(start, 50))}, p99 ${ms(percentile(start, 99))}; pg_query_read "select 1": p50 ${ms(percentile(ping, 50))} (difference ${ms(percentile(start, 50) - percentile(ping, 50))})`);
  if (!seedSame || !aggSame) process.exitCode = 1;
  await client.close();
  await direct.query("drop schema bench cascade");
  await direct.end();
} finally {
  await stack.stop();
}

function sortBy<T>(rows: T[], key: keyof T): T[] {
  return [...rows].sort((a, b) => String(a[key]).localeCompare(String(b[key])));
}
