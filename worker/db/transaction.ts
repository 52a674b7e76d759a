/**
 * The transaction every tool statement runs in, expressed as the statements
 * sent around it in the same round trip. Read-only work always ends in
 * ROLLBACK: even if something slipped past the guard, nothing it did is kept.
 */
import { quoteIdent } from "../sql/ident";

/** Statements sent around a caller's statement in the same round trip (no parameters). */
export interface StatementWrap {
  before?: string[];
  after?: string[];
  /**
   * Run after a failure (the server skipped the rest of the batch).
   * @default "ROLLBACK" when `before` is given, nothing otherwise
   */
  onError?: string | null;
}

export interface TxOptions {
  readOnly: boolean;
  statementTimeoutMs: number;
  /** @default none */
  lockTimeoutMs?: number;
  /** Commit at the end (writes). When false the transaction is rolled back. */
  commit: boolean;
  /**
   * Act as this role for the statement (`SET LOCAL ROLE`): the read role, so
   * that PostgreSQL's privileges, not our lexer, decide what a read may touch.
   * @default the session's role
   */
  role?: string;
  /**
   * application_name for this transaction only (SET LOCAL): a tools/call's
   * running name, so that a cancel can find the backend (db/cancel.ts).
   * @default the session's
   */
  runningName?: string;
}

/**
 * Session-level advisory locks survive ROLLBACK, so a read that took one (by
 * any path the lexer missed) would keep it on a pooled connection. Reads end
 * by dropping every session-level lock; transaction-level ones end with the
 * transaction anyway.
 */
export const RELEASE_SESSION_LOCKS = "SELECT pg_advisory_unlock_all()";

/** `SET LOCAL application_name`, for a name we made (db/tags.ts). */
export function setLocalName(name: string): string {
  return `SET LOCAL application_name = '${name.replaceAll("'", "''")}'`;
}

/** `SET LOCAL ROLE`, for a role name from configuration. */
export function setLocalRole(role: string): string {
  return `SET LOCAL ROLE ${quoteIdent(role)}`;
}

export function transactionWrap(opts: TxOptions): StatementWrap {
  return {
    before: [
      opts.readOnly ? "BEGIN READ ONLY" : "BEGIN READ WRITE",
      ...(opts.runningName ? [setLocalName(opts.runningName)] : []),
      `SET LOCAL statement_timeout = ${Math.trunc(opts.statementTimeoutMs)}`,
      ...(opts.lockTimeoutMs ? [`SET LOCAL lock_timeout = ${Math.trunc(opts.lockTimeoutMs)}`] : []),
      // ISO DateStyle keeps timestamp output convertible to ISO 8601 whatever the role's default.
      "SET LOCAL datestyle = 'ISO, MDY'",
      ...(opts.role ? [setLocalRole(opts.role)] : []),
    ],
    after: [opts.commit ? "COMMIT" : "ROLLBACK", ...(opts.readOnly ? [RELEASE_SESSION_LOCKS] : [])],
    ...(opts.readOnly ? { onError: `ROLLBACK; ${RELEASE_SESSION_LOCKS}` } : {}),
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
