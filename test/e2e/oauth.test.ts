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
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { call, rows, text } from "../support/mcp";
import { raw } from "../support/http";
import { REDIRECT, TestOAuthClient, authorize, callWith, codeFor, consent, token } from "../support/oauth";

describe("OAuth 2.1 token endpoint", () => {
  it("PKCE: a code is exchanged only with the verifier its challenge was made from", async () => {
    const { provider, code } = await codeFor(["read"]);
    const base = { grant_type: "authorization_code", code, redirect_uri: REDIRECT, client_id: provider.client!.client_id };
    const wrong = await token({ ...base, code_verifier: "x".repeat(64) });
    expect(wrong.status).toBe(400);
    expect(wrong.json.error).toBe("invalid_grant");
    const missing = await token(base);
    expect(missing.status).toBe(400);
    expect(missing.json.access_token).toBeUndefined();
  });

  it("the right verifier gets a token that works, with the announced lifetime", async () => {
    const { provider, code } = await codeFor(["read"]);
    const r = await token({ grant_type: "authorization_code", code, redirect_uri: REDIRECT, client_id: provider.client!.client_id, code_verifier: provider.verifier });
    expect(r.status, r.body).toBe(200);
    expect(r.json).toMatchObject({ token_type: "bearer", expires_in: 3600, scope: "read" });
    const used = await callWith(r.json.access_token);
    expect(used.status).toBe(200);
    expect(text(used.json.result)).toBe("?column?:int4\n5");
    // A code is single-use.
    const again = await token({ grant_type: "authorization_code", code, redirect_uri: REDIRECT, client_id: provider.client!.client_id, code_verifier: provider.verifier });
    expect(again.status).toBe(400);
  });

  it("the consent page narrows scopes: asked for read write admin, granted only what was ticked", async () => {
    const { client, provider } = await authorize(["read"], "read write admin");
    expect(provider.saved?.scope).toBe("read");
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain("pg_query_read");
    expect(names).not.toContain("pg_query_write");
    expect(names).not.toContain("pg_audit_log");
    await client.close();
  });

  it("a refresh token gets a new working access token with the same scopes; a made-up one gets nothing", async () => {
    const { client, provider } = await authorize(["read", "write"]);
    await client.close();
    const refresh = provider.saved!.refresh_token!;
    expect(refresh).toBeTruthy();
    const r = await token({ grant_type: "refresh_token", refresh_token: refresh, client_id: provider.client!.client_id });
    expect(r.status, r.body).toBe(200);
    expect(r.json.access_token).not.toBe(provider.saved!.access_token);
    expect(r.json.scope).toBe("read write");
    expect((await callWith(r.json.access_token)).status).toBe(200);
    const forged = await token({ grant_type: "refresh_token", refresh_token: `${refresh.split(":").slice(0, -1).join(":")}:forged`, client_id: provider.client!.client_id });
    expect(forged.status).toBe(400);
    expect(forged.json.error).toBe("invalid_grant");
  });

  it("a made-up or altered access token is refused with 401", async () => {
    const { client, provider } = await authorize(["read"]);
    await client.close();
    const real = provider.saved!.access_token;
    expect((await callWith(real)).status).toBe(200);
    expect((await callWith(`${real.slice(0, -2)}xx`)).status).toBe(401);
  });
});

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
