/**
 * What a deployment's bundle carries, decided from its vars, and what wrangler
 * says the bundle is.
 *
 * Two parts of the Worker are imported through bare specifiers that
 * package.json "imports" resolves to the real module (so `wrangler dev`, the
 * tests and a plain `wrangler deploy` carry everything):
 * - `#python-runtime`: Pyodide (~13.4 MB of the upload), needed only when the
 *   deployment offers pg_code_run_python (tool group `code`, PYTHON not "false");
 * - `#neon-driver`: @neondatabase/serverless, needed only with DB_DRIVER=neon.
 * A deployment that does not use one gets a wrangler `alias` mapping its
 * specifier to a small module that says it is absent (sandbox/python/absent.ts,
 * worker/db/neon-absent.ts). `npm run deploy` passes them as `--alias`;
 * `npm run customer` writes them into the generated config.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";

const PROJECT_ROOT = join(import.meta.dirname, "..", "..");
const WRANGLER = join(PROJECT_ROOT, "node_modules", ".bin", "wrangler");

/** The modules a bundle gets instead of the real ones, as paths from the project root. */
export const ABSENT_MODULES = {
  "#python-runtime": "./sandbox/python/absent.ts",
  "#neon-driver": "./worker/db/neon-absent.ts",
} as const;

/** Cloudflare's Worker size limit, the same on every plan (current docs: 64 MiB; the old 3/10 MiB compressed limits are gone). */
export const WORKER_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;
/** Cloudflare's limit on a Worker's start-up (parsing and running its global scope). */
export const STARTUP_LIMIT_MS = 1000;

type Vars = Readonly<Record<string, unknown>>;

/** Whether a deployment with these vars lists pg_code_run_python (worker/config.ts reads TOOL_GROUPS and PYTHON the same way). */
export function offersPython(vars: Vars): boolean {
  const groups = String(vars.TOOL_GROUPS ?? "all").trim();
  const hasCode = groups === "" || groups === "all" || groups.split(",").some((g) => g.trim() === "code");
  return hasCode && String(vars.PYTHON ?? "true") !== "false";
}

export function usesNeon(vars: Vars): boolean {
  return String(vars.DB_DRIVER ?? "hyperdrive") === "neon";
}

/** The wrangler `alias` entries that leave out what a deployment with these vars does not use. */
export function bundleAliases(vars: Vars): Record<string, string> {
  const alias: Record<string, string> = {};
  if (!offersPython(vars)) alias["#python-runtime"] = ABSENT_MODULES["#python-runtime"];
  if (!usesNeon(vars)) alias["#neon-driver"] = ABSENT_MODULES["#neon-driver"];
  return alias;
}

/** As `wrangler deploy` flags (wrangler splits each at its first ":"). */
export function aliasFlags(alias: Readonly<Record<string, string>>): string[] {
  return Object.entries(alias).flatMap(([specifier, path]) => ["--alias", `${specifier}:${path}`]);
}

/** In words, for the command's output. */
export function leftOut(alias: Readonly<Record<string, string>>): string {
  const parts = [alias["#python-runtime"] && "Pyodide (no Python tool)", alias["#neon-driver"] && "the Neon driver (DB_DRIVER is not neon)"].filter(Boolean);
  return parts.length ? parts.join(", ") : "nothing";
}

export interface BundleReport {
  /** wrangler's own "Total Upload" figures (every module it sends, source maps excluded), bytes. */
  uploadBytes: number;
  gzipBytes: number;
  /** The files it wrote (the entry, wasm, text and data modules), names without wrangler's hash prefix. */
  modules: string[];
  /** The multipart upload wrangler would send, for `wrangler check startup --worker`. */
  workerBundle: string;
  /** The `--outdir` (Miniflare can serve it: startWorker's bundleDir). */
  dir: string;
  /** The source files esbuild put into index.js (its metafile's inputs), e.g. node_modules/zod/v4/locales/en.js. */
  inputs: string[];
}

const KIB = 1024;
const ANSI = /\x1b\[[0-9;]*m/g;

/** `wrangler deploy --dry-run` (offline) for a config, with extra args (e.g. `--alias`); the figures wrangler prints. */
export function dryRun(configPath: string, outDir: string, extraArgs: string[] = []): BundleReport {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const dist = join(outDir, "dist");
  const workerBundle = join(outDir, "worker.bundle");
  const metafile = join(outDir, "meta.json");
  const out = execFileSync(WRANGLER, ["deploy", "--dry-run", "--config", configPath, "--outdir", dist, "--outfile", workerBundle, "--metafile", metafile, ...extraArgs], {
    cwd: PROJECT_ROOT,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" },
  }).replace(ANSI, "");
  const total = /Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/.exec(out);
  if (!total) throw new Error(`wrangler deploy --dry-run printed no "Total Upload" line:\n${out}`);
  const modules = readdirSync(dist)
    .filter((f) => statSync(join(dist, f)).isFile() && !f.endsWith(".map") && f !== "README.md")
    .map((f) => f.replace(/^[0-9a-f]{40}-/, ""))
    .sort();
  const meta = JSON.parse(readFileSync(metafile, "utf8")) as { inputs: Record<string, unknown> };
  return { uploadBytes: Math.round(Number(total[1]) * KIB), gzipBytes: Math.round(Number(total[2]) * KIB), modules, workerBundle, dir: dist, inputs: Object.keys(meta.inputs) };
}

export interface StartupReport {
  /** CPU the start-up used in wrangler's local profile ("Active": sampled time less idle), ms. */
  activeMs: number;
  /** The whole profiled window (module evaluation, idle included), ms. */
  windowMs: number;
}

/**
 * `wrangler check startup --worker <bundle>`: wrangler loads the bundle in
 * workerd, imports its main module under the CPU profiler and prints the
 * profile's summary. Local, on this machine's CPU: an indication against the
 * 1 s limit, not Cloudflare's own measurement (which `wrangler deploy` prints
 * as "Worker Startup Time" after a real upload).
 */
export function startupProfile(workerBundle: string, outDir: string): StartupReport {
  const out = execFileSync(WRANGLER, ["check", "startup", "--worker", workerBundle, "--outfile", join(outDir, "startup.cpuprofile")], {
    cwd: PROJECT_ROOT,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" },
  }).replace(ANSI, "");
  const active = /Active: ([\d.]+) ms/.exec(out);
  const window = /Profile window: ([\d.]+) ms/.exec(out);
  if (!active || !window) throw new Error(`wrangler check startup printed no profile summary:\n${out}`);
  return { activeMs: Number(active[1]), windowMs: Number(window[1]) };
}

export const mib = (bytes: number) => `${(bytes / KIB / KIB).toFixed(1)} MiB`;

/** The lines `npm run customer` and `npm run deploy` print about a bundle. */
export function printBundleReport(r: { bundleBytes: number; gzipBytes: number; modules: readonly string[]; alias: Readonly<Record<string, string>>; startup?: StartupReport }): void {
  const over = r.bundleBytes > WORKER_SIZE_LIMIT_BYTES ? "  OVER THE LIMIT" : "";
  console.log(`upload: ${mib(r.bundleBytes)} in ${r.modules.length} files, ${mib(r.gzipBytes)} gzipped (wrangler's Total Upload); limit ${mib(WORKER_SIZE_LIMIT_BYTES)} on every plan${over}`);
  console.log(`left out: ${leftOut(r.alias)}`);
  if (r.startup) {
    const s = r.startup;
    const note = s.activeMs > STARTUP_LIMIT_MS ? "  OVER THE LIMIT" : "";
    console.log(`start-up: ${s.activeMs.toFixed(0)} ms CPU (${s.windowMs.toFixed(0)} ms profiled; wrangler check startup, on this machine); limit ${STARTUP_LIMIT_MS} ms${note}`);
  }
}
