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
import { needsOwnTransaction, transactionWrap } from "./transaction";
import { tokenize } from "../sql/lexer";
import type { DbSession, RowSet, RunLimits } from "./session";
import { runningName } from "./tags";
import { actingAs } from "./permission";

export interface WriteOptions {
  /** Run and roll back (EXPLAIN ANALYZE of a write, dry runs). @default false */
  rollback?: boolean;
  limits?: Partial<RunLimits>;
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
  /** True when statements run inside a transaction held across calls. */
  readonly inTransaction: boolean;
}

export interface ScriptOptions {
  atomic: boolean;
  readOnly: boolean;
  limits?: Partial<RunLimits>;
}

export interface ScriptOutcome {
  /** One per statement that ran successfully, in order. */
  results: RowSet[];
  /** Set when a statement failed: its index and the error (a pg error or a ToolError). */
  failure?: { index: number; error: unknown };
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
export function requestExecutor(config: Config, open: () => Promise<DbSession>, call?: CallNaming): SqlExecutor {
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
    async read(sql, params = [], limits, opts) {
      const role = opts?.asServer ? undefined : config.readRole;
      const db = await session();
      const wrap = transactionWrap({ readOnly: true, statementTimeoutMs: timeout, lockTimeoutMs: config.lockTimeoutMs, commit: false, role, runningName: named(db) });
      if (opts?.settings) wrap.before = [...wrap.before!, ...localSettings(opts.settings)];
      return actingAs(config, role, sql, () => db.run(sql, params, limitsOf(limits), wrap));
    },
    async write(sql, params = [], opts = {}) {
      const db = await session();
      return actingAs(config, undefined, sql, () => db.run(sql, params, limitsOf(opts.limits), transactionWrap({ readOnly: false, statementTimeoutMs: timeout, lockTimeoutMs: config.lockTimeoutMs, commit: !opts.rollback, runningName: named(db) })));
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
      const wrap = transactionWrap({ readOnly: opts.readOnly, statementTimeoutMs: timeout, lockTimeoutMs: config.lockTimeoutMs, commit: !opts.readOnly, role: opts.readOnly ? config.readRole : undefined, runningName: named(db) });
      await db.query(wrap.before!.join("; "));
      const role = opts.readOnly ? config.readRole : undefined;
      for (let index = 0; index < statements.length; index++) {
        call?.progress(`statement ${index + 1} of ${statements.length}`);
        try {
          const sql = statements[index]!;
          results.push(await actingAs(config, role, sql, () => db.run(sql, [], limitsOf(opts.limits))));
        } catch (error) {
          await db.query("ROLLBACK").catch(() => {});
          return { results, failure: { index, error } };
        }
      }
      await db.query(wrap.after!.join("; "));
      return { results };
    },
  };
  return exec;
}
