/**
 * Peers for the benchmarks: Google's MCP Toolbox for Databases (PgBouncer,
 * the stand-in for Hyperdrive's pool, is scripts/lib/pgbouncer.ts).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { freePort } from "./ports";
import { groupPids } from "./cpu";

/** Pinned: the benchmark compares against a known release. */
export const TOOLBOX_PACKAGE = "@toolbox-sdk/server@1.12.0";
const START_TIMEOUT_MS = 180_000;

/** Stops a child (its whole process group when it was started detached) and waits for it to exit. */
export async function stopChild(child: ChildProcess, group = false): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  const done = new Promise((r) => child.once("exit", r));
  try {
    process.kill(group ? -child.pid : child.pid, "SIGTERM");
  } catch {}
  const timer = setTimeout(() => {
    try {
      process.kill(group ? -child.pid! : child.pid!, "SIGKILL");
    } catch {}
  }, 5000);
  await done;
  clearTimeout(timer);
}

/**
 * Google's MCP Toolbox, prebuilt postgres tools, on a free loopback port.
 * Directly to PostgreSQL only: it keeps its own connection pool (pgx), and
 * pgx's cached named statements fail behind a transaction-mode PgBouncer
 * before 1.21 ("prepared statement ... already exists"); its query-parameter
 * setting did not switch that off in 1.12.
 */
export async function startToolbox(databaseUrl: string): Promise<{ mcpUrl: string; stop(): Promise<void>; pids(): number[] }> {
  const db = new URL(databaseUrl);
  const port = await freePort();
  // Its own process group, so stopping it stops npm exec and the binary it started.
  const child = spawn("npm", ["exec", "--yes", `--package=${TOOLBOX_PACKAGE}`, "--", "toolbox", "--prebuilt", "postgres", "--address", "127.0.0.1", "--port", String(port)], {
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      POSTGRES_HOST: db.hostname,
      POSTGRES_PORT: db.port,
      POSTGRES_DATABASE: db.pathname.slice(1) || "postgres",
      POSTGRES_USER: decodeURIComponent(db.username),
      POSTGRES_PASSWORD: decodeURIComponent(db.password),
    },
  });
  let output = "";
  const collect = (d: Buffer) => (output = (output + d).slice(-4000));
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  const stop = () => stopChild(child, true);
  process.once("exit", () => {
    try {
      if (child.pid && child.exitCode === null) process.kill(-child.pid, "SIGKILL");
    } catch {}
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + START_TIMEOUT_MS; // the first run downloads the binary
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Toolbox exited during start-up:\n${output}`);
    try {
      if ((await fetch(`${base}/`)).ok) break;
    } catch {}
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`Toolbox did not answer within ${START_TIMEOUT_MS} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  // Its process group: npm exec and the Toolbox binary it started (the benchmark reads their CPU time).
  return { mcpUrl: `${base}/mcp`, stop, pids: () => (child.pid ? groupPids(child.pid) : []) };
}
