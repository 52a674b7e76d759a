/**
 * Group `advisor`: judgment on top of the statistics, each recommendation
 * checked by the planner before it is made. pg_advisor_indexes advises
 * indexes for a workload; pg_advisor_query tunes one statement. Candidates
 * are evaluated with hypopg when it is installed, otherwise built in a
 * transaction that is always rolled back, and only for callers who may write
 * on a deployment that is not read-only (see advisor/evaluate.ts).
 */
import { z } from "zod";
import { int, qname } from "./catalog";
import { paramsSchema } from "./query.tools";
import { defineTool, type ToolAnnotations } from "./registry";
import { adviseIndexes, renderAdvice } from "./advisor/indexes";
import { adviseQuery, renderQueryAdvice } from "./advisor/query";
import { checkReadOnly } from "../sql/readonly";

/** Nothing it does outlives the call, but a trial build holds a SHARE lock on the table while it runs. */
const ADVISE: ToolAnnotations = { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false };

const statementSchema = z.string().min(1).max(100_000);

export const advisorIndexes = defineTool({
  name: "pg_advisor_indexes",
  group: "advisor",
  title: "Index advice for a workload",
  description:
    "Indexes that lower the planner's cost of a workload (your queries, or the top of pg_stat_statements): DDL, cost before/after per statement, size, write overhead; rejected candidates with why. Checked with hypopg, or built in a rolled-back transaction (write scope).",
  scope: "read",
  input: z.object({
    queries: z
      .array(z.union([statementSchema, z.object({ sql: statementSchema, params: paramsSchema, weight: z.number().positive().optional() })]))
      .min(1)
      .max(50)
      .optional()
      .describe("Statements; omit for pg_stat_statements' costliest"),
    top: int(1, 50).optional().describe("From pg_stat_statements (default 20)"),
    tables: z.array(qname).max(50).optional().describe("Only statements on these tables"),
    budgetBytes: int(0, Number.MAX_SAFE_INTEGER).optional().describe("Total size of the recommended indexes"),
    method: z.enum(["auto", "hypopg", "build"]).optional(),
  }),
  output: z.object({
    method: z.string(),
    source: z.string(),
    statements: z.number(),
    recommended: z.array(z.object({ ddl: z.string(), table: z.string(), columns: z.array(z.string()), bytes: z.number(), helps: z.array(z.object({ statement: z.string(), weight: z.number(), before: z.number(), after: z.number() })), writeOverhead: z.string() })),
    rejected: z.array(z.object({ index: z.string(), reason: z.string() })),
    unverified: z.array(z.object({ index: z.string(), reason: z.string() })),
    skipped: z.array(z.object({ sql: z.string(), reason: z.string() })),
    total: z.object({ before: z.number(), after: z.number() }).nullable(),
    note: z.string().optional(),
  }),
  annotations: ADVISE,
  cost: "expensive",
  transactional: false,
  async handler(args, ctx) {
    const advice = await adviseIndexes(args, ctx);
    return { structured: advice, text: renderAdvice(advice) };
  },
});

export const advisorQuery = defineTool({
  name: "pg_advisor_query",
  group: "advisor",
  title: "Tune one statement",
  description:
    "One statement's plan (analyze: actual rows; a write is rolled back, write scope) and its problems: seq scans under selective filters, 10x misestimates, disk spills, nested loops over large inputs, missing statistics; fixes each checked by the planner.",
  scope: "read",
  input: z.object({ sql: statementSchema, params: paramsSchema, analyze: z.boolean().optional() }),
  output: z.object({
    plan: z.unknown(),
    executed: z.boolean(),
    problems: z.array(z.object({ kind: z.string(), node: z.string(), detail: z.string() })),
    fixes: z.array(z.object({ kind: z.string(), sql: z.string(), checked: z.string(), helps: z.boolean().nullable() })),
  }),
  annotations: ADVISE,
  cost: "expensive",
  transactional: false,
  // ANALYZE of a write executes it (then rolls back), as pg_query_explain records.
  audit: (args) => !!args.analyze && !checkReadOnly(args.sql).ok,
  async handler(args, ctx) {
    const advice = await adviseQuery(args, ctx);
    const { text: _text, ...structured } = advice;
    return { structured, text: renderQueryAdvice(advice) };
  },
});

export const advisorTools = [advisorIndexes, advisorQuery];
