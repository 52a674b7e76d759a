/**
 * OAuth 2.1 for MCP clients that expect it (Claude, ChatGPT, the MCP
 * Inspector): @cloudflare/workers-oauth-provider as authorization server and
 * resource server in this one Worker. Authorization code with PKCE, dynamic
 * client registration, a consent page (consent.ts) guarded by the deployment's
 * admin password, and tokens carrying the scopes granted there. Our own API
 * keys are accepted on /mcp too, through resolveExternalToken.
 */
import { OAuthProvider } from "@cloudflare/workers-oauth-provider";
import type { Config } from "../config";
import { SCOPES } from "../config";
import { verifyApiKey } from "./api-keys";
import { keyPrincipalId } from "./api-key-record";
import type { AuthProps } from "./authenticate";

type Handler = { fetch(request: Request, env: Env, ctx: ExecutionContext): Response | Promise<Response> };

const providers = new WeakMap<Config, OAuthProvider<Env>>();

export function oauthProvider(config: Config, app: Handler): OAuthProvider<Env> {
  let provider = providers.get(config);
  if (provider) return provider;
  const { publicUrl, accessTokenTtlS } = config.auth.oauth!;
  const resource = `${publicUrl}/mcp`;
  provider = new OAuthProvider<Env>({
    apiRoute: "/mcp",
    apiHandler: app as never,
    defaultHandler: app as never,
    authorizeEndpoint: "/authorize",
    tokenEndpoint: "/oauth/token",
    clientRegistrationEndpoint: "/oauth/register",
    scopesSupported: [...SCOPES],
    requiredScopes: ["read"],
    resourceMetadata: { resource, authorization_servers: [publicUrl], bearer_methods_supported: ["header"], resource_name: "PostgreSQL MCP server" },
    accessTokenTTL: accessTokenTtlS,
    resolveExternalToken: async ({ token }) => {
      const key = await verifyApiKey(token, config.auth.apiKeys);
      if (!key) return null;
      const props: AuthProps = { principalId: keyPrincipalId(key), name: key.name, scopes: key.scopes, ...(key.role ? { role: key.role, claims: key.claims ?? {}, caller: key.name } : {}) };
      return { props, audience: resource };
    },
  });
  providers.set(config, provider);
  return provider;
}
