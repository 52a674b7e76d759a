/**
 * `npm run customer -- <name>`: customers/<name>.json -> .deploy/<name>/wrangler.jsonc,
 * checked with `wrangler deploy --dry-run` (offline): wrangler's upload total,
 * what the bundle leaves out (scripts/lib/bundle.ts) and the start-up profile.
 * `npm run customer -- <name> --deploy` then deploys it for real.
 * `npm run customer -- <name> --roles-sql` prints the SQL for the customer's
 * caller roles (grants, column grants, row filters as RLS policies);
 * `--apply-roles --database-url <admin url>` applies it (idempotent), and with
 * `--dry-run` prints what it would change and changes nothing.
 */
import { existsSync, readFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { execFileSync } from "node:child_process";
import { parseArgs } from "node:util";
import { z } from "zod";
import { experimental_readRawConfig } from "wrangler";
import { CustomerSchema } from "./customers/schema";
import { customerConfig, headerComment, secretsFor } from "./customers/generate";
import { applyCustomerRoles, rolesSql } from "./customers/roles-sql";
import { dryRun, printBundleReport, startupProfile, type StartupReport } from "./lib/bundle";

const ROOT = join(import.meta.dirname, "..");
const WRANGLER = join(ROOT, "node_modules", ".bin", "wrangler");

export interface BuiltCustomer {
  configPath: string;
  /** wrangler's "Total Upload": everything it uploads (the script and its wasm, text and data modules), not index.js alone. */
  bundleBytes: number;
  gzipBytes: number;
  /** The uploaded files (index.js, pyodide.asm.wasm, ...). */
  modules: string[];
  /** The wrangler aliases that leave parts out (scripts/lib/bundle.ts). */
  alias: Record<string, string>;
  /** The source files in index.js (esbuild's metafile). */
  inputs: string[];
  /** With `startup`: wrangler's local start-up profile of the bundle. */
  startup?: StartupReport;
  secrets: string[];
}

export interface BuildOptions {
  /** Also profile the bundle's start-up (wrangler check startup). @default false */
  startup?: boolean;
  /** Where <name>/wrangler.jsonc and its build go. @default .deploy */
  outRoot?: string;
}

export function buildCustomer(name: string, file = join(ROOT, "customers", `${name}.json`), opts: BuildOptions = {}): BuiltCustomer & { config: Record<string, unknown> } {
  const parsed = CustomerSchema.safeParse(readCustomerFile(file));
  if (!parsed.success) throw new UsageError(`${relative(ROOT, file)} is invalid:\n${z.prettifyError(parsed.error)}`);
  const customer = parsed.data;
  const outDir = join(opts.outRoot ?? join(ROOT, ".deploy"), customer.name);
  mkdirSync(outDir, { recursive: true });
  const base = experimental_readRawConfig({ config: join(ROOT, "wrangler.toml") }).rawConfig as Record<string, unknown>;
  const configPath = join(outDir, "wrangler.jsonc");
  const config = customerConfig(customer, base, relative(outDir, join(ROOT, base.main as string)), relative(outDir, ROOT));
  writeFileSync(configPath, headerComment(customer) + JSON.stringify(config, null, 2));
  const built = dryRun(configPath, join(outDir, "build"));
  return {
    config,
    configPath,
    bundleBytes: built.uploadBytes,
    gzipBytes: built.gzipBytes,
    modules: built.modules,
    inputs: built.inputs,
    alias: config.alias as Record<string, string>,
    startup: opts.startup ? startupProfile(built.workerBundle, join(outDir, "build")) : undefined,
    secrets: secretsFor(customer),
  };
}

/** --roles-sql / --apply-roles: the customer's caller roles as SQL, printed or applied. Returns the exit code. */
async function customerRoles(file: string, opts: { apply: boolean; dryRun: boolean; url?: string }): Promise<number> {
  const parsed = CustomerSchema.safeParse(readCustomerFile(file));
  if (!parsed.success) {
    console.error(`error: ${relative(ROOT, file)} is invalid:\n${z.prettifyError(parsed.error)}`);
    return 2;
  }
  const customer = parsed.data;
  if (customer.roles.length === 0) {
    console.error(`error: ${relative(ROOT, file)} declares no roles`);
    return 2;
  }
  if (!opts.apply) {
    console.log(`-- Caller roles of ${customer.name} (idempotent; run as an administrator). Then: ALTER ROLE <role> PASSWORD '...' and point each role's Hyperdrive config at it.`);
    for (const s of rolesSql(customer)) console.log(`${s};`);
    return 0;
  }
  if (!opts.url) {
    console.error("error: --apply-roles needs --database-url (an administrator's connection string) or ADMIN_DATABASE_URL");
    return 2;
  }
  const outcome = await applyCustomerRoles(opts.url, customer, { dryRun: opts.dryRun });
  console.log(outcome.changes.length ? outcome.changes.join("\n") : "no changes: the database already matches the file");
  console.log(opts.dryRun ? "(dry run: nothing was changed)" : "applied");
  return 0;
}

/** A mistake the operator can fix: said in one line (or the schema's list), no stack trace, exit 2. */
class UsageError extends Error {}
const USAGE = "usage: npm run customer -- <name> [--deploy | --roles-sql | --apply-roles --database-url URL [--dry-run]]   (reads customers/<name>.json)";

/** customers/<name>.json as JSON: a syntax error is the operator's to fix, said with the file's name. */
function readCustomerFile(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new UsageError(`${relative(ROOT, file)} is not valid JSON (${(e as Error).message})`);
  }
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: { deploy: { type: "boolean", default: false }, "roles-sql": { type: "boolean", default: false }, "apply-roles": { type: "boolean", default: false }, "dry-run": { type: "boolean", default: false }, "database-url": { type: "string" } },
    });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${USAGE}`);
  }
  const { positionals, values } = parsed;
  const name = positionals[0];
  if (!name) throw new UsageError(USAGE);
  const file = join(ROOT, "customers", `${name}.json`);
  if (!existsSync(file)) throw new UsageError(`no customer file ${relative(ROOT, file)} (copy one of customers/*.example.json and edit it)`);
  readCustomerFile(file);
  if (values["roles-sql"] || values["apply-roles"]) {
    return customerRoles(file, { apply: values["apply-roles"]!, dryRun: values["dry-run"]!, url: values["database-url"] ?? process.env.ADMIN_DATABASE_URL });
  }
  let built;
  try {
    built = buildCustomer(name, file, { startup: true });
  } catch (e) {
    // wrangler's own failure: it printed why above.
    if ((e as { status?: unknown }).status !== undefined) throw new UsageError(`wrangler could not build ${name}'s Worker (exit ${(e as { status: unknown }).status}); its output above says why`);
    throw new UsageError((e as Error).message);
  }
  console.log(`config: ${relative(ROOT, built.configPath)}`);
  printBundleReport(built);
  console.log(`secrets to put: ${built.secrets.map((s) => `npx wrangler secret put ${s} --config ${relative(ROOT, built.configPath)}`).join("\n                ")}`);
  if (values.deploy) {
    try {
      execFileSync(WRANGLER, ["deploy", "--config", built.configPath], { cwd: ROOT, stdio: "inherit" });
    } catch (e) {
      throw new UsageError(`wrangler deploy failed (exit ${(e as { status?: unknown }).status ?? "?"}); its output above says why`);
    }
  }
  return 0;
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  try {
    process.exitCode = await main();
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`error: ${e.message}`);
    process.exitCode = 2;
  }
  process.exit();
}
