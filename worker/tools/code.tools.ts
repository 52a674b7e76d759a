/**
 * Group `code`: pg_code_run_sql_script runs a multi-statement SQL script
 * statement by statement (the lexer splits it: dollar quotes, comments and
 * BEGIN ATOMIC bodies are understood), either each statement in its own
 * transaction or all in one (`transaction: true`, atomic). Everything is
 * checked before anything runs: transaction control, COPY and psql
 * meta-commands are refused, and in read-only mode every statement must pass
 * the read-only guard. An error names the statement and where it is in the
 * script (line and column, from PostgreSQL's position within the statement).
 */
import { z } from "zod";
import type { RowSet } from "../db/session";
import { needsOwnTransaction } from "../db/transaction";
import { tsvRow } from "../db/values";
import { splitStatements, SqlSyntaxError, type SqlStatement } from "../sql/lexer";
import { checkReadOnly } from "../sql/readonly";
import { destructiveStatements } from "../sql/destructive";
import { int } from "./catalog";
import { ToolError } from "./errors";
import { WRITE, defineTool, type ToolContext } from "./registry";
import { requireEffectScope } from "./query.tools";
import { idempotencyClaim, idempotencyKeySchema, notApplicable, replayedField, replayNote } from "./idempotency";

const MAX_STATEMENTS = 500;
const DEFAULT_ROWS_PER_STATEMENT = 20;

const TX_CONTROL = new Set(["begin", "start", "commit", "end", "rollback", "abort", "savepoint", "release"]);

/** 1-based line and column of a 0-based offset in `text`. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === "\n") {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** PostgreSQL counts positions in characters (code points); JavaScript strings index UTF-16 units. */
function codePointsToIndex(text: string, codePoints: number): number {
  let index = 0;
  for (let n = 0; n < codePoints && index < text.length; n++) index += (text.codePointAt(index) ?? 0) > 0xffff ? 2 : 1;
  return index;
}

/**
 * A failed statement, shaped like a PostgreSQL error (code, severity,
 * position) so the server reports it like any other, but with the position
 * moved from the statement to the whole script.
 */
class ScriptStatementError extends Error {
  override readonly name = "ScriptStatementError";
  readonly severity = "ERROR";
  constructor(
    readonly code: string,
    message: string,
    readonly position: string | undefined,
    readonly detail: string | undefined,
    readonly hint: string | undefined,
    readonly where: string | undefined,
  ) {
    super(message);
  }
}

interface PgErrorFields {
  code?: string;
  message: string;
  position?: string;
  detail?: string;
  hint?: string;
  where?: string;
  severity?: string;
}

const isPgError = (e: unknown): e is PgErrorFields =>
  typeof e === "object" && e !== null && typeof (e as PgErrorFields).code === "string" && /^[0-9A-Z]{5}$/.test((e as PgErrorFields).code!) && "severity" in e;

function statementLabel(script: string, statements: SqlStatement[], index: number): string {
  const { line, column } = lineColumn(script, statements[index]!.start);
  return `statement ${index + 1} of ${statements.length} (line ${line}, column ${column})`;
}

/** Refuses, before anything runs, what a script may not contain. */
function checkStatements(script: string, statements: SqlStatement[], opts: { transaction: boolean; readOnly: boolean }, ctx: Pick<ToolContext, "principal" | "config">): void {
  statements.forEach((st, i) => {
    const first = st.tokens[0]!;
    const words = st.tokens.slice(0, 5).map((t) => t.value.toLowerCase());
    const where = () => statementLabel(script, statements, i);
    if (first.kind === "op" && first.text.startsWith("\\")) {
      throw new ToolError("psql_meta_command", `${where()}: ${first.text}${st.tokens[1]?.text ?? ""} is a psql meta-command, not SQL`, "send SQL only; for \\copy use INSERT statements");
    }
    if (first.kind === "word" && (TX_CONTROL.has(words[0]!) || (words[0] === "prepare" && words[1] === "transaction"))) {
      throw new ToolError("transaction_control", `${where()}: ${first.text.toUpperCase()} is not allowed in a script`, "pass transaction: true to run the whole script in one transaction (atomic), or false for one transaction per statement");
    }
    if (words[0] === "copy") {
      throw new ToolError("copy_not_supported", `${where()}: COPY is not run by this server (no client stream; server files and programs are off limits)`, "use INSERT ... VALUES or INSERT ... SELECT");
    }
    if (opts.readOnly) {
      const verdict = checkReadOnly(st.text);
      if (!verdict.ok) throw new ToolError("read_only", `${where()}: ${verdict.reason}`, "readOnly: true runs reads only");
    }
    try {
      requireEffectScope(st, ctx, "pg_code_run_sql_script");
    } catch (e) {
      if (e instanceof ToolError) throw new ToolError(e.code, `${where()}: ${e.message}`, e.hint);
      throw e;
    }
    if (opts.transaction && needsOwnTransaction(words)) {
      throw new ToolError("cannot_run_in_transaction", `${where()}: ${words.slice(0, 2).join(" ").toUpperCase()} cannot run inside a transaction block`, "run it with transaction: false");
    }
  });
}

const StatementResultSchema = z.object({
  line: z.number(),
  command: z.string(),
  rowCount: z.number().nullable(),
  columns: z.array(z.object({ name: z.string(), type: z.string() })).optional(),
  rows: z.array(z.array(z.unknown())).optional(),
  truncated: z.boolean().optional(),
});

const ScriptOutput = z.object({ statements: z.array(StatementResultSchema), transaction: z.boolean(), replayed: replayedField });

function renderStatement(i: number, rs: RowSet): string {
  const lines: string[] = [];
  const count = rs.truncated ? ` (${rs.rows.length} rows shown, more exist)` : rs.rowCount !== null ? ` ${rs.rowCount}` : "";
  lines.push(`[${i + 1}] ${rs.command || "OK"}${count}`);
  if (rs.columns.length > 0) {
    lines.push(rs.columns.map((c) => `${c.name}:${c.type}`).join("\t"));
    for (const row of rs.rows) lines.push(tsvRow(row));
  }
  return lines.join("\n");
}

export const codeRunSqlScript = defineTool({
  name: "pg_code_run_sql_script",
  cost: "expensive",
  group: "code",
  title: "Run a SQL script",
  description:
    "Run a multi-statement SQL script (DDL, functions, data) in order; stops at the first error, giving its line and column. Returns each statement's command, count and rows.",
  scope: "write",
  input: z.object({
    sql: z.string(),
    transaction: z.boolean().optional().describe("all or nothing"),
    readOnly: z.boolean().optional().describe("reads only, rolled back"),
    maxRows: int(1, 1000).optional().describe(`per statement, default ${DEFAULT_ROWS_PER_STATEMENT}`),
    idempotency_key: idempotencyKeySchema.describe("With transaction: true. A retry with the same key and arguments answers with the first outcome instead of running again (24 h). 8-128 of A-Za-z0-9_.:-"),
  }),
  output: ScriptOutput,
  annotations: WRITE,
  async handler(args, ctx) {
    let statements: SqlStatement[];
    try {
      statements = splitStatements(args.sql);
    } catch (e) {
      if (!(e instanceof SqlSyntaxError)) throw e;
      const { line, column } = lineColumn(args.sql, e.position - 1);
      throw new ToolError("42601", `${e.message} at line ${line}, column ${column}`);
    }
    if (statements.length === 0) throw new ToolError("empty_statement", "the script has no statements");
    if (statements.length > MAX_STATEMENTS) throw new ToolError("too_many_statements", `the script has ${statements.length} statements; at most ${MAX_STATEMENTS} per call`, "split it into several calls");
    const transaction = args.transaction ?? false;
    const readOnly = args.readOnly ?? false;
    checkStatements(args.sql, statements, { transaction, readOnly }, ctx);
    if (args.idempotency_key !== undefined && (readOnly || !transaction)) {
      throw notApplicable(readOnly ? "a read-only script changes nothing" : "each statement commits on its own, so no one transaction can record the key; pass transaction: true");
    }
    // One question for the whole script, before anything runs (a read-only script changes nothing).
    if (!readOnly) await ctx.confirm(destructiveStatements(statements));
    const idempotency = await idempotencyClaim(ctx, "pg_code_run_sql_script", args);

    const limits = {
      maxRows: args.maxRows ?? DEFAULT_ROWS_PER_STATEMENT,
      maxBytes: Math.max(1000, Math.floor(ctx.config.maxResultBytes / statements.length)),
    };
    let outcome;
    try {
      outcome = await ctx.sql.script(
        statements.map((s) => s.text),
        { atomic: transaction, readOnly, limits, ...(idempotency ? { idempotency } : {}) },
      );
    } catch (e) {
      // The statements ran; the closing COMMIT failed (a deferred constraint, say), which rolls everything back.
      if (isPgError(e)) throw new ScriptStatementError(e.code!, `COMMIT failed: ${e.message}`, undefined, [e.detail, "The transaction was rolled back: nothing was kept."].filter(Boolean).join(" "), e.hint, e.where);
      throw e;
    }
    const { results, failure, replayed } = outcome;
    if (failure) {
      const kept = readOnly
        ? "Read-only: nothing was kept."
        : transaction
          ? "The transaction was rolled back: nothing was kept."
          : failure.index === 0
            ? "No statement was committed."
            : `Statements 1-${failure.index} were committed (${results.map((r) => r.command).join(", ")}).`;
      const e = failure.error;
      if (!isPgError(e)) {
        if (e instanceof ToolError) throw new ToolError(e.code, `${statementLabel(args.sql, statements, failure.index)}: ${e.message}. ${kept}`, e.hint);
        throw e;
      }
      const st = statements[failure.index]!;
      const offset = st.start + (e.position ? codePointsToIndex(st.text, Number(e.position) - 1) : 0);
      const { line, column } = lineColumn(args.sql, offset);
      throw new ScriptStatementError(
        e.code!,
        `statement ${failure.index + 1} of ${statements.length} failed at line ${line}, column ${column}: ${e.message}`,
        e.position ? String(offset + 1) : undefined,
        [e.detail, kept].filter(Boolean).join(" "),
        e.hint,
        e.where,
      );
    }

    const out = results.map((rs, i) => {
      const r: z.infer<typeof StatementResultSchema> = { line: lineColumn(args.sql, statements[i]!.start).line, command: rs.command, rowCount: rs.rowCount };
      if (rs.columns.length > 0) Object.assign(r, { columns: rs.columns, rows: rs.rows, truncated: rs.truncated });
      return r;
    });
    const summary = `[${results.length} statement${results.length === 1 ? "" : "s"}; ${readOnly ? "read-only, rolled back" : transaction ? "committed as one transaction" : "each committed"}]`;
    return {
      structured: { statements: out, transaction, ...(replayed ? { replayed } : {}) },
      text: [...(replayed ? [replayNote(replayed)] : []), ...results.map((rs, i) => renderStatement(i, rs)), summary].join("\n"),
    };
  },
});

export const codeTools = [codeRunSqlScript];
