/**
 * Group `schema`: learn the database (list, describe) and change its structure
 * with structured arguments (create, alter, drop) instead of raw SQL. Every
 * name goes through sql/ident.ts; type names are pattern-checked and resolved
 * by the server (to_regtype); DEFAULT/CHECK/WHERE expressions are lexed and
 * kept in their slot (catalog.ts sqlExpression); a view's query must pass the
 * read-only guard. Catalog SQL works on PostgreSQL 14-18: reltuples = -1 for
 * never-analyzed tables (14+) is shown as NULL; NOT NULL constraints, which
 * 18 adds to pg_constraint (contype 'n'), are left to the columns' notNull.
 */
import { z } from "zod";
import type { SqlExecutor } from "../db/executor";
import { parseName, parseQualifiedName, quoteIdent, sqlName } from "../sql/ident";
import { checkReadOnly } from "../sql/readonly";
import {
  LOCKED_CTE,
  PagedRows,
  checkTypes,
  functionVisible,
  relationVisible,
  schemaVisible,
  dryRunArg,
  ident,
  objectName,
  page,
  pagedRows,
  prettyBytes,
  qname,
  renderRows,
  schemaFilter,
  serverLiteral,
  sizeUnlessLocked,
  sqlExpression,
  text,
  typeNameSchema,
  typeSchema,
  type Row,
} from "./catalog";
import { INTERNAL_SCHEMA } from "../db/idempotency";
import { ToolError } from "./errors";
import { ADDITIVE, READ, WRITE, defineTool } from "./registry";

/** Schemas a user rarely means: filtered out unless asked for by name. */
export const USER_SCHEMA_SQL = (col: string) => `${col} not in ('pg_catalog', 'information_schema', '${INTERNAL_SCHEMA}') and ${col} not like 'pg\\_toast%' and ${col} not like 'pg\\_temp%'`;

const LIST_KINDS = ["schema", "table", "view", "matview", "sequence", "function"] as const;

export const schemaList = defineTool({
  name: "pg_schema_list",
  group: "schema",
  title: "List database objects",
  description: "Schemas, tables, views, sequences, functions with row estimates and sizes. Start here.",
  scope: "read",
  input: z.object({
    schema: schemaFilter,
    kind: z.enum(LIST_KINDS).optional(),
    name: text(200).optional().describe("ILIKE pattern"),
    ...page,
  }),
  output: PagedRows,
  annotations: READ,
  async handler(args, ctx) {
    const kinds = args.kind === "function" ? ["function", "procedure"] : args.kind ? [args.kind] : undefined;
    const { rows, nextOffset } = await listObjects(ctx.sql, { ...args, kinds });
    const text = renderRows(
      rows.map((r) => ({ ...r, bytes: r.bytes === null ? null : prettyBytes(r.bytes) })),
      ["schema", "name", "kind", "rows", "bytes", "comment"],
      nextOffset,
    );
    return { structured: { rows, ...(nextOffset !== undefined ? { nextOffset } : {}) }, text };
  },
});

export interface ListArgs {
  schema?: string;
  kinds?: string[];
  name?: string;
  limit?: number;
  offset?: number;
  /**
   * Keyset paging for relations only (unique by schema and name): the page
   * after this [schema, name], ordered by schema then name, so objects created
   * or dropped meanwhile cannot shift a page (resources/list cursors).
   */
  after?: [string, string];
}

/** Objects outside extensions (pg_stat_statements' view is not the user's), one page, ordered. */
export async function listObjects(sql: SqlExecutor, args: ListArgs) {
  const notInExtension = (cls: string, oid: string) => `not exists (select 1 from pg_depend e where e.classid = '${cls}'::regclass and e.objid = ${oid} and e.deptype = 'e')`;
  const query = `with ${LOCKED_CTE}, objs as (
  select n.nspname as schema, c.relname as name,
    case c.relkind when 'v' then 'view' when 'm' then 'matview' when 'S' then 'sequence' else 'table' end as kind,
    case when c.relkind in ('r','p','m','f') and c.reltuples >= 0 then c.reltuples::float8 end as rows,
    case when c.relkind in ('r','m','S') then ${sizeUnlessLocked("pg_total_relation_size", "c.oid")} end as bytes,
    obj_description(c.oid, 'pg_class') as comment
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where c.relkind in ('r','p','f','v','m','S') and ${notInExtension("pg_class", "c.oid")} and ${relationVisible("c.oid")}
  union all
  select n.nspname, p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', case p.prokind when 'p' then 'procedure' else 'function' end, null, null, obj_description(p.oid, 'pg_proc')
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace
  where p.prokind in ('f','p') and ${notInExtension("pg_proc", "p.oid")} and ${functionVisible("p.oid", "n.oid")}
  union all
  select n.nspname, n.nspname, 'schema', null, null, obj_description(n.oid, 'pg_namespace')
  from pg_namespace n where ${notInExtension("pg_namespace", "n.oid")} and ${schemaVisible("n.oid")}
)
select * from objs
where (case when $1::text is null then ${USER_SCHEMA_SQL("schema")} else schema = $1 end)
  and ($2::text[] is null or kind = any($2))
  and ($3::text is null or name ilike $3)
  and ($4::text is null or (schema, name) > ($4::text, $5::text))
order by ${args.after ? "schema, name" : "schema, kind <> 'schema', kind, name"}`;
  return pagedRows(sql, query, [args.schema ?? null, args.kinds ?? null, args.name ?? null, args.after?.[0] ?? null, args.after?.[1] ?? null], args.after ? { limit: args.limit } : args);
}

const RELKIND: Record<string, string> = { r: "table", p: "table", f: "foreign table", v: "view", m: "matview", S: "sequence", i: "index", I: "index", c: "type" };

const DESCRIBE_RELATION = `with ${LOCKED_CTE}
select n.nspname as schema, c.relname as name, c.relkind as relkind,
  case when c.reltuples >= 0 then c.reltuples::float8 end as rows,
  ${sizeUnlessLocked("pg_total_relation_size", "c.oid")} as bytes,
  ${sizeUnlessLocked("pg_indexes_size", "c.oid")} as index_bytes,
  (select ${sizeUnlessLocked("pg_total_relation_size", "c.reltoastrelid")} where c.reltoastrelid <> 0) as toast_bytes,
  obj_description(c.oid, 'pg_class') as comment,
  case when c.relkind in ('v','m') then pg_get_viewdef(c.oid, true) when c.relkind in ('i','I') then pg_get_indexdef(c.oid) end as definition,
  case when c.relkind = 'p' then pg_get_partkeydef(c.oid) end as partition_key,
  (select i.inhparent::regclass::text from pg_inherits i where i.inhrelid = c.oid and c.relispartition and ${relationVisible("i.inhparent")}) as partition_of,
  (select json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod), 'notNull', a.attnotnull,
      'default', pg_get_expr(d.adbin, d.adrelid), 'identity', nullif(a.attidentity, ''), 'generated', nullif(a.attgenerated, ''),
      'comment', col_description(c.oid, a.attnum)) order by a.attnum)
    from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
    where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped) as columns,
  (select json_agg(json_build_object('name', k.conname, 'type', k.contype, 'def', pg_get_constraintdef(k.oid, true)) order by k.contype, k.conname)
    from pg_constraint k where k.conrelid = c.oid and k.contype not in ('f', 'n')) as constraints,
  (select json_agg(json_build_object('name', k.conname, 'table', k.confrelid::regclass::text, 'def', pg_get_constraintdef(k.oid, true)) order by k.conname)
    from pg_constraint k where k.conrelid = c.oid and k.contype = 'f' and ${relationVisible("k.confrelid")}) as foreign_keys,
  (select json_agg(json_build_object('name', k.conname, 'table', k.conrelid::regclass::text, 'def', pg_get_constraintdef(k.oid, true)) order by k.conrelid::regclass::text, k.conname)
    from pg_constraint k where k.confrelid = c.oid and k.contype = 'f' and ${relationVisible("k.conrelid")}) as referenced_by,
  (select json_agg(json_build_object('name', i.relname, 'def', pg_get_indexdef(x.indexrelid), 'primary', x.indisprimary, 'unique', x.indisunique,
      'valid', x.indisvalid, 'bytes', ${sizeUnlessLocked("pg_relation_size", "i.oid")}, 'scans', s.idx_scan) order by i.relname)
    from pg_index x join pg_class i on i.oid = x.indexrelid left join pg_stat_all_indexes s on s.indexrelid = x.indexrelid
    where x.indrelid = c.oid) as indexes,
  (select json_agg(json_build_object('name', t.tgname, 'def', pg_get_triggerdef(t.oid, true), 'enabled', t.tgenabled <> 'D') order by t.tgname)
    from pg_trigger t where t.tgrelid = c.oid and not t.tgisinternal) as triggers,
  (select row_to_json(q) from pg_sequences q where c.relkind = 'S' and q.schemaname = n.nspname and q.sequencename = c.relname) as sequence
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.oid = to_regclass($1) and ${relationVisible("c.oid")}`;

const DESCRIBE_FUNCTION = `select n.nspname as schema, p.proname as name, pg_get_function_identity_arguments(p.oid) as args,
  pg_get_function_result(p.oid) as result, l.lanname as language,
  case p.prokind when 'p' then 'procedure' when 'a' then 'aggregate' when 'w' then 'window' else 'function' end as kind,
  case p.provolatile when 'i' then 'immutable' when 's' then 'stable' else 'volatile' end as volatility,
  p.prosecdef as security_definer, obj_description(p.oid, 'pg_proc') as comment,
  case when p.prokind in ('f','p') then left(pg_get_functiondef(p.oid), 4000) end as definition
from pg_proc p join pg_namespace n on n.oid = p.pronamespace join pg_language l on l.oid = p.prolang
where p.proname = $2 and (case when $1::text is null then pg_function_is_visible(p.oid) else n.nspname = $1 end) and ${functionVisible("p.oid", "n.oid")}
order by args`;

const DESCRIBE_SCHEMA = `select n.nspname as name, pg_get_userbyid(n.nspowner) as owner, obj_description(n.oid, 'pg_namespace') as comment,
  (select json_object_agg(k, cnt) from (select case c.relkind when 'v' then 'views' when 'm' then 'matviews' when 'S' then 'sequences' when 'i' then 'indexes' else 'tables' end as k, count(*) as cnt
     from pg_class c where c.relnamespace = n.oid and c.relkind in ('r','p','f','v','m','S','i') and ${relationVisible("c.oid")} group by 1) s) as counts,
  (select count(*)::int from pg_proc p where p.pronamespace = n.oid and ${functionVisible("p.oid", "n.oid")}) as functions
from pg_namespace n where n.nspname = $1 and ${schemaVisible("n.oid")}`;

export interface Described {
  kind: string;
  name: string;
  detail: Row;
}

/** One object in full: a relation, else a function (all overloads), else a schema. */
export async function describeObject(sql: SqlExecutor, input: string): Promise<Described> {
  const q = parseQualifiedName(input);
  const [rel] = await sql.rows(DESCRIBE_RELATION, [sqlName(input)]);
  if (rel) return { kind: RELKIND[rel.relkind as string] ?? String(rel.relkind), name: `${rel.schema}.${rel.name}`, detail: rel };
  const fns = await sql.rows(DESCRIBE_FUNCTION, [q.schema ?? null, q.name]);
  if (fns.length > 0) return { kind: String(fns[0]!.kind), name: `${fns[0]!.schema}.${fns[0]!.name}`, detail: { overloads: fns } };
  if (q.schema === undefined) {
    const [ns] = await sql.rows(DESCRIBE_SCHEMA, [q.name]);
    if (ns) return { kind: "schema", name: String(ns.name), detail: ns };
  }
  throw new ToolError("not_found", `no table, view, sequence, index, function or schema named ${input}`, "names are exact (case-sensitive); find them with pg_schema_list");
}

/** The compact text a model reads for a described object. */
export function renderDescribed(d: Described): string {
  const r = d.detail;
  const lines: string[] = [];
  if (d.kind === "schema") {
    lines.push(`schema ${d.name} owner=${r.owner}${r.comment ? ` -- ${r.comment}` : ""}`);
    const counts = { ...(r.counts as Row | null), functions: r.functions };
    lines.push(Object.entries(counts).map(([k, v]) => `${k}=${v}`).join(" "));
    return lines.join("\n");
  }
  if (Array.isArray(r.overloads)) {
    for (const f of r.overloads as Row[]) {
      lines.push(`${f.kind} ${f.schema}.${f.name}(${f.args}) returns ${f.result} language ${f.language} ${f.volatility}${f.security_definer ? " security definer" : ""}${f.comment ? ` -- ${f.comment}` : ""}`);
      if (f.definition) lines.push(String(f.definition).trim());
    }
    return lines.join("\n");
  }
  let head = `${d.kind} ${d.name}`;
  if (r.rows !== null && r.rows !== undefined) head += ` ~${r.rows} rows`;
  if (r.bytes !== null && r.bytes !== undefined) head += ` size=${prettyBytes(r.bytes)} (indexes ${prettyBytes(r.index_bytes)}${r.toast_bytes ? `, toast ${prettyBytes(r.toast_bytes)}` : ""})`;
  if (r.partition_key) head += ` partitioned by ${r.partition_key}`;
  if (r.partition_of) head += ` partition of ${r.partition_of}`;
  if (r.comment) head += ` -- ${r.comment}`;
  lines.push(head);
  const cols = (r.columns as Row[] | null) ?? [];
  if (cols.length > 0 && d.kind !== "index") {
    lines.push(
      renderRows(
        cols.map((c) => ({ ...c, null: c.notNull ? "NO" : "YES", default: c.identity ? `identity ${c.identity === "a" ? "always" : "by default"}` : c.generated ? `generated ${c.default}` : c.default })),
        ["name", "type", "null", "default", "comment"],
      ),
    );
  }
  if (r.definition) lines.push(`definition: ${String(r.definition).trim()}`);
  const section = (label: string, items: unknown, fmt: (x: Row) => string) => {
    for (const x of (items as Row[] | null) ?? []) lines.push(`${label}: ${fmt(x)}`);
  };
  section("constraint", r.constraints, (k) => `${k.name} ${k.def}`);
  section("fk", r.foreign_keys, (k) => `${k.name} ${k.def}`);
  section("referenced by", r.referenced_by, (k) => `${k.table}.${k.name} ${k.def}`);
  section("index", r.indexes, (i) => `${i.def}${i.valid ? "" : " INVALID"} size=${prettyBytes(i.bytes)} scans=${i.scans ?? 0}`);
  section("trigger", r.triggers, (t) => `${t.def}${t.enabled ? "" : " (disabled)"}`);
  if (r.sequence) lines.push(`sequence: ${JSON.stringify(r.sequence)}`);
  return lines.join("\n");
}

export const schemaDescribe = defineTool({
  name: "pg_schema_describe",
  group: "schema",
  title: "Describe one object",
  description: "One table, view, function or schema in full: columns, keys, FKs both ways, indexes, constraints, triggers, size, definition.",
  scope: "read",
  input: z.object({ name: objectName.describe("[schema.]name") }),
  output: z.object({ kind: z.string(), name: z.string(), detail: z.record(z.string(), z.unknown()) }),
  annotations: READ,
  async handler(args, ctx) {
    const d = await describeObject(ctx.sql, args.name);
    return { structured: { kind: d.kind, name: d.name, detail: d.detail }, text: renderDescribed(d) };
  },
});

// ---- DDL ---------------------------------------------------------------

const expr = text(2000);
const onDelete = z.enum(["cascade", "set null", "restrict"]).optional();
/** `[schema.]table` or `[schema.]table(column, ...)`. */
const references = text(700).optional().describe("table or table(col)");

const columnDef = z.object({
  name: ident,
  type: typeSchema,
  notNull: z.boolean().optional(),
  default: expr.optional().describe("SQL expression: 0, 'x', now()"),
  unique: z.boolean().optional(),
  check: expr.optional(),
  references,
  onDelete,
});
type ColumnDef = z.infer<typeof columnDef>;

/** REFERENCES from `[schema.]table[(col, ...)]`: the table through sqlName, each column through parseName/quoteIdent. */
function referencesSql(ref: string, action?: string): string {
  const m = /^(.*?)\s*\(([^()]*)\)\s*$/.exec(ref);
  const table = sqlName(m ? m[1]! : ref);
  const cols = m ? m[2]!.split(",").map((c) => quoteIdent(parseName(c.trim(), 1)[0]!)) : [];
  return `REFERENCES ${table}${cols.length ? ` (${cols.join(", ")})` : ""}${action ? ` ON DELETE ${action.toUpperCase()}` : ""}`;
}

function columnSql(c: ColumnDef): string {
  let s = `${quoteIdent(c.name)} ${c.type.trim()}`;
  if (c.notNull) s += " NOT NULL";
  if (c.default !== undefined) s += ` DEFAULT ${sqlExpression(c.default, `default of ${c.name}`)}`;
  if (c.unique) s += " UNIQUE";
  if (c.check !== undefined) s += ` CHECK ${sqlExpression(c.check, `check of ${c.name}`)}`;
  if (c.references) s += ` ${referencesSql(c.references, c.onDelete)}`;
  return s;
}

const KIND_SQL = { table: "TABLE", view: "VIEW", matview: "MATERIALIZED VIEW", index: "INDEX", sequence: "SEQUENCE", schema: "SCHEMA" } as const;
type DdlKind = keyof typeof KIND_SQL;
const DDL_KINDS = Object.keys(KIND_SQL) as [DdlKind, ...DdlKind[]];

/** A schema or index name is one part. */
function onePart(name: string, what: string): string {
  const q = parseQualifiedName(name);
  if (q.schema !== undefined) throw new ToolError("invalid_name", `${what} name is one part, got ${name}`, what === "index" ? "an index is created in its table's schema" : undefined);
  return quoteIdent(q.name);
}

function viewQuery(query: string): string {
  const verdict = checkReadOnly(query);
  if (!verdict.ok) throw new ToolError("invalid_query", `the view query must be one read-only query: ${verdict.reason}`);
  const head = verdict.statement.tokens.find((t) => t.kind !== "lparen")?.value;
  if (head === "show" || head === "explain") throw new ToolError("invalid_query", "the view query must be SELECT, WITH, VALUES or TABLE");
  return verdict.statement.text;
}

const DdlOutput = z.object({ statements: z.array(z.string()), executed: z.boolean() });
const DropOutput = DdlOutput.extend({ dependents: z.array(z.record(z.string(), z.unknown())).optional() });

/** Runs DDL: one statement alone, several in one transaction (all or nothing). */
async function runDdl(sql: SqlExecutor, statements: string[]): Promise<void> {
  if (statements.length === 1) {
    await sql.write(statements[0]!);
    return;
  }
  const out = await sql.script(statements, { atomic: true, readOnly: false });
  if (out.failure) throw out.failure.error;
}

function ddlResult(statements: string[], executed: boolean, extra = "") {
  return { structured: { statements, executed }, text: `${statements.join(";\n")};\n[${executed ? "done" : "dry run: nothing executed"}]${extra}` };
}

export const schemaCreate = defineTool({
  name: "pg_schema_create",
  group: "schema",
  title: "Create an object",
  description:
    "Fields by kind. table: name, columns, primaryKey. column: on, columns. index: on, keys, unique, method, where, concurrently. constraint: on + check | unique+keys | primaryKey | keys+references. view: name, query.",
  scope: "write",
  input: z.object({
    kind: z.enum(["table", "column", "index", "constraint", "view", "matview", "schema"]),
    name: qname.optional(),
    on: qname.optional(),
    columns: z.array(columnDef).optional(),
    primaryKey: z.array(ident).optional(),
    keys: z.array(ident).optional(),
    unique: z.boolean().optional(),
    method: z.enum(["btree", "hash", "gin", "gist", "brin", "spgist"]).optional(),
    where: expr.optional(),
    concurrently: z.boolean().optional(),
    check: expr.optional(),
    references,
    onDelete,
    query: text(100_000).optional(),
    ifNotExists: z.boolean().optional(),
    comment: text(10_000).optional(),
    dryRun: dryRunArg,
  }),
  output: DdlOutput,
  annotations: ADDITIVE,
  async handler(args, ctx) {
    const need = <T>(v: T | undefined, field: string): T => {
      if (v === undefined || (Array.isArray(v) && v.length === 0)) throw new ToolError("missing_argument", `kind ${args.kind} needs ${field}`);
      return v;
    };
    const ine = args.ifNotExists ? "IF NOT EXISTS " : "";
    const statements: string[] = [];
    let commentTarget: string | undefined;
    switch (args.kind) {
      case "schema": {
        const name = onePart(need(args.name, "name"), "schema");
        statements.push(`CREATE SCHEMA ${ine}${name}`);
        commentTarget = `SCHEMA ${name}`;
        break;
      }
      case "table": {
        const name = sqlName(need(args.name, "name"));
        const cols = args.columns ?? [];
        await checkTypes(ctx.sql, cols.map((c) => c.type));
        const parts = cols.map(columnSql);
        if (args.primaryKey?.length) parts.push(`PRIMARY KEY (${args.primaryKey.map(quoteIdent).join(", ")})`);
        statements.push(`CREATE TABLE ${ine}${name} (${parts.join(", ")})`);
        commentTarget = `TABLE ${name}`;
        break;
      }
      case "column": {
        const cols = need(args.columns, "columns");
        await checkTypes(ctx.sql, cols.map((c) => c.type));
        statements.push(`ALTER TABLE ${sqlName(need(args.on, "on"))} ${cols.map((c) => `ADD COLUMN ${ine}${columnSql(c)}`).join(", ")}`);
        break;
      }
      case "constraint": {
        const keys = () => `(${need(args.keys, "keys").map(quoteIdent).join(", ")})`;
        const body =
          args.check !== undefined
            ? `CHECK ${sqlExpression(args.check, "check")}`
            : args.primaryKey?.length
              ? `PRIMARY KEY (${args.primaryKey.map(quoteIdent).join(", ")})`
              : args.references
                ? `FOREIGN KEY ${keys()} ${referencesSql(args.references, args.onDelete)}`
                : args.unique
                  ? `UNIQUE ${keys()}`
                  : undefined;
        if (!body) throw new ToolError("missing_argument", "kind constraint needs check, primaryKey, keys with references, or unique with keys");
        const name = args.name === undefined ? "" : `CONSTRAINT ${onePart(args.name, "constraint")} `;
        statements.push(`ALTER TABLE ${sqlName(need(args.on, "on"))} ADD ${name}${body}`);
        break;
      }
      case "index": {
        const keys = need(args.keys, "keys");
        const name = args.name === undefined ? undefined : onePart(args.name, "index");
        if (args.ifNotExists && !name) throw new ToolError("missing_argument", "ifNotExists needs a name");
        let s = `CREATE ${args.unique ? "UNIQUE " : ""}INDEX ${args.concurrently ? "CONCURRENTLY " : ""}${name ? `${ine}${name} ` : ""}ON ${sqlName(need(args.on, "on"))}`;
        if (args.method) s += ` USING ${args.method}`;
        s += ` (${keys.map(quoteIdent).join(", ")})`;
        if (args.where !== undefined) s += ` WHERE ${sqlExpression(args.where, "where")}`;
        statements.push(s);
        // The index lives in its table's schema.
        const tableSchema = parseQualifiedName(args.on!).schema;
        if (name) commentTarget = `INDEX ${tableSchema === undefined ? "" : `${quoteIdent(tableSchema)}.`}${name}`;
        break;
      }
      case "view":
      case "matview": {
        const name = sqlName(need(args.name, "name"));
        const kw = args.kind === "view" ? "VIEW" : "MATERIALIZED VIEW";
        if (args.kind === "view" && args.ifNotExists) throw new ToolError("invalid_argument", "CREATE VIEW has no IF NOT EXISTS");
        statements.push(`CREATE ${kw} ${ine}${name} AS ${viewQuery(need(args.query, "query"))}`);
        commentTarget = `${kw} ${name}`;
        break;
      }
    }
    if (args.comment !== undefined) {
      if (!commentTarget) throw new ToolError("invalid_argument", `comment applies to a table, named index, view or schema; for columns use pg_schema_alter`);
      statements.push(`COMMENT ON ${commentTarget} IS ${await serverLiteral(ctx.sql, args.comment)}`);
    }
    if (args.dryRun) return ddlResult(statements, false);
    if (args.kind === "index" && args.concurrently) {
      // CREATE INDEX CONCURRENTLY refuses a transaction block.
      await ctx.sql.standalone(statements[0]!);
      if (statements[1]) await ctx.sql.write(statements[1]);
    } else await runDdl(ctx.sql, statements);
    return ddlResult(statements, true);
  },
});

const alterColumn = z.object({
  name: ident,
  type: typeNameSchema.optional(),
  using: expr.optional(),
  default: expr.nullable().optional(),
  notNull: z.boolean().optional(),
  comment: text(10_000).nullable().optional(),
});

export const schemaAlter = defineTool({
  name: "pg_schema_alter",
  group: "schema",
  title: "Alter an object",
  description: "Drop/rename/alter a table's columns, drop constraints; rename, move or comment any object. One transaction. Adding: pg_schema_create.",
  scope: "write",
  input: z.object({
    name: objectName,
    dropColumns: z.array(ident).optional(),
    renameColumns: z.record(ident, ident).optional().describe("old: new"),
    alterColumns: z.array(alterColumn).optional(),
    dropConstraints: z.array(ident).optional(),
    renameTo: ident.optional(),
    setSchema: ident.optional(),
    comment: text(10_000).nullable().optional(),
    cascade: z.boolean().optional(),
    dryRun: dryRunArg,
  }),
  output: DdlOutput,
  annotations: WRITE,
  async handler(args, ctx) {
    const kind = await kindOf(ctx.sql, args.name);
    const kw = KIND_SQL[kind];
    let target = kind === "schema" ? onePart(args.name, "schema") : sqlName(args.name);
    const cascade = args.cascade ? " CASCADE" : "";
    const literal = (v: string | null) => (v === null ? Promise.resolve("NULL") : serverLiteral(ctx.sql, v));
    const renames = Object.entries(args.renameColumns ?? {});
    const tableOnly = renames.length > 0 || [args.dropColumns, args.alterColumns, args.dropConstraints].some((x) => x?.length);
    if (tableOnly && kind !== "table") throw new ToolError("invalid_argument", `column and constraint changes apply to tables; ${args.name} is a ${kind}`);

    await checkTypes(ctx.sql, (args.alterColumns ?? []).flatMap((c) => (c.type ? [c.type] : [])));
    const sub: string[] = [];
    for (const c of args.dropColumns ?? []) sub.push(`DROP COLUMN ${quoteIdent(c)}${cascade}`);
    for (const c of args.alterColumns ?? []) {
      const col = `ALTER COLUMN ${quoteIdent(c.name)}`;
      if (c.type) sub.push(`${col} TYPE ${c.type.trim()}${c.using ? ` USING ${sqlExpression(c.using, `using of ${c.name}`)}` : ""}`);
      if (c.default === null) sub.push(`${col} DROP DEFAULT`);
      else if (c.default !== undefined) sub.push(`${col} SET DEFAULT ${sqlExpression(c.default, `default of ${c.name}`)}`);
      if (c.notNull !== undefined) sub.push(`${col} ${c.notNull ? "SET" : "DROP"} NOT NULL`);
    }
    for (const k of args.dropConstraints ?? []) sub.push(`DROP CONSTRAINT ${quoteIdent(k)}${cascade}`);

    const statements: string[] = [];
    if (sub.length) statements.push(`ALTER TABLE ${target} ${sub.join(", ")}`);
    for (const [from, to] of renames) statements.push(`ALTER TABLE ${target} RENAME COLUMN ${quoteIdent(from)} TO ${quoteIdent(to)}`);
    for (const c of args.alterColumns ?? []) {
      if (c.comment !== undefined) statements.push(`COMMENT ON COLUMN ${target}.${quoteIdent(renameOf(renames, c.name))} IS ${await literal(c.comment)}`);
    }
    if (args.comment !== undefined) statements.push(`COMMENT ON ${kw} ${target} IS ${await literal(args.comment)}`);
    if (args.renameTo) {
      statements.push(`ALTER ${kw} ${target} RENAME TO ${quoteIdent(args.renameTo)}`);
      const schema = kind === "schema" ? undefined : parseQualifiedName(args.name).schema;
      target = schema === undefined ? quoteIdent(args.renameTo) : `${quoteIdent(schema)}.${quoteIdent(args.renameTo)}`;
    }
    if (args.setSchema) {
      if (kind === "schema" || kind === "index") throw new ToolError("invalid_argument", `a ${kind} cannot move to another schema`);
      statements.push(`ALTER ${kw} ${target} SET SCHEMA ${quoteIdent(args.setSchema)}`);
    }
    if (statements.length === 0) throw new ToolError("missing_argument", "nothing to change");
    if (args.dryRun) return ddlResult(statements, false);
    if (args.dropColumns?.length) await ctx.confirm([{ what: "ALTER TABLE ... DROP COLUMN", statement: statements[0]! }]);
    await runDdl(ctx.sql, statements);
    return ddlResult(statements, true);
  },
});

/** A column's name after this call's renames. */
const renameOf = (renames: [string, string][], name: string) => renames.find(([from]) => from === name)?.[1] ?? name;

const DROP_RELKINDS: Partial<Record<DdlKind, string[]>> = { table: ["r", "p", "f"], view: ["v"], matview: ["m"], index: ["i", "I"], sequence: ["S"] };

/**
 * What DROP ... CASCADE would also remove: pg_depend walked from the object
 * (normal and auto dependencies; a view is found through its rewrite rule).
 */
const DEPENDENTS = `with recursive dep(classid, objid, deptype, depth) as (
  select n.classid, n.objid, d.deptype, 1
  from pg_depend d cross join lateral (select
      case when d.classid = 'pg_rewrite'::regclass then 'pg_class'::regclass::oid else d.classid end as classid,
      case when d.classid = 'pg_rewrite'::regclass then (select r.ev_class from pg_rewrite r where r.oid = d.objid) else d.objid end as objid) n
  where d.refclassid = $1::regclass and d.refobjid = $2::oid and d.deptype in ('n', 'a')
  union
  select n.classid, n.objid, d.deptype, dep.depth + 1
  from dep join pg_depend d on d.refclassid = dep.classid and d.refobjid = dep.objid
  cross join lateral (select
      case when d.classid = 'pg_rewrite'::regclass then 'pg_class'::regclass::oid else d.classid end as classid,
      case when d.classid = 'pg_rewrite'::regclass then (select r.ev_class from pg_rewrite r where r.oid = d.objid) else d.objid end as objid) n
  where dep.depth < 20 and d.deptype in ('n', 'a')
)
select pg_describe_object(classid, objid, 0) as object, case when bool_or(deptype = 'n') then 'normal' else 'auto' end as dependency, min(depth)::int as depth
from dep where not (classid = $1::regclass and objid = $2::oid)
group by classid, objid order by 3, 1 limit 500`;

export const schemaDrop = defineTool({
  name: "pg_schema_drop",
  group: "schema",
  title: "Drop an object",
  description: "Drop a table, view, index, sequence or schema. dryRun lists what CASCADE would also remove, running nothing.",
  scope: "write",
  input: z.object({
    kind: z.enum(DDL_KINDS),
    name: objectName,
    ifExists: z.boolean().optional(),
    cascade: z.boolean().optional(),
    concurrently: z.boolean().optional(),
    dryRun: dryRunArg,
  }),
  output: DropOutput,
  annotations: WRITE,
  async handler(args, ctx) {
    if (args.concurrently && args.kind !== "index") throw new ToolError("invalid_argument", "concurrently applies to indexes");
    if (args.concurrently && args.cascade) throw new ToolError("invalid_argument", "DROP INDEX CONCURRENTLY does not support CASCADE");
    const target = args.kind === "schema" ? onePart(args.name, "schema") : sqlName(args.name);
    const statement = `DROP ${KIND_SQL[args.kind]} ${args.concurrently ? "CONCURRENTLY " : ""}${args.ifExists ? "IF EXISTS " : ""}${target}${args.cascade ? " CASCADE" : ""}`;
    if (!args.dryRun) {
      await ctx.confirm([{ what: `DROP ${KIND_SQL[args.kind]}${args.cascade ? " ... CASCADE" : ""}`, statement }]);
      if (args.concurrently) await ctx.sql.standalone(statement);
      else await ctx.sql.write(statement);
      return ddlResult([statement], true);
    }
    const found = await resolveForDrop(ctx.sql, args.kind, args.name);
    if (!found) {
      if (args.ifExists) return { structured: { statements: [statement], executed: false, dependents: [] }, text: `${statement};\n[dry run: ${args.name} does not exist; nothing to drop]` };
      throw new ToolError("not_found", `no ${args.kind} named ${args.name}`);
    }
    const dependents = await ctx.sql.rows(DEPENDENTS, [found.catalog, found.oid]);
    const normal = dependents.filter((d) => d.dependency === "normal");
    const note =
      normal.length > 0 && !args.cascade
        ? `\n[without cascade the drop fails: ${normal.length} object(s) depend on it]`
        : dependents.length > 0
          ? `\n[cascade would also drop ${dependents.length} object(s)]`
          : "\n[no dependent objects]";
    const r = ddlResult([statement], false, `${note}${dependents.length ? `\n${renderRows(dependents, ["object", "dependency"])}` : ""}`);
    return { structured: { ...r.structured, dependents }, text: r.text };
  },
});

/** What `name` is, for ALTER's keyword: a relation by its relkind, else a schema. */
async function kindOf(sql: SqlExecutor, name: string): Promise<DdlKind> {
  const [row] = await sql.rows<{ relkind: string }>("select c.relkind::text as relkind from pg_class c where c.oid = to_regclass($1)", [sqlName(name)]);
  if (row) {
    const kind = (Object.keys(DROP_RELKINDS) as DdlKind[]).find((k) => DROP_RELKINDS[k]!.includes(row.relkind));
    if (!kind) throw new ToolError("wrong_kind", `${name} is a ${RELKIND[row.relkind] ?? row.relkind}; pg_schema_alter changes tables, views, matviews, indexes, sequences and schemas`);
    return kind;
  }
  if (parseQualifiedName(name).schema === undefined) {
    const [ns] = await sql.rows("select 1 from pg_namespace where nspname = $1", [parseQualifiedName(name).name]);
    if (ns) return "schema";
  }
  throw new ToolError("not_found", `no table, view, index, sequence or schema named ${name}`, "names are exact (case-sensitive); find them with pg_schema_list");
}

async function resolveForDrop(sql: SqlExecutor, kind: DdlKind, name: string): Promise<{ catalog: string; oid: number } | undefined> {
  if (kind === "schema") {
    const [row] = await sql.rows<{ oid: number }>("select oid::int as oid from pg_namespace where nspname = $1", [parseQualifiedName(name).name]);
    return row && { catalog: "pg_namespace", oid: row.oid };
  }
  const [row] = await sql.rows<{ oid: number; relkind: string }>("select c.oid::int as oid, c.relkind::text as relkind from pg_class c where c.oid = to_regclass($1)", [sqlName(name)]);
  if (!row) return undefined;
  if (!DROP_RELKINDS[kind]!.includes(row.relkind)) throw new ToolError("wrong_kind", `${name} is a ${RELKIND[row.relkind] ?? row.relkind}, not a ${kind}`);
  return { catalog: "pg_class", oid: row.oid };
}

export const schemaTools = [schemaList, schemaDescribe, schemaCreate, schemaAlter, schemaDrop];
