/**
 * `completion/complete` for the arguments that name database objects: the
 * schema and table of the resource templates, and the `[schema.]table` of the
 * prompts. Names come from the catalog, matched by prefix (case-insensitive)
 * and filtered by what the caller's reads may touch: each lookup runs as a
 * read (the read role, when the deployment has one), keeping the schemas it
 * has USAGE on and the tables it may SELECT. A name completion never offers
 * an object a read of it would be refused.
 */
import { ProtocolError, ProtocolErrorCode } from "@modelcontextprotocol/server";
import { formatError, toErrorInfo } from "../tools/errors";
import { USER_SCHEMA_SQL } from "../tools/schema.tools";
import { withToolContext } from "./server";
import type { RequestContext } from "../context";

/** Names fetched at most; the SDK sends the first 100 and says whether there are more. */
const MAX_NAMES = 1000;

/** Relations a table resource can describe: tables, partitioned and foreign tables, views, materialized views. */
const TABLE_RELKINDS = "('r','p','f','v','m')";

const SCHEMAS_SQL = `select n.nspname::text from pg_namespace n
where ${USER_SCHEMA_SQL("n.nspname")} and has_schema_privilege(n.oid, 'USAGE') and starts_with(lower(n.nspname), lower($1))
order by n.nspname limit ${MAX_NAMES}`;

/** Tables in `$2` (or any schema) whose name, or whose schema's name when `$3`, starts with `$1`. */
const TABLES_SQL = `select n.nspname::text, c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ${TABLE_RELKINDS} and ${USER_SCHEMA_SQL("n.nspname")}
  and ($2::text is null or n.nspname = $2)
  and (starts_with(lower(c.relname), lower($1)) or ($3 and starts_with(lower(n.nspname), lower($1))))
  and has_schema_privilege(n.oid, 'USAGE') and has_table_privilege(c.oid, 'SELECT')
order by n.nspname <> 'public', n.nspname, c.relname limit ${MAX_NAMES}`;

export interface NameCompleter {
  /** Schema names starting with `prefix`. */
  schemas(prefix: string): Promise<string[]>;
  /** Table names starting with `prefix`, in `schema` when given (else in any schema, each name once). */
  tables(prefix: string, schema?: string): Promise<string[]>;
  /**
   * `[schema.]table` as the prompts take it: `sales.or` completes tables of
   * sales; `or` completes table names (bare in public, qualified elsewhere)
   * and the tables of schemas whose name starts with it.
   */
  qualifiedTables(value: string): Promise<string[]>;
}

export function nameCompleter(rc: RequestContext): NameCompleter {
  const read = async (sql: string, params: unknown[]): Promise<unknown[][]> => {
    try {
      return await withToolContext(rc, async (ctx) => (await ctx.sql.read(sql, params, { maxRows: MAX_NAMES })).rows);
    } catch (e) {
      throw new ProtocolError(ProtocolErrorCode.InternalError, formatError(toErrorInfo(e)));
    }
  };
  return {
    async schemas(prefix) {
      return (await read(SCHEMAS_SQL, [prefix])).map((r) => String(r[0]));
    },
    async tables(prefix, schema) {
      const rows = await read(TABLES_SQL, [prefix, schema || null, false]);
      return [...new Set(rows.map((r) => String(r[1])))];
    },
    async qualifiedTables(value) {
      const dot = splitQualified(value);
      if (dot) return (await read(TABLES_SQL, [dot.table, dot.schema, false])).map((r) => qualified(String(r[0]), String(r[1]), false));
      return (await read(TABLES_SQL, [value, null, true])).map((r) => qualified(String(r[0]), String(r[1]), String(r[0]) === "public" && String(r[1]).toLowerCase().startsWith(value.toLowerCase())));
    },
  };
}

/** A name part as `parseQualifiedName` reads it back: quoted only when it holds a dot or a quote. */
function part(name: string): string {
  return /[."]/.test(name) || name.trim() !== name ? `"${name.replace(/"/g, '""')}"` : name;
}

function qualified(schema: string, table: string, bare: boolean): string {
  return bare ? part(table) : `${part(schema)}.${part(table)}`;
}

/** `schema.prefix` (the schema possibly quoted), or undefined when the value names no schema yet. */
function splitQualified(value: string): { schema: string; table: string } | undefined {
  const quoted = /^"((?:[^"]|"")*)"\.(.*)$/.exec(value);
  if (quoted) return { schema: quoted[1]!.replace(/""/g, '"'), table: unquote(quoted[2]!) };
  const at = value.indexOf(".");
  if (at <= 0 || value.startsWith('"')) return undefined;
  return { schema: value.slice(0, at), table: unquote(value.slice(at + 1)) };
}

/** A table prefix as typed: an opening quote is dropped (the rest is the name as written). */
function unquote(prefix: string): string {
  return prefix.startsWith('"') ? prefix.slice(1).replace(/""/g, '"').replace(/"$/, "") : prefix;
}
