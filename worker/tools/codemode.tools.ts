/**
 * Group `codemode`: pg_execute_code. The model writes a short program against
 * the `pg` API; it runs in a fresh sandboxed isolate (sandbox/) and only its
 * result comes back, instead of one tool call per step.
 */
import { z } from "zod";
import { deploymentLimits, freeSlot } from "../../durable-objects/names";
import { ALL_TOOLS } from ".";
import { ToolError } from "./errors";
import { renderRows } from "./catalog";
import { defineTool, jsonSchema, toolVisible, type Scope, type ToolAnnotations, type ToolContext, type ToolOutput } from "./registry";
import type { SlotKind } from "../../durable-objects/limits";
import { apiEntries, apiMap, type ApiEntry } from "../../sandbox/api";
import type { ApiMap } from "../../sandbox/module";
import { runProgram, type RunOutcome } from "../../sandbox/run";
import { CompileError } from "../../sandbox/compile";
import type { RequestContext } from "../context";
import type { Config } from "../config";
import { TOOL_GROUPS } from "./groups";

const MAX_TIMEOUT_MS = 30_000;

/**
 * The listing stays short: what code mode is, the core calls, and how to find
 * the rest (pg.help inside a program, the postgres://codemode/api resource).
 * The full declarations are generated from the registry on demand.
 */
const DESCRIPTION = `Run a TypeScript program against the database in one call; only its \`return\` value (JSON) and console output come back. All its pg calls share one connection. Core API:
pg.query(sql, params?) -> {rows: object[], columns: {name,type}[], rowCount, truncated}
pg.listTables({schema?}) -> {schema,name,kind,rows,bytes}[] (all pages)
pg.getColumns(table) -> {name,type,nullable,default,isPrimaryKey}[]
pg.getTableStats(table) -> {seq_scan,idx_scan,live,dead,...} | null
pg.transaction(async (tx) => tx.query(...)) commits on return
Every tool is pg.<group>.<action>(args): pg_schema_list -> pg.schema.list({...}). await pg.help("index") returns matching TypeScript signatures; resource postgres://codemode/api has them all. Errors throw with .code (SQLSTATE). No fetch or imports.`;

const programConfigs = new WeakMap<Config, Config>();
/**
 * The configuration a program's calls run under. TOOL_GROUPS says what is
 * listed and what programs may call; a code-mode-only deployment
 * (TOOL_GROUPS=codemode) lists one tool and lets its programs reach every
 * group. Scopes and READ_ONLY apply either way.
 */
export function programConfig(config: Config): Config {
  if (config.toolGroups.length !== 1 || config.toolGroups[0] !== "codemode") return config;
  let hit = programConfigs.get(config);
  if (!hit) programConfigs.set(config, (hit = { ...config, toolGroups: [...TOOL_GROUPS] }));
  return hit;
}

/** The API entries and the group map for the tools this caller may use, built once per isolate and scope set. */
const apis = new Map<string, { entries: ApiEntry[]; map: ApiMap }>();
export function callerApi(deployment: Config, scopes: readonly Scope[]): { entries: ApiEntry[]; map: ApiMap } {
  const config = programConfig(deployment);
  const key = `${config.toolGroups.join(",")}|${config.readOnly}|${scopes.join(",")}`;
  let hit = apis.get(key);
  if (!hit) {
    const tools = ALL_TOOLS.filter((t) => toolVisible(t, config, scopes));
    hit = { entries: apiEntries(tools.map((t) => ({ name: t.name, description: t.description, input: jsonSchema(t.input, "input") }))), map: apiMap(tools) };
    apis.set(key, hit);
  }
  return hit;
}

const RUN: ToolAnnotations = { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false };

const CodeInput = z.object({
  code: z.string().min(1).describe("Program body; may await and return"),
  timeout: z.number().int().min(100).max(MAX_TIMEOUT_MS).optional().describe("ms, default and max 30000"),
});

export const CodeOutput = z.object({
  result: z.unknown(),
  logs: z.array(z.string()),
  dbCalls: z.number(),
  durationMs: z.number(),
  resultBytes: z.number(),
  truncated: z.boolean(),
});

/** How one kind of sandbox is run: its concurrency slot and its runner. */
export interface SandboxKind {
  slot: SlotKind;
  /** Runs at once per deployment, and the variable that sets it (for the error). */
  max: number;
  maxVar: string;
  /** What captured output is called in the text ("console" for JavaScript, "output" for Python). */
  outputLabel: string;
  /** The marker appended when that output was cut. */
  truncatedNote: string;
  run(rc: RequestContext, timeoutMs: number): Promise<RunOutcome>;
}

/**
 * A program's result as the text a model reads. The common shape, an array of
 * objects, is TSV with the header once (as the query tools answer: \N is
 * null, nested values are JSON), which spares repeating every key on every
 * row; anything else is JSON. structuredContent.result keeps the exact JSON.
 */
export function renderResult(v: unknown): string {
  if (Array.isArray(v) && v.length > 0 && v.every((r) => r !== null && typeof r === "object" && !Array.isArray(r))) {
    return renderRows(v as Record<string, unknown>[], [...new Set(v.flatMap((r) => Object.keys(r as object)))]);
  }
  return JSON.stringify(v ?? null);
}

/** One sandboxed run as a tool call: size check, concurrency slot, run, result or tool error. Shared by every code tool. */
export async function runSandboxed(ctx: ToolContext, code: string, timeoutMs: number, kind: SandboxKind): Promise<ToolOutput<z.infer<typeof CodeOutput>>> {
  const cfg = ctx.config.code;
  if (new TextEncoder().encode(code).length > cfg.maxCodeBytes) throw new ToolError("code_too_large", `the program is larger than ${cfg.maxCodeBytes} bytes (MAX_CODE_BYTES)`);
  const runId = crypto.randomUUID();
  const limits = deploymentLimits(ctx.env);
  const slot = await limits.openSlot(kind.slot, runId, Date.now() + timeoutMs + 10_000, kind.max);
  if (!slot.ok) throw new ToolError("too_many_programs", `${slot.open} programs of this kind are already running on this server (${kind.maxVar}=${kind.max})`, "retry shortly");
  try {
    const out = await kind.run(ctx.request as RequestContext, timeoutMs);
    const logs = out.logTruncated ? [...out.logs, kind.truncatedNote] : out.logs;
    const footer = `${out.dbCalls} db calls, ${out.durationMs} ms`;
    const logText = logs.length ? `\n${kind.outputLabel}:\n${logs.join("\n")}` : "";
    if (out.status !== "ok") {
      const e = out.error!;
      throw new ToolError(out.status === "timeout" ? "program_timeout" : "program_error", `${e.name}: ${e.message} (${footer})${logText}`);
    }
    const structured = { result: out.value ?? null, logs, dbCalls: out.dbCalls, durationMs: out.durationMs, resultBytes: out.resultBytes, truncated: out.resultTruncated };
    return { structured, text: `${renderResult(out.value)}${logText}\n[${footer}]` };
  } catch (e) {
    if (e instanceof CompileError) throw new ToolError("compile_error", `${e.message}${e.line ? ` at line ${e.line}, column ${e.column}` : ""}`);
    throw e;
  } finally {
    await freeSlot(ctx.env, kind.slot, runId);
  }
}

const api = (rc: RequestContext) => {
  const { entries, map } = callerApi(rc.config, rc.principal.scopes);
  return { api: entries, map };
};

/** The JavaScript/TypeScript sandbox (pg_execute_code, pg_code_run_javascript). */
function runCode(args: z.infer<typeof CodeInput>, ctx: ToolContext) {
  const cfg = ctx.config.code;
  return runSandboxed(ctx, args.code, args.timeout ?? MAX_TIMEOUT_MS, {
    slot: "code",
    max: cfg.maxConcurrent,
    maxVar: "MAX_CONCURRENT_CODE_RUNS",
    outputLabel: "console",
    truncatedNote: "[console output truncated]",
    run: (rc, timeoutMs) =>
      runProgram({ ...rc, config: programConfig(rc.config) }, args.code, { timeoutMs, maxCalls: cfg.maxDbCalls, maxResultBytes: cfg.maxResultBytes, limits: { ticks: cfg.operationBudget, allocations: cfg.allocationBudget, logChars: 20_000 }, ...api(rc) }),
  });
}

/** What the code tools share: who may run them, their budget, their shapes, the runner. */
const codeTool = {
  scope: "admin",
  scopeFrom: (config: Config) => config.code.scope,
  cost: "code",
  input: CodeInput,
  output: CodeOutput,
  annotations: RUN,
  handler: runCode,
} as const;

export const executeCode = defineTool({
  ...codeTool,
  name: "pg_execute_code",
  group: "codemode",
  title: "Run a program against the database",
  description: DESCRIPTION,
});

export const runJavascript = defineTool({
  ...codeTool,
  name: "pg_code_run_javascript",
  group: "code",
  title: "Run JavaScript against the database",
  description: "Run a JavaScript program in the code-mode sandbox (same limits and security as pg_execute_code, whose description lists the pg API). Use `return` for the result.",
});

export const codeModeTools = [executeCode, runJavascript];
