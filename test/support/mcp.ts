/** The real MCP client from @modelcontextprotocol/sdk, connected over Streamable HTTP. */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

export interface ConnectOptions {
  headers?: Record<string, string>;
  protocolVersion?: string;
}

export async function connectClient(mcpUrl: string, opts: ConnectOptions = {}): Promise<Client> {
  const client = new Client({ name: "pg-mcp-tests", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { requestInit: { headers: opts.headers ?? {} } });
  await client.connect(transport);
  return client;
}

export interface ToolResult {
  content: { type: string; text?: string }[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
}

/** Calls a tool and returns the raw result (tool errors included, protocol errors thrown). */
export async function call(client: Client, name: string, args: Record<string, unknown> = {}): Promise<ToolResult> {
  return (await client.callTool({ name, arguments: args })) as ToolResult;
}

/** The text content of a result, as sent (with the injection guard's data boundaries). */
export function rawText(r: ToolResult): string {
  return r.content.map((c) => c.text ?? "").join("\n");
}

const GUARD = /^<data ([0-9a-f]+)> [^\n]*\n([\s\S]*)\n<\/data \1>$/;

/** The text content of a result, inside the injection guard's boundaries when present. */
export function text(r: ToolResult): string {
  const t = rawText(r);
  return GUARD.exec(t)?.[2] ?? t;
}

/** Calls a tool that must succeed and returns its structured content. */
export async function ok<T = Record<string, unknown>>(client: Client, name: string, args: Record<string, unknown> = {}): Promise<T> {
  const r = await call(client, name, args);
  if (r.isError) throw new Error(`${name} failed: ${text(r)}`);
  return r.structuredContent as T;
}

/** Rows of a pg_query_read of `sql`. */
export async function rows(client: Client, sql: string, params?: unknown[]): Promise<unknown[][]> {
  return (await ok<{ rows: unknown[][] }>(client, "pg_query_read", { sql, ...(params ? { params } : {}) })).rows;
}
