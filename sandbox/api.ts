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

/** `declare const pg: {...}` for the tools given, compact. `inputs` are the tools' input JSON Schemas. */
export function declarations(tools: readonly { name: string; input: Record<string, unknown> }[]): string {
  const groups = new Map<string, string[]>();
  for (const t of tools) {
    if (NOT_FROM_CODE.has(t.name)) continue;
    const { group, action } = apiName(t.name);
    const args = tsType(t.input);
    const list = groups.get(group) ?? [];
    list.push(`${action}(a${args === "{}" ? "?" : ""}:${args}):P`);
    groups.set(group, list);
  }
  const queryFns = groups.get("query") ?? [];
  groups.delete("query");
  const body = [...groups].map(([g, fns]) => `${g}:{${fns.join(";")}}`).join(";\n");
  return `type P=Promise<any>;type Rows={columns:{name:string;type:string}[];rows:Record<string,any>[];rowCount:number|null;truncated:boolean};
declare const pg:{query:((sql:string,params?:any[])=>Promise<Rows>)&{${queryFns.join(";")}};
listTables(a?:{schema?:string}):Promise<Rows>;getColumns(a:{table:string}):P;getTableStats(a:{table:string}):P;createIndex(a:{table:string;columns:string[];name?:string;concurrently?:boolean}):P;
transaction<T>(fn:(tx:{query(sql:string,params?:any[]):Promise<Rows>})=>Promise<T>,o?:{isolation?:string;readOnly?:boolean}):Promise<T>;
${body}};`;
}
