/**
 * `npm run deploy`: `wrangler deploy` of wrangler.toml, with the `--alias`
 * flags that leave out what its [vars] do not use (Pyodide without the Python
 * tool, the Neon driver without DB_DRIVER=neon; scripts/lib/bundle.ts).
 * `npm run deploy -- --dry-run` builds offline and prints wrangler's upload
 * total and the start-up profile instead. Other arguments go to wrangler.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { unstable_readConfig } from "wrangler";
import { aliasFlags, bundleAliases, dryRun, leftOut, printBundleReport, startupProfile } from "./lib/bundle";

const ROOT = join(import.meta.dirname, "..");
const CONFIG = join(ROOT, "wrangler.toml");

const args = process.argv.slice(2);
// `--env <name>` (wrangler's environments) has vars of its own: decide from those.
const envArg = args.findIndex((a) => a === "--env" || a === "-e");
const env = envArg >= 0 ? args[envArg + 1] : args.find((a) => a.startsWith("--env="))?.slice("--env=".length);
const vars = unstable_readConfig({ config: CONFIG, env }, { hideWarnings: true }).vars;
const alias = bundleAliases(vars);
const aliasArgs = aliasFlags(alias);

if (args.includes("--dry-run")) {
  const built = dryRun(CONFIG, join(ROOT, ".deploy", "_base"), [...aliasArgs, ...args.filter((a) => a !== "--dry-run")]);
  console.log("config: wrangler.toml");
  printBundleReport({ bundleBytes: built.uploadBytes, gzipBytes: built.gzipBytes, modules: built.modules, alias, startup: startupProfile(built.workerBundle, join(ROOT, ".deploy", "_base")) });
} else {
  console.log(`left out of the bundle: ${leftOut(alias)}`);
  try {
    execFileSync(join(ROOT, "node_modules", ".bin", "wrangler"), ["deploy", ...aliasArgs, ...args], { cwd: ROOT, stdio: "inherit" });
  } catch {
    // wrangler printed why.
    process.exit(1);
  }
}
