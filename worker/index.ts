/**
 * The Worker entry: the Hono app, behind the OAuth provider when OAuth is
 * enabled, and the Durable Object classes the deployment binds.
 */
import { app } from "./app";
import { ConfigError, getConfig } from "./config";

export { Limits } from "../durable-objects/limits";
export { DeploymentLimits } from "../durable-objects/deployment-limits";
export { AuditLog } from "../durable-objects/audit-log";
export { AuditIndex } from "../durable-objects/audit-index";
export { TxSession } from "../durable-objects/tx-session";

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    let config;
    try {
      config = getConfig(env);
    } catch (e) {
      if (e instanceof ConfigError) return Response.json({ error: "misconfigured", message: e.message }, { status: 500 });
      throw e;
    }
    if (!config.auth.oauth) return app.fetch(request, env, ctx);
    // Loaded only with OAuth on: the OAuth library warns about CIMD when it is evaluated, which means nothing without OAuth.
    const { oauthProvider } = await import("./auth/oauth");
    return oauthProvider(config, app).fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;
