/**
 * The Worker's side of a held transaction: an executor whose every statement
 * runs in the TxSession Durable Object that owns the transaction's connection.
 * Tools do not know the difference (see db/executor.ts).
 */
import type { SqlExecutor, ScriptOutcome } from "../db/executor";
import type { DbNotice, RowSet } from "../db/session";
import type { Principal } from "../auth/principal";
import type { TxOp, TxResult } from "../../durable-objects/tx-session";
import { RemoteDbError, ToolError, type ToolErrorInfo } from "../tools/errors";

/** Transaction ids: "tx_" + 128 random bits. Unguessable, so they can name the Durable Object directly. */
export function newTxId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `tx_${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

export const TX_ID_PATTERN = /^tx_[0-9a-f]{32}$/;

export function txStub(env: Env, txId: string) {
  return env.TX_SESSION.get(env.TX_SESSION.idFromName(txId));
}

export function unwrap<T>(r: TxResult<T>): T {
  if (r.ok) return r.value;
  throw new RemoteDbError(r.error);
}

/**
 * Calls a transaction's holder. When the call itself fails (the object
 * restarted mid-request, or cannot be reached) the answer never came: say
 * what that means for the caller instead of an internal error, and never
 * claim an outcome. A failed COMMIT call must not be retried blindly: the
 * holder settles it (see durable-objects/tx-session.ts) and pg_tx_status
 * reports it.
 */
export async function callHolder<T>(txId: string, during: "commit" | "begin" | "call", rpc: () => Promise<TxResult<T>>): Promise<T> {
  let result: TxResult<T>;
  try {
    result = await rpc();
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    switch (during) {
      case "commit":
        throw new ToolError("commit_unknown", `transaction ${txId}: its holder failed during COMMIT (${why}); the commit may or may not have happened`, "do not commit again: pg_tx_status reports the outcome once it is known");
      case "begin":
        throw new ToolError("connection_lost", `no transaction was begun: its holder failed (${why})`, "retryable: call pg_tx_begin again");
      case "call":
        throw new ToolError("connection_lost", `transaction ${txId}: its holder failed during the call (${why})`, "pg_tx_status tells whether the transaction is still open; if it was rolled back, begin a new one and retry");
    }
  }
  return unwrap(result);
}

/**
 * `callName`: the tools/call's (db/tags.ts), carried to the transaction's statements (db/cancel.ts).
 * `onNotice` receives the notices PostgreSQL sent during each statement, which run in the transaction's Durable Object.
 */
export function remoteExecutor(env: Env, txId: string, principal: Principal, callName?: string, onNotice?: (notice: DbNotice) => void): SqlExecutor {
  const stub = txStub(env, txId);
  const run = async <T>(op: TxOp) =>
    (await callHolder(txId, "call", async () => {
      const r = (await stub.exec(principal.id, callName ? { ...op, callName } : op)) as TxResult<unknown>;
      if (onNotice) for (const n of r.notices ?? []) onNotice(n);
      return r;
    })) as T;
  return {
    inTransaction: true,
    read: (sql, params, limits, opts) => run<RowSet>({ kind: "read", sql, params, limits, opts }),
    write: (sql, params, opts = {}) => run<RowSet>({ kind: "write", sql, params, rollback: opts.rollback, limits: opts.limits }),
    standalone: async (sql) => {
      throw new ToolError("not_in_transaction", `this statement cannot run inside a transaction block: ${sql.slice(0, 60)}`, "run it without tx, after committing or rolling back");
    },
    rows: <T>(sql: string, params?: unknown[]) => run<T[]>({ kind: "rows", sql, params }),
    async script(statements, opts) {
      const outcome = await run<ScriptOutcome>({ kind: "script", statements, opts });
      if (outcome.failure) outcome.failure.error = new RemoteDbError(outcome.failure.error as ToolErrorInfo);
      return outcome;
    },
  };
}
