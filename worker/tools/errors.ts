/**
 * Tool failures: what the model should see and correct. They become
 * `isError: true` results carrying PostgreSQL's code, message, detail, hint and
 * position; a permission error (42501) also says which role was refused and
 * the grant that would allow it (db/permission.ts). Protocol failures (an
 * unknown tool) are JSON-RPC errors and never pass through here.
 */
import { ConnectionError, ConnectionLostError, isConnectionLoss, ResultTooLargeError } from "../db/session";
import { UnsafeRoleError } from "../db/posture";
import { IdentifierError } from "../sql/ident";
import { SqlSyntaxError } from "../sql/lexer";
import { permissionHintOf } from "../db/permission";

export interface ToolErrorInfo {
  /** SQLSTATE for database errors, or one of our codes (e.g. "read_only", "invalid_name"). */
  code: string;
  message: string;
  detail?: string;
  hint?: string;
  /** 1-based character position in the statement, as PostgreSQL reports it. */
  position?: number;
  where?: string;
}

/** A failure the caller can fix, with a stable code. */
export class ToolError extends Error {
  override readonly name = "ToolError";
  constructor(
    readonly code: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/**
 * An error that crossed an RPC boundary (a held transaction's Durable Object)
 * as plain info: thrown errors lose their fields across RPC, so the info is
 * sent and rebuilt here.
 */
export class RemoteDbError extends Error {
  override readonly name = "RemoteDbError";
  constructor(readonly info: ToolErrorInfo) {
    super(info.message);
  }
}

interface PgErrorLike {
  code?: string;
  message: string;
  detail?: string;
  hint?: string;
  position?: string;
  internalPosition?: string;
  where?: string;
  severity?: string;
}

function isPgError(e: unknown): e is PgErrorLike {
  return typeof e === "object" && e !== null && typeof (e as PgErrorLike).code === "string" && /^[0-9A-Z]{5}$/.test((e as PgErrorLike).code!) && "severity" in e;
}

/** Classifies any thrown value. Unknown errors keep their message (for the caller) and are logged with their stack. */
export function toErrorInfo(e: unknown): ToolErrorInfo {
  if (e instanceof RemoteDbError) return e.info;
  if (isPgError(e)) {
    const info: ToolErrorInfo = { code: e.code!, message: e.message };
    if (e.detail) info.detail = e.detail;
    // 42501: PostgreSQL's own hint (if any), then which role was refused and the grant that would allow it.
    const hint = [e.hint, permissionHintOf(e)].filter(Boolean).join("\n");
    if (hint) info.hint = hint;
    if (e.position) info.position = Number(e.position);
    if (e.where) info.where = e.where;
    return info;
  }
  if (e instanceof ToolError) return { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) };
  if (e instanceof IdentifierError) return { code: "invalid_name", message: e.message };
  if (e instanceof SqlSyntaxError) return { code: "42601", message: e.message, position: e.position };
  if (e instanceof UnsafeRoleError) return { code: e.code, message: e.message, hint: e.hint };
  if (e instanceof ResultTooLargeError) return { code: e.code, message: e.message, hint: e.hint };
  if (e instanceof ConnectionError) return { code: "connection_failure", message: e.message, hint: RETRY_CONNECT };
  if (e instanceof ConnectionLostError) return lostInfo(e.message, e.commit);
  // A connection failure that reached us unclassified is still one, not an internal error.
  if (isConnectionLoss(e)) return lostInfo(`the database connection was lost: ${e instanceof Error ? e.message : String(e)}`, "not committed");
  console.error("unexpected tool failure", e);
  return { code: "internal_error", message: `internal error: ${e instanceof Error ? e.message : String(e)}` };
}

const RETRY_CONNECT = "retryable: nothing ran; the database may be restarting. Retry after a short wait; if it persists, check the database is up and the Hyperdrive/DATABASE_URL configuration";

/**
 * Error codes for a connection that failed, by what the caller may do:
 * - `connection_failure`: could not connect; nothing ran; retry.
 * - `connection_lost`: lost during the call and nothing was committed; retry.
 * - `commit_unknown`: lost at the COMMIT; it may have happened. Check before retrying.
 */
export const CONNECTION_ERROR_CODES = ["connection_failure", "connection_lost", "commit_unknown"] as const;

function lostInfo(message: string, commit: ConnectionLostError["commit"]): ToolErrorInfo {
  switch (commit) {
    case "not committed":
      return { code: "connection_lost", message, hint: "retryable: nothing was committed (a transaction in progress was rolled back by the server). Retry after a short wait" };
    case "unknown":
      return {
        code: "commit_unknown",
        message: `${message}; the COMMIT was sent and its answer never came, so the write may or may not have been committed`,
        hint: "do not retry blindly: read the rows the write would have changed to learn whether it committed, then retry only if it did not (a call sent with an idempotency_key can simply be retried with the same key: it answers with the first outcome, or runs if nothing was committed)",
      };
    case "committed":
      return { code: "connection_lost", message: `${message}; the write was committed (its COMMIT was acknowledged) but the rest of the answer was lost`, hint: "do not retry: the write is in the database" };
  }
}

/** One compact text block a model reads; `sql` lets us point at the error position. */
export function formatError(info: ToolErrorInfo, sql?: string): string {
  let text = `ERROR ${info.code}: ${info.message}`;
  if (info.position !== undefined && sql) {
    const at = info.position - 1;
    const near = sql.slice(Math.max(0, at), at + 30).split("\n")[0];
    text += `\nPOSITION: ${info.position}${near ? ` (near "${near}")` : ""}`;
  } else if (info.position !== undefined) text += `\nPOSITION: ${info.position}`;
  if (info.detail) text += `\nDETAIL: ${info.detail}`;
  if (info.hint) text += `\nHINT: ${info.hint}`;
  if (info.where) text += `\nWHERE: ${info.where}`;
  return text;
}
