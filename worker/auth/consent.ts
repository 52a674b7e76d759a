/**
 * The OAuth consent page at /authorize. The upstream identity check is the
 * deployment's admin password (OAUTH_ADMIN_PASSWORD secret): whoever knows it
 * may grant a client the scopes ticked on the page. Swap this module for an
 * upstream OIDC sign-in (see the provider's docs/upstream-sign-in.md) to tie
 * grants to people.
 */
import { AuthorizationError, type ConsentDescription } from "@cloudflare/workers-oauth-provider";
import { getConfig, SCOPES } from "../config";
import { sha256Hex } from "./api-keys";
import type { AuthProps } from "./authenticate";

type OAuthEnv = Env & { OAUTH_PROVIDER: import("@cloudflare/workers-oauth-provider").OAuthHelpers };

const escape = (value: string) => value.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

/** The database roles a grant may act as (DATABASE_ROLES); none chosen: the server's roles. */
function roleChoice(roles: readonly string[]): string {
  if (roles.length === 0) return "";
  const options = roles.map((r) => `<option value="${escape(r)}">${escape(r)}</option>`).join("");
  return `<p><label>Act as database role <select name="role"><option value="">(the server's roles)</option>${options}</select></label></p>`;
}

function page(details: ConsentDescription, handle: string, roles: readonly string[], message?: string): string {
  const name = escape(details.clientName);
  const requested = details.scope.length ? details.scope : ["read"];
  const scopes = SCOPES.map(
    (s) => `<label><input type="checkbox" name="scope" value="${s}"${requested.includes(s) ? " checked" : ""}> ${s}</label>`,
  ).join("<br>");
  return `<!doctype html>
<meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Authorize ${name}</title>
<h1>Allow ${name} to use this PostgreSQL server?</h1>
<p>${details.clientDomain ? `Published by <strong>${escape(details.clientDomain)}</strong>.` : "This app registered itself; its name is not verified."}
Access will be sent to <strong>${escape(details.redirectHost)}</strong>.</p>
${details.redirectIsLoopback ? "<p><strong>This sends access to an app on your computer.</strong> Continue only if you just started signing in from it.</p>" : ""}
${message ? `<p style="color:#b00">${escape(message)}</p>` : ""}
<form method="post">
<input type="hidden" name="handle" value="${escape(handle)}">
<p>${scopes}</p>
${roleChoice(roles)}
<p><label>Admin password <input type="password" name="password" autocomplete="current-password"></label></p>
<p><button name="decision" value="approve">Allow</button> <button name="decision" value="deny">Deny</button></p>
</form>`;
}

function renderError(message: string, status = 400): Response {
  return new Response(escape(message), { status, headers: { "Content-Type": "text/plain; charset=utf-8" } });
}

function notEnabled(): Response {
  return renderError("OAuth is not enabled on this deployment (set PUBLIC_URL and the OAUTH_ADMIN_PASSWORD secret)", 404);
}

export async function consentPage(request: Request, env: Env): Promise<Response> {
  const config = getConfig(env);
  if (!config.auth.oauth) return notEnabled();
  const oauth = (env as OAuthEnv).OAUTH_PROVIDER;
  try {
    const authRequest = await oauth.parseAuthRequest(request);
    const details = await oauth.describeConsent(authRequest);
    const consent = await oauth.beginConsent(authRequest);
    consent.headers.set("Content-Type", "text/html; charset=utf-8");
    return new Response(page(details, consent.handle, config.databaseRoles), { headers: consent.headers });
  } catch (e) {
    if (e instanceof AuthorizationError && e.redirectTo) return Response.redirect(e.redirectTo, 302);
    if (e instanceof AuthorizationError) return renderError(e.description);
    throw e;
  }
}

export async function consentSubmit(request: Request, env: Env): Promise<Response> {
  const config = getConfig(env);
  if (!config.auth.oauth) return notEnabled();
  const oauth = (env as OAuthEnv).OAUTH_PROVIDER;
  const form = await request.formData();
  const handle = String(form.get("handle") ?? "");
  try {
    if (form.get("decision") !== "approve") {
      const denied = await oauth.denyConsent(request, handle);
      denied.headers.set("Location", denied.redirectTo);
      return new Response(null, { status: 302, headers: denied.headers });
    }
    // Compare hashes so the comparison time does not depend on where the strings differ.
    const [given, expected] = await Promise.all([sha256Hex(String(form.get("password") ?? "")), sha256Hex(config.auth.oauth.adminPassword)]);
    if (given !== expected) return renderError("wrong admin password; go back and try again", 401);
    const scope = form.getAll("scope").map(String).filter((s) => (SCOPES as readonly string[]).includes(s));
    if (scope.length === 0) return renderError("tick at least one scope", 400);
    // A grant may act as one of the deployment's caller roles (README, Per-caller identity); the client cannot change it later.
    const role = String(form.get("role") ?? "");
    if (role !== "" && !config.databaseRoles.includes(role)) return renderError(`"${role}" is not one of this deployment's database roles (DATABASE_ROLES)`, 400);
    const approved = await oauth.approveConsent(request, handle, { scope });
    // One identity per grant: who consented, to which client, this time. Two grants to one client (a shared
    // client id, or the same app installed twice) own their transactions and spend their budgets apart.
    const userId = "admin";
    const grant = [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, "0")).join("");
    const { redirectTo } = await oauth.completeAuthorization({
      request: approved.request,
      userId,
      metadata: {},
      scope: approved.request.scope,
      props: {
        principalId: `oauth:${userId}:${approved.request.clientId}:${grant}`,
        name: approved.request.clientId,
        scopes: approved.request.scope,
        // With an upstream sign-in, put the identity provider's claims here (its subject, groups, tenant).
        ...(role ? { role, caller: userId, claims: { sub: userId, client_id: approved.request.clientId } } : {}),
      } satisfies AuthProps,
    });
    approved.headers.set("Location", redirectTo);
    return new Response(null, { status: 302, headers: approved.headers });
  } catch (e) {
    if (e instanceof AuthorizationError) return renderError(e.description);
    throw e;
  }
}
