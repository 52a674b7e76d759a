/** What a deployment's bundle leaves out, decided from its configuration (scripts/lib/bundle.ts). */
import { describe, expect, it } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { experimental_readRawConfig } from "wrangler";
import { ABSENT_MODULES, bundleAliases, leftOut, offersPython } from "../../scripts/lib/bundle";
import { customerConfig } from "../../scripts/customers/generate";
import { CustomerSchema } from "../../scripts/customers/schema";

const ROOT = join(import.meta.dirname, "..", "..");
const customer = (name: string) => CustomerSchema.parse(JSON.parse(readFileSync(join(ROOT, "customers", `${name}.example.json`), "utf8")));
const base = () => experimental_readRawConfig({ config: join(ROOT, "wrangler.toml") }).rawConfig as Record<string, unknown>;

describe("bundle aliases", () => {
  it("offers Python only with the code group (or all) and PYTHON not false", () => {
    expect(offersPython({})).toBe(true);
    expect(offersPython({ TOOL_GROUPS: "all" })).toBe(true);
    expect(offersPython({ TOOL_GROUPS: "query, code" })).toBe(true);
    expect(offersPython({ TOOL_GROUPS: "query,codemode" })).toBe(false);
    expect(offersPython({ TOOL_GROUPS: "all", PYTHON: "false" })).toBe(false);
  });

  it("leaves out the Neon driver unless DB_DRIVER is neon, and Pyodide unless Python is offered", () => {
    expect(bundleAliases({ DB_DRIVER: "neon", TOOL_GROUPS: "all" })).toEqual({});
    expect(bundleAliases({ DB_DRIVER: "hyperdrive", TOOL_GROUPS: "all" })).toEqual({ "#neon-driver": "./worker/db/neon-absent.ts" });
    expect(bundleAliases({ TOOL_GROUPS: "query" })).toEqual(ABSENT_MODULES);
    expect(leftOut(bundleAliases({ TOOL_GROUPS: "query" }))).toBe("Pyodide (no Python tool), the Neon driver (DB_DRIVER is not neon)");
  });

  it("resolves each specifier to a real module by default (package.json imports) and names absent modules that exist", () => {
    const imports = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { imports: Record<string, string> }).imports;
    expect(Object.keys(imports).sort()).toEqual(Object.keys(ABSENT_MODULES).sort());
    for (const [specifier, absent] of Object.entries(ABSENT_MODULES)) {
      expect(existsSync(join(ROOT, imports[specifier]!)), specifier).toBe(true);
      expect(existsSync(join(ROOT, absent)), absent).toBe(true);
    }
  });

  it("wrangler.toml drops zod's locales for an empty module, and zod still answers in English", async () => {
    const alias = base().alias as Record<string, string>;
    expect(alias).toEqual({ "../locales/index.js": "./worker/bundle/empty.ts" });
    expect(Object.keys(await import("../../worker/bundle/empty"))).toEqual([]);
    // zod's English messages come from ../locales/en.js, which the alias does not touch.
    expect(readFileSync(join(ROOT, "node_modules/zod/v4/classic/schemas.js"), "utf8")).toContain('import en from "../locales/en.js"');
  });

  it("writes each customer's aliases into its config, with paths from the config's directory", () => {
    const b = base();
    const aliasOf = (name: string) => customerConfig(customer(name), b, "../../worker/index.ts", "../..").alias;
    // acme: query, schema, monitor on Hyperdrive.
    expect(aliasOf("acme")).toEqual({
      "../locales/index.js": "../../worker/bundle/empty.ts",
      "#neon-driver": "../../worker/db/neon-absent.ts",
      "#python-runtime": "../../sandbox/python/absent.ts",
    });
    // globex: all groups on Neon: everything.
    expect(aliasOf("globex")).toEqual({ "../locales/index.js": "../../worker/bundle/empty.ts" });
    // initech: codemode but not code: no Python.
    expect(aliasOf("initech")).toMatchObject({ "#python-runtime": "../../sandbox/python/absent.ts", "#neon-driver": "../../worker/db/neon-absent.ts" });
  });
});
