/**
 * What `pg.*` means inside a program, as tool calls: `pg.query` picks the read
 * or write tool, the helpers page and reshape catalog tools into the plain
 * values models write code for, and anything else is a tool by name. Every
 * call goes through rc.dispatch, the same path as a direct tool call. No
 * Worker-only imports: the tool registry stays importable from Node.
 */
import type { RequestContext, ToolRun } from "../worker/context";
import { checkReadOnly } from "../worker/sql/readonly";
import { NOT_FROM_CODE, help, type ApiEntry } from "./api";

/** What crosses back to the program: a value, or an error with a stable code (SQLSTATE for database errors). */
export type CallResult = { ok: true; value: unknown } | { ok: false; error: string; code?: string };

export interface RunState {
  calls: number;
  /** Transactions begun by the program: rolled back if still open when the run ends. */
  openTx: Set<string>;
  done: boolean;
  /** The API entries the caller may use, for pg.help. */
  api: readonly ApiEntry[];
}

/** listTables pages through pg_schema_list this many at a time, and stops (loudly) past MAX_TABLES. */
const LIST_PAGE = 1000;
const MAX_TABLES = 100_000;

const fail = (error: string, code?: string): CallResult => ({ ok: false, error, ...(code ? { code } : {}) });

/** A table given as "name", "schema.name" or { table }. */
function tableArg(a: unknown): string | undefined {
  if (typeof a === "string") return a;
  const t = (a as { table?: unknown } | null)?.table;
  return typeof t === "string" ? t : undefined;
}

export async function pgCall(rc: RequestContext, run: RunState, tool: string, args: unknown): Promise<CallResult> {
  if (typeof tool !== "string" || NOT_FROM_CODE.has(tool)) return fail(`${String(tool)} cannot be called from a program`, "not_allowed");
  const a = (args ?? {}) as Record<string, unknown>;
  try {
    switch (tool) {
      case "pg.query": {
        const name = typeof a.sql === "string" && checkReadOnly(a.sql).ok ? "pg_query_read" : "pg_query_write";
        return value(await invoke(rc, name, { sql: a.sql, ...(a.params !== undefined ? { params: a.params } : {}), ...(a.tx !== undefined ? { tx: a.tx } : {}) }));
      }
      case "pg.listTables": {
        // Every table, however many: pages are followed here, never cut silently.
        const tables: Record<string, unknown>[] = [];
        for (let offset = 0; ; ) {
          const r = await invoke(rc, "pg_schema_list", { kind: "table", limit: LIST_PAGE, offset, ...(a.schema !== undefined ? { schema: a.schema } : {}) });
          if (!r.ok) return error(r);
          const page = r.structured as { rows: Record<string, unknown>[]; nextOffset?: number };
          tables.push(...page.rows);
          if (page.nextOffset === undefined) break;
          if (tables.length >= MAX_TABLES) return fail(`more than ${MAX_TABLES} tables: pass { schema } to list one schema at a time`, "too_many_tables");
          offset = page.nextOffset;
        }
        return { ok: true, value: tables };
      }
      case "pg.getColumns": {
        const table = tableArg(args);
        if (!table) return fail("getColumns takes a table name: pg.getColumns(\"schema.table\")", "invalid_call");
        const r = await invoke(rc, "pg_schema_describe", { name: table });
        if (!r.ok) return error(r);
        const detail = (r.structured as { detail?: { columns?: Column[]; constraints?: { type: string; def: string }[] } }).detail ?? {};
        const pk = new Set(primaryKeyColumns(detail.constraints ?? []));
        return {
          ok: true,
          value: (detail.columns ?? []).map((c) => ({ name: c.name, type: c.type, nullable: !c.notNull, default: c.default ?? null, isPrimaryKey: pk.has(c.name) })),
        };
      }
      case "pg.getTableStats": {
        const table = tableArg(args);
        if (!table) return fail("getTableStats takes a table name: pg.getTableStats(\"schema.table\")", "invalid_call");
        const r = await invoke(rc, "pg_admin_stats", { kind: "tables", table });
        if (!r.ok) return error(r);
        return { ok: true, value: (r.structured as { rows: unknown[] }).rows[0] ?? null };
      }
      case "pg.createIndex":
        return value(await invoke(rc, "pg_schema_create", { kind: "index", on: a.table, keys: a.columns, ...(a.name !== undefined ? { name: a.name } : {}), ...(a.concurrently !== undefined ? { concurrently: a.concurrently } : {}) }));
      case "pg.help":
        return { ok: true, value: help(run.api, typeof a.query === "string" ? a.query : "") };
      default: {
        const r = await invoke(rc, tool, args);
        if (r.ok && tool === "pg_tx_begin") run.openTx.add((r.structured as { tx: string }).tx);
        if (tool === "pg_tx_commit" || tool === "pg_tx_rollback") run.openTx.delete(String(a.tx));
        return value(r);
      }
    }
  } catch (e) {
    return fail(e instanceof Error ? e.message : String(e), "invalid_call");
  }
}

interface Column {
  name: string;
  type: string;
  notNull: boolean;
  default?: string | null;
}

/** Column names of a `PRIMARY KEY (a, "B c")` constraint definition. */
export function primaryKeyColumns(constraints: { type: string; def: string }[]): string[] {
  const def = constraints.find((c) => c.type === "p")?.def;
  const inner = def && /^PRIMARY KEY \((.*)\)/.exec(def)?.[1];
  if (!inner) return [];
  const names: string[] = [];
  for (const m of inner.matchAll(/\s*(?:"((?:[^"]|"")*)"|([^,\s]+))\s*(?:,|$)/g)) names.push(m[1] !== undefined ? m[1].replaceAll('""', '"') : m[2]!);
  return names;
}

/** A tool run through the normal path; a protocol error (unknown tool, bad arguments) becomes the program's error. */
async function invoke(rc: RequestContext, tool: string, args: unknown): Promise<ToolRun> {
  try {
    return await rc.dispatch(rc, tool, args);
  } catch (e) {
    return { ok: false, info: { code: "invalid_call", message: e instanceof Error ? e.message : String(e) }, text: "" };
  }
}

const value = (r: ToolRun): CallResult => (r.ok ? { ok: true, value: r.structured } : error(r));
const error = (r: Extract<ToolRun, { ok: false }>): CallResult => fail(r.info.hint ? `${r.info.message} (hint: ${r.info.hint})` : r.info.message, r.info.code);
