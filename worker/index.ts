/**
 * The Worker: a Hono app that serves MCP over Streamable HTTP at /mcp.
 * Reads like a table of contents: configuration, the MCP endpoint, health.
 */
import { Hono } from "hono";
import { createMcpHandler } from "agents/mcp/server";
import { AsyncLocalStorage } from "node:async_hooks";
import { ConfigError, getConfig } from "./config";
import { buildServer, SERVER_INFO, type RequestContext } from "./mcp/server";

const MCP_ROUTE = "/mcp";

/** The request whose McpServer the factory is building (the handler itself is per isolate). */
const requestContext = new AsyncLocalStorage<RequestContext>();

const mcpHandler = createMcpHandler(
  () => {
    const rc = requestContext.getStore();
    if (!rc) throw new Error("MCP request outside a request context");
    return buildServer(rc);
  },
  { route: MCP_ROUTE },
);

const app = new Hono<{ Bindings: Env }>();

app.onError((err, c) => {
  if (err instanceof ConfigError) return c.json({ error: "misconfigured", message: err.message }, 500);
  console.error("unhandled", err);
  return c.json({ error: "internal_error", message: err.message }, 500);
});

app.get("/", (c) => c.json({ name: SERVER_INFO.name, version: SERVER_INFO.version, mcp: new URL(MCP_ROUTE, c.req.url).href }));

app.all(MCP_ROUTE, async (c) => {
  const config = getConfig(c.env);
  const rc: RequestContext = {
    env: c.env,
    config,
    principal: { id: "anonymous", scopes: ["admin"] },
    waitUntil: (p) => c.executionCtx.waitUntil(p),
  };
  let request = c.req.raw;
  let parsedBody: unknown;
  if (request.method === "POST") {
    // Parse once here; otherwise the SDK clones and parses the body twice (legacy detection, then the transport).
    const body = await request.text();
    try {
      parsedBody = JSON.parse(body);
    } catch {
      request = new Request(request, { body }); // let the SDK answer the parse error
    }
  }
  return requestContext.run(rc, () => mcpHandler.fetch(request, parsedBody === undefined ? undefined : { parsedBody }));
});

export default app;
