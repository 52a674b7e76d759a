/**
 * The OAuth 2.1 flow as a real MCP client runs it, for the OAuth tests: an
 * in-memory client, the person at the consent page, and the token endpoint.
 */
import { expect, inject } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError, type OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth.js";
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from "@modelcontextprotocol/sdk/shared/auth.js";
import { raw } from "./http";

export const REDIRECT = "http://127.0.0.1:1/callback"; // never opened: the test reads the code from the Location header

/** An in-memory OAuth client, as a desktop MCP client would keep it. */
export class TestOAuthClient implements OAuthClientProvider {
  client?: OAuthClientInformationMixed;
  saved?: OAuthTokens;
  verifier = "";
  authorizationUrl?: URL;
  constructor(private scope: string) {}
  get redirectUrl() {
    return REDIRECT;
  }
  get clientMetadata(): OAuthClientMetadata {
    return { client_name: "pg-mcp test client", redirect_uris: [REDIRECT], grant_types: ["authorization_code", "refresh_token"], response_types: ["code"], token_endpoint_auth_method: "none", scope: this.scope };
  }
  clientInformation() {
    return this.client;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.client = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(v: string) {
    this.verifier = v;
  }
  codeVerifier() {
    return this.verifier;
  }
}

/** Plays the person at the consent page: opens it, enters the password, ticks scopes, submits. Returns the redirect. */
export async function consent(authorizationUrl: URL, form: { password: string; scopes: string[]; decision?: "approve" | "deny"; role?: string }): Promise<{ status: number; location?: string; body: string }> {
  const page = await raw(authorizationUrl.href, { method: "GET" });
  expect(page.status).toBe(200);
  expect(page.body).toContain("pg-mcp test client");
  const handle = /name="handle" value="([^"]+)"/.exec(page.body)?.[1];
  expect(handle).toBeTruthy();
  // The consent handle is bound to the browser by a cookie; carry it like a browser would.
  const setCookie = page.headers["set-cookie"];
  const cookie = (Array.isArray(setCookie) ? setCookie : [setCookie ?? ""]).map((c) => c.split(";")[0]).join("; ");
  const body = new URLSearchParams({ handle: handle!, password: form.password, decision: form.decision ?? "approve" });
  for (const s of form.scopes) body.append("scope", s);
  if (form.role !== undefined) body.append("role", form.role);
  const r = await raw(authorizationUrl.href, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", cookie }, body: body.toString() });
  return { status: r.status, location: r.headers.location as string | undefined, body: r.body };
}

/** Authorizes a new client, or (with `provider`) grants an already registered client again. */
export async function authorize(scopes: string[], requested = scopes.join(" "), provider = new TestOAuthClient(requested), opts: { mcpUrl?: string; role?: string } = {}) {
  const mcpUrl = new URL(opts.mcpUrl ?? inject("oauthMcpUrl"));
  const first = new Client({ name: "oauth-test", version: "1" });
  await expect(first.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }))).rejects.toBeInstanceOf(UnauthorizedError);
  expect(provider.client?.client_id).toBeTruthy(); // dynamic client registration happened
  expect(provider.authorizationUrl?.searchParams.get("code_challenge_method")).toBe("S256");
  const result = await consent(provider.authorizationUrl!, { password: inject("oauthPassword"), scopes, ...(opts.role !== undefined ? { role: opts.role } : {}) });
  expect(result.status).toBe(302);
  const code = new URL(result.location!).searchParams.get("code");
  expect(code).toBeTruthy();
  const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
  await transport.finishAuth(code!);
  expect(provider.saved?.access_token).toBeTruthy();
  const client = new Client({ name: "oauth-test", version: "1" });
  await client.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }));
  return { client, provider };
}

/** Starts a flow up to the consent page's redirect: the registered client, its PKCE verifier and the code. */
export async function codeFor(scopes: string[], requested = scopes.join(" "), mcpUrl = inject("oauthMcpUrl")) {
  const provider = new TestOAuthClient(requested);
  const first = new Client({ name: "oauth-test", version: "1" });
  await expect(first.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }))).rejects.toBeInstanceOf(UnauthorizedError);
  const result = await consent(provider.authorizationUrl!, { password: inject("oauthPassword"), scopes });
  expect(result.status).toBe(302);
  return { provider, code: new URL(result.location!).searchParams.get("code")! };
}

/** A form POST to the token endpoint, as a client would send it. */
export async function token(form: Record<string, string>, mcpUrl = inject("oauthMcpUrl")) {
  const origin = new URL(mcpUrl).origin;
  return raw(`${origin}/oauth/token`, { headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(form).toString() });
}

/** One tools/call with a bearer token: the HTTP status and the JSON-RPC answer. */
export const callWith = (accessToken: string, mcpUrl = inject("oauthMcpUrl")) =>
  raw(mcpUrl, {
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": "2025-11-25", authorization: `Bearer ${accessToken}` },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "pg_query_read", arguments: { sql: "select 5" } } }),
  });

