/**
 * The Streamable HTTP endpoint: agents' createMcpHandler (stateless, one
 * McpServer per request). The handler is built once per isolate and
 * configuration; the request's context reaches the server factory through
 * AsyncLocalStorage.
 */
import { createMcpHandler } from "agents/mcp/server";
import { AsyncLocalStorage } from "node:async_hooks";
import type { Config } from "../config";
import { buildServer } from "./server";
import type { RequestContext } from "../context";

const requestContext = new AsyncLocalStorage<RequestContext>();
const handlers = new WeakMap<Config, ReturnType<typeof createMcpHandler>>();

function handlerFor(config: Config) {
  let h = handlers.get(config);
  if (!h) {
    h = createMcpHandler(
      () => {
        const rc = requestContext.getStore();
        if (!rc) throw new Error("MCP request outside a request context");
        return buildServer(rc);
      },
      {
        route: "/mcp",
        // DNS-rebinding protection: Host and browser Origin checks. Loopback and *.workers.dev are accepted by default.
        ...(config.allowedHosts ? { allowedHostnames: [...config.allowedHosts, "localhost", "127.0.0.1", "[::1]"] } : {}),
        ...(config.allowedOrigins ? { allowedOriginHostnames: config.allowedOrigins } : {}),
      },
    );
    handlers.set(config, h);
  }
  return h;
}

/**
 * Serves one MCP request. `raw`/`parsedBody` are the body already read by the
 * caller: parsed once here rather than twice in the SDK (legacy detection,
 * then the transport).
 */
export function handleMcp(request: Request, raw: string | undefined, parsedBody: unknown, rc: RequestContext): Promise<Response> {
  const handler = handlerFor(rc.config);
  if (raw !== undefined && parsedBody === undefined) {
    // Unparseable: hand the SDK the text so it answers with its JSON-RPC parse error.
    return requestContext.run(rc, () => handler.fetch(new Request(request, { body: raw })));
  }
  return requestContext.run(rc, () => handler.fetch(request, parsedBody === undefined ? undefined : { parsedBody }));
}
