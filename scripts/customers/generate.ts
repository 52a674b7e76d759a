/**
 * Turns a customer file into a wrangler config: the base wrangler.toml (the
 * same Worker, Durable Objects, migrations and flags, so nothing drifts) with
 * the customer's name, database binding, groups, limits and origins laid over
 * it. Secrets are never in the file; the result lists which ones to put.
 */
import { posix } from "node:path";
import type { Customer } from "./schema";
import { roleDatabaseUrlSecret, roleHyperdriveBinding } from "../../worker/db/identity";
import { ABSENT_MODULES, bundleAliases } from "../lib/bundle";

export function secretsFor(c: Customer): string[] {
  const secrets = ["API_KEYS"];
  if (c.database.driver === "neon") secrets.push("DATABASE_URL");
  if (c.publicUrl) secrets.push("OAUTH_ADMIN_PASSWORD");
  if (c.database.driver === "neon") for (const r of c.roles) secrets.push(roleDatabaseUrlSecret(r.name));
  return secrets;
}

export function customerVars(c: Customer): Record<string, string> {
  const vars: Record<string, string> = {
    DB_DRIVER: c.database.driver,
    TOOL_GROUPS: c.toolGroups === "all" ? "all" : c.toolGroups.join(","),
    READ_ONLY: String(c.readOnly),
    AUTH_MODE: "required",
  };
  const l = c.limits;
  const set = (k: string, v: number | undefined) => v !== undefined && (vars[k] = String(v));
  set("STATEMENT_TIMEOUT_MS", l.statementTimeoutMs);
  set("MAX_ROWS", l.maxRows);
  set("MAX_RESULT_BYTES", l.maxResultBytes);
  set("RATE_LIMIT_PER_MINUTE", l.callsPerMinute);
  set("RATE_LIMIT_EXPENSIVE_PER_MINUTE", l.expensivePerMinute);
  set("RATE_LIMIT_CODE_PER_MINUTE", l.codePerMinute);
  set("MAX_CONCURRENT_REQUESTS", l.maxConcurrentRequests);
  set("MAX_REQUEST_BYTES", l.maxRequestBytes);
  if (c.allowedOrigins) vars.ALLOWED_ORIGINS = c.allowedOrigins.join(",");
  if (c.allowedHosts) vars.ALLOWED_HOSTS = c.allowedHosts.join(",");
  if (c.publicUrl) vars.PUBLIC_URL = c.publicUrl;
  if (c.roles.length) vars.DATABASE_ROLES = c.roles.map((r) => r.name).join(",");
  return vars;
}

export function headerComment(c: Customer): string {
  return `// Generated from customers/${c.name}.json by npm run customer. Edit that file, not this one.\n// Secrets to put: ${secretsFor(c).join(", ")}\n`;
}

/**
 * The customer's wrangler config (JSON). `base` is the raw base config;
 * `mainPath` is the Worker entry relative to where the file will be written,
 * `rootPath` the project root from there (wrangler resolves `alias` paths from
 * the config's directory).
 */
export function customerConfig(c: Customer, base: Record<string, unknown>, mainPath: string, rootPath = "."): Record<string, unknown> {
  const vars = { ...(base.vars as Record<string, string>), ...customerVars(c) };
  const config: Record<string, unknown> = {
    ...base,
    name: `pg-mcp-${c.name}`,
    main: mainPath,
    vars,
    alias: customerAliases(base.alias as Record<string, string> | undefined, vars, rootPath),
  };
  // Each caller role logs in as itself through a binding of its own.
  if (c.database.driver === "hyperdrive") config.hyperdrive = [{ binding: "HYPERDRIVE", id: c.database.hyperdriveId }, ...c.roles.map((r) => ({ binding: roleHyperdriveBinding(r.name), id: r.hyperdriveId! }))];
  else delete config.hyperdrive;
  if (c.oauthKvId) config.kv_namespaces = [{ binding: "OAUTH_KV", id: c.oauthKvId }];
  else delete config.kv_namespaces;
  if (c.customDomains?.length) config.routes = c.customDomains.map((pattern) => ({ pattern, custom_domain: true }));
  return config;
}

/** The base config's aliases and those that leave out what this customer does not use (scripts/lib/bundle.ts), with paths from the generated config's directory. */
function customerAliases(base: Record<string, string> = {}, vars: Record<string, string>, rootPath: string): Record<string, string> {
  const own = bundleAliases(vars);
  const alias: Record<string, string> = {};
  for (const [specifier, path] of Object.entries({ ...base, ...own })) {
    // The base may name an absent module for a part this customer does use: the real module is the default, so drop it.
    if (specifier in ABSENT_MODULES && !(specifier in own)) continue;
    alias[specifier] = path.startsWith(".") ? posix.join(rootPath, path).replace(/^(?!\.)/, "./") : path;
  }
  return alias;
}
