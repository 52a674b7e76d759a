/**
 * The Streamable HTTP endpoint: agents' createMcpHandler (stateless, one
 * McpServer per request). The handler is built once per isolate and
 * configuration; the request's context reaches the server factory through
 * AsyncLocalStorage.
 */
import { createMcpHandler } from "agents/mcp/server";
import type { Config } from "../config";
import { buildServer } from "./server";
import { MCP_CORS_OPTIONS } from "./cors";
import { currentRequest, type RequestContext } from "../context";
import { DISCONNECT_PROBE_MS } from "./calls";

const handlers = new WeakMap<Config, ReturnType<typeof createMcpHandler>>();

function handlerFor(config: Config) {
  let h = handlers.get(config);
  if (!h) {
    h = createMcpHandler(
      () => {
        const rc = currentRequest.getStore();
        if (!rc) throw new Error("MCP request outside a request context");
        return buildServer(rc);
      },
      {
        route: "/mcp",
        // A comment frame this often on a streaming response: a client that went away is noticed by the failed write (calls.ts).
        keepAliveMs: DISCONNECT_PROBE_MS,
        // 2026-07-28 answers stream too (as 2025-era ones always have), so that the comment frames can start at once:
        // locally workerd does not abort request.signal reliably on a disconnect, and a pending answer writes nothing.
        responseMode: "sse",
        corsOptions: MCP_CORS_OPTIONS,
        // DNS-rebinding protection: Host and browser Origin checks. Loopback and *.workers.dev are accepted by default.
        ...(config.allowedHosts ? { allowedHostnames: [...config.allowedHosts, "localhost", "127.0.0.1", "[::1]"] } : {}),
        ...(config.allowedOrigins ? { allowedOriginHostnames: config.allowedOrigins } : {}),
      },
    );
    handlers.set(config, h);
  }
  return h;
}

/** A CORS preflight: the handler checks Host and Origin and answers it; no server is built. */
export function preflight(request: Request, config: Config): Promise<Response> {
  return handlerFor(config).fetch(request);
}

/**
 * Serves one MCP request. `raw`/`parsedBody` are the body already read by the
 * caller: parsed once here rather than twice in the SDK (legacy detection,
 * then the transport).
 */
export function handleMcp(request: Request, raw: string | undefined, parsedBody: unknown, rc: RequestContext): Promise<Response> {
  if (acceptsJsonOnly(request)) return asJson(serve(withSseAccepted(request, raw), raw, parsedBody, { ...rc, jsonOnly: true }));
  return serve(request, raw, parsedBody, rc);
}

function serve(request: Request, raw: string | undefined, parsedBody: unknown, rc: RequestContext): Promise<Response> {
  const handler = handlerFor(rc.config);
  if (raw !== undefined && parsedBody === undefined) {
    // Unparseable: hand the SDK the text so it answers with its JSON-RPC parse error.
    return currentRequest.run(rc, () => handler.fetch(new Request(request, { body: raw })));
  }
  return currentRequest.run(rc, () => handler.fetch(request, parsedBody === undefined ? undefined : { parsedBody }));
}

/**
 * A POST whose Accept names JSON but not SSE (curl, and 2025-era clients
 * that never stream): the transport answers such clients with 406, yet a
 * stateless server's answer to one request is one message. Serve it as
 * usual and hand back the JSON-RPC response as plain JSON.
 */
function acceptsJsonOnly(request: Request): boolean {
  if (request.method !== "POST") return false;
  const accept = (request.headers.get("accept") ?? "").toLowerCase();
  return accept.includes("application/json") && !accept.includes("text/event-stream");
}

/** The same request accepting SSE too; its body (already read by the caller) is given again. */
function withSseAccepted(request: Request, raw: string | undefined): Request {
  const headers = new Headers(request.headers);
  headers.set("accept", "application/json, text/event-stream");
  return new Request(request.url, { method: request.method, headers, body: raw ?? null, signal: request.signal });
}

/** The SSE answer to one POST as a JSON body: its JSON-RPC responses (one, or an array when there were several). */
async function asJson(pending: Promise<Response>): Promise<Response> {
  const response = await pending;
  if (!(response.headers.get("content-type") ?? "").includes("text/event-stream") || !response.body) return response;
  const text = await response.text();
  const messages: unknown[] = [];
  for (const event of text.split(/\r?\n\r?\n/)) {
    const data = event
      .split(/\r?\n/)
      .filter((l) => l.startsWith("data:"))
      .map((l) => l.slice(5).trimStart())
      .join("\n");
    if (!data) continue;
    try {
      const message = JSON.parse(data) as { id?: unknown; result?: unknown; error?: unknown };
      // Notifications (progress, logs) have no place in a single JSON answer.
      if (message && message.id !== undefined && ("result" in message || "error" in message)) messages.push(message);
    } catch {
      // Not JSON-RPC (a keep-alive comment): skip.
    }
  }
  const headers = new Headers(response.headers);
  headers.set("content-type", "application/json");
  headers.delete("content-length");
  if (messages.length === 0) return new Response(null, { status: 202, headers });
  return new Response(JSON.stringify(messages.length === 1 ? messages[0] : messages), { status: response.status, headers });
}
