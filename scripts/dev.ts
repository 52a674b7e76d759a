/**
 * `npm run dev`: a real PostgreSQL (embedded, or DATABASE_URL), the demo
 * migrations, and the Worker under `wrangler dev`. Ctrl-C stops everything.
 * `npm run dev -- --vector`: PGlite with pgvector instead of the embedded
 * PostgreSQL (which has no pgvector), for the vector tools.
 */
import { startEmbeddedPostgres } from "./lib/postgres";
import { startPgliteVector } from "./lib/pglite";
import { applyRoles, migrate, rolePosture, READ_ROLE } from "./lib/migrate";
import { startWorker } from "./lib/worker";
import { join } from "node:path";
import { existsSync } from "node:fs";
import { PROJECT_ROOT } from "./lib/worker";
import { devConfigProblem } from "./lib/dev-config";

// Ctrl-C at any moment, start-up included, stops whatever has started so far.
const stops: (() => Promise<void>)[] = [];
let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  console.log("\nStopping...");
  for (const stop of stops.reverse()) await stop().catch(() => {});
  process.exit(0);
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);

const vector = process.argv.includes("--vector");
let databaseUrl = process.env.DATABASE_URL;
// With DATABASE_URL set and no READ_ROLE in the environment, read as that URL's role unless it has the read role.
const readRole = process.env.READ_ROLE ?? READ_ROLE;
const devVars = { AUTH_MODE: "none", READ_ROLE: readRole };

// Mistakes in the environment or .dev.vars are named here, in one line, before anything starts.
function fail(message: string): never {
  console.error(`npm run dev: ${message}`);
  process.exit(1);
}
const port = Number(process.env.PORT ?? 8787);
if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`PORT must be a port number from 1 to 65535, got "${process.env.PORT}"`);
if (databaseUrl !== undefined && !/^postgres(ql)?:\/\/./.test(databaseUrl)) fail(`DATABASE_URL must be a postgres:// connection string, got "${databaseUrl}"`);
const problem = devConfigProblem(devVars);
if (problem) fail(`${problem} (from wrangler.toml, .dev.vars or .env; see README, Configuration)`);

if (!databaseUrl && vector) {
  console.log("Starting PGlite with pgvector...");
  const pglite = await startPgliteVector({ dataDir: process.env.PGLITE_DATA_DIR ?? join(PROJECT_ROOT, ".data", "pglite") });
  stops.push(() => pglite.stop());
  databaseUrl = pglite.url;
  const applied = await migrate(pglite.url);
  console.log(`PGlite (PostgreSQL in WebAssembly) with pgvector ready on port ${pglite.port}${applied.length ? `; applied ${applied.join(", ")}` : ""}
  Limits: one database backend behind a connection multiplexer, so clients take turns (an open
  transaction makes the others wait); no pg_stat_statements or other server-wide extensions;
  no authentication; slower than native PostgreSQL. For trying the vector tools, not for load.`);
} else if (!databaseUrl) {
  console.log("Starting embedded PostgreSQL...");
  // A new directory since the demo schema became owned by the least-privilege role (the old one belongs to the superuser).
  if (existsSync(join(PROJECT_ROOT, ".data", "postgres"))) console.log("  (.data/postgres is from an older version and no longer used: delete it)");
  const embedded = await startEmbeddedPostgres({ dataDir: process.env.PG_DATA_DIR ?? join(PROJECT_ROOT, ".data", "pg") });
  stops.push(() => embedded.stop());
  // The server connects as the least-privilege role the README tells operators to create, never as the superuser.
  databaseUrl = await applyRoles(embedded.url);
  const applied = await migrate(databaseUrl);
  console.log(`PostgreSQL ready on port ${embedded.port}${applied.length ? `; applied ${applied.join(", ")}` : ""}`);
} else {
  if (vector) console.log("--vector ignored: DATABASE_URL is set (the vector tools need pgvector on that database).");
  console.log("Using DATABASE_URL (migrations not applied; run them yourself if you want the demo schema).");
}

console.log(["Database role posture:", ...(await rolePosture(databaseUrl, readRole || undefined)).map((l) => `  ${l}`)].join("\n"));
const worker = await startWorker({ databaseUrl, port, mode: "wrangler", verbose: true, vars: devVars });
stops.push(() => worker.stop());
console.log(`
  MCP endpoint:  ${worker.mcpUrl}

  Connect a client:
    MCP Inspector:   npx @modelcontextprotocol/inspector  (transport: Streamable HTTP, URL above)
    Claude Desktop:  { "mcpServers": { "postgres": { "command": "npx", "args": ["mcp-remote", "${worker.mcpUrl}"] } } }

  WARNING: no authentication on this local server (localhost only).
  Ctrl-C to stop.
`);

