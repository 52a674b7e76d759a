/**
 * The tool registry: each tool is one zod-first definition (input and output
 * schemas, annotations, the scope it needs) from which the MCP listing, the
 * argument validation and the generated docs are all derived.
 */
import { z } from "zod";
import type { Config } from "../config";
import type { DbSession } from "../db/session";
import type { ToolGroup } from "./groups";

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
  /** The request's database session, opened on first use and closed after the call. */
  db(): Promise<DbSession>;
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

/** Whether a caller holding `held` may use a tool that needs `needed`. */
export function scopeAllows(held: readonly Scope[], needed: Scope): boolean {
  return held.some((s) => SCOPE_RANK[s] >= SCOPE_RANK[needed]);
}

/** JSON Schema for the wire, without the `$schema` key (bytes every client reads). */
export function jsonSchema(schema: z.ZodType, io: "input" | "output"): Record<string, unknown> {
  const js = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as Record<string, unknown>;
  delete js.$schema;
  return js;
}
