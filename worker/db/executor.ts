/**
 * How tools run SQL. Tools say what kind of statement they run (a read, a
 * write, a statement that cannot run in a transaction block, an internal
 * catalog read) and the executor wraps it in the right transaction with the
 * deployment's statement timeout and caps, in one round trip. Tools never
 * write BEGIN/COMMIT themselves, so the same tool code runs unchanged inside a
 * transaction held open across calls (pg_tx_*), where the executor is another
 * implementation of this interface.
 */
import type { Config } from "../config";
import { RELEASE_SESSION_LOCKS, needsOwnTransaction, transactionWrap } from "./transaction";
import { tokenize } from "../sql/lexer";
import type { DbSession, RowSet, RunLimits } from "./session";
import { runningName } from "./tags";
import type { DbIdentity } from "./identity";
import { actingAs } from "./permission";
import { beginStatement, claimFailed, failedAtClaim, recordAndCommit, type IdempotencyClaim } from "./idempotency";

export interface WriteOptions {
  /** Run and roll back (EXPLAIN ANALYZE of a write, dry runs). @default false */
  rollback?: boolean;
  limits?: Partial<RunLimits>;
  /**
   * Record this key with the write, in its transaction (db/idempotency.ts): a
   * retry with the same key returns the first outcome (`replayed` set) and
   * runs nothing. Not with `rollback`, nor inside a held transaction.
   */
  idempotency?: IdempotencyClaim;
}

export interface ReadOptions {
  /**
   * Planner settings for this statement only, sent as `SET LOCAL name = value`
   * in the same transaction (pgvector's `hnsw.ef_search`, `ivfflat.probes`, ...).
   * Names must be in LOCAL_SETTINGS; values are checked there.
   */
  settings?: Record<string, string | number>;
  /**
   * SQL the server wrote itself (catalog and statistics reads): act as the
   * server's role, whose pg_monitor membership sees every session. Everything
   * else a caller can influence acts as the read role.
   * @default false
   */
  asServer?: boolean;
}

/** Settings a tool may SET LOCAL for one read, each with the check its value must pass. */
export const LOCAL_SETTINGS: Readonly<Record<string, (v: string | number) => boolean>> = {
  "hnsw.ef_search": (v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 1000,
  "hnsw.max_scan_tuples": (v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 2_147_483_647,
  "hnsw.iterative_scan": (v) => v === "off" || v === "relaxed_order" || v === "strict_order",
  "ivfflat.probes": (v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 32768,
  "ivfflat.max_probes": (v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 32768,
  "ivfflat.iterative_scan": (v) => v === "off" || v === "relaxed_order",
};

/** `SET LOCAL` statements for allowlisted settings; anything else is a programming error. */
export function localSettings(settings: ReadOptions["settings"] = {}): string[] {
  return Object.entries(settings).map(([name, value]) => {
    const check = LOCAL_SETTINGS[name];
    if (!check) throw new Error(`setting ${name} is not allowed per statement`);
    if (!check(value)) throw new Error(`invalid value for ${name}: ${String(value)}`);
    return `SET LOCAL ${name} = ${typeof value === "number" ? value : `'${value}'`}`;
  });
}

export interface SqlExecutor {
  /** One statement in a READ ONLY transaction that is always rolled back. */
  read(sql: string, params?: unknown[], limits?: Partial<RunLimits>, opts?: ReadOptions): Promise<RowSet>;
  /** One statement in a READ WRITE transaction that commits (unless `rollback`). */
  write(sql: string, params?: unknown[], opts?: WriteOptions): Promise<RowSet>;
  /** One statement PostgreSQL refuses in a transaction block (VACUUM, CREATE INDEX CONCURRENTLY, ...). */
  standalone(sql: string, params?: unknown[]): Promise<RowSet>;
  /** Internal catalog reads: rows as objects keyed by column name, READ ONLY, capped like any read. */
  rows<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /**
   * Several statements in order, stopping at the first error. `atomic`: all in
   * one transaction (nothing kept on error); otherwise each is its own
   * transaction. `readOnly`: READ ONLY and rolled back.
   */
  script(statements: string[], opts: ScriptOptions): Promise<ScriptOutcome>;
  /**
   * What-if evaluation: steps in one transaction that is always rolled back
   * (build an index, plan statements against it, undo). Runs as the server's
   * role; a step may switch role or read-only itself with SET LOCAL. Stops at
   * the first failing step; `cleanup` steps then still run inside the
   * transaction (after rolling back to a savepoint taken after the setup), for
   * state a ROLLBACK does not undo (hypopg's hypothetical indexes). Refused
   * inside a held transaction.
   */
  trial(steps: TrialStep[], opts?: TrialOptions): Promise<ScriptOutcome>;
  /** True when statements run inside a transaction held across calls. */
  readonly inTransaction: boolean;
  /**
   * The caller's own database role, when it acts as one: catalog reads then
   * run as that role too, and listings show only what it may use.
   */
  readonly callerRole?: string;
}

export interface TrialStep {
  sql: string;
  params?: unknown[];
}

export interface TrialOptions {
  /** READ ONLY from the start (hypothetical indexes need no write). @default false */
  readOnly?: boolean;
  /** Per statement; capped by the deployment's STATEMENT_TIMEOUT_MS. */
  statementTimeoutMs?: number;
  /** Capped by the deployment's LOCK_TIMEOUT_MS (when that is set). */
  lockTimeoutMs?: number;
  /**
   * Steps run after the others, or after a failure (in a savepoint rolled
   * back to); a function gets the number of steps that completed.
   */
  cleanup?: TrialStep[] | ((completed: number) => TrialStep[]);
}

const TRIAL_SAVEPOINT = "pg_mcp_trial";

export interface ScriptOptions {
  atomic: boolean;
  readOnly: boolean;
  limits?: Partial<RunLimits>;
  /** As WriteOptions.idempotency; only for an atomic script that writes. */
  idempotency?: IdempotencyClaim;
}

export interface ScriptOutcome {
  /** One per statement that ran successfully, in order. */
  results: RowSet[];
  /** Set when a statement failed: its index and the error (a pg error or a ToolError). */
  failure?: { index: number; error: unknown };
  /** A replay of an idempotency key: when the first call ran (ISO 8601). Nothing ran now. */
  replayed?: string;
}

export function toObjects<T>(rs: RowSet): T[] {
  return rs.rows.map((row) => Object.fromEntries(rs.columns.map((c, i) => [c.name, row[i]])) as T);
}

/**
 * The tools/call an executor's statements belong to (context.ts CallControl):
 * they carry its running name while they run, and scripts report each step.
 */
export interface CallNaming {
  /** Added to the session's name while a statement runs (db/tags.ts callName). */
  readonly callName: string;
  /** Once aborted (the call was cancelled), no further statement starts. */
  readonly signal?: AbortSignal;
  progress(message: string): void;
}

/** Quoted for SET: our own names only (db/tags.ts). */
const literal = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** The executor for one stateless request: each statement is its own transaction. */
export function requestExecutor(config: Config, open: () => Promise<DbSession>, call?: CallNaming, identity?: DbIdentity): SqlExecutor {
  const limitsOf = (l?: Partial<RunLimits>): RunLimits => ({
    maxRows: Math.min(l?.maxRows ?? config.maxRows, config.maxRows),
    maxBytes: Math.min(l?.maxBytes ?? config.maxResultBytes, config.maxResultBytes),
    offset: l?.offset,
  });
  const timeout = config.statementTimeoutMs;
  const session = async () => {
    call?.signal?.throwIfAborted();
    return open();
  };
  const named = (db: DbSession) => (call ? runningName(db.name, call.callName) : undefined);
  const exec: SqlExecutor = {
    inTransaction: false,
    ...(identity ? { callerRole: identity.role } : {}),
    async trial(steps, opts = {}) {
      const db = await session();
      const lockTimeout = opts.lockTimeoutMs !== undefined ? (config.lockTimeoutMs ? Math.min(opts.lockTimeoutMs, config.lockTimeoutMs) : opts.lockTimeoutMs) : config.lockTimeoutMs;
      const wrap = transactionWrap({ readOnly: !!opts.readOnly, statementTimeoutMs: Math.min(opts.statementTimeoutMs ?? timeout, timeout), lockTimeoutMs: lockTimeout, commit: false, identity });
      await db.query([...wrap.before!, `SAVEPOINT ${TRIAL_SAVEPOINT}`].join("; "));
      const results: RowSet[] = [];
      let failure: ScriptOutcome["failure"];
      try {
        for (let index = 0; index < steps.length; index++) {
          try {
            results.push(await db.run(steps[index]!.sql, steps[index]!.params ?? [], limitsOf()));
          } catch (error) {
            failure = { index, error };
            await db.query(`ROLLBACK TO SAVEPOINT ${TRIAL_SAVEPOINT}`);
            break;
          }
        }
        const cleanup = typeof opts.cleanup === "function" ? opts.cleanup(results.length) : (opts.cleanup ?? []);
        for (const step of cleanup) await db.run(step.sql, step.params ?? [], limitsOf());
      } finally {
        // Whatever happened, nothing of the trial is kept; a lost connection rolls back on the server's side.
        await db.query(`ROLLBACK; ${RELEASE_SESSION_LOCKS}`).catch(() => {});
      }
      return failure ? { results, failure } : { results };
    },
    async read(sql, params = [], limits, opts) {
      const role = opts?.asServer ? undefined : config.readRole;
      const db = await session();
      const wrap = transactionWrap({ readOnly: true, statementTimeoutMs: timeout, lockTimeoutMs: config.lockTimeoutMs, commit: false, role, runningName: named(db), identity });
      if (opts?.settings) wrap.before = [...wrap.before!, ...localSettings(opts.settings)];
      return actingAs(config, identity ? undefined : role, sql, () => db.run(sql, params, limitsOf(limits), wrap), identity?.role);
    },
    async write(sql, params = [], opts = {}) {
      const db = await session();
      if (opts.idempotency && !opts.rollback) return keyedWrite(db, sql, params, opts.idempotency, limitsOf(opts.limits));
      return actingAs(config, undefined, sql, () => db.run(sql, params, limitsOf(opts.limits), transactionWrap({ readOnly: false, statementTimeoutMs: timeout, lockTimeoutMs: config.lockTimeoutMs, commit: !opts.rollback, runningName: named(db), identity })), identity?.role);
    },
    async standalone(sql, params = []) {
      const db = await session();
      // Alone: PostgreSQL treats several statements before one Sync as a transaction block.
      // With no transaction to SET LOCAL in, the running name is set for the session and reset after.
      await db.query(`SET statement_timeout = ${Math.trunc(timeout)}${call ? `; SET application_name = ${literal(named(db)!)}` : ""}`);
      try {
        return await actingAs(config, undefined, sql, () => db.run(sql, params, limitsOf()));
      } finally {
        if (call) await db.query("RESET application_name").catch(() => {});
      }
    },
    async rows<T>(sql: string, params: unknown[] = []) {
      return toObjects<T>(await exec.read(sql, params, undefined, { asServer: true }));
    },
    async script(statements, opts) {
      const results: RowSet[] = [];
      if (!opts.atomic) {
        for (let index = 0; index < statements.length; index++) {
          const sql = statements[index]!;
          call?.progress(`statement ${index + 1} of ${statements.length}`);
          try {
            const words = tokenize(sql).slice(0, 5).map((t) => t.value.toLowerCase());
            results.push(opts.readOnly ? await exec.read(sql, [], opts.limits) : needsOwnTransaction(words) ? await exec.standalone(sql) : await exec.write(sql, [], { limits: opts.limits }));
          } catch (error) {
            return { results, failure: { index, error } };
          }
        }
        return { results };
      }
      const db = await session();
      const wrap = transactionWrap({ readOnly: opts.readOnly, statementTimeoutMs: timeout, lockTimeoutMs: config.lockTimeoutMs, commit: !opts.readOnly, role: opts.readOnly ? config.readRole : undefined, runningName: named(db), identity });
      const claim = opts.readOnly ? undefined : opts.idempotency;
      if (claim) {
        try {
          await db.query([...wrap.before!, beginStatement(claim)].join("; "));
        } catch (e) {
          await db.query("ROLLBACK").catch(() => {});
          const first = await claimFailed<RowSet[]>(db, claim, e);
          return { results: first.value, replayed: first.at };
        }
      } else await db.query(wrap.before!.join("; "));
      const role = opts.readOnly ? config.readRole : undefined;
      for (let index = 0; index < statements.length; index++) {
        call?.progress(`statement ${index + 1} of ${statements.length}`);
        try {
          const sql = statements[index]!;
          results.push(await actingAs(config, role, sql, () => db.run(sql, [], limitsOf(opts.limits)), identity?.role));
        } catch (error) {
          await db.query("ROLLBACK").catch(() => {});
          return { results, failure: { index, error } };
        }
      }
      await db.query(claim ? recordAndCommit(claim, results) : wrap.after!.join("; ")).catch(async (e) => {
        if (!db.lostReason) await db.query("ROLLBACK").catch(() => {});
        throw e;
      });
      return { results };
    },
  };

  /**
   * A write that records its idempotency key: the claim rides in the write's
   * round trip, the outcome and COMMIT follow in a second (the outcome is
   * known only then). Any failure before COMMIT rolls back the key with the write.
   */
  async function keyedWrite(db: DbSession, sql: string, params: unknown[], claim: IdempotencyClaim, limits: RunLimits): Promise<RowSet> {
    const wrap = transactionWrap({ readOnly: false, statementTimeoutMs: timeout, lockTimeoutMs: config.lockTimeoutMs, commit: false, runningName: named(db), identity });
    const before = [...wrap.before!, beginStatement(claim)];
    let rs: RowSet;
    try {
      rs = await actingAs(config, undefined, sql, () => db.run(sql, params, limits, { before, after: [], onError: "ROLLBACK" }), identity?.role);
    } catch (e) {
      if (failedAtClaim(e, before.length - 1)) {
        const first = await claimFailed<RowSet>(db, claim, e);
        return { ...first.value, replayed: first.at };
      }
      // The pipeline itself succeeded (an oversized row, a type lookup failed): the transaction is still open.
      if (!db.lostReason) await db.query("ROLLBACK").catch(() => {});
      throw e;
    }
    try {
      await db.query(recordAndCommit(claim, rs));
    } catch (e) {
      if (!db.lostReason) await db.query("ROLLBACK").catch(() => {});
      throw e;
    }
    return rs;
  }
  return exec;
}
