/**
 * OAuth access tokens expire: on a Worker whose tokens live 60 s (the
 * shortest OAUTH_ACCESS_TOKEN_TTL_S; Cloudflare KV cannot expire sooner), a
 * token stops working when its lifetime is over and the refresh token renews
 * it. Its own file: it waits a minute, and runs beside the rest.
 */
import { describe, expect, inject, it } from "vitest";
import { REDIRECT, callWith, codeFor, token } from "../support/oauth";
import { waitFor } from "../support/wait";

describe("OAuth access token expiry", () => {
  it("a token stops working when it expires, and the refresh token renews it", { timeout: 150_000 }, async () => {
    const url = inject("shortOAuthMcpUrl");
    const { provider, code } = await codeFor(["read"], "read", url);
    const issued = await token({ grant_type: "authorization_code", code, redirect_uri: REDIRECT, client_id: provider.client!.client_id, code_verifier: provider.verifier }, url);
    expect(issued.status, issued.body).toBe(200);
    expect(issued.json.expires_in).toBe(60);
    const issuedAt = Date.now();
    expect((await callWith(issued.json.access_token, url)).status).toBe(200);
    const expired = await waitFor(
      async () => {
        const r = await callWith(issued.json.access_token, url);
        return r.status === 200 ? undefined : r;
      },
      { timeoutMs: 120_000, intervalMs: 2000, what: "the access token to expire" },
    );
    expect(expired.status).toBe(401);
    // Not before its lifetime (a little slack for the clock of the check).
    expect(Date.now() - issuedAt).toBeGreaterThan(55_000);
    const renewed = await token({ grant_type: "refresh_token", refresh_token: issued.json.refresh_token, client_id: provider.client!.client_id }, url);
    expect(renewed.status, renewed.body).toBe(200);
    expect((await callWith(renewed.json.access_token, url)).status).toBe(200);
  });
});
