/**
 * `npm run bench:codemode`: the seed workload ("for each table: stats, then
 * columns where sequential scans dominate") on a database with 50 tables, done
 * once as one pg_execute_code call and once as the equivalent direct tool
 * calls through the same MCP client. Prints wall time and the bytes a model
 * would read for each (tools/list descriptions + every call's input and
 * output), and isolate start times. Asserts nothing.
 */
import pg from "pg";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ms, percentile, startStack, table } from "./harness";

const TABLES = 50;
const stack = await startStack({ CODE_MAX_DB_CALLS: "1000" });
try {
  const direct = new pg.Client({ connectionString: stack.databaseUrl });
  await direct.connect();
  await direct.query("drop schema if exists bench cascade; create schema bench");
  for (let i = 0; i < TABLES; i++) {
    await direct.query(`create table bench.t${i} (id int primary key, a int, b text, c timestamptz default now())`);
    await direct.query(`insert into bench.t${i} select g, g % 10, 'x' || g, now() from generate_series(1, 200) g`);
    // Some tables get sequential scans, some index scans.
    for (let k = 0; k < (i % 3) + 1; k++) await direct.query(i % 2 ? `select count(*) from bench.t${i} where a = 3` : `select * from bench.t${i} where id = 5`);
  }
  await direct.query("analyze");
  // Table statistics reach pg_stat_* when the backend flushes them (at most once a second).
  await direct.query("select pg_stat_force_next_flush()").catch(() => {});
  await direct.query("select 1");
  await new Promise((r) => setTimeout(r, 1500));

  const client = new Client({ name: "bench", version: "1" });
  await client.connect(new StreamableHTTPClientTransport(new URL(stack.mcpUrl)));
  const { tools } = await client.listTools();
  const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v));
  const toolByName = Object.fromEntries(tools.map((t) => [t.name, t]));

  // Direct: list the tables, then per table its stats, then its columns when seq scans dominate.
  const directUsed = ["pg_schema_list", "pg_admin_stats", "pg_schema_describe"];
  let directBytes = directUsed.reduce((n, name) => n + bytes(toolByName[name]), 0);
  const t0 = performance.now();
  const callTool = async (name: string, args: Record<string, unknown>) => {
    const r = await client.callTool({ name, arguments: args });
    directBytes += bytes({ name, arguments: args }) + bytes(r.content);
    return r.structuredContent as { rows: Record<string, unknown>[] };
  };
  const list = await callTool("pg_schema_list", { schema: "bench", kind: "table", limit: 200 });
  const suggestions: unknown[] = [];
  for (const t of list.rows) {
    const name = `bench.${t.name}`;
    const stats = (await callTool("pg_admin_stats", { kind: "tables", table: name })).rows[0] as { seq_scan?: number; idx_scan?: number };
    if (stats && Number(stats.seq_scan ?? 0) > Number(stats.idx_scan ?? 0)) {
      await callTool("pg_schema_describe", { name });
      suggestions.push(name);
    }
  }
  const directMs = performance.now() - t0;

  // Code mode: the same work in one program.
  const program = `
    const tables = await pg.schema.list({ schema: "bench", kind: "table", limit: 200 });
    const out = [];
    for (const t of tables.rows) {
      const name = "bench." + t.name;
      const stats = await pg.getTableStats({ table: name });
      if (stats && Number(stats.seq_scan ?? 0) > Number(stats.idx_scan ?? 0)) {
        const cols = await pg.getColumns({ table: name });
        out.push({ table: name, seqScans: stats.seq_scan, columns: cols.map((c) => c.name) });
      }
    }
    return out;`;
  const codeTool = toolByName.pg_execute_code!;
  const t1 = performance.now();
  const r = await client.callTool({ name: "pg_execute_code", arguments: { code: program } });
  const codeMs = performance.now() - t1;
  const codeBytes = bytes(codeTool) + bytes({ name: "pg_execute_code", arguments: { code: program } }) + bytes(r.content);
  if (r.isError) throw new Error(JSON.stringify(r.content));
  const found = ((r.structuredContent as { result: unknown[] }).result ?? []).length;

  // Isolate start: a trivial program, first call vs later calls (each run loads a fresh isolate).
  const trivial = async () => {
    const s = performance.now();
    await client.callTool({ name: "pg_execute_code", arguments: { code: "return 1" } });
    return performance.now() - s;
  };
  const first = await trivial();
  const later: number[] = [];
  for (let i = 0; i < 30; i++) later.push(await trivial());
  const ping: number[] = [];
  for (let i = 0; i < 30; i++) {
    const s = performance.now();
    await client.callTool({ name: "pg_query_read", arguments: { sql: "select 1" } });
    ping.push(performance.now() - s);
  }

  console.log(`\nSeed workload on ${TABLES} tables (${suggestions.length} with seq scans dominating; code mode found ${found})\n`);
  console.log(
    table([
      ["", "wall time", "bytes a model reads", "calls"],
      ["direct tool calls", ms(directMs), String(directBytes), String(1 + list.rows.length + suggestions.length)],
      ["one pg_execute_code", ms(codeMs), String(codeBytes), "1"],
      ["ratio direct / code", `${(directMs / codeMs).toFixed(1)}x`, `${(directBytes / codeBytes).toFixed(1)}x`, ""],
    ]),
  );
  console.log(`\npg_execute_code description: ${Buffer.byteLength(codeTool.description ?? "")} bytes; its tools/list entry: ${bytes(codeTool)} bytes`);
  console.log(`isolate start, "return 1" through the full stack: first ${ms(first)}, later p50 ${ms(percentile(later, 50))} (pg_query_read select 1 p50 ${ms(percentile(ping, 50))})`);
  await client.close();
  await direct.query("drop schema bench cascade");
  await direct.end();
} finally {
  await stack.stop();
}
