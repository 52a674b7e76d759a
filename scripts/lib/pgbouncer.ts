/**
 * PgBouncer in transaction mode in front of a database: the local stand-in
 * for Hyperdrive's pooler (a backend serves other clients between
 * transactions). Uses the machine's `pgbouncer` binary (Debian: `apt-get
 * install pgbouncer`); `pgbouncerMissing()` says why it cannot run.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports";

export interface RunningPgBouncer {
  /** The same database and role as the target URL, through the pooler. */
  url: string;
  stop(): Promise<void>;
}

const BINARY = "pgbouncer";

/** Why PgBouncer cannot run here, or undefined when it can. */
export function pgbouncerMissing(): string | undefined {
  const r = spawnSync(BINARY, ["--version"], { encoding: "utf8" });
  if (r.error || r.status !== 0) return `no ${BINARY} binary on PATH (Debian: apt-get install pgbouncer)`;
  return undefined;
}

export interface PgBouncerOptions {
  /** Server connections per database and user. @default 4 */
  poolSize?: number;
}

/** Starts PgBouncer (transaction pooling) for `targetUrl`, listening on 127.0.0.1 only. */
export async function startPgBouncer(targetUrl: string, opts: PgBouncerOptions = {}): Promise<RunningPgBouncer> {
  const target = new URL(targetUrl);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "pg-mcp-pgbouncer-"));
  chmodSync(dir, 0o755);
  const db = decodeURIComponent(target.pathname.slice(1) || "postgres");
  const user = decodeURIComponent(target.username);
  const ini = `[databases]
${db} = host=${target.hostname} port=${target.port || 5432} dbname=${db} user=${user} password=${decodeURIComponent(target.password)}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = ${opts.poolSize ?? 4}
max_client_conn = 200
ignore_startup_parameters = extra_float_digits,statement_timeout,lock_timeout,idle_in_transaction_session_timeout,options
`;
  const config = join(dir, "pgbouncer.ini");
  writeFileSync(config, ini);
  chmodSync(config, 0o644);
  // PgBouncer refuses to run as root: drop to an unprivileged user.
  const args = userInfo().uid === 0 ? ["-u", "nobody", config] : [config];
  const child: ChildProcess = spawn(BINARY, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (c) => (output += c));
  child.stderr!.on("data", (c) => (output += c));
  let exited = false;
  child.on("exit", () => (exited = true));
  const deadline = Date.now() + 10_000;
  while (!(await listening(port))) {
    if (exited || Date.now() > deadline) {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`pgbouncer did not start: ${output.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = new URL(targetUrl);
  url.hostname = "127.0.0.1";
  url.port = String(port);
  return {
    url: url.toString(),
    async stop() {
      if (!exited) {
        const done = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await Promise.race([done, new Promise((r) => setTimeout(r, 5000))]);
        if (!exited) child.kill("SIGKILL");
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}
