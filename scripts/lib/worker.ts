/**
 * Runs the real Worker in workerd, pointed at a database through the
 * Hyperdrive binding's local connection string. Two ways:
 *
 * - `miniflare` (tests, benchmarks): the bundle `wrangler deploy --dry-run`
 *   produces, with bindings converted from wrangler.toml by wrangler itself,
 *   served by Miniflare directly. One workerd hop, quick to start.
 * - `wrangler` (`npm run dev`, and a smoke test): `wrangler dev` as a user runs
 *   it, with its proxy worker in front (about 2 ms more per request locally).
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, matchesGlob, resolve } from "node:path";
import type { Miniflare, V4MiniflareOptions, V4ModuleDefinition } from "miniflare";
import { freePort } from "./ports";
import { childPids } from "./cpu";

export const PROJECT_ROOT = join(import.meta.dirname, "..", "..");
const WRANGLER = join(PROJECT_ROOT, "node_modules", ".bin", "wrangler");
// One per process, so test runs in parallel (several developers, helpers) do not overwrite each other's bundle.
const BUILD_DIR = join(PROJECT_ROOT, ".wrangler", `test-build-${process.pid}`);

export interface RunningWorker {
  /** Base URL, e.g. http://127.0.0.1:8787 */
  url: string;
  /** The MCP endpoint. */
  mcpUrl: string;
  stop(): Promise<void>;
  /**
   * Miniflare only: a Durable Object namespace of the running Worker, reached
   * from Node (tests that must see or seed an object's state from outside).
   */
  durableObjects?(binding: string): ReturnType<Miniflare["getDurableObjectNamespace"]>;
  /**
   * Miniflare only: evicts a Durable Object (by class and name), as the runtime does to an idle
   * one: its next request meets a new incarnation that has only what it wrote to storage.
   */
  evictDurableObject?(className: string, name: string): Promise<void>;
  /**
   * Miniflare only, on Linux: the workerd process serving it (the benchmark reads its CPU time).
   * Found as the workerd child that appeared during the start: meaningful when Workers are started one at a time.
   */
  pid?: number;
}

export interface StartWorkerOptions {
  databaseUrl: string;
  /** Extra vars, overriding wrangler.toml. */
  vars?: Record<string, string>;
  /** @default "miniflare" */
  mode?: "miniflare" | "wrangler";
  /** @default a free port */
  port?: number;
  /** Pass the runtime's output through. @default false */
  verbose?: boolean;
  /** @default 60000 */
  startTimeoutMs?: number;
  /**
   * Miniflare only: bind a Durable Object binding to another class than
   * wrangler.toml says, as a miswired deployment would (e.g. AUDIT_LOG to a
   * class without the audit methods, to see how the Worker fails).
   */
  durableObjectClasses?: Record<string, string>;
  /** Miniflare only: more Hyperdrive bindings, by name (a caller role's own login: HYPERDRIVE_<ROLE>). */
  hyperdrives?: Record<string, string>;
  /**
   * Miniflare only: serve this `wrangler deploy --dry-run --outdir` output (e.g. a bundle built
   * without Pyodide or the Neon driver, scripts/lib/bundle.ts) instead of the default build, or a bundle
   * buildWorker() already wrote in another process (the test suite's global setup).
   * Bindings still come from wrangler.toml.
   */
  bundleDir?: string;
  /**
   * Miniflare only: another Worker's wrangler.toml, built and bound in place of the product's
   * (the benchmark's floor Worker, scripts/bench/floor). @default the project's wrangler.toml
   */
  config?: string;
}

export function startWorker(opts: StartWorkerOptions): Promise<RunningWorker> {
  return (opts.mode ?? "miniflare") === "miniflare" ? startMiniflare(opts) : startWranglerDev(opts);
}

const PROJECT_CONFIG = join(PROJECT_ROOT, "wrangler.toml");
const builds = new Map<string, string>();
/** Bundles the Worker (the product, or the one `config` names) the way `wrangler deploy` would, once per process. */
export function buildWorker(config = PROJECT_CONFIG): string {
  config = resolve(config);
  let dir = builds.get(config);
  if (!dir) {
    dir = config === PROJECT_CONFIG ? BUILD_DIR : `${BUILD_DIR}-${builds.size}`;
    execFileSync(WRANGLER, ["deploy", "--dry-run", "--config", config, "--outdir", dir], { cwd: PROJECT_ROOT, stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, WRANGLER_SEND_METRICS: "false", WRANGLER_LOG: "error" } });
    builds.set(config, dir);
    const built = dir;
    process.once("exit", () => rmSync(built, { recursive: true, force: true }));
  }
  return dir;
}

const LOCAL_PROXY_FIXES = join(PROJECT_ROOT, "scripts", "lib", "local-proxy-fixes.cjs");

async function startMiniflare(opts: StartWorkerOptions): Promise<RunningWorker> {
  const config = resolve(opts.config ?? PROJECT_CONFIG);
  if (opts.config && opts.bundleDir) throw new Error("config and bundleDir name two builds: give one");
  const dir = opts.bundleDir ?? buildWorker(config);
  createRequire(import.meta.url)(LOCAL_PROXY_FIXES);
  const { Miniflare, Log, LogLevel, convertV4MiniflareOptions } = await import("miniflare");
  const { unstable_getMiniflareWorkerOptions } = await import("wrangler");
  const { workerOptions } = unstable_getMiniflareWorkerOptions(config);
  const { modulesRules, ...rest } = workerOptions;
  // Miniflare 5 takes its own options shape; wrangler hands out the v4 one and converts it the same way.
  // The conversion refuses `modulesRules` (finding modules by rule), so the bundle's modules are listed here.
  const options: V4MiniflareOptions = {
    ...rest,
    name: config === PROJECT_CONFIG ? "pg-mcp" : String(workerOptions.name ?? basename(dirname(config))),
    modules: bundleModules(dir, modulesRules ?? []),
    modulesRoot: dir,
    bindings: { ...(workerOptions.bindings ?? {}), ...(opts.vars ?? {}) },
    durableObjects: rebind(workerOptions.durableObjects as Record<string, { className: string }> | undefined, opts.durableObjectClasses),
    hyperdrives: { ...(opts.hyperdrives ?? {}), HYPERDRIVE: opts.databaseUrl },
    host: "127.0.0.1",
    port: opts.port ?? 0,
    log: new Log(opts.verbose ? LogLevel.INFO : LogLevel.WARN),
    // Request.cf: the placeholder, not a download from Cloudflare (offline it is a warning with a stack trace; the Worker reads none of it).
    cf: false,
  };
  const before = new Set(childPids(process.pid, "workerd"));
  const mf = new Miniflare(convertV4MiniflareOptions(options));
  const url = (await mf.ready).origin;
  const pid = childPids(process.pid, "workerd").find((p) => !before.has(p));
  return {
    url,
    mcpUrl: `${url}/mcp`,
    stop: () => mf.dispose(),
    durableObjects: (binding) => mf.getDurableObjectNamespace(binding),
    evictDurableObject: (className, name) => mf.unsafeEvictDurableObject(options.name ?? "pg-mcp", className, { name }),
    ...(pid ? { pid } : {}),
  };
}

type ModuleRule = { type: V4ModuleDefinition["type"]; include: string[] };

/**
 * The modules `wrangler deploy --dry-run` wrote: `index.js` as the entry, and
 * every other file a module rule (wrangler's defaults plus wrangler.toml's
 * `rules`) types, as the deploy would upload them. Source maps and the README
 * wrangler writes beside them match no rule and stay out.
 */
function bundleModules(dir: string, rules: ModuleRule[]): V4ModuleDefinition[] {
  const typeOf = (file: string) => rules.find((r) => r.include.some((glob) => matchesGlob(file, glob)))?.type;
  const modules: V4ModuleDefinition[] = [{ type: "ESModule", path: join(dir, "index.js") }];
  for (const file of readdirSync(dir, { recursive: true, encoding: "utf8" }).sort()) {
    const type = file === "index.js" ? undefined : typeOf(file);
    if (type) modules.push({ type, path: join(dir, file) });
  }
  return modules;
}

function rebind(bindings: Record<string, { className: string }> | undefined, classes: Record<string, string> = {}) {
  const out = { ...(bindings ?? {}) };
  for (const [name, className] of Object.entries(classes)) {
    if (!out[name]) throw new Error(`no Durable Object binding ${name} in wrangler.toml`);
    out[name] = { ...out[name], className };
  }
  return out;
}

async function startWranglerDev(opts: StartWorkerOptions): Promise<RunningWorker> {
  if (opts.durableObjectClasses) throw new Error("durableObjectClasses needs the miniflare mode");
  // wrangler dev only binds what the config declares; a generated config per role is the customer tooling's job.
  if (opts.hyperdrives) throw new Error("extra Hyperdrive bindings need the miniflare mode");
  if (opts.bundleDir) throw new Error("a prebuilt bundle needs the miniflare mode");
  if (opts.config) throw new Error("another Worker's config needs the miniflare mode");
  const port = opts.port ?? (await freePort());
  const inspectorPort = await freePort();
  const persistDir = mkdtempSync(join(tmpdir(), "pg-mcp-wrangler-"));
  const args = ["dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort), "--persist-to", persistDir, "--show-interactive-dev-session=false", "--log-level", opts.verbose ? "info" : "warn"];
  for (const [k, v] of Object.entries(opts.vars ?? {})) args.push("--var", `${k}:${v}`);
  const child: ChildProcess = spawn(WRANGLER, args, {
    cwd: PROJECT_ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE: opts.databaseUrl,
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --require ${LOCAL_PROXY_FIXES}`.trim(),
      WRANGLER_SEND_METRICS: "false",
      // As cf: false above, for wrangler dev's Miniflare.
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      NO_COLOR: "1",
    },
  });
  let output = "";
  const collect = (chunk: Buffer) => {
    const s = chunk.toString();
    output = (output + s).slice(-20_000);
    if (opts.verbose) process.stderr.write(s);
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  let exited = false;
  child.on("exit", () => (exited = true));
  // wrangler runs in its own process group (so Ctrl-C reaches us, not it): take it down if we exit first.
  const killGroup = () => {
    if (!exited && child.pid) {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {}
    }
  };
  process.once("exit", killGroup);

  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (!exited && child.pid) {
      const done = new Promise((r) => child.once("exit", r));
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {}
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {}
      }, 5000);
      await done;
      clearTimeout(timer);
    }
    rmSync(persistDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`wrangler dev exited during start-up:\n${output}`);
    }
    try {
      const r = await fetch(`${url}/`);
      if (r.ok) break;
    } catch {}
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev did not answer within ${opts.startTimeoutMs ?? 60_000} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  return { url, mcpUrl: `${url}/mcp`, stop };
}
