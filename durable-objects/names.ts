/**
 * Which Durable Object serves what: per caller (near the caller, no shared
 * hop) or one per deployment. Plain functions, no runtime imports, so tools,
 * the Worker and the objects themselves (and Node-side scripts that load the
 * tool registry) all use the same names.
 */
import type { SlotKind } from "./limits";

/** A caller's limits object: its token buckets and its requests in flight. */
export const callerLimitsName = (principalId: string) => `caller:${principalId}`;

/** A caller's audit shard. */
export const auditShardName = (principalId: string) => `caller:${principalId}`;

/**
 * The single audit object of deployments from before the log was sharded per
 * caller (wrangler.toml migration v1). It is not in the AuditIndex, so
 * listings ask it by this name as well, and entries recorded before the
 * upgrade stay readable.
 */
export const LEGACY_AUDIT_NAME = "audit";

/** The one object for what the whole deployment caps (request slots, open transactions, running programs). */
export const DEPLOYMENT_LIMITS_NAME = "deployment";

/** The one list of audit shards. */
export const AUDIT_INDEX_NAME = "audit-index";

export function deploymentLimits(env: Env) {
  return env.DEPLOYMENT_LIMITS.get(env.DEPLOYMENT_LIMITS.idFromName(DEPLOYMENT_LIMITS_NAME));
}

/** How long freeing a slot may hold up an answer. */
export const FREE_SLOT_WAIT_MS = 2_000;

/**
 * Frees an open-transaction or running-program slot. Never throws, and never
 * holds the answer longer than FREE_SLOT_WAIT_MS: a call whose work is done
 * (a program that committed, a COMMIT that took effect) must not become an
 * error or a hang because DeploymentLimits is busy or unreachable. A slot not
 * freed here frees itself when its deadline passes (openSlot's expiresAtMs).
 */
export async function freeSlot(env: Env, kind: SlotKind, id: string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, FREE_SLOT_WAIT_MS)));
  try {
    // Inside the promise chain: a missing binding or a throwing stub is swallowed like a failed RPC.
    const closing = Promise.resolve()
      .then(() => deploymentLimits(env).closeSlot(kind, id))
      .catch(() => {});
    await Promise.race([closing, waited]);
  } finally {
    clearTimeout(timer);
  }
}

export function callerLimits(env: Env, principalId: string) {
  return env.LIMITS.get(env.LIMITS.idFromName(callerLimitsName(principalId)));
}

export function auditShard(env: Env, principalId: string) {
  return env.AUDIT_LOG.get(env.AUDIT_LOG.idFromName(auditShardName(principalId)));
}

export function auditIndex(env: Env) {
  return env.AUDIT_INDEX.get(env.AUDIT_INDEX.idFromName(AUDIT_INDEX_NAME));
}
