/**
 * Deployment configuration: the Worker's vars and secrets, validated once per
 * isolate. A bad value fails every request loudly with a message naming the
 * variable, instead of surfacing later as an odd database error.
 */
import { z } from "zod";
import { TOOL_GROUPS, type ToolGroup } from "./tools/groups";

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
  /** pg_admin_settings may run ALTER SYSTEM only when this is "true". */
  ALLOW_ALTER_SYSTEM: z.enum(["true", "false"]).default("false"),
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
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

const cache = new WeakMap<object, Config>();

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
  };
  cache.set(env, config);
  return config;
}
