/**
 * Who is calling /mcp. With OAuth on, the provider has already verified the
 * bearer token (its own tokens, or our API keys through resolveExternalToken)
 * and left the caller in ctx.props. Without OAuth, API keys are checked here.
 * AUTH_MODE=none serves loopback only, unless explicitly opened.
 */
import type { Config } from "../config";
import { verifyApiKey } from "./api-keys";
import { keyPrincipalId } from "./api-key-record";
import { makePrincipal, type Principal } from "./principal";

/** What the auth layer stores in ctx.props for /mcp. */
export interface AuthProps {
  /** "key:<hash id>" or "oauth:<user>:<client>:<grant>": unique per credential, never a display name. */
  principalId: string;
  /** For people (audit): the key's name, or the OAuth client's. */
  name?: string;
  scopes: string[];
  /** The database role the caller acts as (a key's `role`, or the role chosen at consent), with its claims. */
  role?: string;
  claims?: Record<string, unknown>;
  /** `pgmcp.caller` for that role's policies: the key's name or the OAuth user id. */
  caller?: string;
}

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

export function protectedResourceMetadata(requestUrl: string, config: Config) {
  const origin = config.auth.oauth?.publicUrl ?? new URL(requestUrl).origin;
  return {
    resource: `${origin}/mcp`,
    ...(config.auth.oauth ? { authorization_servers: [origin] } : {}),
    scopes_supported: ["read", "write", "admin"],
    bearer_methods_supported: ["header"],
    resource_name: "PostgreSQL MCP server",
  };
}

export function unauthorized(requestUrl: string, description: string): Response {
  const origin = new URL(requestUrl).origin;
  return Response.json(
    { jsonrpc: "2.0", id: null, error: { code: -32001, message: `unauthorized: ${description}` } },
    {
      status: 401,
      headers: {
        "WWW-Authenticate": `Bearer resource_metadata="${origin}/.well-known/oauth-protected-resource/mcp", error="invalid_token", error_description="${description}"`,
      },
    },
  );
}

export async function authenticate(request: Request, env: Env, ctx: ExecutionContext, config: Config): Promise<Principal | Response> {
  if (config.auth.oauth) {
    const props = (ctx as ExecutionContext & { props?: Partial<AuthProps> }).props;
    const auth = (ctx as ExecutionContext & { auth?: { scope?: string[]; clientId?: string } }).auth;
    if (!props?.principalId) return unauthorized(request.url, "missing credentials");
    // An OAuth token carries the scopes granted at consent (possibly narrowed later); an API key its stored scopes.
    const scopes = props.principalId.startsWith("oauth:") ? (auth?.scope ?? []) : (props.scopes ?? []);
    return makePrincipal(props.principalId, scopes, config, props.name, props);
  }
  if (config.auth.mode === "none") {
    const host = new URL(request.url).hostname;
    if (!LOOPBACK.has(host) && !config.auth.allowUnauthenticatedRemote) {
      return unauthorized(request.url, "this server runs without authentication and only serves localhost (set AUTH_MODE=required and API_KEYS)");
    }
    return makePrincipal("local", ["admin"], config);
  }
  const header = request.headers.get("authorization") ?? "";
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  if (!m) return unauthorized(request.url, "missing bearer token");
  const key = await verifyApiKey(m[1]!, config.auth.apiKeys);
  if (!key) return unauthorized(request.url, "invalid token");
  return makePrincipal(keyPrincipalId(key), key.scopes, config, key.name, { role: key.role, claims: key.claims, caller: key.name });
}
