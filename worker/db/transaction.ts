/**
 * The transaction every tool statement runs in, expressed as the statements
 * sent around it in the same round trip. Read-only work always ends in
 * ROLLBACK: even if something slipped past the guard, nothing it did is kept.
 */
import type { StatementWrap } from "./session";

export interface TxOptions {
  readOnly: boolean;
  statementTimeoutMs: number;
  /** @default none */
  lockTimeoutMs?: number;
  /** Commit at the end (writes). When false the transaction is rolled back. */
  commit: boolean;
}

export function transactionWrap(opts: TxOptions): StatementWrap {
  return {
    before: [
      opts.readOnly ? "BEGIN READ ONLY" : "BEGIN READ WRITE",
      `SET LOCAL statement_timeout = ${Math.trunc(opts.statementTimeoutMs)}`,
      ...(opts.lockTimeoutMs ? [`SET LOCAL lock_timeout = ${Math.trunc(opts.lockTimeoutMs)}`] : []),
      // ISO DateStyle keeps timestamp output convertible to ISO 8601 whatever the role's default.
      "SET LOCAL datestyle = 'ISO, MDY'",
    ],
    after: [opts.commit ? "COMMIT" : "ROLLBACK"],
  };
}

/**
 * Statements PostgreSQL refuses inside a transaction block. They run on their
 * own, with a session-level statement timeout.
 */
export function needsOwnTransaction(words: string[]): boolean {
  const [a, b, c] = words;
  if (a === "vacuum") return true;
  if ((a === "create" || a === "drop") && (b === "database" || b === "tablespace")) return true;
  if (a === "alter" && b === "system") return true;
  if (a === "create" && (b === "index" || (b === "unique" && c === "index")) && words.slice(0, 4).includes("concurrently")) return true;
  if (a === "drop" && b === "index" && c === "concurrently") return true;
  if (a === "reindex" && words.slice(0, 4).includes("concurrently")) return true;
  if (a === "reindex" && (b === "database" || b === "system")) return true;
  return false;
}
