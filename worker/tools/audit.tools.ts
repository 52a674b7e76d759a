/**
 * Reading the audit log (kept in AuditLog Durable Objects, one per caller,
 * not in PostgreSQL, so no SQL tool can touch it).
 */
import { z } from "zod";
import { listAudit } from "../mcp/audit";
import { tsvRow } from "../db/values";
import { READ, defineTool } from "./registry";

const Entry = z.object({
  at: z.string(),
  principal: z.string(),
  tool: z.string(),
  action: z.string(),
  actionHash: z.string(),
  outcome: z.enum(["ok", "error"]),
  error: z.string().optional(),
  durationMs: z.number(),
  detail: z.record(z.string(), z.unknown()).optional(),
});

export const auditLog = defineTool({
  name: "pg_audit_log",
  group: "admin",
  title: "Read the audit log",
  description: "Recent writes, DDL, admin actions and code runs: who, when, what, outcome. Newest first; with principal, one caller's only (faster).",
  scope: "admin",
  input: z.object({
    limit: z.number().int().min(1).max(1000).optional(),
    principal: z.string().max(200).optional(),
    tool: z.string().max(100).optional(),
    since: z.iso.datetime().optional().describe("ISO 8601"),
  }),
  output: z.object({ entries: z.array(Entry) }),
  annotations: READ,
  audit: false,
  async handler(args, ctx) {
    const entries = await listAudit(ctx.env, args);
    const lines = ["at\tprincipal\ttool\toutcome\tms\taction"];
    for (const e of entries) lines.push(tsvRow([e.at, e.principal, e.tool, e.error ? `error ${e.error}` : e.outcome, e.durationMs, e.action.slice(0, 200)]));
    return { structured: { entries }, text: lines.join("\n") };
  },
});

export const auditTools = [auditLog];
