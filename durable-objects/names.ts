/**
 * Which Durable Object serves what: per caller (near the caller, no shared
 * hop) or one per deployment. Plain functions, no runtime imports, so tools,
 * the Worker and the objects themselves (and Node-side scripts that load the
 * tool registry) all use the same names.
 */

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

export function callerLimits(env: Env, principalId: string) {
  return env.LIMITS.get(env.LIMITS.idFromName(callerLimitsName(principalId)));
}

export function auditShard(env: Env, principalId: string) {
  return env.AUDIT_LOG.get(env.AUDIT_LOG.idFromName(auditShardName(principalId)));
}

export function auditIndex(env: Env) {
  return env.AUDIT_INDEX.get(env.AUDIT_INDEX.idFromName(AUDIT_INDEX_NAME));
}
