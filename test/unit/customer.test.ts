/** Per-customer deployments: the generated config, checked by wrangler's own dry run. */
import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { WORKER_SIZE_LIMIT_BYTES, buildCustomer } from "../../scripts/customer";

const example = (name: string) => join(import.meta.dirname, "..", "..", "customers", `${name}.example.json`);

describe("npm run customer", () => {
  it("builds a Hyperdrive, read-only, OAuth customer that wrangler accepts", { timeout: 60_000 }, () => {
    const built = buildCustomer("acme", example("acme"));
    const c = built.config as { name: string; vars: Record<string, string>; hyperdrive: { id: string }[]; kv_namespaces: { id: string }[]; routes: unknown[]; durable_objects: unknown };
    expect(c.name).toBe("pg-mcp-acme");
    expect(c.vars).toMatchObject({ DB_DRIVER: "hyperdrive", TOOL_GROUPS: "query,schema,monitor", READ_ONLY: "true", AUTH_MODE: "required", MAX_ROWS: "500", RATE_LIMIT_PER_MINUTE: "300", PUBLIC_URL: "https://mcp.acme.example", ALLOWED_HOSTS: "mcp.acme.example" });
    expect(c.hyperdrive).toEqual([{ binding: "HYPERDRIVE", id: "0123456789abcdef0123456789abcdef" }]);
    expect(c.kv_namespaces).toEqual([{ binding: "OAUTH_KV", id: "fedcba9876543210fedcba9876543210" }]);
    expect(c.durable_objects).toBeDefined(); // inherited from wrangler.toml
    expect(built.secrets).toEqual(["API_KEYS", "OAUTH_ADMIN_PASSWORD"]);
    // The whole upload, Pyodide's wasm and standard library included, not index.js alone; within the 64 MiB limit.
    expect(built.modules).toBeGreaterThan(1);
    expect(built.bundleBytes).toBeGreaterThan(10 * 1024 * 1024);
    expect(built.bundleBytes).toBeLessThan(WORKER_SIZE_LIMIT_BYTES);
  });

  it("builds a Neon customer without a Hyperdrive binding", { timeout: 60_000 }, () => {
    const built = buildCustomer("globex", example("globex"));
    expect((built.config as { hyperdrive?: unknown }).hyperdrive).toBeUndefined();
    expect((built.config as { vars: Record<string, string> }).vars.DB_DRIVER).toBe("neon");
    expect(built.secrets).toEqual(["API_KEYS", "DATABASE_URL"]);
  });

  it("refuses an invalid customer file with the field named", () => {
    expect(() => buildCustomer("bad", join(import.meta.dirname, "..", "..", "package.json"))).toThrow(/name|database/);
  });
});
