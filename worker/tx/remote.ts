/**
 * The Worker's side of a held transaction: an executor whose every statement
 * runs in the TxSession Durable Object that owns the transaction's connection.
 * Tools do not know the difference (see db/executor.ts).
 */
import type { SqlExecutor, ScriptOutcome } from "../db/executor";
import type { RowSet } from "../db/session";
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

export function remoteExecutor(env: Env, txId: string, principal: Principal): SqlExecutor {
  const stub = txStub(env, txId);
  const run = async <T>(op: TxOp) => unwrap((await stub.exec(principal.id, op)) as TxResult<unknown>) as T;
  return {
    inTransaction: true,
    ...(principal.db ? { callerRole: principal.db.role } : {}),
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
