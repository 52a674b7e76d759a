/**
 * The OAuth 2.1 flow as a real MCP client runs it: 401 -> protected resource
 * metadata -> authorization server metadata -> dynamic client registration
 * -> authorization code with PKCE through our consent page -> token -> calls
 * with the granted scopes. The SDK's own auth code does every step except the
 * person at the consent page, which this test plays.
 */
import { describe, expect, inject, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError, type OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth.js";
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from "@modelcontextprotocol/sdk/shared/auth.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { call, rows, text } from "../support/mcp";
import { raw } from "../support/http";

const REDIRECT = "http://127.0.0.1:1/callback"; // never opened: the test reads the code from the Location header

/** An in-memory OAuth client, as a desktop MCP client would keep it. */
class TestOAuthClient implements OAuthClientProvider {
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
async function consent(authorizationUrl: URL, form: { password: string; scopes: string[]; decision?: "approve" | "deny" }): Promise<{ status: number; location?: string; body: string }> {
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
  const r = await raw(authorizationUrl.href, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", cookie }, body: body.toString() });
  return { status: r.status, location: r.headers.location as string | undefined, body: r.body };
}

/** Authorizes a new client, or (with `provider`) grants an already registered client again. */
async function authorize(scopes: string[], requested = scopes.join(" "), provider = new TestOAuthClient(requested)) {
  const mcpUrl = new URL(inject("oauthMcpUrl"));
  const first = new Client({ name: "oauth-test", version: "1" });
  await expect(first.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }))).rejects.toBeInstanceOf(UnauthorizedError);
  expect(provider.client?.client_id).toBeTruthy(); // dynamic client registration happened
  expect(provider.authorizationUrl?.searchParams.get("code_challenge_method")).toBe("S256");
  const result = await consent(provider.authorizationUrl!, { password: inject("oauthPassword"), scopes });
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

describe("OAuth 2.1", () => {
  it("publishes authorization server metadata with PKCE and registration", async () => {
    const origin = new URL(inject("oauthMcpUrl")).origin;
    const r = await raw(`${origin}/.well-known/oauth-authorization-server`, { method: "GET" });
    expect(r.status).toBe(200);
    expect(r.json.code_challenge_methods_supported).toContain("S256");
    expect(r.json.registration_endpoint).toBe(`${origin}/oauth/register`);
    expect(r.json.scopes_supported).toEqual(["read", "write", "admin"]);
  });

  it("a client authorized for read can query but sees no write tools", async () => {
    const { client } = await authorize(["read"]);
    expect(await rows(client, "select 41 + 1")).toEqual([[42]]);
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain("pg_query_read");
    expect(names).not.toContain("pg_query_write");
    await expect(client.callTool({ name: "pg_query_write", arguments: { sql: "create table oauth_nope (i int)" } })).rejects.toSatisfy((e) => e instanceof McpError && e.code === -32602);
    await client.close();
  });

  it("a client granted write by the consent page can write", async () => {
    const { client } = await authorize(["read", "write"]);
    const r = await call(client, "pg_query_write", { sql: "select 1" });
    expect(r.isError).toBeFalsy();
    await client.close();
  });

  it("two grants to one client are two identities: the second cannot commit the first's transaction", async () => {
    const first = await authorize(["read", "write"]);
    const { tx } = (await call(first.client, "pg_tx_begin", { idleTimeoutMs: 2000 })).structuredContent as { tx: string };
    // The same registered client authorized again: a shared client id, or one app installed twice.
    // (The provider replaces the first grant for this user and client; its transaction stays its own.)
    const again = new TestOAuthClient("read write");
    again.client = first.provider.client;
    const second = await authorize(["read", "write"], "read write", again);
    expect(again.client?.client_id).toBe(first.provider.client?.client_id);
    const stolen = await call(second.client, "pg_tx_commit", { tx });
    expect(stolen.isError).toBe(true);
    expect(text(stolen)).toMatch(/belongs to another caller/);
    await first.client.close().catch(() => {});
    await second.client.close();
  });

  it("the consent page refuses a wrong password and issues nothing", async () => {
    const provider = new TestOAuthClient("read");
    const first = new Client({ name: "oauth-test", version: "1" });
    await expect(first.connect(new StreamableHTTPClientTransport(new URL(inject("oauthMcpUrl")), { authProvider: provider }))).rejects.toBeInstanceOf(UnauthorizedError);
    const result = await consent(provider.authorizationUrl!, { password: "wrong", scopes: ["read"] });
    expect(result.status).toBe(401);
    expect(result.location).toBeUndefined();
  });

  it("deny sends the client back with access_denied", async () => {
    const provider = new TestOAuthClient("read");
    const first = new Client({ name: "oauth-test", version: "1" });
    await expect(first.connect(new StreamableHTTPClientTransport(new URL(inject("oauthMcpUrl")), { authProvider: provider }))).rejects.toBeInstanceOf(UnauthorizedError);
    const result = await consent(provider.authorizationUrl!, { password: "", scopes: [], decision: "deny" });
    expect(result.status).toBe(302);
    expect(new URL(result.location!).searchParams.get("error")).toBe("access_denied");
  });

  it("API keys keep working on an OAuth deployment", async () => {
    const r = await raw(inject("oauthMcpUrl"), {
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": "2025-11-25", authorization: `Bearer ${inject("apiKeys").read}` },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "pg_query_read", arguments: { sql: "select 5" } } }),
    });
    expect(r.status, r.body).toBe(200);
    expect(r.json.error, JSON.stringify(r.json)).toBeUndefined();
    expect(text(r.json.result)).toBe("?column?:int4\n5");
  });

  it("an unauthenticated request gets a challenge naming the resource metadata", async () => {
    const r = await raw(inject("oauthMcpUrl"), { headers: { "content-type": "application/json" }, body: "{}" });
    expect(r.status).toBe(401);
    expect(String(r.headers["www-authenticate"])).toContain("resource_metadata=");
  });
});
