/**
 * Writes audit entries for tool calls to the caller's AuditLog shard, and
 * reads them back across shards. The write is awaited before the result
 * returns, so an action the caller saw succeed is always in the log; when the
 * write fails, the call fails (AuditWriteError) instead of returning an
 * unrecorded success.
 */
import type { ToolDefinition } from "../tools/registry";
import type { RequestContext } from "../context";
import { sha256Hex } from "../auth/api-keys";
import { knownPosture } from "../db/posture";
import type { AuditEntry, AuditQuery } from "../../durable-objects/audit-log";
import { LEGACY_AUDIT_NAME, auditIndex, auditShard, auditShardName } from "../../durable-objects/names";

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

/** Shards asked at once by a listing across callers. */
const LIST_FAN_OUT = 16;

/**
 * Entries newest first, across every caller's shard (or only the one caller's,
 * with `principal`): the shards named by the index, each asked for its newest
 * `limit`, merged by time. One RPC per shard: a listing across callers costs
 * as many round trips as callers that have been audited, in parallel batches.
 * The pre-sharding object (LEGACY_AUDIT_NAME) is always asked too, so an
 * upgraded deployment's older entries stay in the log; for a deployment that
 * never had one it answers empty without storing anything.
 */
export async function listAudit(env: Env, q: AuditQuery): Promise<AuditEntry[]> {
  const limit = Math.min(Math.max(q.limit ?? 100, 1), 1000);
  const shards = q.principal ? [auditShardName(q.principal)] : ((await auditIndex(env).shards()) as string[]);
  if (!shards.includes(LEGACY_AUDIT_NAME)) shards.push(LEGACY_AUDIT_NAME);
  const all: AuditEntry[] = [];
  for (let i = 0; i < shards.length; i += LIST_FAN_OUT) {
    const batch = shards.slice(i, i + LIST_FAN_OUT);
    const lists = await Promise.all(batch.map((name) => env.AUDIT_LOG.get(env.AUDIT_LOG.idFromName(name)).list({ ...q, limit }) as Promise<AuditEntry[]>));
    for (const l of lists) all.push(...l);
  }
  // ISO timestamps sort as strings; each shard's own order (insertion) breaks ties through the stable sort.
  return all.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0)).slice(0, limit);
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
    await auditShard(rc.env, rc.principal.id).record(auditShardName(rc.principal.id), entry);
  } catch (e) {
    console.error("AUDIT WRITE FAILED", entry.tool, entry.principal, e);
    throw new AuditWriteError(entry.tool, e);
  }
}
