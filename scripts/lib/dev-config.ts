/**
 * `npm run dev` checks the configuration the Worker will get before it starts
 * anything: the vars wrangler dev hands the Worker (wrangler.toml's [vars],
 * then `.dev.vars`, or `.env` files and, with CLOUDFLARE_INCLUDE_PROCESS_ENV,
 * the environment, as wrangler itself reads them), then the `--var` overrides,
 * through the Worker's own parser. A bad value is named at start, not by a 500
 * on every request.
 */
import { join } from "node:path";
import { unstable_getVarsForDev, unstable_readConfig } from "wrangler";
import { ConfigError, getConfig } from "../../worker/config";
import { PROJECT_ROOT } from "./worker";

// The Worker's generated Env is not part of the Node typecheck; getConfig only reads vars and checks that bindings exist.
declare global {
  interface Env {}
}

/** The configuration problem getConfig reports for what `wrangler dev` would run, or undefined when there is none. */
export function devConfigProblem(overrides: Record<string, string>, configPath = join(PROJECT_ROOT, "wrangler.toml")): string | undefined {
  const config = unstable_readConfig({ config: configPath }, { hideWarnings: true });
  const vars = unstable_getVarsForDev(configPath, undefined, config.vars, undefined, true);
  const env: Record<string, unknown> = {};
  for (const [name, binding] of Object.entries(vars)) env[name] = binding.type === "json" ? JSON.stringify(binding.value) : binding.value;
  Object.assign(env, overrides);
  // Bindings are checked for presence only; wrangler.toml declares them.
  for (const { binding } of [...config.hyperdrive, ...config.kv_namespaces]) env[binding] = {};
  try {
    getConfig(env as unknown as Env);
    return undefined;
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
}
