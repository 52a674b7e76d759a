/**
 * Who is calling and what they may do. Every tool call, transaction lease and
 * code-mode run is bound to a Principal established by the auth layer.
 */
import type { Config } from "../config";
import type { Scope } from "../tools/registry";

export interface Principal {
  /** Stable identity: "key:<name>", "oauth:<user>", or "local" (no auth, loopback only). */
  id: string;
  /** Scopes after the deployment's caps (a read-only deployment caps everyone at read). */
  scopes: Scope[];
}

/** Applies deployment-wide caps to the scopes a credential carries. */
export function makePrincipal(id: string, scopes: readonly string[], config: Config): Principal {
  const valid = scopes.filter((s): s is Scope => s === "read" || s === "write" || s === "admin");
  return { id, scopes: config.readOnly ? (valid.length ? ["read"] : []) : valid };
}
