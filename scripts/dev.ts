/**
 * `npm run dev`: a real PostgreSQL (embedded, or DATABASE_URL), the demo
 * migrations, and the Worker under `wrangler dev`. Ctrl-C stops everything.
 */
import { startEmbeddedPostgres, type RunningPostgres } from "./lib/postgres";
import { migrate } from "./lib/migrate";
import { startWorker } from "./lib/worker";
import { join } from "node:path";
import { PROJECT_ROOT } from "./lib/worker";

const port = Number(process.env.PORT ?? 8787);
let pg: RunningPostgres | undefined;
let databaseUrl = process.env.DATABASE_URL;

if (!databaseUrl) {
  console.log("Starting embedded PostgreSQL...");
  pg = await startEmbeddedPostgres({ dataDir: process.env.PG_DATA_DIR ?? join(PROJECT_ROOT, ".data", "postgres") });
  databaseUrl = pg.url;
  const applied = await migrate(databaseUrl);
  console.log(`PostgreSQL ready on port ${pg.port}${applied.length ? `; applied ${applied.join(", ")}` : ""}`);
} else {
  console.log("Using DATABASE_URL (migrations not applied; run them yourself if you want the demo schema).");
}

const worker = await startWorker({ databaseUrl, port, mode: "wrangler", verbose: true, vars: { AUTH_MODE: "none" } });
console.log(`
  MCP endpoint:  ${worker.mcpUrl}

  Connect a client:
    MCP Inspector:   npx @modelcontextprotocol/inspector  (transport: Streamable HTTP, URL above)
    Claude Desktop:  { "mcpServers": { "postgres": { "command": "npx", "args": ["mcp-remote", "${worker.mcpUrl}"] } } }

  WARNING: no authentication on this local server (localhost only).
  Ctrl-C to stop.
`);

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  console.log("\nStopping...");
  await worker.stop();
  await pg?.stop();
  process.exit(0);
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
