/**
 * One customer's deployment, as a file in customers/<name>.json. zod-first:
 * the schema validates the file and documents every field.
 */
import { z } from "zod";
import { TOOL_GROUPS } from "../../worker/tools/groups";

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
  })
  .superRefine((c, ctx) => {
    if (c.publicUrl && !c.oauthKvId) ctx.addIssue({ code: "custom", path: ["oauthKvId"], message: "publicUrl enables OAuth, which needs oauthKvId" });
    if (c.publicUrl && !c.publicUrl.startsWith("https://")) ctx.addIssue({ code: "custom", path: ["publicUrl"], message: "must be https://" });
  });

export type Customer = z.infer<typeof CustomerSchema>;
