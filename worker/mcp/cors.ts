/**
 * What a browser client needs from /mcp: CORS headers on every answer (the
 * 401, 403, 413 and 429 the app gives before the MCP handler runs included),
 * the response headers it must read exposed, and 405 with `Allow` for the
 * methods a stateless server does not serve.
 *
 * Any origin may read the answers: a bearer token is not an ambient
 * credential, so a page can only use one it already holds. Which origins may
 * send requests at all is the DNS-rebinding check's business (hosts.ts, and
 * the MCP handler's Origin check).
 */

/** Response headers a browser client must be able to read. */
export const EXPOSED_HEADERS = [
  // Discovery and step-up after a 401.
  "WWW-Authenticate",
  // Backoff after a 429, and the budget before one.
  "Retry-After",
  "RateLimit-Limit",
  "RateLimit-Remaining",
  "RateLimit-Reset",
  // Sessions and the protocol revision, for clients written against servers that use them.
  "Mcp-Session-Id",
  "MCP-Protocol-Version",
] as const;

/** Methods /mcp answers with something other than 405; GET and DELETE are listed so a browser lets the client read their 405. */
const CORS_METHODS = "GET, POST, DELETE, OPTIONS";
/** Request headers a client sends: auth, content negotiation and the MCP headers of both protocol eras. */
const CORS_REQUEST_HEADERS = "Content-Type, Accept, Authorization, Mcp-Session-Id, MCP-Protocol-Version, Mcp-Method, Mcp-Name, Last-Event-ID";

/** What /mcp actually serves: a stateless server has no SSE stream to open (GET) and no session to end (DELETE). */
export const ALLOWED_METHODS = "POST, OPTIONS";

/** The options for agents' createMcpHandler (it answers the preflight and stamps its own responses). */
export const MCP_CORS_OPTIONS = {
  origin: "*",
  methods: CORS_METHODS,
  headers: CORS_REQUEST_HEADERS,
  exposeHeaders: EXPOSED_HEADERS.join(", "),
  maxAge: 86_400,
};

/** The response with CORS headers (response headers are immutable on fetched responses, so it is copied). */
export function withCors(response: Response): Response {
  const headers = new Headers(response.headers);
  headers.set("Access-Control-Allow-Origin", MCP_CORS_OPTIONS.origin);
  headers.set("Access-Control-Expose-Headers", MCP_CORS_OPTIONS.exposeHeaders);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

/** GET (a standalone SSE stream) and DELETE (ending a session), or any other method: not served here. */
export function methodNotAllowed(method: string): Response {
  const why =
    method === "GET"
      ? "this server is stateless and opens no standalone SSE stream: notifications come on the response to each POST"
      : method === "DELETE"
        ? "this server is stateless and issues no sessions, so there is none to end"
        : `${method} is not served`;
  return Response.json(
    { jsonrpc: "2.0", id: null, error: { code: -32000, message: `Method not allowed: ${why}. Send each JSON-RPC message as a POST.` } },
    { status: 405, headers: { Allow: ALLOWED_METHODS } },
  );
}
