/**
 * The floor rows of `npm run bench -- --peers`: the least an MCP server on
 * Workers can do for a tools/call locally, served by the same Miniflare,
 * through the same local Hyperdrive and pooler as the product. Both open a
 * pg connection per call (a Worker cannot keep one across requests), run
 * the statement and close it; neither authenticates, limits, audits,
 * guards or formats anything.
 *
 * - `/plain`: MCP by hand, the smallest JSON-RPC a client accepts
 *   (initialize, notifications, tools/list, tools/call) answered as JSON.
 * - `/sdk`: the MCP TypeScript SDK's stateless handler (agents'
 *   createMcpHandler, as the product uses it) with one tool.
 *
 * The product's distance to `/sdk` is its own cost; `/sdk`'s distance to
 * `/plain` is the SDK's; `/plain`'s distance to Toolbox is what the platform
 * costs here (a connection per request, workerd, the local Hyperdrive
 * proxy). Not part of the product.
 */
import pg from "pg";
import { z } from "zod";
import { McpServer } from "@modelcontextprotocol/server";
import { createMcpHandler } from "agents/mcp/server";

interface FloorEnv {
  HYPERDRIVE: Hyperdrive;
}

const TOOL = "execute_sql";
const INPUT = z.object({ sql: z.string() });

type ToolResult = { content: { type: "text"; text: string }[]; isError?: true };

/** One statement on a connection of its own, closed after the answer (as the product closes its own). */
async function run(env: FloorEnv, ctx: ExecutionContext, sql: string): Promise<ToolResult> {
  const client = new pg.Client({ connectionString: env.HYPERDRIVE.connectionString });
  try {
    await client.connect();
    const r = await client.query({ text: sql, rowMode: "array" });
    return { content: [{ type: "text", text: JSON.stringify(r.rows) }] };
  } catch (e) {
    return { content: [{ type: "text", text: `ERROR: ${(e as Error).message}` }], isError: true };
  } finally {
    ctx.waitUntil(client.end().catch(() => {}));
  }
}

let current: { env: FloorEnv; ctx: ExecutionContext } | undefined;
const sdk = createMcpHandler(
  () => {
    const server = new McpServer({ name: "floor-sdk", version: "1" });
    server.registerTool(TOOL, { description: "Runs one SQL statement.", inputSchema: INPUT }, async ({ sql }) => run(current!.env, current!.ctx, sql));
    return server;
  },
  { route: "/sdk", responseMode: "sse" },
);

type Message = { jsonrpc: "2.0"; id?: string | number; method: string; params?: { protocolVersion?: string; name?: string; arguments?: unknown } };

async function plain(request: Request, env: FloorEnv, ctx: ExecutionContext): Promise<Response> {
  const message = (await request.json()) as Message;
  if (message.id === undefined) return new Response(null, { status: 202 });
  const answer = (result: unknown) => Response.json({ jsonrpc: "2.0", id: message.id, result });
  switch (message.method) {
    case "initialize":
      return answer({ protocolVersion: message.params?.protocolVersion ?? "2025-06-18", capabilities: { tools: {} }, serverInfo: { name: "floor-plain", version: "1" } });
    case "tools/list":
      return answer({ tools: [{ name: TOOL, description: "Runs one SQL statement.", inputSchema: z.toJSONSchema(INPUT) }] });
    case "tools/call": {
      const args = INPUT.parse(message.params?.arguments);
      return answer(await run(env, ctx, args.sql));
    }
    default:
      return Response.json({ jsonrpc: "2.0", id: message.id, error: { code: -32601, message: `${message.method} is not served` } });
  }
}

export default {
  async fetch(request: Request, env: FloorEnv, ctx: ExecutionContext): Promise<Response> {
    const path = new URL(request.url).pathname;
    if (path === "/") return new Response("floor");
    // Stateless, as the product: no standalone SSE stream (GET) and no session to end (DELETE).
    if (path === "/plain") return request.method === "POST" ? plain(request, env, ctx) : new Response(null, { status: 405, headers: { Allow: "POST" } });
    if (path === "/sdk") {
      current = { env, ctx };
      return sdk.fetch(request);
    }
    return new Response("not found", { status: 404 });
  },
} satisfies ExportedHandler<FloorEnv>;
