/**
 * Runs work inside one transaction with the deployment's statement timeout.
 * Read-only work is always rolled back: even if something slipped past the
 * guard, nothing it did is kept.
 */
import type { DbSession } from "./session";

export interface TxOptions {
  readOnly: boolean;
  statementTimeoutMs: number;
  /** Commit at the end (writes). When false the transaction is rolled back. */
  commit: boolean;
}

/** The statements that open every transaction we run: one round trip. */
export function beginSql(readOnly: boolean, statementTimeoutMs: number): string {
  // DateStyle ISO keeps timestamp output parseable into ISO 8601 whatever the role's default.
  return `BEGIN ${readOnly ? "READ ONLY" : "READ WRITE"}; SET LOCAL statement_timeout = ${Math.trunc(statementTimeoutMs)}; SET LOCAL datestyle = 'ISO, MDY'`;
}

export async function withTransaction<T>(db: DbSession, opts: TxOptions, fn: () => Promise<T>): Promise<T> {
  await db.query(beginSql(opts.readOnly, opts.statementTimeoutMs));
  let ok = false;
  try {
    const result = await fn();
    ok = true;
    return result;
  } finally {
    if (ok && opts.commit) await db.query("COMMIT");
    else await db.query("ROLLBACK").catch(() => {});
  }
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
