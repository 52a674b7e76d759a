/**
 * Who is calling and what they may do. Every tool call, transaction lease and
 * code-mode run is bound to a Principal established by the auth layer.
 */
import type { Config } from "../config";
import type { Scope } from "../tools/registry";
import type { DbIdentity } from "../db/identity";

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
  /** Set when the caller acts as its own database role (its key or grant names one): every connection logs in as it. */
  db?: DbIdentity;
}

/** Applies deployment-wide caps to the scopes a credential carries. */
export function makePrincipal(id: string, scopes: readonly string[], config: Config, name?: string, db?: { role?: string; claims?: Record<string, unknown>; caller?: string }): Principal {
  const valid = scopes.filter((s): s is Scope => s === "read" || s === "write" || s === "admin");
  const principal: Principal = { id, ...(name ? { name } : {}), scopes: config.readOnly ? (valid.length ? ["read"] : []) : valid };
  if (db?.role) principal.db = { role: db.role, caller: db.caller ?? name ?? id, claims: db.claims ?? {} };
  return principal;
}
