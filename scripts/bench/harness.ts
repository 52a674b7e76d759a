/** Shared pieces of the benchmarks: the stack under test and percentile maths. */
import { startEmbeddedPostgres } from "../lib/postgres";
import { applyRoles, migrate } from "../lib/migrate";
import { startWorker, type StartWorkerOptions } from "../lib/worker";

export interface Stack {
  databaseUrl: string;
  mcpUrl: string;
  stop(): Promise<void>;
}

/** PostgreSQL (embedded, or BENCH_DATABASE_URL) with the demo schema, and the Worker under wrangler dev. */
export async function startStack(vars?: StartWorkerOptions["vars"]): Promise<Stack> {
  const pg = process.env.BENCH_DATABASE_URL ? undefined : await startEmbeddedPostgres();
  const databaseUrl = process.env.BENCH_DATABASE_URL ?? pg!.url;
  // As deployed: the server connects as the least-privilege role and reads as the read role.
  const serverUrl = await applyRoles(databaseUrl, { grantFutureTablesOf: decodeURIComponent(new URL(databaseUrl).username) });
  await migrate(serverUrl);
  // No auth, no rate limits, no concurrency cap: the benchmark measures the MCP path itself.
  const worker = await startWorker({ databaseUrl: serverUrl, vars: { AUTH_MODE: "none", RATE_LIMIT_PER_MINUTE: "0", MAX_CONCURRENT_REQUESTS: "0", ...vars } });
  return {
    databaseUrl,
    mcpUrl: worker.mcpUrl,
    async stop() {
      await worker.stop();
      await pg?.stop();
    },
  };
}

export function percentile(samples: number[], p: number): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export async function time(fn: () => Promise<unknown>, n: number, warmup = 20): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

export const ms = (v: number) => `${v.toFixed(2)} ms`;

export function table(rows: (string | number)[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r) => r.map((c, i) => String(c).padEnd(widths[i]!)).join("  ")).join("\n");
}
