/**
 * The tool registry: each tool is one zod-first definition (input and output
 * schemas, annotations, the scope it needs) from which the MCP listing, the
 * argument validation and the generated docs are all derived.
 */
import { z } from "zod";
import type { Config } from "../config";
import type { SqlExecutor } from "../db/executor";
import type { ToolGroup } from "./groups";
import type { Principal } from "../auth/principal";
import type { CostClass } from "../../durable-objects/limits";
import type { DestructiveStatement } from "../sql/destructive";

/** What a caller must hold to see and call a tool. `admin` implies `write` implies `read`. */
export type Scope = "read" | "write" | "admin";

export interface ToolAnnotations {
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint: boolean;
  openWorldHint: false;
}

/** Everything a tool handler may use. One per tools/call. */
export interface ToolContext {
  config: Config;
  env: Env;
  /** The authenticated caller. */
  principal: Principal;
  /** The request this call belongs to (code mode starts programs that call back in as this caller). */
  request?: unknown;
  /** Runs SQL in the right transaction with the deployment's timeout and caps (see db/executor.ts). */
  sql: SqlExecutor;
  /**
   * When `sql` runs in a held transaction: the caller's own connection, as
   * the call would have without `tx` (opened only if used). pg_tx_commit
   * reads there what a transaction that has ended left behind.
   */
  ownSql?: SqlExecutor;
  /**
   * Call before running anything destructive (sql/destructive.ts): returns
   * when it may run (nothing destructive, confirmation off, the user
   * confirmed, or the fallback proceeds); throws otherwise (a refusal, or the
   * signal that the user must be asked first).
   */
  confirm(found: readonly DestructiveStatement[]): Promise<void>;
}

/** A tool's success: the structured result and the compact text a model reads. */
export interface ToolOutput<O> {
  structured: O;
  text: string;
}

export interface ToolDefinition<I extends z.ZodObject = z.ZodObject, O extends z.ZodType = z.ZodType> {
  name: string;
  group: ToolGroup;
  title: string;
  description: string;
  scope: Scope;
  input: I;
  output: O;
  annotations: ToolAnnotations;
  /** Whether the deployment offers the tool at all (beyond its group). @default always */
  available?: (config: Config) => boolean;
  /** The scope, decided by the deployment instead (code mode: CODE_MODE_SCOPE). Overrides `scope`. */
  scopeFrom?: (config: Config) => Scope;
  /** Which rate-limit budget a call spends besides the per-call one. @default "call" */
  cost?: CostClass;
  /** Record calls in the audit log. @default true for write and admin scopes, false for read */
  audit?: boolean | ((args: z.infer<I>) => boolean);
  /** Accepts `tx` and runs inside a held transaction. @default true for the query and schema groups */
  transactional?: boolean;
  /** Text output carries database content: wrap it in data boundaries (the injection guard). @default true */
  untrusted?: boolean;
  handler(args: z.infer<I>, ctx: ToolContext): Promise<ToolOutput<z.infer<O>>>;
}

export function defineTool<I extends z.ZodObject, O extends z.ZodType>(def: ToolDefinition<I, O>): ToolDefinition<I, O> {
  return def;
}

/** Annotations for the common shapes, so each tool states its kind in one word. */
export const READ: ToolAnnotations = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };
export const WRITE: ToolAnnotations = { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false };
export const ADDITIVE: ToolAnnotations = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false };

const SCOPE_RANK: Record<Scope, number> = { read: 0, write: 1, admin: 2 };

/** Whether this deployment exposes the tool to a caller holding `scopes`. */
export function toolVisible(def: Pick<ToolDefinition, "group" | "scope" | "scopeFrom" | "available">, config: Config, scopes: readonly Scope[]): boolean {
  return config.toolGroups.includes(def.group) && (def.available?.(config) ?? true) && scopeAllows(scopes, requiredScope(def, config));
}

/** The scope a tool needs in this deployment. */
export function requiredScope(def: Pick<ToolDefinition, "scope" | "scopeFrom">, config: Config): Scope {
  return def.scopeFrom ? def.scopeFrom(config) : def.scope;
}

/** Whether a caller holding `held` may use a tool that needs `needed`. */
export function scopeAllows(held: readonly Scope[], needed: Scope): boolean {
  return held.some((s) => SCOPE_RANK[s] >= SCOPE_RANK[needed]);
}

/**
 * JSON Schema for the wire. Every client reads tools/list, often into a model's
 * context, so it is compacted: no `$schema`; no length, item-count or pattern
 * bounds (the server validates them with the full zod schema and answers with
 * a precise message); no bounds that only restate JavaScript's safe integers;
 * no empty `items`/`additionalProperties`. Output schemas keep their top-level
 * fields and types only.
 */
export function jsonSchema(schema: z.ZodType, io: "input" | "output"): Record<string, unknown> {
  const js = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as Record<string, unknown>;
  return compactSchema(js, 0, io === "output" ? 1 : Infinity, io) as Record<string, unknown>;
}

const isEmptyObject = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 0;
const BOUNDS = new Set(["$schema", "propertyNames", "minLength", "maxLength", "minItems", "maxItems", "pattern", "format"]);

function compactSchema(node: unknown, depth: number, maxDepth: number, io: "input" | "output"): unknown {
  if (Array.isArray(node)) return node.map((n) => compactSchema(n, depth, maxDepth, io));
  if (typeof node !== "object" || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (BOUNDS.has(k)) continue;
    if ((k === "maximum" && v === Number.MAX_SAFE_INTEGER) || (k === "minimum" && v === Number.MIN_SAFE_INTEGER)) continue;
    if ((k === "additionalProperties" || k === "items") && (isEmptyObject(v) || k === "additionalProperties")) continue;
    if (io === "output" && k === "required") continue;
    if (depth >= maxDepth && (k === "properties" || k === "items" || k === "required" || k === "description" || k === "anyOf")) continue;
    if (k === "properties" && typeof v === "object" && v !== null) {
      out[k] = Object.fromEntries(Object.entries(v).map(([name, sub]) => [name, compactSchema(sub, depth + 1, maxDepth, io)]));
    } else out[k] = compactSchema(v, depth, maxDepth, io);
  }
  return out;
}
