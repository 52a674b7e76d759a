/** Per-customer deployments: the generated config, checked by wrangler's own dry run. */
import { afterAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { buildCustomer } from "../../scripts/customer";
import { WORKER_SIZE_LIMIT_BYTES } from "../../scripts/lib/bundle";
import { CustomerSchema } from "../../scripts/customers/schema";
import { customerConfig } from "../../scripts/customers/generate";
import { rolesSql } from "../../scripts/customers/roles-sql";

const example = (name: string) => join(import.meta.dirname, "..", "..", "customers", `${name}.example.json`);
// Not .deploy/<name>: the README smoke test (drift.test.ts) builds the same examples there, maybe at the same time.
const outRoot = join(import.meta.dirname, "..", "..", ".deploy", `test-${process.pid}`);
afterAll(() => rmSync(outRoot, { recursive: true, force: true }));

describe("npm run customer", () => {
  it("builds a Hyperdrive, read-only, OAuth customer that wrangler accepts", { timeout: 60_000 }, () => {
    const built = buildCustomer("acme", example("acme"), { outRoot });
    const c = built.config as { name: string; vars: Record<string, string>; hyperdrive: { id: string }[]; kv_namespaces: { id: string }[]; routes: unknown[]; durable_objects: unknown };
    expect(c.name).toBe("pg-mcp-acme");
    expect(c.vars).toMatchObject({ DB_DRIVER: "hyperdrive", TOOL_GROUPS: "query,schema,monitor", READ_ONLY: "true", AUTH_MODE: "required", MAX_ROWS: "500", RATE_LIMIT_PER_MINUTE: "300", PUBLIC_URL: "https://mcp.acme.example", ALLOWED_HOSTS: "mcp.acme.example" });
    expect(c.hyperdrive).toEqual([{ binding: "HYPERDRIVE", id: "0123456789abcdef0123456789abcdef" }]);
    expect(c.kv_namespaces).toEqual([{ binding: "OAUTH_KV", id: "fedcba9876543210fedcba9876543210" }]);
    expect(c.durable_objects).toBeDefined(); // inherited from wrangler.toml
    expect(built.secrets).toEqual(["API_KEYS", "OAUTH_ADMIN_PASSWORD"]);
    // Its groups offer no Python and it uses Hyperdrive: the bundle has neither Pyodide nor the Neon driver.
    expect(built.modules).toEqual(["index.js", "re2js.js.txt"]);
    expect(built.inputs.filter((f) => /pyodide|@neondatabase|sandbox\/python\/run\.ts|worker\/db\/neon\.ts/.test(f))).toEqual([]);
    expect(built.inputs.some((f) => f.endsWith("sandbox/python/absent.ts"))).toBe(true);
    expect(built.inputs.some((f) => f.endsWith("worker/db/neon-absent.ts"))).toBe(true);
    // wrangler's own total (index.js and re2js): Pyodide alone was ~13 MB.
    expect(built.bundleBytes).toBeGreaterThan(1024 * 1024);
    expect(built.bundleBytes).toBeLessThan(4 * 1024 * 1024);
    expect(built.gzipBytes).toBeLessThan(built.bundleBytes);
  });

  it("builds a Neon customer without a Hyperdrive binding", { timeout: 60_000 }, () => {
    const built = buildCustomer("globex", example("globex"), { outRoot });
    expect((built.config as { hyperdrive?: unknown }).hyperdrive).toBeUndefined();
    expect((built.config as { vars: Record<string, string> }).vars.DB_DRIVER).toBe("neon");
    expect(built.secrets).toEqual(["API_KEYS", "DATABASE_URL"]);
    // All groups (Python) and the Neon driver: the whole upload, Pyodide's wasm and standard library included; within the 64 MiB limit.
    expect(built.modules).toEqual(expect.arrayContaining(["index.js", "pyodide.asm.wasm.bin", "python_stdlib.zip.bin", "pyodide.asm.mjs.txt", "pyodide.mjs.txt"]));
    expect(built.inputs.some((f) => f.includes("node_modules/@neondatabase/serverless/"))).toBe(true);
    expect(built.inputs.some((f) => f.endsWith("sandbox/python/run.ts"))).toBe(true);
    expect(built.bundleBytes).toBeGreaterThan(10 * 1024 * 1024);
    expect(built.bundleBytes).toBeLessThan(WORKER_SIZE_LIMIT_BYTES);
  });

  it("refuses an invalid customer file with the field named", () => {
    expect(() => buildCustomer("bad", join(import.meta.dirname, "..", "..", "package.json"))).toThrow(/name|database/);
  });
});

describe("npm run customer: caller roles from the customer file", () => {
  const initech = () => CustomerSchema.parse(JSON.parse(readFileSync(example("initech"), "utf8")));

  it("gives each role its own Hyperdrive binding and lists it in DATABASE_ROLES", () => {
    const c = customerConfig(initech(), { vars: {} }, "index.js") as { vars: Record<string, string>; hyperdrive: { binding: string; id: string }[] };
    expect(c.vars.DATABASE_ROLES).toBe("initech_tenant_a");
    expect(c.hyperdrive).toEqual([
      { binding: "HYPERDRIVE", id: "00112233445566778899aabbccddeeff" },
      { binding: "HYPERDRIVE_INITECH_TENANT_A", id: "aa112233445566778899aabbccddeeff" },
    ]);
  });

  it("prints idempotent SQL: the role, schema and column grants, and the row filter as a policy", () => {
    const sql = rolesSql(initech());
    expect(sql[0]).toMatch(/IF NOT EXISTS .* CREATE ROLE "initech_tenant_a" LOGIN/);
    expect(sql).toContain('ALTER ROLE "initech_tenant_a" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS');
    expect(sql).toContain('GRANT USAGE ON SCHEMA "tenants" TO "initech_tenant_a"');
    expect(sql).toContain('GRANT SELECT ("id") ON "tenants"."a_private" TO "initech_tenant_a"');
    expect(sql).toContain('DROP POLICY IF EXISTS "pgmcp_initech_tenant_a" ON "tenants"."notes"');
    expect(sql).toContain('CREATE POLICY "pgmcp_initech_tenant_a" ON "tenants"."notes" TO "initech_tenant_a" USING (tenant = current_user) WITH CHECK (tenant = current_user)');
  });

  it("refuses a row filter that is not one expression, a role without its binding, and a table outside its schemas", () => {
    const base = JSON.parse(readFileSync(example("initech"), "utf8"));
    const bad = (mutate: (c: typeof base) => void) => {
      const c = structuredClone(base);
      mutate(c);
      return CustomerSchema.safeParse(c);
    };
    expect(bad((c) => (c.roles[0].tables[0].rowFilter = "true); drop table x; --")).success).toBe(false);
    expect(bad((c) => delete c.roles[0].hyperdriveId).success).toBe(false);
    expect(bad((c) => (c.roles[0].schemas = [])).success).toBe(false);
  });
});

describe("npm run customer: an operator's mistakes are one clear line, never a stack trace", () => {
  const ROOT = join(import.meta.dirname, "..", "..");
  const run = (...args: string[]) => spawnSync(join(ROOT, "node_modules", ".bin", "tsx"), [join(ROOT, "scripts", "customer.ts"), ...args], { encoding: "utf8", cwd: ROOT });
  const STACK_FRAME = /^\s+at .+:\d+:\d+\)?$/m;
  const bad = `zz-test-${process.pid}`;
  const badFile = join(ROOT, "customers", `${bad}.json`);
  afterAll(() => rmSync(badFile, { force: true }));

  it.each([
    ["no name", [], /^error: usage: npm run customer -- <name>/],
    ["an unknown customer", ["no-such-customer"], /^error: no customer file customers\/no-such-customer\.json \(copy one of customers\/\*\.example\.json/],
    ["an unknown option", ["acme.example", "--frobnicate"], /^error: Unknown option '--frobnicate'[\s\S]*usage: npm run customer/],
    ["a file that is not JSON", [bad, "not-json"], /^error: customers\/zz-test-\d+\.json is not valid JSON \(/],
    ["a file the schema refuses", [bad, "bad-schema"], /^error: customers\/zz-test-\d+\.json is invalid:\n[\s\S]*toolGroups/],
  ])("%s", { timeout: 60_000 }, (_what, args, message) => {
    const [first, kind] = args as string[];
    if (kind === "not-json") writeFileSync(badFile, '{"name": "zz",\n');
    if (kind === "bad-schema") writeFileSync(badFile, JSON.stringify({ name: "zz", database: { driver: "hyperdrive", hyperdriveId: "0".repeat(32) }, toolGroups: ["nope"] }));
    const r = run(...(kind === "not-json" || kind === "bad-schema" ? [first!] : (args as string[])));
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toMatch(message);
    expect(r.stderr + r.stdout).not.toMatch(STACK_FRAME);
  });
});
