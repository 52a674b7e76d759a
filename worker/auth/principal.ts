/**
 * Who is calling and what they may do. Every tool call, transaction lease and
 * code-mode run is bound to a Principal established by the auth layer.
 */
import type { Config } from "../config";
import type { Scope } from "../tools/registry";

export interface Principal {
  /**
   * Stable, unique identity: "key:<first 16 hex of the key's hash>",
   * "oauth:<user>:<client>:<grant>" (one per consent), or "local" (no auth,
   * loopback only). Transactions, rate limits and the audit log key on it.
   */
  id: string;
  /** A display name (the key's name), for the audit log; never an identity. */
  name?: string;
  /** Scopes after the deployment's caps (a read-only deployment caps everyone at read). */
  scopes: Scope[];
}

/** Applies deployment-wide caps to the scopes a credential carries. */
export function makePrincipal(id: string, scopes: readonly string[], config: Config, name?: string): Principal {
  const valid = scopes.filter((s): s is Scope => s === "read" || s === "write" || s === "admin");
  return { id, ...(name ? { name } : {}), scopes: config.readOnly ? (valid.length ? ["read"] : []) : valid };
}
