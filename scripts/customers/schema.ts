/**
 * One customer's deployment, as a file in customers/<name>.json. zod-first:
 * the schema validates the file and documents every field.
 */
import { z } from "zod";
import { TOOL_GROUPS } from "../../worker/tools/groups";
import { tokenize } from "../../worker/sql/lexer";

/** A row filter is spliced into CREATE POLICY ... USING (...): one expression, never a way out of the parentheses. */
function isOneExpression(text: string): boolean {
  let depth = 0;
  try {
    for (const t of tokenize(text)) {
      if (t.kind === "semicolon") return false;
      if (t.kind === "lparen") depth++;
      if (t.kind === "rparen" && --depth < 0) return false;
    }
  } catch {
    return false;
  }
  return depth === 0;
}

const roleName = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, "lower-case letters, digits and _ (a PostgreSQL role name that needs no quoting)");

/** One table a caller role may use: privileges on all of it or on some columns (column masking), and a row filter (an RLS policy). */
const TableGrant = z.object({
  /** "schema.table" */
  table: z.string().regex(/^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$/, "schema.table, lower-case"),
  privileges: z.array(z.enum(["SELECT", "INSERT", "UPDATE", "DELETE"])).min(1).default(["SELECT"]),
  /** Only these columns (SELECT, INSERT, UPDATE as column privileges): the others are masked by PostgreSQL itself. */
  columns: z.array(z.string().regex(/^[a-z_][a-z0-9_]*$/)).min(1).optional(),
  /** A boolean SQL expression over the row (e.g. "tenant = current_user"): the role's RLS policy, USING and WITH CHECK. */
  rowFilter: z.string().min(1).max(2000).optional(),
});

/** A caller role: keys and OAuth grants name it; it logs in as itself (README, Per-caller identity). */
export const CallerRoleSchema = z.object({
  name: roleName,
  /** The Hyperdrive config whose connection string logs in as this role (hyperdrive driver). */
  hyperdriveId: z.string().regex(/^[0-9a-f]{32}$/, "a 32-hex-character Hyperdrive id").optional(),
  /** Schemas it may use (USAGE). */
  schemas: z.array(z.string().regex(/^[a-z_][a-z0-9_]*$/)).default([]),
  tables: z.array(TableGrant).default([]),
});
export type CallerRole = z.infer<typeof CallerRoleSchema>;

export const CustomerSchema = z
  .object({
    /** Short id: becomes the Worker name pg-mcp-<name>. */
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,40}$/, "lower-case letters, digits and -"),
    database: z.discriminatedUnion("driver", [
      z.object({
        driver: z.literal("hyperdrive"),
        /** From `wrangler hyperdrive create`. */
        hyperdriveId: z.string().regex(/^[0-9a-f]{32}$/, "a 32-hex-character Hyperdrive id"),
      }),
      z.object({
        /** Connection string in the DATABASE_URL secret. */
        driver: z.literal("neon"),
      }),
    ]),
    toolGroups: z.union([z.literal("all"), z.array(z.enum(TOOL_GROUPS)).min(1)]).default("all"),
    readOnly: z.boolean().default(false),
    limits: z
      .object({
        statementTimeoutMs: z.number().int().min(100).max(600_000).optional(),
        maxRows: z.number().int().min(1).max(100_000).optional(),
        maxResultBytes: z.number().int().min(1000).max(20_000_000).optional(),
        callsPerMinute: z.number().int().min(0).optional(),
        expensivePerMinute: z.number().int().min(0).optional(),
        codePerMinute: z.number().int().min(0).optional(),
        maxConcurrentRequests: z.number().int().min(0).optional(),
        maxRequestBytes: z.number().int().min(1000).optional(),
      })
      .default({}),
    /** Browser origins (hostnames) allowed to call /mcp. */
    allowedOrigins: z.array(z.string()).optional(),
    /** Host names the Worker answers on besides *.workers.dev. */
    allowedHosts: z.array(z.string()).optional(),
    /** https origin of the deployment; with it (and the OAUTH_ADMIN_PASSWORD secret) OAuth is on. */
    publicUrl: z.url().optional(),
    /** KV namespace id for OAuth state (`wrangler kv namespace create OAUTH_KV`). Required with publicUrl. */
    oauthKvId: z.string().regex(/^[0-9a-f]{32}$/).optional(),
    /** Custom domains, e.g. ["mcp.acme.com"]. */
    customDomains: z.array(z.string()).optional(),
    /** Caller roles (DATABASE_ROLES) with their grants and row filters: `npm run customer -- <name> --roles-sql` prints the SQL. */
    roles: z.array(CallerRoleSchema).default([]),
  })
  .superRefine((c, ctx) => {
    if (c.publicUrl && !c.oauthKvId) ctx.addIssue({ code: "custom", path: ["oauthKvId"], message: "publicUrl enables OAuth, which needs oauthKvId" });
    if (c.publicUrl && !c.publicUrl.startsWith("https://")) ctx.addIssue({ code: "custom", path: ["publicUrl"], message: "must be https://" });
    c.roles.forEach((r, i) => {
      if (c.database.driver === "hyperdrive" && !r.hyperdriveId) ctx.addIssue({ code: "custom", path: ["roles", i, "hyperdriveId"], message: `role ${r.name} needs its own Hyperdrive config (a connection string that logs in as ${r.name})` });
      r.tables.forEach((t, j) => {
        if (!r.schemas.includes(t.table.split(".")[0]!)) ctx.addIssue({ code: "custom", path: ["roles", i, "tables", j, "table"], message: `role ${r.name} needs USAGE on schema ${t.table.split(".")[0]}: add it to schemas` });
        if (t.rowFilter && !isOneExpression(t.rowFilter)) ctx.addIssue({ code: "custom", path: ["roles", i, "tables", j, "rowFilter"], message: "must be one SQL expression (balanced parentheses, no semicolon)" });
        if (t.columns && t.privileges.includes("DELETE")) ctx.addIssue({ code: "custom", path: ["roles", i, "tables", j, "privileges"], message: "DELETE is a table privilege; it cannot be limited to columns" });
      });
    });
    if (new Set(c.roles.map((r) => r.name)).size !== c.roles.length) ctx.addIssue({ code: "custom", path: ["roles"], message: "role names must be unique" });
  });

export type Customer = z.infer<typeof CustomerSchema>;
