/**
 * Peers and poolers for the benchmarks: PgBouncer in transaction mode (the
 * stand-in for Hyperdrive's pool) and Google's MCP Toolbox for Databases.
 */
import pg from "pg";
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports";

/** Pinned: the benchmark compares against a known release. */
export const TOOLBOX_PACKAGE = "@toolbox-sdk/server@1.12.0";
const START_TIMEOUT_MS = 180_000;

/** PgBouncer in transaction mode in front of `databaseUrl`, or why not. */
export async function startPgBouncer(databaseUrl: string, users: Record<string, string>): Promise<{ url(user: string, password: string): string; stop(): Promise<void> } | string> {
  const binary = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer", "/usr/local/bin/pgbouncer"].find((p) => existsSync(p));
  if (!binary) return "pgbouncer is not installed (Debian/Ubuntu: apt-get install -y pgbouncer; macOS: brew install pgbouncer): the PgBouncer column is skipped";
  const db = new URL(databaseUrl);
  const dir = mkdtempSync(join(tmpdir(), "pg-mcp-bouncer-"));
  const port = await freePort();
  writeFileSync(join(dir, "userlist.txt"), Object.entries(users).map(([u, p]) => `"${u}" "${p}"`).join("\n") + "\n");
  writeFileSync(
    join(dir, "pgbouncer.ini"),
    `[databases]
${db.pathname.slice(1) || "postgres"} = host=${db.hostname} port=${db.port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = trust
auth_file = ${join(dir, "userlist.txt")}
pool_mode = transaction
max_client_conn = 500
default_pool_size = 20
ignore_startup_parameters = extra_float_digits,statement_timeout,lock_timeout,idle_in_transaction_session_timeout,options
logfile = ${join(dir, "pgbouncer.log")}
`,
  );
  const root = userInfo().uid === 0;
  // PgBouncer refuses to run as root: as root, it drops to the postgres user (embedded PostgreSQL created it).
  if (root) {
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
    chownSync(dir, uid, gid);
  }
  const child = spawn(binary, [...(root ? ["-u", "postgres"] : []), join(dir, "pgbouncer.ini")], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  const url = (user: string, password: string) => `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}${db.pathname}?sslmode=disable`;
  const [user, password] = Object.entries(users)[0]!;
  const deadline = Date.now() + 15_000;
  for (;;) {
    const c = new pg.Client({ connectionString: url(user, password) });
    try {
      await c.connect();
      await c.query("select 1");
      await c.end();
      break;
    } catch (e) {
      await c.end().catch(() => {});
      if (child.exitCode !== null || Date.now() > deadline) {
        await stopChild(child);
        return `pgbouncer did not start (${(e as Error).message}): ${stderr.trim()}`;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    async stop() {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

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
export async function startToolbox(databaseUrl: string): Promise<{ mcpUrl: string; stop(): Promise<void> }> {
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
  return { mcpUrl: `${base}/mcp`, stop };
}
