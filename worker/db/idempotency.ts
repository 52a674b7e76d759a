/**
 * Idempotency keys: a write sent with a key records the key in the same
 * transaction as the write, so a client that never saw the answer can retry
 * and get the first outcome instead of writing twice.
 *
 * The record lives in a table the product owns, `pgmcp_internal.idempotency_keys`,
 * created on first use by the server's role. Nobody but its owner can read or
 * write the table: callers reach it only through SECURITY DEFINER functions
 * that key every row by `session_user` as well as by the key's token. The
 * session user is the login: the server's role for callers that share it,
 * the caller's own role under per-caller identity (db/identity.ts), which
 * cannot change it. So a caller role never reaches another role's keys, and
 * the read role (which the functions are not granted to) reaches none.
 *
 * A write with a key (requestExecutor, db/executor.ts):
 *
 *   BEGIN ...; SELECT idempotency_begin(token, tool, args_hash); <statement>     one round trip
 *   SELECT idempotency_record(token, outcome); COMMIT                            a second one
 *
 * idempotency_begin inserts the key first, so a concurrent call with the same
 * key waits on the unique index until the first one ends: if it committed,
 * the second finds its row and answers with its outcome (SQLSTATE PM001,
 * nothing of the second ran); if it rolled back, the second runs. The same
 * key with other arguments is refused (PM002). A failed write rolls back its
 * key with it, so its retry runs again. Keys expire after
 * IDEMPOTENCY_TTL_HOURS; each new key removes a few expired ones.
 */
import type { Config } from "../config";
import { escapeLiteral } from "./identity";
import { ConnectionLostError, openSession, type DbSession, type RowSet } from "./session";
import type { PipelineError } from "./pipeline";
import { ToolError } from "../tools/errors";
import { INTERNAL_SCHEMA, READY_SQL, REPLAY, REUSED, idempotencyDdl } from "./idempotency-store";

export { INTERNAL_SCHEMA, IDEMPOTENCY_TTL_HOURS } from "./idempotency-store";

/** The largest outcome kept for a replay (JSON characters); returned rows beyond it are left out of the replay. */
export const MAX_STORED_OUTCOME_CHARS = 64_000;
const LOCK_NOT_AVAILABLE = "55P03";
const QUERY_CANCELED = "57014";

/** What a keyed call carries to the database: never the key itself, nor the caller's id. */
export interface IdempotencyClaim {
  /** Hex SHA-256 of the caller's principal id and the key. */
  token: string;
  tool: string;
  /** Hex SHA-256 of the tool and its other arguments. */
  argsHash: string;
}

/** A stored first outcome, as a replay returns it. */
export interface Replayed<T> {
  value: T;
  /** When the first call ran (ISO 8601). */
  at: string;
}



let ensured: Promise<void> | undefined;

/**
 * Makes sure the schema exists, once per isolate, on a connection of the
 * server's own role (a caller role may not create it). A failure is reported
 * to the call and retried by the next one.
 */
export function ensureIdempotencyStore(config: Config, env: Env): Promise<void> {
  ensured ??= createStore(config, env);
  ensured.catch(() => (ensured = undefined));
  return ensured;
}

async function createStore(config: Config, env: Env): Promise<void> {
  const db = await openSession(config, env, { applicationName: "pg-mcp idempotency" });
  try {
    const ready = (await db.query<{ ready: boolean }>(READY_SQL, [config.databaseRoles])).rows[0]?.ready;
    if (ready) return;
    try {
      await db.query(`BEGIN; ${idempotencyDdl(config.databaseRoles, config.readRole)}; COMMIT`);
    } catch (e) {
      await db.query("ROLLBACK").catch(() => {});
      if (e instanceof ConnectionLostError) throw e;
      const code = (e as { code?: string }).code;
      throw new ToolError(
        "idempotency_unavailable",
        `idempotency keys need the schema ${INTERNAL_SCHEMA}, and the server's role could not create it: ${(e as Error).message}`,
        (e as { hint?: string }).hint ?? (code === "42501" ? "the server's role needs CREATE on the database (migrations/roles.sql grants it); or call without idempotency_key" : "call without idempotency_key, or ask the operator to check the server's role"),
      );
    }
  } finally {
    await db.close();
  }
}

/** The statement that claims the key, first in the write's transaction (no parameters: it rides in the statements around the write). */
export function beginStatement(c: IdempotencyClaim): string {
  return `SELECT ${INTERNAL_SCHEMA}.idempotency_begin(${escapeLiteral(c.token)}, ${escapeLiteral(c.tool)}, ${escapeLiteral(c.argsHash)})`;
}

/** Records the outcome and commits, in one round trip. */
export function recordAndCommit(c: IdempotencyClaim, outcome: unknown): string {
  return `SELECT ${INTERNAL_SCHEMA}.idempotency_record(${escapeLiteral(c.token)}, ${escapeLiteral(encodeOutcome(outcome))}); COMMIT`;
}

/** The claim of a held transaction's COMMIT, whose outcome is known in advance: returns claimed, replay or reused. */
export const CLAIM_WITH_OUTCOME_SQL = `SELECT ${INTERNAL_SCHEMA}.idempotency_claim($1, $2, $3, $4) AS status`;

/** The committed row of a key, waiting for a transaction that holds it (run in a transaction that is rolled back). */
export const SETTLE_SQL = `SELECT tool, args_hash, outcome, at_ms FROM ${INTERNAL_SCHEMA}.idempotency_settle($1)`;

export function encodeOutcome(value: unknown): string {
  return JSON.stringify({ v: 1, value: boundOutcome(value) });
}

export function decodeOutcome<T>(row: { outcome: string | null; at_ms: number | string }): Replayed<T> | undefined {
  if (row.outcome === null) return undefined;
  return { value: (JSON.parse(row.outcome) as { value: T }).value, at: new Date(Number(row.at_ms)).toISOString() };
}

/** Keeps what a replay returns under MAX_STORED_OUTCOME_CHARS: returned rows past the budget are left out (and the result marked truncated). */
function boundOutcome(value: unknown): unknown {
  if (JSON.stringify(value).length <= MAX_STORED_OUTCOME_CHARS) return value;
  const sets = (Array.isArray(value) ? value : [value]) as RowSet[];
  const budget = Math.floor(MAX_STORED_OUTCOME_CHARS / Math.max(1, sets.length)) - 200;
  const bounded = sets.map((rs) => {
    if (!rs || !Array.isArray(rs.rows)) return rs;
    const rows: unknown[][] = [];
    let used = JSON.stringify({ ...rs, rows: [] }).length;
    for (const row of rs.rows) {
      used += JSON.stringify(row).length + 1;
      if (used > budget) break;
      rows.push(row);
    }
    if (rows.length === rs.rows.length) return rs;
    const { nextOffset: _, ...rest } = rs;
    return { ...rest, rows, truncated: true };
  });
  return Array.isArray(value) ? bounded : bounded[0];
}

/**
 * What a failed claim means. A replay reads the first outcome (the write's
 * transaction was rolled back, nothing of this call ran); other arguments and
 * a key held past lock_timeout are tool errors; anything else is not ours.
 */
export async function claimFailed<T>(db: DbSession, c: IdempotencyClaim, e: unknown): Promise<Replayed<T>> {
  const code = (e as { code?: string }).code;
  if (code && STORE_GONE.has(code)) throw storeGoneError();
  if (code === REUSED) throw reusedError(c.tool);
  // Waiting for the call that holds the key outlasted lock_timeout (or the statement timeout, without one).
  if (code === LOCK_NOT_AVAILABLE || code === QUERY_CANCELED) throw busyError();
  if (code !== REPLAY) throw e;
  const row = (await db.query<{ outcome: string | null; at_ms: number }>(`SELECT outcome, at_ms FROM ${INTERNAL_SCHEMA}.idempotency_get($1)`, [c.token])).rows[0];
  const stored = row && decodeOutcome<T>(row);
  if (!stored) throw new ToolError("idempotency_key_busy", "this idempotency_key's first outcome is not readable (it has just expired, or was not recorded)", "retry with a new key once you have checked whether the first call's write is in the database");
  return stored;
}

/** The claim's schema, function or table is missing: the store was dropped after this isolate checked it (ensureIdempotencyStore). */
const STORE_GONE = new Set(["3F000", "42883", "42P01"]);

/** Forgets this isolate's check, so the next keyed call makes the store again. */
function storeGoneError(): ToolError {
  ensured = undefined;
  return new ToolError(
    "idempotency_unavailable",
    `the idempotency store (${INTERNAL_SCHEMA}) is gone: it was dropped after this server checked it; the next call with a key makes it again, and nothing of this call ran`,
    "retry with the same key; keys recorded before the drop are lost, so first check whether an earlier attempt's write is in the database",
  );
}

export function busyError(): ToolError {
  return new ToolError("idempotency_key_busy", "another call with this idempotency_key is still running", "retry shortly with the same key: it answers with that call's outcome, or runs if that call failed");
}

/** The claim itself failed (not the connection): busy when it waited too long for the key's holder, reused when another transaction's COMMIT took the key. */
export function claimError(tool: string, e: unknown): ToolError | undefined {
  const code = (e as { code?: string } | null)?.code;
  if (code && STORE_GONE.has(code)) return storeGoneError();
  if (code === LOCK_NOT_AVAILABLE || code === QUERY_CANCELED) return busyError();
  // REPEATABLE READ / SERIALIZABLE: a key committed after this transaction's snapshot.
  if (code === "40001" || code === REUSED) return reusedError(tool);
  return undefined;
}

export function reusedError(tool: string): ToolError {
  return new ToolError("idempotency_key_reused", `this idempotency_key was already used by another ${tool} call with other arguments: nothing ran`, "use a new key for a new write; a retry must repeat the first call's arguments exactly");
}

/** True when a pipeline error came from the claim (the last statement before the write). */
export const failedAtClaim = (e: unknown, claimStep: number) => (e as PipelineError | null)?.step === claimStep;
