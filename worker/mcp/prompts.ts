/**
 * MCP prompts: the tasks users reach for, with the evidence already pulled in
 * (plans, table descriptions, statistics) so the model starts from facts.
 * Database work happens only when a prompt is fetched (prompts/get), through
 * the same tool code and one connection per request (withToolContext).
 */
import { McpServer, ProtocolError, ProtocolErrorCode, completable } from "@modelcontextprotocol/server";
import { z } from "zod";
import { parseQualifiedName, quoteIdent } from "../sql/ident";
import { ToolError, formatError, toErrorInfo } from "../tools/errors";
import type { ToolContext } from "../tools/registry";
import { queryExplain } from "../tools/query.tools";
import { describeObject, renderDescribed } from "../tools/schema.tools";
import { adminStats } from "../tools/admin.tools";
import { healthReport, monitorLocks, monitorTopQueries, renderHealth, viewerOf } from "../tools/monitor.tools";
import { findingsReport, renderFindings } from "../tools/findings";
import { advisorIndexes } from "../tools/advisor.tools";
import { guardText } from "./guard";
import { withToolContext } from "./server";
import { nameCompleter } from "./completions";
import { currentRequest, type RequestContext } from "../context";

/** Tables described in the query prompt at most. */
const MAX_TABLES = 5;

interface PlanNode {
  "Relation Name"?: string;
  Schema?: string;
  Plans?: PlanNode[];
}

function relationsOf(node: PlanNode, out = new Set<string>()): Set<string> {
  if (node["Relation Name"]) out.add(node.Schema ? `${quoteIdent(node.Schema)}.${quoteIdent(node["Relation Name"])}` : quoteIdent(node["Relation Name"]));
  for (const child of node.Plans ?? []) relationsOf(child, out);
  return out;
}

/** A step's text, or its error as text: a failing step is evidence too. */
async function attempt(step: () => Promise<string>): Promise<string> {
  try {
    return await step();
  } catch (e) {
    return formatError(toErrorInfo(e));
  }
}

const user = (text: string) => ({ role: "user" as const, content: { type: "text" as const, text } });

// Built once per isolate: registration runs for every request.
const EXPLAIN_ARGS = z.object({ sql: z.string().min(1).max(100_000).describe("The query to explain") });
/**
 * Built once too (zod schemas are costly to build, and this ran for every request): the table
 * argument completes from the catalog as the current request's caller sees it.
 */
const REVIEW_ARGS = z.object({
  table: completable(z.string().min(1).max(300).describe("[schema.]table"), (value: string) => {
    const rc = currentRequest.getStore();
    if (!rc) throw new ProtocolError(ProtocolErrorCode.InternalError, "completion outside a request");
    return nameCompleter(rc).qualifiedTables(value);
  }),
});

export function registerPrompts(mcp: McpServer, rc: RequestContext): void {
  mcp.server.registerCapabilities({ prompts: { listChanged: false } });
  const data = (text: string) => (rc.config.injectionGuard ? guardText(text) : text);
  const run = <T>(fn: (ctx: ToolContext) => Promise<T>) => withToolContext(rc, fn);

  mcp.registerPrompt(
    "explain_query",
    {
      title: "Explain and optimise a query",
      description: "The query's plan and the tables it reads (columns, indexes, statistics), with a request to explain it and propose indexes or rewrites.",
      argsSchema: EXPLAIN_ARGS,
    },
    ({ sql }) =>
      run(async (ctx) => {
        let tables: string[] = [];
        const plan = await attempt(async () => {
          const out = await queryExplain.handler({ sql, verbose: true }, ctx);
          const top = (out.structured.plan as { Plan: PlanNode }[])[0]!;
          tables = [...relationsOf(top.Plan)].slice(0, MAX_TABLES);
          return out.text;
        });
        const described = await Promise.all(tables.map((t) => attempt(async () => renderDescribed(await describeObject(ctx.sql, t)))));
        const text = [
          "Explain what this PostgreSQL query does and how the plan executes it, then propose concrete optimisations (indexes as CREATE INDEX statements, query rewrites, statistics or settings), each with the evidence from the plan and tables below. Say when the plan is already good.",
          `Query:\n${sql}`,
          `Plan (EXPLAIN, not executed):\n${data(plan)}`,
          ...described.map((d) => `Table:\n${data(d)}`),
        ].join("\n\n");
        return { description: "Explain and optimise a query", messages: [user(text)] };
      }),
  );

  mcp.registerPrompt(
    "review_indexes",
    {
      title: "Review a table's indexes",
      description: "A table's description, index usage and table statistics, with a request to find unused, duplicate or missing indexes.",
      argsSchema: REVIEW_ARGS,
    },
    ({ table }) =>
      run(async (ctx) => {
        let described;
        try {
          parseQualifiedName(table);
          described = await describeObject(ctx.sql, table);
        } catch (e) {
          throw new ProtocolError(ProtocolErrorCode.InvalidParams, e instanceof ToolError || e instanceof Error ? e.message : String(e));
        }
        const name = described.name;
        const indexes = await attempt(async () => (await adminStats.handler({ kind: "indexes", table: name }, ctx)).text);
        const stats = await attempt(async () => (await adminStats.handler({ kind: "tables", table: name }, ctx)).text);
        const text = [
          `Review the indexes of ${name}. Find unused indexes (no scans, not enforcing a constraint), duplicates and indexes whose columns are a prefix of another, foreign keys without a supporting index, bloat, and indexes the sequential-scan counts suggest are missing. For each finding give the evidence and the exact statement (CREATE INDEX CONCURRENTLY / DROP INDEX CONCURRENTLY). Statistics count since the last reset, so weigh low numbers carefully.`,
          `Table:\n${data(renderDescribed(described))}`,
          `Index usage:\n${data(indexes)}`,
          `Table statistics:\n${data(stats)}`,
        ].join("\n\n");
        return { description: `Review the indexes of ${name}`, messages: [user(text)] };
      }),
  );

  mcp.registerPrompt(
    "diagnose_health",
    {
      title: "Diagnose database health",
      description: "The health report, lock waits and the top queries, with a request to find the causes and what to do first.",
    },
    () =>
      run(async (ctx) => {
        const health = await attempt(async () => renderHealth(await healthReport(ctx.sql, ctx.config, await viewerOf(ctx.principal))));
        const locks = await attempt(async () => (await monitorLocks.handler({}, ctx)).text);
        const top = await attempt(async () => (await monitorTopQueries.handler({ limit: 10 }, ctx)).text);
        const text = [
          "Diagnose this PostgreSQL database. Explain every warn or critical check and its likely cause, relate lock waits and expensive queries to it, and list the actions in the order to take them (with the exact SQL or tool call).",
          `Health:\n${data(health)}`,
          `Lock waits:\n${data(locks)}`,
          `Top queries (pg_stat_statements):\n${data(top)}`,
        ].join("\n\n");
        return { description: "Diagnose database health", messages: [user(text)] };
      }),
  );

  mcp.registerPrompt(
    "review_database",
    {
      title: "Review my database",
      description: "Health findings per object (indexes, wraparound, bloat, connections, cache), the health report, the top queries and index advice checked by the planner, with a request for a prioritised action list.",
    },
    () =>
      run(async (ctx) => {
        const findings = await attempt(async () => renderFindings(await findingsReport(ctx.sql)));
        const health = await attempt(async () => renderHealth(await healthReport(ctx.sql, ctx.config, await viewerOf(ctx.principal))));
        const top = await attempt(async () => (await monitorTopQueries.handler({ limit: 10 }, ctx)).text);
        const advice = await attempt(async () => (await advisorIndexes.handler({ top: 10 }, ctx)).text);
        const text = [
          "Review this PostgreSQL database as its operator would. From the evidence below, list what to do in priority order: each item the finding it answers, the exact statement or tool call, its risk (locks, downtime) and what it gains. Index advice was checked by the planner; say so where you rely on it. Findings marked ok need no action.",
          `Findings:\n${data(findings)}`,
          `Health:\n${data(health)}`,
          `Top queries (pg_stat_statements):\n${data(top)}`,
          `Index advice (pg_advisor_indexes on the top queries):\n${data(advice)}`,
        ].join("\n\n");
        return { description: "Review the database", messages: [user(text)] };
      }),
  );
}
