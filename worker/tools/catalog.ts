/**
 * What the schema, admin and monitor tools (and the MCP resources and prompts)
 * share: zod fragments, the server version, compact TSV rendering of catalog
 * rows, pagination, and the checks that keep type names and SQL expressions in
 * their slot when they have to be spliced into DDL (DDL takes no bind params).
 */
import { z } from "zod";
import type { SqlExecutor } from "../db/executor";
import { tsvRow } from "../db/values";
import { identifierSchema, parseName, qualifiedNameSchema } from "../sql/ident";
import { tokenize } from "../sql/lexer";
import { checkReadOnly } from "../sql/readonly";
import { ToolError } from "./errors";

export const DEFAULT_PAGE_ROWS = 100;

/**
 * Listings follow privileges. A caller acting as its own database role reads
 * the catalog on its own connection, with `pgmcp.caller` set for the
 * transaction (db/identity.ts); then a catalog row is shown only if that role
 * may use the object, so it does not even learn other tables' names. The
 * server's own reads never set pgmcp.caller, so a caller without a role sees
 * what it always saw.
 */
const NOT_CALLER_ROLE = "coalesce(current_setting('pgmcp.caller', true), '') = ''";

/** SQL: the relation `oid` (a table, view, sequence; an index through its table) may be used by the caller's role. */
export const relationVisible = (oid: string) => `(${NOT_CALLER_ROLE} or exists (select 1 from pg_class v left join pg_index vx on vx.indexrelid = v.oid
  where v.oid = ${oid} and has_schema_privilege(v.relnamespace, 'USAGE') and (case
    when v.relkind = 'S' then has_sequence_privilege(v.oid, 'USAGE, SELECT, UPDATE')
    when vx.indrelid is not null then has_table_privilege(vx.indrelid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER') or has_any_column_privilege(vx.indrelid, 'SELECT, INSERT, UPDATE, REFERENCES')
    else has_table_privilege(v.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER') or has_any_column_privilege(v.oid, 'SELECT, INSERT, UPDATE, REFERENCES') end)))`;

/** SQL: the function `oid` may be called by the caller's role. */
export const functionVisible = (oid: string, namespace: string) => `(${NOT_CALLER_ROLE} or (has_schema_privilege(${namespace}, 'USAGE') and has_function_privilege(${oid}, 'EXECUTE')))`;

/** SQL: the schema `oid` may be used by the caller's role. */
export const schemaVisible = (oid: string) => `(${NOT_CALLER_ROLE} or has_schema_privilege(${oid}, 'USAGE'))`;

/**
 * `schema`'s validation, advertised as a plain string. Every client reads
 * tools/list (often into a model's context) and the listing budget is about
 * 600 bytes a tool: length bounds on every name cost ~30 bytes each and tell a
 * model nothing, so they are enforced here but not listed.
 */
export function lean(schema: z.ZodType<string>) {
  return z.string().superRefine((v, ctx) => {
    const r = schema.safeParse(v);
    if (!r.success) for (const issue of r.error.issues) ctx.addIssue({ code: "custom", message: issue.message });
  });
}

/** A bounded non-empty string, bounds enforced but not listed (see lean). */
export const text = (max: number) => lean(z.string().min(1).max(max));

/** An integer in [min, max], bounds enforced but not listed (see lean). */
export const int = (min: number, max: number) =>
  z
    .number()
    .int()
    .refine((n) => n >= min && n <= max, { message: `must be from ${min} to ${max}` });

/**
 * Shared argument shapes, so every tool spells them (and their JSON Schema) the
 * same way. `ident` yields the exact name (a quoted input unquoted), ready for
 * quoteIdent; `qname` stays as written, for sqlName / parseQualifiedName.
 */
export const ident = lean(identifierSchema).transform((v) => parseName(v, 1)[0]!);
export const qname = lean(qualifiedNameSchema);
export const schemaFilter = ident.optional();
export const objectName = qname;
export const page = {
  limit: int(1, 1000).optional(),
  offset: int(0, Number.MAX_SAFE_INTEGER).optional(),
};
export const dryRunArg = z.boolean().optional();

/** Output fragment for paged lists. */
export const PagedRows = z.object({
  rows: z.array(z.record(z.string(), z.unknown())),
  nextOffset: z.number().optional(),
});

export type Row = Record<string, unknown>;

/**
 * One page of a catalog query: `sql` must end in ORDER BY; LIMIT/OFFSET are
 * appended as parameters after `params`. Reads one row more to know whether a
 * next page exists.
 */
export async function pagedRows(sql: SqlExecutor, query: string, params: unknown[], p: { limit?: number; offset?: number }): Promise<{ rows: Row[]; nextOffset?: number }> {
  const limit = p.limit ?? DEFAULT_PAGE_ROWS;
  const offset = p.offset ?? 0;
  const n = params.length;
  const rows = await sql.rows(`${query} limit $${n + 1} offset $${n + 2}`, [...params, limit + 1, offset]);
  if (rows.length > limit) return { rows: rows.slice(0, limit), nextOffset: offset + limit };
  return { rows };
}

/** Rows as TSV (header of names, \N for NULL), with a next-page note. */
export function renderRows(rows: readonly Row[], columns?: readonly string[], nextOffset?: number): string {
  const cols = columns ?? (rows[0] ? Object.keys(rows[0]) : []);
  const lines = rows.length === 0 ? ["(none)"] : [cols.join("\t"), ...rows.map((r) => tsvRow(cols.map((c) => r[c])))];
  if (nextOffset !== undefined) lines.push(`[more rows: offset=${nextOffset}]`);
  return lines.join("\n");
}

/** server_version_num of the connected server (e.g. 150004, 180000), once per executor. */
const versions = new WeakMap<SqlExecutor, Promise<number>>();
export function serverVersion(sql: SqlExecutor): Promise<number> {
  let v = versions.get(sql);
  if (!v) {
    v = sql.rows<{ v: number }>("select current_setting('server_version_num')::int as v").then((r) => r[0]!.v);
    versions.set(sql, v);
  }
  return v;
}

/**
 * Relations that another session holds (or waits for) ACCESS EXCLUSIVE on:
 * size functions take ACCESS SHARE and would queue behind them, so sizes of
 * those are reported as NULL rather than hanging the call. A CTE to put in
 * `with`, and the expression to use per relation.
 */
export const LOCKED_CTE =
  "locked as materialized (select l.relation from pg_locks l where l.locktype = 'relation' and l.mode = 'AccessExclusiveLock' and l.pid <> pg_backend_pid() and l.database = (select oid from pg_database where datname = current_database()))";
export const sizeUnlessLocked = (fn: string, oid: string) => `(case when ${oid} in (select relation from locked) then null else ${fn}(${oid})::float8 end)`;

/** Bytes as a short human size: 8192 -> "8 kB". */
export function prettyBytes(n: unknown): string {
  if (n === null || n === undefined) return "?";
  let v = Number(n);
  for (const unit of ["B", "kB", "MB", "GB", "TB"]) {
    if (Math.abs(v) < 1024 || unit === "TB") return `${unit === "B" ? v : v.toFixed(v < 10 ? 1 : 0)} ${unit}`;
    v /= 1024;
  }
  return String(n);
}

/**
 * SQL expressions (DEFAULT, CHECK, index WHERE, USING) cannot be bind
 * parameters in DDL, so they are spliced, and this keeps each one in its slot:
 * it must lex cleanly (strings and quoted names closed), contain no comment
 * (which could swallow our closing parenthesis), no semicolon, no $n
 * parameter, parentheses balanced without ever closing one it did not open,
 * and no function the read-only guard forbids (set_config, dblink, lo_*, ...).
 * It is then rendered wrapped in parentheses, so it can only ever be one
 * expression. What it computes is the caller's business: these tools need the
 * `write` scope, which can run any DDL anyway.
 */
export function sqlExpression(text: string, what: string): string {
  const refuse = (why: string): never => {
    throw new ToolError("invalid_expression", `${what}: ${why}`, "pass one SQL expression, e.g. 0, 'text', now(), price > 0");
  };
  let tokens;
  try {
    tokens = tokenize(text);
  } catch (e) {
    return refuse((e as Error).message);
  }
  if (tokens.length === 0) refuse("the expression is empty");
  let depth = 0;
  let at = 0;
  for (const t of tokens) {
    if (text.slice(at, t.start).trim() !== "") refuse("comments are not allowed");
    at = t.end;
    if (t.kind === "semicolon") refuse("a semicolon is not allowed");
    if (t.kind === "param") refuse("$n parameters are not allowed in DDL");
    if (t.kind === "lparen") depth++;
    if (t.kind === "rparen" && --depth < 0) refuse("unbalanced parentheses");
  }
  if (text.slice(at).trim() !== "") refuse("comments are not allowed");
  if (depth !== 0) refuse("unbalanced parentheses");
  const verdict = checkReadOnly(`select (${text})`);
  if (!verdict.ok) refuse(verdict.reason);
  return `(${text})`;
}

/**
 * A type name as written in DDL: letters, digits, `_ $ . "` and spaces, an
 * optional numeric typmod `(n[,m])`, `with[out] time zone` and array brackets.
 * No quote, semicolon or comment can get through; the server then confirms it
 * names a real type (checkTypes).
 */
const TYPE_PATTERN = /^[A-Za-z_"][A-Za-z0-9_$ ."]*(\(\s*\d+\s*(,\s*-?\d+\s*)?\))?(\s+with(out)?\s+time\s+zone)?(\s*\[\d*\])*$/i;
const SERIAL_TYPES = new Set(["serial", "bigserial", "smallserial", "serial2", "serial4", "serial8"]);

export const typeNameSchema = z.string().superRefine((v, ctx) => {
  if (v.length > 120 || !TYPE_PATTERN.test(v.trim()) || (v.match(/"/g)?.length ?? 0) % 2 !== 0) ctx.addIssue({ code: "custom", message: `not a type name: ${JSON.stringify(v)}` });
});
export const typeSchema = typeNameSchema.describe("e.g. bigserial, text, numeric(10,2)");

/** Confirms on the server that each type name resolves (to_regtype); serial types are pseudo-types and pass. */
export async function checkTypes(sql: SqlExecutor, types: string[]): Promise<void> {
  const names = [...new Set(types.map((t) => t.trim()))].filter((t) => !SERIAL_TYPES.has(t.toLowerCase()));
  if (names.length === 0) return;
  let rows: { t: string; ok: boolean }[];
  try {
    rows = await sql.rows("select x.t, to_regtype(x.t) is not null as ok from unnest($1::text[]) as x(t)", [names]);
  } catch (e) {
    // Before PostgreSQL 16, to_regtype raises on a syntax error instead of returning NULL.
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && /^(42|22)/.test(code)) throw new ToolError("invalid_type", `invalid type name: ${(e as Error).message}`);
    throw e;
  }
  const bad = rows.filter((r) => !r.ok).map((r) => r.t);
  if (bad.length > 0) throw new ToolError("invalid_type", `unknown type: ${bad.join(", ")}`, "use a built-in type name (text, int, bigint, numeric(p,s), timestamptz, jsonb, uuid, ...) or an existing [schema.]type");
}

/** A string literal quoted by the server (quote_literal), for DDL that cannot take parameters (COMMENT ON, ALTER SYSTEM). */
export async function serverLiteral(sql: SqlExecutor, value: string): Promise<string> {
  const [row] = await sql.rows<{ q: string }>("select quote_literal($1::text) as q", [value]);
  return row!.q;
}
