/**
 * Starts what the end-to-end tests talk to: a real PostgreSQL (embedded, or
 * TEST_DATABASE_URL), the demo migrations, and real Workers under wrangler
 * dev, one per deployment configuration the tests need.
 */
import type { TestProject } from "vitest/node";
import { startEmbeddedPostgres, type RunningPostgres } from "../../scripts/lib/postgres";
import { migrate } from "../../scripts/lib/migrate";
import { buildWorker, startWorker, type RunningWorker } from "../../scripts/lib/worker";
import { startNeonProxy, type RunningProxy } from "../../scripts/lib/neon-proxy";

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
    /** All groups, default limits. */
    mcpUrl: string;
    /** The Neon serverless driver through a local WebSocket proxy. */
    neonMcpUrl: string;
    /** Small limits and only the query group, for truncation and group tests. */
    smallMcpUrl: string;
    /** The same Worker under `wrangler dev`, as `npm run dev` runs it. */
    devMcpUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const started: { stop(): Promise<void> }[] = [];
  const teardown = async () => {
    for (const s of started.reverse()) await s.stop().catch(() => {});
  };
  try {
    let databaseUrl = process.env.TEST_DATABASE_URL;
    if (!databaseUrl) {
      const pg: RunningPostgres = await startEmbeddedPostgres();
      started.push(pg);
      databaseUrl = pg.url;
    }
    await migrate(databaseUrl);
    buildWorker();
    const proxy: RunningProxy = await startNeonProxy();
    started.push(proxy);
    // Local, unauthenticated Workers (auth is tested on its own Workers in auth.test.ts); no rate limits so the suite is not throttled.
    const open = { AUTH_MODE: "none", RATE_LIMIT_PER_MINUTE: "0" };
    const workers = await Promise.allSettled([
      startWorker({ databaseUrl, vars: open }),
      startWorker({ databaseUrl, vars: { ...open, DB_DRIVER: "neon", DATABASE_URL: databaseUrl, NEON_WS_PROXY: proxy.wsProxy } }),
      startWorker({ databaseUrl, vars: { ...open, TOOL_GROUPS: "query", MAX_ROWS: "5", MAX_RESULT_BYTES: "2000", STATEMENT_TIMEOUT_MS: "500" } }),
      startWorker({ databaseUrl, mode: "wrangler", vars: open }),
    ]);
    for (const w of workers) if (w.status === "fulfilled") started.push(w.value);
    const failed = workers.find((w) => w.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const [main, neon, small, dev] = workers.map((w) => (w as PromiseFulfilledResult<RunningWorker>).value);
    project.provide("databaseUrl", databaseUrl);
    project.provide("mcpUrl", main!.mcpUrl);
    project.provide("neonMcpUrl", neon!.mcpUrl);
    project.provide("smallMcpUrl", small!.mcpUrl);
    project.provide("devMcpUrl", dev!.mcpUrl);
  } catch (e) {
    await teardown();
    throw e;
  }
  return teardown;
}
