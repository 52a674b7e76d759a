/**
 * Deployment configuration: the Worker's vars and secrets, validated once per
 * isolate. A bad value fails every request loudly with a message naming the
 * variable, instead of surfacing later as an odd database error.
 */
import { z } from "zod";
import { TOOL_GROUPS, type ToolGroup } from "./tools/groups";
import { duplicateKeyProblem, parseApiKeyRecords, type ApiKeyRecord } from "./auth/api-key-record";
import { roleDatabaseUrlSecret, roleHyperdriveBinding } from "./db/identity";
import { NeonClient } from "#neon-driver";

/** A bundle built for Hyperdrive maps `#neon-driver` to worker/db/neon-absent.ts: what DB_DRIVER=neon then says. */
export const NEON_MISSING =
  'DB_DRIVER=neon, but this deployment was built without the Neon driver (its config said hyperdrive when it was built): build and deploy it again with DB_DRIVER = "neon" (npm run deploy, or npm run customer with "database": {"driver": "neon"})';

const intVar = (name: string, def: number, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === "") return def;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: "custom", message: `${name} must be an integer from ${min} to ${max}, got "${v}"` });
        return z.NEVER;
      }
      return n;
    });

const bool = z.enum(["true", "false"]);

/**
 * Where a row set's rows travel in a tools/call answer. "both" (the default):
 * the text (TSV, for a model) and structuredContent (JSON, for a program),
 * because hosts differ in which one they hand a model: some read only the
 * text, some replace it with structuredContent. A client that knows which
 * part it reads can ask for the rows once (request `_meta` "pg-mcp/rows"; a
 * deployment whose clients all read one part sets RESULT_ROWS): "text"
 * leaves `rows` out of structuredContent; "structured" replaces the text with
 * a line saying where they are. Code mode is not affected: a program reads
 * the tool's result, not its MCP answer.
 */
export const ROWS_PLACEMENTS = ["both", "text", "structured"] as const;
export type RowsPlacement = (typeof ROWS_PLACEMENTS)[number];

const ConfigSchema = z.object({
  DB_DRIVER: z.enum(["hyperdrive", "neon"]).default("hyperdrive"),
  /** Required for the neon driver: the Neon (or any PostgreSQL) connection string. A secret. */
  DATABASE_URL: z.string().optional(),
  /** Local testing of the neon driver: a ws-to-TCP proxy, e.g. "127.0.0.1:5433/v1". */
  NEON_WS_PROXY: z.string().optional(),
  TOOL_GROUPS: z
    .string()
    .default("all")
    .transform((v, ctx) => {
      const s = v.trim();
      if (s === "" || s === "all") return [...TOOL_GROUPS];
      const groups = s.split(",").map((g) => g.trim());
      const unknown = groups.filter((g) => !(TOOL_GROUPS as readonly string[]).includes(g));
      if (unknown.length > 0) {
        ctx.addIssue({ code: "custom", message: `TOOL_GROUPS has unknown group(s) ${unknown.join(", ")}; known: ${TOOL_GROUPS.join(", ")}` });
        return z.NEVER;
      }
      return groups as ToolGroup[];
    }),
  STATEMENT_TIMEOUT_MS: intVar("STATEMENT_TIMEOUT_MS", 30_000, 100, 600_000),
  MAX_ROWS: intVar("MAX_ROWS", 1000, 1, 100_000),
  MAX_RESULT_BYTES: intVar("MAX_RESULT_BYTES", 1_000_000, 1_000, 20_000_000),
  /**
   * The role read calls act as: `SET LOCAL ROLE` inside their READ ONLY
   * transaction (migrations/roles.sql creates pgmcp_read). Empty: reads act as
   * the server's own role.
   */
  READ_ROLE: z.string().optional(),
  /**
   * Database roles callers may act as (comma-separated): a key record or an
   * OAuth grant names one, and that caller's connections log in as it, through
   * the Hyperdrive binding HYPERDRIVE_<ROLE> (or the secret DATABASE_URL_<ROLE>
   * with the Neon driver). README, "Per-caller identity".
   */
  DATABASE_ROLES: z.string().optional(),
  /**
   * Serve tool calls although the server's role is a superuser or may read or
   * write server files or run server programs. Never for a deployment with
   * untrusted callers.
   */
  ALLOW_PRIVILEGED_ROLE: bool.default("false"),
  /** pg_admin_settings may run ALTER SYSTEM only when this is "true". */
  ALLOW_ALTER_SYSTEM: bool.default("false"),

  /** "required": every /mcp request needs an API key or an OAuth token. "none": local development only. */
  AUTH_MODE: z.enum(["required", "none"]).default("required"),
  /** With AUTH_MODE=none, serve non-loopback hosts too. Never for a real deployment. */
  ALLOW_UNAUTHENTICATED_REMOTE: bool.default("false"),
  /** Secret: JSON array of {name, hash, scopes}; hash = hex SHA-256 of the key (npm run keys). */
  API_KEYS: z.string().optional(),
  /** The deployment's public origin (https://...), required for OAuth. */
  PUBLIC_URL: z.string().optional(),
  /** Secret: the password the OAuth consent page asks for. OAuth is on when this and PUBLIC_URL are set. */
  OAUTH_ADMIN_PASSWORD: z.string().optional(),
  /** How long an OAuth access token lives; clients renew it with their refresh token. At least 60 s (KV's shortest expiry). */
  OAUTH_ACCESS_TOKEN_TTL_S: intVar("OAUTH_ACCESS_TOKEN_TTL_S", 3600, 60, 86_400),
  /** The whole server read-only: write tools hidden, every statement READ ONLY. */
  READ_ONLY: bool.default("false"),
  /** Host names (comma-separated) accepted on /mcp besides loopback. Unset: loopback, *.workers.dev and PUBLIC_URL's host. */
  ALLOWED_HOSTS: z.string().optional(),
  /** Browser Origins (hostnames, comma-separated) accepted on /mcp, or "*". */
  ALLOWED_ORIGINS: z.string().optional(),
  RATE_LIMIT_PER_MINUTE: intVar("RATE_LIMIT_PER_MINUTE", 600, 0, 1_000_000),
  RATE_LIMIT_EXPENSIVE_PER_MINUTE: intVar("RATE_LIMIT_EXPENSIVE_PER_MINUTE", 60, 0, 1_000_000),
  RATE_LIMIT_CODE_PER_MINUTE: intVar("RATE_LIMIT_CODE_PER_MINUTE", 60, 0, 1_000_000),
  MAX_CONCURRENT_REQUESTS: intVar("MAX_CONCURRENT_REQUESTS", 100, 0, 100_000),
  /** Wrap database rows in the text content in unguessable data boundaries. */
  INJECTION_GUARD: bool.default("true"),
  /** Where a query's rows travel in a tools/call answer unless the request says (RowsPlacement). */
  RESULT_ROWS: z.enum(ROWS_PLACEMENTS).default("both"),
  MAX_REQUEST_BYTES: intVar("MAX_REQUEST_BYTES", 1_000_000, 1_000, 50_000_000),
  /** lock_timeout for every statement: a statement waiting longer for a lock fails (55P03) instead of hanging. */
  LOCK_TIMEOUT_MS: intVar("LOCK_TIMEOUT_MS", 10_000, 0, 600_000),
  /** A transaction held across calls (pg_tx_*) ends, rolled back, after this long idle. At most 60 s. */
  TX_IDLE_TIMEOUT_MS: intVar("TX_IDLE_TIMEOUT_MS", 30_000, 500, 60_000),
  /** ... and when it is this old, however busy. */
  TX_MAX_AGE_MS: intVar("TX_MAX_AGE_MS", 300_000, 1_000, 3_600_000),
  /** Open transactions per deployment (each holds a database connection). */
  MAX_OPEN_TRANSACTIONS: intVar("MAX_OPEN_TRANSACTIONS", 20, 1, 10_000),
  /** Who may run programs (pg_execute_code): the scope it needs. Calls inside a program still need their own scopes. */
  CODE_MODE_SCOPE: z.enum(["read", "write", "admin"]).default("admin"),
  MAX_CODE_BYTES: intVar("MAX_CODE_BYTES", 50_000, 100, 1_000_000),
  CODE_MAX_DB_CALLS: intVar("CODE_MAX_DB_CALLS", 1000, 1, 100_000),
  CODE_MAX_RESULT_BYTES: intVar("CODE_MAX_RESULT_BYTES", 100_000, 100, 10_000_000),
  /** Loop iterations + function calls a program may make (the deterministic CPU budget). */
  CODE_OPERATION_BUDGET: intVar("CODE_OPERATION_BUDGET", 5_000_000, 1_000, 2_000_000_000),
  /** Array elements / string characters / buffer bytes a program may allocate through built-ins. */
  CODE_ALLOCATION_BUDGET: intVar("CODE_ALLOCATION_BUDGET", 5_000_000, 1_000, 1_000_000_000),
  MAX_CONCURRENT_CODE_RUNS: intVar("MAX_CONCURRENT_CODE_RUNS", 8, 1, 1_000),
  MAX_CONCURRENT_PYTHON_RUNS: intVar("MAX_CONCURRENT_PYTHON_RUNS", 1, 1, 100),
  /** Offer pg_code_run_python (Pyodide: seconds and ~100 MB per run). */
  PYTHON: bool.default("true"),
  /** Ask the user before DROP, TRUNCATE, DELETE/UPDATE without WHERE. Unset: on with AUTH_MODE=required, off with AUTH_MODE=none. */
  CONFIRM_DESTRUCTIVE: z.enum(["true", "false", ""]).optional(),
  /** When the client cannot be asked: refuse the statement, or run it. */
  CONFIRM_FALLBACK: z.enum(["refuse", "proceed"]).default("refuse"),
});

export interface Config {
  driver: "hyperdrive" | "neon";
  databaseUrl?: string;
  neonWsProxy?: string;
  toolGroups: ToolGroup[];
  /** @default 30000 */
  statementTimeoutMs: number;
  /** @default 1000 */
  maxRows: number;
  /** @default 1000000 */
  maxResultBytes: number;
  /** @default false */
  allowAlterSystem: boolean;
  /** The role reads switch to (SET LOCAL ROLE); undefined: the server's role. */
  readRole?: string;
  /** DATABASE_ROLES: the roles a key or grant may name, each with its own login connection. */
  databaseRoles: string[];
  /** @default false */
  allowPrivilegedRole: boolean;
  auth: {
    /** @default "required" */
    mode: "required" | "none";
    allowUnauthenticatedRemote: boolean;
    apiKeys: ApiKeyRecord[];
    /** Set when OAuth is enabled (PUBLIC_URL and OAUTH_ADMIN_PASSWORD both set). accessTokenTtlS @default 3600 */
    oauth?: { publicUrl: string; adminPassword: string; accessTokenTtlS: number };
  };
  /** @default false */
  readOnly: boolean;
  /** PUBLIC_URL (without a trailing slash): its host is served by default, and OAuth uses it. */
  publicUrl?: string;
  allowedHosts?: string[];
  allowedOrigins?: string[] | "*";
  /** Calls per minute per caller; 0 disables. */
  rateLimits: { perMinute: number; expensivePerMinute: number; codePerMinute: number };
  /** @default 100; 0 disables */
  maxConcurrentRequests: number;
  /** @default true */
  injectionGuard: boolean;
  /** @default "both" */
  resultRows: RowsPlacement;
  /** @default 1000000 */
  maxRequestBytes: number;
  /** @default 10000 */
  lockTimeoutMs: number;
  code: {
    /** @default "admin" */
    scope: "read" | "write" | "admin";
    maxCodeBytes: number;
    maxDbCalls: number;
    maxResultBytes: number;
    operationBudget: number;
    allocationBudget: number;
    maxConcurrent: number;
    /** @default 1 */
    maxConcurrentPython: number;
    /** @default true */
    python: boolean;
  };
  /** Confirmation of destructive statements (worker/mcp/confirm.ts). */
  confirm: {
    /** @default true with AUTH_MODE=required, false with AUTH_MODE=none */
    destructive: boolean;
    /** What happens when the client cannot be asked. @default "refuse" */
    fallback: "refuse" | "proceed";
  };
  tx: {
    /** @default 30000 (max 60000) */
    idleTimeoutMs: number;
    /** @default 300000 */
    maxAgeMs: number;
    /** @default 20 */
    maxOpen: number;
  };
}

export { SCOPES, ApiKeyRecordSchema, type ApiKeyRecord } from "./auth/api-key-record";

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

const cache = new WeakMap<object, Config>();

const list = (v: string | undefined) => (v ? v.split(",").map((s) => s.trim()).filter(Boolean) : undefined);

function parseApiKeys(raw: string | undefined): ApiKeyRecord[] {
  const parsed = parseApiKeyRecords(raw);
  if (!parsed.ok) {
    switch (parsed.reason) {
      case "not_json":
        throw new ConfigError("API_KEYS is not valid JSON: expected [{name, hash, scopes}] (generate with npm run keys)");
      case "invalid":
        throw new ConfigError(`API_KEYS is invalid: ${parsed.detail}`);
    }
  }
  // The identity of a key is its hash: two records for one key, or two keys under one name, would make identities ambiguous.
  const duplicate = duplicateKeyProblem(parsed.records);
  if (duplicate) throw new ConfigError(duplicate);
  return parsed.records;
}

/** Reads and validates the configuration; cached per env object (once per isolate). */
export function getConfig(env: Env): Config {
  const hit = cache.get(env);
  if (hit) return hit;
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(`invalid configuration: ${parsed.error.issues.map((i) => (i.path.length ? `${i.path.join(".")}: ` : "") + i.message).join("; ")}`);
  }
  const v = parsed.data;
  if (v.DB_DRIVER === "hyperdrive" && !(env as { HYPERDRIVE?: unknown }).HYPERDRIVE) {
    throw new ConfigError("no HYPERDRIVE binding: add [[hyperdrive]] to wrangler.toml, or set DB_DRIVER=neon with a DATABASE_URL secret");
  }
  if (v.DB_DRIVER === "neon" && !NeonClient) throw new ConfigError(NEON_MISSING);
  if (v.DB_DRIVER === "neon" && !v.DATABASE_URL) {
    throw new ConfigError("DB_DRIVER=neon needs the DATABASE_URL secret: wrangler secret put DATABASE_URL");
  }
  const config: Config = {
    driver: v.DB_DRIVER,
    databaseUrl: v.DATABASE_URL,
    neonWsProxy: v.NEON_WS_PROXY,
    toolGroups: v.TOOL_GROUPS,
    statementTimeoutMs: v.STATEMENT_TIMEOUT_MS,
    maxRows: v.MAX_ROWS,
    maxResultBytes: v.MAX_RESULT_BYTES,
    allowAlterSystem: v.ALLOW_ALTER_SYSTEM === "true",
    readRole: v.READ_ROLE?.trim() || undefined,
    databaseRoles: list(v.DATABASE_ROLES) ?? [],
    allowPrivilegedRole: v.ALLOW_PRIVILEGED_ROLE === "true",
    auth: {
      mode: v.AUTH_MODE,
      allowUnauthenticatedRemote: v.ALLOW_UNAUTHENTICATED_REMOTE === "true",
      apiKeys: parseApiKeys(v.API_KEYS),
      oauth: v.PUBLIC_URL && v.OAUTH_ADMIN_PASSWORD ? { publicUrl: v.PUBLIC_URL.replace(/\/+$/, ""), adminPassword: v.OAUTH_ADMIN_PASSWORD, accessTokenTtlS: v.OAUTH_ACCESS_TOKEN_TTL_S } : undefined,
    },
    readOnly: v.READ_ONLY === "true",
    publicUrl: v.PUBLIC_URL?.trim().replace(/\/+$/, "") || undefined,
    allowedHosts: list(v.ALLOWED_HOSTS),
    allowedOrigins: v.ALLOWED_ORIGINS?.trim() === "*" ? "*" : list(v.ALLOWED_ORIGINS),
    rateLimits: { perMinute: v.RATE_LIMIT_PER_MINUTE, expensivePerMinute: v.RATE_LIMIT_EXPENSIVE_PER_MINUTE, codePerMinute: v.RATE_LIMIT_CODE_PER_MINUTE },
    maxConcurrentRequests: v.MAX_CONCURRENT_REQUESTS,
    injectionGuard: v.INJECTION_GUARD === "true",
    resultRows: v.RESULT_ROWS,
    maxRequestBytes: v.MAX_REQUEST_BYTES,
    lockTimeoutMs: v.LOCK_TIMEOUT_MS,
    code: {
      scope: v.CODE_MODE_SCOPE,
      maxCodeBytes: v.MAX_CODE_BYTES,
      maxDbCalls: v.CODE_MAX_DB_CALLS,
      maxResultBytes: v.CODE_MAX_RESULT_BYTES,
      operationBudget: v.CODE_OPERATION_BUDGET,
      allocationBudget: v.CODE_ALLOCATION_BUDGET,
      maxConcurrent: v.MAX_CONCURRENT_CODE_RUNS,
      maxConcurrentPython: v.MAX_CONCURRENT_PYTHON_RUNS,
      python: v.PYTHON === "true",
    },
    confirm: { destructive: v.CONFIRM_DESTRUCTIVE ? v.CONFIRM_DESTRUCTIVE === "true" : v.AUTH_MODE === "required", fallback: v.CONFIRM_FALLBACK },
    tx: { idleTimeoutMs: v.TX_IDLE_TIMEOUT_MS, maxAgeMs: v.TX_MAX_AGE_MS, maxOpen: v.MAX_OPEN_TRANSACTIONS },
  };
  if (config.auth.oauth && !(env as { OAUTH_KV?: unknown }).OAUTH_KV) {
    throw new ConfigError("OAuth needs a KV namespace bound as OAUTH_KV: add [[kv_namespaces]] binding = \"OAUTH_KV\" to wrangler.toml");
  }
  checkDatabaseRoles(config, env);
  cache.set(env, config);
  return config;
}

/** Every role a key names is declared, and every declared role has its own login connection. */
function checkDatabaseRoles(config: Config, env: Env): void {
  for (const key of config.auth.apiKeys) {
    if (key.role !== undefined && !config.databaseRoles.includes(key.role)) {
      throw new ConfigError(`API key "${key.name}" names database role "${key.role}", which DATABASE_ROLES does not list: add it there (with its own connection), or remove the role from the key`);
    }
  }
  for (const role of config.databaseRoles) {
    if (config.readRole === role) throw new ConfigError(`DATABASE_ROLES lists "${role}", the READ_ROLE: a caller role logs in as itself and must not be the role the server switches to`);
    if (config.driver === "hyperdrive") {
      const binding = roleHyperdriveBinding(role);
      if (!(env as unknown as Record<string, { connectionString?: unknown } | undefined>)[binding]?.connectionString) {
        throw new ConfigError(`DATABASE_ROLES lists "${role}" but there is no Hyperdrive binding ${binding}: add [[hyperdrive]] binding = "${binding}" with a connection string that logs in as "${role}"`);
      }
    } else if (typeof (env as unknown as Record<string, unknown>)[roleDatabaseUrlSecret(role)] !== "string") {
      throw new ConfigError(`DATABASE_ROLES lists "${role}" but the secret ${roleDatabaseUrlSecret(role)} is not set: wrangler secret put ${roleDatabaseUrlSecret(role)} (a connection string that logs in as "${role}")`);
    }
  }
}
