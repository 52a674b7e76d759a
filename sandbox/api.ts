/**
 * The `pg` API a program sees, generated from the tool registry so it stays in
 * step with the tools: every tool the caller may use is pg.<group>.<action>
 * (pg_schema_list -> pg.schema.list), plus the seed helpers. The compact
 * TypeScript declarations in pg_execute_code's description come from the same
 * zod schemas.
 */
import type { ToolDefinition } from "../worker/tools/registry";
import type { ApiMap } from "./module";

/** Tools a program must not call: no code running code. */
export const NOT_FROM_CODE = new Set(["pg_execute_code", "pg_code_run_javascript", "pg_code_run_python"]);

export function apiName(tool: string): { group: string; action: string } {
  const [, group, ...rest] = tool.split("_");
  const action = rest.map((w, i) => (i === 0 ? w : w[0]!.toUpperCase() + w.slice(1))).join("");
  return { group: group!, action };
}

export function apiMap(tools: readonly ToolDefinition[]): ApiMap {
  const map: ApiMap = {};
  for (const t of tools) {
    if (NOT_FROM_CODE.has(t.name)) continue;
    const { group, action } = apiName(t.name);
    (map[group] ??= {})[action] = t.name;
  }
  return map;
}

/** A JSON Schema property as a short TypeScript type. */
function tsType(s: Record<string, unknown> | undefined): string {
  if (!s) return "any";
  if (Array.isArray(s.enum)) return s.enum.map((v) => JSON.stringify(v)).join("|");
  if (Array.isArray(s.anyOf)) return (s.anyOf as Record<string, unknown>[]).map(tsType).join("|");
  switch (s.type) {
    case "string":
      return "string";
    case "number":
    case "integer":
      return "number";
    case "boolean":
      return "boolean";
    case "array":
      return `${tsType(s.items as Record<string, unknown> | undefined)}[]`.replace(/^any\[\]$/, "any[]");
    case "object": {
      const props = s.properties as Record<string, Record<string, unknown>> | undefined;
      if (!props) return "object";
      const req = new Set((s.required as string[]) ?? []);
      return `{${Object.entries(props)
        .filter(([k]) => k !== "tx")
        .map(([k, v]) => `${k}${req.has(k) ? "" : "?"}:${tsType(v)}`)
        .join(";")}}`;
    }
    default:
      return "any";
  }
}

/** One entry of the `pg` API: where it lives, its TypeScript signature, what it does. */
export interface ApiEntry {
  /** pg.schema.list */
  path: string;
  /** the tool behind it, or "" for a helper */
  tool: string;
  /** `(a:{schema?:string;...}):Promise<any>` */
  signature: string;
  description: string;
}

/** The helpers every program has (implemented in sandbox/calls.ts and the isolate's pg object). */
export const HELPERS: readonly ApiEntry[] = [
  { path: "pg.query", tool: "", signature: "(sql:string,params?:any[]):Promise<{rows:Record<string,any>[];columns:{name:string;type:string}[];rowCount:number|null;truncated:boolean;nextOffset?:number}>", description: "One statement: a read (pg_query_read) or anything else (pg_query_write). Rows are objects keyed by column name." },
  { path: "pg.listTables", tool: "", signature: "(a?:{schema?:string}):Promise<{schema:string;name:string;kind:string;rows:number|null;bytes:number|null;comment:string|null}[]>", description: "Every table (all pages)." },
  { path: "pg.getColumns", tool: "", signature: "(table:string):Promise<{name:string;type:string;nullable:boolean;default:string|null;isPrimaryKey:boolean}[]>", description: "A table's columns, with a primary-key flag." },
  { path: "pg.getTableStats", tool: "", signature: "(table:string):Promise<{schema:string;table:string;seq_scan:number;idx_scan:number|null;live:number;dead:number;[k:string]:any}|null>", description: "Scans, tuples, vacuum and analyze times of one table." },
  { path: "pg.createIndex", tool: "", signature: "(a:{table:string;columns:string[];name?:string;concurrently?:boolean}):Promise<any>", description: "CREATE INDEX (pg_schema_create)." },
  { path: "pg.transaction", tool: "", signature: "<T>(fn:(tx:{query(sql:string,params?:any[]):Promise<Rows>})=>Promise<T>,o?:{isolation?:string;readOnly?:boolean}):Promise<T>", description: "Commits when fn returns, rolls back when it throws or the run ends." },
  { path: "pg.help", tool: "", signature: "(query?:string):Promise<string>", description: "Declarations of the API entries matching the words in query (all groups when empty)." },
];

/** Every tool the caller may use as an API entry, after the helpers. */
export function apiEntries(tools: readonly { name: string; description: string; input: Record<string, unknown> }[]): ApiEntry[] {
  const entries = [...HELPERS];
  for (const t of tools) {
    if (NOT_FROM_CODE.has(t.name)) continue;
    const { group, action } = apiName(t.name);
    const args = tsType(t.input);
    // The argument object is optional when none of its fields is required.
    const optional = !(Array.isArray(t.input.required) && t.input.required.length > 0);
    entries.push({ path: `pg.${group}.${action}`, tool: t.name, signature: `(a${optional ? "?" : ""}:${args}):Promise<any>`, description: t.description });
  }
  return entries;
}

const line = (e: ApiEntry) => `${e.path}${e.signature} // ${e.description}${e.tool ? ` [${e.tool}]` : ""}`;

/**
 * What pg.help(query) answers: the entries whose path or description contain
 * the most of the query's words, as one declaration a line; with no query,
 * the helpers and every group's actions.
 */
export function help(entries: readonly ApiEntry[], query: string, max = 12): string {
  const words = query.toLowerCase().split(/[^a-z0-9_]+/).filter((w) => w.length > 1);
  if (words.length === 0) {
    const groups = new Map<string, string[]>();
    for (const e of entries) {
      const [, group, action] = e.path.split(".");
      if (action) groups.set(group!, [...(groups.get(group!) ?? []), action]);
    }
    return [...HELPERS.map(line), ...[...groups].map(([g, actions]) => `pg.${g}.{${actions.join(",")}} // pg.help("${g}") for signatures`)].join("\n");
  }
  const scored = entries
    .map((e) => {
      const hay = `${e.path} ${e.tool} ${e.description}`.toLowerCase();
      return { e, score: words.reduce((n, w) => n + (e.path.toLowerCase().includes(w) ? 3 : 0) + (hay.includes(w) ? 1 : 0), 0) };
    })
    .filter((x) => x.score > 0)
    .sort((a, b) => b.score - a.score);
  if (scored.length === 0) return `nothing matches "${query}"; pg.help() lists every group`;
  return scored
    .slice(0, max)
    .map((x) => line(x.e))
    .join("\n");
}

/** The whole API as one TypeScript declaration (the postgres://codemode/api resource). */
export function declarations(entries: readonly ApiEntry[]): string {
  const groups = new Map<string, string[]>();
  const helpers: string[] = [];
  for (const e of entries) {
    const [, g, action] = e.path.split(".");
    if (action) groups.set(g!, [...(groups.get(g!) ?? []), `    /** ${e.description} */ ${action}${e.signature};`]);
    else if (g !== "query") helpers.push(`  /** ${e.description} */ ${g}${e.signature};`);
  }
  // pg.query is both a function and the query group (pg.query.read, ...).
  const query = HELPERS.find((h) => h.path === "pg.query")!;
  const queryGroup = groups.get("query") ?? [];
  groups.delete("query");
  return [
    "type Rows={rows:Record<string,any>[];columns:{name:string;type:string}[];rowCount:number|null;truncated:boolean;nextOffset?:number};",
    "declare const pg:{",
    `  /** ${query.description} */ query:((sql:string,params?:any[])=>Promise<Rows>)&{`,
    ...queryGroup,
    "  };",
    ...helpers,
    ...[...groups].flatMap(([g, lines]) => [`  ${g}:{`, ...lines, "  };"]),
    "};",
  ].join("\n");
}
