/**
 * Group `query`: run SQL. Reads run in a READ ONLY transaction that is always
 * rolled back; writes in a transaction that commits; EXPLAIN ANALYZE of a write
 * in one that is rolled back.
 */
import { z } from "zod";
import { splitStatements, type SqlStatement } from "../sql/lexer";
import { checkReadOnly } from "../sql/readonly";
import { checkEffects } from "../sql/effects";
import { roleChange } from "../sql/roles";
import { statementDestructive } from "../sql/destructive";
import { needsOwnTransaction } from "../db/transaction";
import { ToolError } from "./errors";
import { RowSetSchema, renderRowSet } from "./format";
import { READ, WRITE, defineTool, scopeAllows, type ToolContext } from "./registry";
import { idempotencyClaim, idempotencyKeySchema, notApplicable, replayedField, replayNote } from "./idempotency";

/** Bind parameter values: any JSON value (arrays bind as PostgreSQL arrays, objects as json text). */
export const paramsSchema = z.array(z.unknown()).max(1000).optional().describe("Values for $1, $2, ...");

const sqlSchema = z.string().min(1).max(100_000);

/** Objects become JSON text so they bind to json/jsonb parameters. */
export function bindValues(params: unknown[] | undefined): unknown[] {
  return (params ?? []).map((p) => (p !== null && typeof p === "object" && !Array.isArray(p) ? JSON.stringify(p) : p));
}

function oneStatement(sql: string): SqlStatement {
  const statements = splitStatements(sql);
  if (statements.length === 0) throw new ToolError("empty_statement", "the statement is empty");
  if (statements.length > 1) throw new ToolError("multiple_statements", `expected one statement, got ${statements.length}`, "send statements one per call, or use a transaction (pg_tx_begin) or pg_code_run_sql_script");
  return statements[0]!;
}

/**
 * Scope by effect: a statement whose effect is on the server (configuration,
 * other sessions, roles, extensions) needs the admin scope whatever tool
 * carries it, and ALTER SYSTEM needs ALLOW_ALTER_SYSTEM (see sql/effects.ts).
 */
export function requireEffectScope(sql: string | SqlStatement, ctx: Pick<ToolContext, "principal" | "config">, tool: string): void {
  if (ctx.principal.db) refuseRoleChange(sql, ctx.principal.db.role, tool);
  const v = checkEffects(sql, { admin: scopeAllows(ctx.principal.scopes, "admin"), allowAlterSystem: ctx.config.allowAlterSystem, tool });
  if (!v.ok) throw new ToolError(v.code, v.message, v.hint);
}

/** A caller acting as its own database role never changes who it acts as, whatever its scopes (sql/roles.ts). */
export function refuseRoleChange(sql: string | SqlStatement, role: string, tool: string): void {
  const found = roleChange(sql);
  if (found) throw roleChangeError(found, role, tool);
}

export function roleChangeError(what: string, role: string, tool: string): ToolError {
  return new ToolError("role_change_refused", `${tool} refused ${what}: this caller acts as database role "${role}" and may not change the role or identity it acts as`, "every call runs as your key's database role; ask the operator for another key to act as another role");
}

const TX_CONTROL = new Set(["begin", "start", "commit", "end", "rollback", "abort", "savepoint", "release", "prepare"]);

export const queryRead = defineTool({
  name: "pg_query_read",
  group: "query",
  title: "Run a read-only query",
  description:
    "Run one SELECT/WITH/VALUES/TABLE/SHOW/EXPLAIN in a READ ONLY transaction. Use $1.. with params for values. Returns TSV (header name:type, \\N=NULL); if truncated, repeat with offset.",
  scope: "read",
  input: z.object({
    sql: sqlSchema,
    params: paramsSchema,
    limit: z.number().int().min(1).optional().describe("Max rows (capped by server)"),
    offset: z.number().int().min(0).optional().describe("Rows to skip (pagination)"),
  }),
  output: RowSetSchema,
  annotations: READ,
  async handler(args, ctx) {
    const verdict = checkReadOnly(args.sql);
    if (!verdict.ok) throw new ToolError("read_only", `pg_query_read refused the statement: ${verdict.reason}`, "pg_query_read only reads; use pg_query_write for changes");
    const rs = await ctx.sql.read(args.sql, bindValues(args.params), { maxRows: args.limit, offset: args.offset });
    return { structured: rs, text: renderRowSet(rs) };
  },
});

export const queryWrite = defineTool({
  name: "pg_query_write",
  group: "query",
  title: "Run a write or DDL statement",
  description: "Run one INSERT/UPDATE/DELETE/MERGE or DDL statement and commit. Use $1.. with params for values. Returns the row count and any RETURNING rows.",
  scope: "write",
  input: z.object({ sql: sqlSchema, params: paramsSchema, idempotency_key: idempotencyKeySchema }),
  output: RowSetSchema.extend({ replayed: replayedField }),
  annotations: WRITE,
  async handler(args, ctx) {
    const statement = oneStatement(args.sql);
    const words = statement.tokens.slice(0, 5).map((t) => t.value.toLowerCase());
    if (TX_CONTROL.has(words[0]!)) {
      throw new ToolError("transaction_control", `${words[0]!.toUpperCase()} is not run by pg_query_write`, "each pg_query_write call is its own transaction; use the pg_tx_* tools to hold one open");
    }
    if (words[0] === "copy") {
      // COPY ... TO/FROM a file or PROGRAM runs on the database server with its privileges; STDIN/STDOUT have no stream here.
      throw new ToolError("copy_not_supported", "COPY is not run by this server", "use INSERT ... SELECT / INSERT with params, or pg_query_read to read rows");
    }
    requireEffectScope(statement, ctx, "pg_query_write");
    const alone = needsOwnTransaction(words);
    if (args.idempotency_key !== undefined) {
      if (ctx.sql.inTransaction) throw notApplicable("inside a held transaction nothing is kept before pg_tx_commit; pass the key to pg_tx_commit");
      if (alone) throw notApplicable(`${words.slice(0, 2).join(" ").toUpperCase()} cannot run inside a transaction block, so no key can be recorded with it`);
    }
    await ctx.confirm(statementDestructive(statement));
    const params = bindValues(args.params);
    const idempotency = await idempotencyClaim(ctx, "pg_query_write", args);
    const rs = alone ? await ctx.sql.standalone(args.sql, params) : await ctx.sql.write(args.sql, params, idempotency ? { idempotency } : {});
    return { structured: rs, text: rs.replayed ? `${replayNote(rs.replayed)}\n${renderRowSet(rs)}` : renderRowSet(rs) };
  },
});

const ExplainOutput = z.object({
  plan: z.unknown().describe("EXPLAIN (FORMAT JSON) output"),
  executed: z.boolean(),
});

interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  Alias?: string;
  "Startup Cost"?: number;
  "Total Cost"?: number;
  "Plan Rows"?: number;
  "Actual Total Time"?: number;
  "Actual Rows"?: number;
  "Actual Loops"?: number;
  Filter?: string;
  "Index Cond"?: string;
  "Hash Cond"?: string;
  "Join Type"?: string;
  "Shared Hit Blocks"?: number;
  "Shared Read Blocks"?: number;
  Plans?: PlanNode[];
}

/** A compact text tree, like EXPLAIN's text format, for the model to read. */
export function renderPlan(node: PlanNode, depth = 0, out: string[] = []): string[] {
  let line = `${"  ".repeat(depth)}${depth ? "-> " : ""}${node["Join Type"] && node["Node Type"].includes("Join") ? `${node["Join Type"]} ` : ""}${node["Node Type"]}`;
  if (node["Index Name"]) line += ` using ${node["Index Name"]}`;
  if (node["Relation Name"]) line += ` on ${node["Relation Name"]}${node.Alias && node.Alias !== node["Relation Name"] ? ` ${node.Alias}` : ""}`;
  line += ` (cost=${node["Startup Cost"]}..${node["Total Cost"]} rows=${node["Plan Rows"]})`;
  if (node["Actual Total Time"] !== undefined) line += ` (actual time=${node["Actual Total Time"]} rows=${node["Actual Rows"]} loops=${node["Actual Loops"]})`;
  if (node["Shared Hit Blocks"] !== undefined) line += ` (buffers hit=${node["Shared Hit Blocks"]} read=${node["Shared Read Blocks"]})`;
  out.push(line);
  for (const key of ["Index Cond", "Hash Cond", "Filter"] as const) if (node[key]) out.push(`${"  ".repeat(depth + 2)}${key}: ${node[key]}`);
  for (const child of node.Plans ?? []) renderPlan(child, depth + 1, out);
  return out;
}

export const queryExplain = defineTool({
  name: "pg_query_explain",
  group: "query",
  title: "Explain a query plan",
  description: "Show the plan of one statement (EXPLAIN FORMAT JSON). analyze=true executes it; a write is then rolled back. Pass the statement without EXPLAIN.",
  scope: "read",
  input: z.object({
    sql: sqlSchema,
    params: paramsSchema,
    analyze: z.boolean().optional(),
    buffers: z.boolean().optional(),
    verbose: z.boolean().optional(),
  }),
  output: ExplainOutput,
  annotations: READ,
  // ANALYZE of a write executes it (then rolls back): that is worth a line in the audit log.
  audit: (args) => !!args.analyze && !checkReadOnly(args.sql).ok,
  cost: "expensive",
  async handler(args, ctx) {
    const statement = oneStatement(args.sql);
    if (statement.tokens[0]?.value === "explain") throw new ToolError("invalid_statement", "pass the statement without EXPLAIN", "use the analyze, buffers and verbose options instead");
    const read = checkReadOnly(args.sql);
    // A write explained without ANALYZE is not executed, so READ ONLY holds. With ANALYZE it runs, then is rolled back.
    const readOnly = read.ok || !args.analyze;
    if (!read.ok && read.refusedFunction) throw new ToolError("read_only", `pg_query_explain refused the statement: ${read.reason}`);
    if (args.analyze) requireEffectScope(statement, ctx, "pg_query_explain");
    if (!readOnly && !scopeAllows(ctx.principal.scopes, "write")) {
      throw new ToolError("insufficient_scope", "EXPLAIN ANALYZE executes the statement, and this one writes: it needs the write scope", "run it without analyze to see the plan");
    }
    const options = ["FORMAT JSON"];
    if (args.analyze) options.push("ANALYZE");
    if (args.buffers) options.push("BUFFERS");
    if (args.verbose) options.push("VERBOSE");
    const explain = `EXPLAIN (${options.join(", ")}) ${statement.text}`;
    const params = bindValues(args.params);
    // Planning a write checks its privileges as if it ran: the plan of a write (never executed here) is the server role's.
    const rs = readOnly ? await ctx.sql.read(explain, params, undefined, { asServer: !read.ok }) : await ctx.sql.write(explain, params, { rollback: true });
    const plan = rs.rows[0]?.[0] as [{ Plan: PlanNode; "Planning Time"?: number; "Execution Time"?: number }];
    const top = plan[0];
    const lines = renderPlan(top.Plan);
    if (top["Planning Time"] !== undefined) lines.push(`Planning Time: ${top["Planning Time"]} ms`);
    if (top["Execution Time"] !== undefined) lines.push(`Execution Time: ${top["Execution Time"]} ms${read.ok ? "" : " (rolled back)"}`);
    return { structured: { plan, executed: !!args.analyze }, text: lines.join("\n") };
  },
});

export const queryTools = [queryRead, queryWrite, queryExplain];
