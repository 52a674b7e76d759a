/**
 * Writes audit entries for tool calls to the AuditLog Durable Object. The
 * write is awaited before the result returns, so an action the caller saw
 * succeed is always in the log; when the write fails, the call fails
 * (AuditWriteError) instead of returning an unrecorded success.
 */
import type { ToolDefinition } from "../tools/registry";
import type { RequestContext } from "../context";
import { sha256Hex } from "../auth/api-keys";
import { knownPosture } from "../db/posture";
import type { AuditEntry } from "../../durable-objects/audit-log";

/** The audit entry could not be written: the call must not report success. */
export class AuditWriteError extends Error {
  override readonly name = "AuditWriteError";
  readonly code = "audit_failed";
  constructor(readonly tool: string, cause: unknown) {
    super(`the audit entry for ${tool} could not be written (${cause instanceof Error ? cause.message : String(cause)})`, { cause });
  }
}

export function shouldAudit(def: ToolDefinition, args: unknown): boolean {
  if (typeof def.audit === "function") return def.audit(args as never);
  return def.audit ?? def.scope !== "read";
}

function actionText(args: unknown): string {
  const a = args as Record<string, unknown>;
  if (typeof a.sql === "string") return a.sql;
  if (typeof a.code === "string") return a.code;
  if (typeof a.script === "string") return a.script;
  return JSON.stringify(args);
}

function detailOf(structured: unknown): Record<string, unknown> | undefined {
  if (typeof structured !== "object" || structured === null) return undefined;
  const s = structured as Record<string, unknown>;
  const detail: Record<string, unknown> = {};
  for (const k of ["command", "rowCount", "truncated", "dbCalls", "resultBytes"]) if (k in s) detail[k] = s[k];
  return Object.keys(detail).length ? detail : undefined;
}

export function auditStub(env: Env) {
  return env.AUDIT_LOG.get(env.AUDIT_LOG.idFromName("audit"));
}

/**
 * The database role the call acted as: the caller's own role, or the server's
 * login role (its reads act as READ_ROLE within it), once this isolate has
 * learned it.
 */
async function databaseRoleOf(rc: RequestContext): Promise<string | undefined> {
  if (rc.principal.db) return rc.principal.db.role;
  const posture = await knownPosture(rc.config)?.catch(() => undefined);
  return posture?.server.name;
}

export async function recordAudit(
  rc: RequestContext,
  def: ToolDefinition,
  args: unknown,
  startedMs: number,
  result: { outcome: "ok"; structured: unknown } | { outcome: "error"; error: string },
): Promise<void> {
  const action = actionText(args);
  const entry: AuditEntry = {
    at: new Date().toISOString(),
    principal: rc.principal.id,
    tool: def.name,
    action,
    actionHash: await sha256Hex(action),
    outcome: result.outcome,
    ...(result.outcome === "error" ? { error: result.error } : {}),
    durationMs: Date.now() - startedMs,
  };
  const role = await databaseRoleOf(rc);
  const detail = { ...(result.outcome === "ok" ? detailOf(result.structured) : undefined), ...(rc.principal.name ? { caller: rc.principal.name } : {}), ...(role ? { role } : {}) };
  if (Object.keys(detail).length) entry.detail = detail;
  try {
    await auditStub(rc.env).record(entry);
  } catch (e) {
    console.error("AUDIT WRITE FAILED", entry.tool, entry.principal, e);
    throw new AuditWriteError(entry.tool, e);
  }
}
