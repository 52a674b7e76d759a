/**
 * `npm run docs`: writes docs/TOOLS.md from the tool registry (names, titles,
 * descriptions, scopes, annotations, parameters from the zod schemas), so the
 * reference cannot drift from the code. test/unit/docs.test.ts regenerates it
 * in memory and fails when the file is stale. Importing this module writes
 * nothing; only running it does.
 */
import { writeFileSync } from "node:fs";
import { register } from "node:module";
import { fileURLToPath } from "node:url";
import { resolve } from "node:path";
import type { z } from "zod";
import { TOOL_GROUPS } from "../worker/tools/groups";

/** What the reference shows of a tool (a subset of worker/tools/registry.ts ToolDefinition). */
export interface DocTool {
  name: string;
  group: string;
  title: string;
  description: string;
  scope: string;
  input: z.ZodType;
  output: z.ZodType;
  annotations: { readOnlyHint: boolean; destructiveHint: boolean; idempotentHint: boolean; openWorldHint: boolean };
}

/** The registry's tools and its wire JSON Schema function (the same compaction tools/list uses). */
export interface Registry {
  tools: readonly DocTool[];
  jsonSchema(schema: z.ZodType, io: "input" | "output"): Record<string, unknown>;
}

/**
 * Enough of the Workers-only imports for tool modules to load in Node: the
 * `cloudflare:workers` classes are only extended, and `.wasm` modules and
 * text or data assets (`.txt`, `.bin`: the sandbox's engines) only used at
 * run time, never here.
 */
const WORKERS_STUB = "export class WorkerEntrypoint {} export class DurableObject {} export class WorkflowEntrypoint {} export class RpcTarget {} export const env = {};";
const WASM_STUB = "export default {};";

let stubbed = false;

/**
 * Loads the registry in Node, `cloudflare:workers` resolved to a stub. The
 * modules are imported by path at run time so that type-checking the scripts
 * does not pull in the Worker's own types (Durable Objects, Env).
 */
export async function loadRegistry(): Promise<Registry> {
  if (!stubbed) {
    stubbed = true;
    const stub = (code: string) => JSON.stringify(`data:text/javascript,${encodeURIComponent(code)}`);
    const hook = `export async function resolve(s, c, next) {
      if (s === "cloudflare:workers") return { url: ${stub(WORKERS_STUB)}, shortCircuit: true };
      if (s.endsWith(".wasm") || s.endsWith(".txt") || s.endsWith(".bin")) return { url: ${stub(WASM_STUB)}, shortCircuit: true };
      return next(s, c);
    }`;
    register(`data:text/javascript,${encodeURIComponent(hook)}`);
  }
  const path = (p: string) => fileURLToPath(new URL(`../worker/tools/${p}`, import.meta.url));
  const [index, registry] = (await Promise.all([import(path("index.ts")), import(path("registry.ts"))])) as [{ ALL_TOOLS: readonly DocTool[] }, Pick<Registry, "jsonSchema">];
  return { tools: index.ALL_TOOLS, jsonSchema: registry.jsonSchema };
}

export const TOOLS_MD = resolve(fileURLToPath(new URL("..", import.meta.url)), "docs/TOOLS.md");

interface JsonSchema {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  required?: string[];
  description?: string;
  default?: unknown;
}

/** A JSON Schema type in a few characters: `string`, `"a" | "b"`, `object[]`, `integer | null`. */
function typeOf(s: JsonSchema): string {
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (s.const !== undefined) return JSON.stringify(s.const);
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return alts.map(typeOf).join(" | ");
  if (Array.isArray(s.type)) return s.type.join(" | ");
  if (s.type === "array") return `${s.items ? typeOf(s.items) : "any"}[]`;
  if (s.type === "object" && !s.properties && s.additionalProperties && typeof s.additionalProperties === "object") return `{ [key]: ${typeOf(s.additionalProperties)} }`;
  return s.type ?? "any";
}

const cell = (s: string) => s.replaceAll("|", "\\|").replaceAll("\n", " ");

/** Parameter rows, nested object fields as `parent[].field`. */
function paramRows(schema: JsonSchema, prefix = "", out: string[] = []): string[] {
  const required = new Set(schema.required ?? []);
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    const path = `${prefix}${name}`;
    const notes = [prop.description, prop.default !== undefined ? `default ${JSON.stringify(prop.default)}` : undefined].filter(Boolean).join("; ");
    out.push(`| \`${path}\` | ${cell(typeOf(prop))} | ${required.has(name) ? "yes" : ""} | ${cell(notes)} |`);
    const nested = prop.type === "array" ? prop.items : prop;
    if (nested?.properties) paramRows(nested, `${path}${prop.type === "array" ? "[]" : ""}.`, out);
  }
  return out;
}

function annotationsOf(t: DocTool): string {
  const a = t.annotations;
  return [a.readOnlyHint ? "read-only" : "writes", a.destructiveHint ? "destructive" : "non-destructive", a.idempotentHint ? "idempotent" : "not idempotent", a.openWorldHint ? "open world" : "closed world"].join(", ");
}

function toolSection(t: DocTool, jsonSchema: Registry["jsonSchema"]): string {
  const input = jsonSchema(t.input, "input") as JsonSchema;
  const output = jsonSchema(t.output, "output") as JsonSchema;
  const lines = [`### \`${t.name}\`: ${t.title}`, "", t.description, "", `- scope: \`${t.scope}\``, `- annotations: ${annotationsOf(t)}`];
  const returns = Object.keys(output.properties ?? {});
  if (returns.length) lines.push(`- structured result: ${returns.map((k) => `\`${k}\``).join(", ")}`);
  const rows = paramRows(input);
  lines.push("");
  if (rows.length) lines.push("| parameter | type | required | notes |", "| --- | --- | --- | --- |", ...rows);
  else lines.push("No parameters.");
  return lines.join("\n");
}

/** The whole reference (from loadRegistry(), or any subset of its tools). */
export function renderToolsMarkdown({ tools, jsonSchema }: Registry): string {
  const parts = [
    "# Tools",
    "",
    "Generated from the tool registry by `npm run docs` (scripts/gen-docs.ts); do not edit by hand.",
    "Scopes: `read` < `write` < `admin`; a deployment exposes the groups in `TOOL_GROUPS`.",
  ];
  for (const group of TOOL_GROUPS) {
    const inGroup = tools.filter((t) => t.group === group);
    if (inGroup.length === 0) continue;
    parts.push("", `## ${group}`, "", inGroup.map((t) => `- \`${t.name}\`: ${t.title}`).join("\n"));
    for (const t of inGroup) parts.push("", toolSection(t, jsonSchema));
  }
  return `${parts.join("\n")}\n`;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const registry = await loadRegistry();
  writeFileSync(TOOLS_MD, renderToolsMarkdown(registry));
  console.log(`wrote ${TOOLS_MD} (${registry.tools.length} tools)`);
}
