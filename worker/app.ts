/**
 * The HTTP surface: a Hono app. Reads like a table of contents: discovery,
 * the OAuth consent page, and /mcp behind authentication, payload limits and
 * rate limits. The MCP protocol itself lives in mcp/.
 */
import { Hono } from "hono";
import { ConfigError, getConfig } from "./config";
import { authenticate, protectedResourceMetadata } from "./auth/authenticate";
import { acquireLimits, hopTiming, likelyAdmitted, NotAdmitted, tooManyRequests, withLease, type Lease } from "./limits/limits";
import { handleMcp, preflight } from "./mcp/handler";
import { methodNotAllowed, withCors } from "./mcp/cors";
import { hostAllowed, misdirected } from "./mcp/hosts";
import { SERVER_INFO, runTool } from "./mcp/server";
import type { RequestContext } from "./context";

export const MCP_ROUTE = "/mcp";

type AppEnv = { Bindings: Env };
export const app = new Hono<AppEnv>();

app.onError((err, c) => {
  if (err instanceof ConfigError) return c.json({ error: "misconfigured", message: err.message }, 500);
  console.error("unhandled", err);
  return c.json({ error: "internal_error", message: err.message }, 500);
});

app.get("/", (c) => c.json({ name: SERVER_INFO.name, version: SERVER_INFO.version, mcp: new URL(MCP_ROUTE, c.req.url).href }));

// RFC 9728 metadata when OAuth is off (with OAuth on, the provider serves it).
app.get("/.well-known/oauth-protected-resource/*", (c) => c.json(protectedResourceMetadata(c.req.url, getConfig(c.env))));
app.get("/.well-known/oauth-protected-resource", (c) => c.json(protectedResourceMetadata(c.req.url, getConfig(c.env))));

// The OAuth library is loaded only when used: evaluating it prints a warning about CIMD that is no concern of a deployment without OAuth.
app.get("/authorize", async (c) => (await import("./auth/consent")).consentPage(c.req.raw, c.env));
app.post("/authorize", async (c) => (await import("./auth/consent")).consentSubmit(c.req.raw, c.env));

// Every answer from /mcp, refusals included, is readable by a browser client; so is the metadata it discovers auth from.
const cors = async (c: { res: Response }, next: () => Promise<void>) => {
  await next();
  c.res = withCors(c.res);
};
app.use(MCP_ROUTE, cors);
app.use("/.well-known/oauth-protected-resource/*", cors);
app.use("/.well-known/oauth-protected-resource", cors);

app.all(MCP_ROUTE, async (c) => {
  const config = getConfig(c.env);
  // Read the body first (bounded), even for a request about to be refused: answering
  // before the client has finished sending resets the connection instead of giving it the 401.
  const declared = Number(c.req.header("content-length") ?? 0);
  if (declared > config.maxRequestBytes) return payloadTooLarge(config.maxRequestBytes);
  let parsedBody: unknown;
  let raw: string | undefined;
  if (c.req.method === "POST") {
    raw = await c.req.text();
    if (raw.length > config.maxRequestBytes) return payloadTooLarge(config.maxRequestBytes);
    try {
      parsedBody = JSON.parse(raw);
    } catch {
      // Left to the SDK, which answers with a JSON-RPC parse error.
    }
  }
  const hostname = new URL(c.req.url).hostname;
  if (!hostAllowed(hostname, config)) return misdirected(hostname);
  // A preflight carries no credentials: answered (with the Origin check) before authentication.
  if (c.req.method === "OPTIONS") return preflight(c.req.raw, config);
  if (c.req.method !== "POST") return methodNotAllowed(c.req.method);
  // Every message pays: a batch would spend one rate-limit token and one concurrency slot on many calls.
  // MCP 2025-06-18 removed JSON-RPC batching, so batches are refused, whole, before anything runs.
  if (Array.isArray(parsedBody)) return batchRefused();
  const auth = await authenticate(c.req.raw, c.env, c.executionCtx as ExecutionContext, config);
  if (auth instanceof Response) return auth;

  // The caller's limits decide while the request is parsed and its connection opens; no statement runs before they admit it.
  const admission = acquireLimits(c.env, config, auth, parsedBody);
  const admitted = admission.then((l) => {
    if (l && !l.ok) throw new NotAdmitted(l.reason);
  });
  admitted.catch(() => {}); // awaited by the tool path; a refusal is answered below
  const client = clientOf(c.req.raw);
  const rc: RequestContext = { env: c.env, config, principal: auth, ...(client ? { client } : {}), waitUntil: (p) => c.executionCtx.waitUntil(p), dispatch: runTool, admitted, warmConnection: likelyAdmitted(auth) };
  const pending = handleMcp(c.req.raw, raw, parsedBody, rc);
  const discard = () => void pending.then((r) => r.body?.cancel().catch(() => {}), () => {});
  let lease: Lease | undefined;
  try {
    lease = await admission;
  } catch (e) {
    discard();
    throw e;
  }
  if (lease && !lease.ok) {
    discard();
    return withTiming(tooManyRequests(lease), hopTiming(lease));
  }
  let response: Response;
  try {
    response = await pending;
  } catch (e) {
    if (lease) c.executionCtx.waitUntil(lease.release());
    throw e;
  }
  if (isInitialize(parsedBody) && response.ok) response = withHeader(response, "Mcp-Session-Id", crypto.randomUUID());
  // The tool runs while the (SSE) body streams: the concurrency slot is held until the body ends.
  return withTiming(lease ? withLease(response, lease, (p) => c.executionCtx.waitUntil(p)) : response, hopTiming(lease));
});

/**
 * The client's Mcp-Session-Id, when it sends a well-formed one (visible ASCII,
 * as the transport requires). The server is stateless: the id handed out at
 * initialize is remembered by nothing here. It only tells two clients of one
 * caller apart, so that a notifications/cancelled reaches the calls of the
 * client that sent it and no other (mcp/calls.ts). An id the client made up
 * scopes its own cancels and nothing else.
 */
function clientOf(request: Request): string | undefined {
  const id = request.headers.get("mcp-session-id");
  return id && /^[\x21-\x7e]{1,128}$/.test(id) ? id : undefined;
}

function isInitialize(body: unknown): boolean {
  return typeof body === "object" && body !== null && (body as { method?: unknown }).method === "initialize";
}

function withTiming(response: Response, timing: string): Response {
  return withHeader(response, "Server-Timing", timing);
}

function withHeader(response: Response, name: string, value: string): Response {
  try {
    response.headers.append(name, value);
    return response;
  } catch {
    // Immutable headers (a Response passed through from fetch): copy.
    const headers = new Headers(response.headers);
    headers.append(name, value);
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  }
}

function payloadTooLarge(max: number): Response {
  return Response.json({ jsonrpc: "2.0", id: null, error: { code: -32600, message: `request body larger than ${max} bytes (MAX_REQUEST_BYTES)` } }, { status: 413 });
}

function batchRefused(): Response {
  return Response.json(
    { jsonrpc: "2.0", id: null, error: { code: -32600, message: "JSON-RPC batches are not accepted (MCP 2025-06-18 removed batching): send one message per request; nothing in this batch was run" } },
    { status: 400 },
  );
}
