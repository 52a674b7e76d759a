/**
 * The faults the chaos run injects, each from the run's own superuser
 * connection or through the PostgreSQL it controls:
 *
 * - `lock`: a transaction holds ACCESS EXCLUSIVE locks on the chaos tables
 *   for a few lock timeouts, so other statements hit lock_timeout;
 * - `kill`: pg_terminate_backend of every session of the server's role;
 * - `restart-fast` / `restart-immediate`: PostgreSQL stopped (clean, or a
 *   crash) and started again.
 */
import { execFile } from "node:child_process";
import pg from "pg";

export type FaultName = "lock" | "kill" | "restart-fast" | "restart-immediate";

export const ALL_FAULTS: FaultName[] = ["lock", "kill", "restart-fast", "restart-immediate"];

export interface FaultRecord {
  name: FaultName;
  /** ms since the run's start */
  start: number;
  end: number;
  effect: string;
  skipped?: string;
}

export interface FaultTarget {
  adminUrl: string;
  /** The role whose sessions a mass kill ends. */
  serverRole: string;
  lockTimeoutMs: number;
  /** Restarts PostgreSQL; undefined when the run cannot (an external database without CHAOS_RESTART_CMD). */
  restart?: (mode: "fast" | "immediate") => Promise<void>;
  restartUnavailable?: string;
}

export async function inject(name: FaultName, target: FaultTarget, t0: number): Promise<FaultRecord> {
  const start = Date.now() - t0;
  const done = (effect: string, skipped?: string): FaultRecord => ({ name, start, end: Date.now() - t0, effect, ...(skipped ? { skipped } : {}) });
  switch (name) {
    case "lock": {
      const holdMs = target.lockTimeoutMs * 3;
      const c = new pg.Client({ connectionString: target.adminUrl });
      c.on("error", () => {});
      await c.connect();
      try {
        await c.query("begin; lock table chaos_single, chaos_pair, chaos_code in access exclusive mode");
        await c.query(`select pg_sleep(${holdMs / 1000})`);
        await c.query("commit");
      } finally {
        await c.end().catch(() => {});
      }
      return done(`held ACCESS EXCLUSIVE on the chaos tables for ${holdMs} ms`);
    }
    case "kill": {
      const c = new pg.Client({ connectionString: target.adminUrl });
      c.on("error", () => {});
      await c.connect();
      try {
        const r = await c.query("select count(*) filter (where pg_terminate_backend(pid))::int as n from pg_stat_activity where usename = $1", [target.serverRole]);
        return done(`terminated ${r.rows[0].n} sessions of ${target.serverRole}`);
      } finally {
        await c.end().catch(() => {});
      }
    }
    case "restart-fast":
    case "restart-immediate": {
      const mode = name === "restart-fast" ? "fast" : "immediate";
      if (!target.restart) return done("-", target.restartUnavailable ?? "no way to restart this database");
      await target.restart(mode);
      return done(`${mode} shutdown and start: down ${Date.now() - t0 - start} ms`);
    }
  }
}

/**
 * Restart through an operator's command (an external database): CHAOS_RESTART_CMD
 * runs in a shell with CHAOS_RESTART_MODE=fast|immediate in its environment,
 * e.g. `pg_ctlcluster -m $CHAOS_RESTART_MODE 15 main restart`.
 */
export function commandRestart(command: string, timeoutMs: number): (mode: "fast" | "immediate") => Promise<void> {
  return (mode) =>
    new Promise((resolve, reject) => {
      execFile("sh", ["-c", command], { env: { ...process.env, CHAOS_RESTART_MODE: mode }, timeout: timeoutMs }, (err, _out, stderr) =>
        err ? reject(new Error(`CHAOS_RESTART_CMD failed (${mode}): ${err.message} ${stderr}`.trim())) : resolve(),
      );
    });
}

/** Waits (bounded) until PostgreSQL accepts a connection and answers. Returns the ms waited, or undefined on timeout. */
export async function waitForDatabase(url: string, timeoutMs: number): Promise<number | undefined> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
    c.on("error", () => {});
    try {
      await c.connect();
      await c.query("select 1");
      return Date.now() - started;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      await c.end().catch(() => {});
    }
  }
  return undefined;
}
