/** Configuration limits that fail loudly instead of being clamped, through the real getConfig. */
import { describe, expect, it } from "vitest";
import { ConfigError, getConfig } from "../../worker/config";

// The Worker's generated Env is not part of the Node typecheck; getConfig only reads vars from it.
declare global {
  interface Env {}
}

const env = (vars: Record<string, string>) => ({ HYPERDRIVE: {}, ...vars }) as unknown as Env;

describe("transaction lease limits", () => {
  it("accepts TX_IDLE_TIMEOUT_MS up to 60 s", () => {
    expect(getConfig(env({ TX_IDLE_TIMEOUT_MS: "60000" })).tx.idleTimeoutMs).toBe(60_000);
  });

  it("refuses TX_IDLE_TIMEOUT_MS above 60 s, naming the variable (an idle Durable Object holding a socket is evicted after about a minute)", () => {
    expect(() => getConfig(env({ TX_IDLE_TIMEOUT_MS: "60001" }))).toThrow(ConfigError);
    expect(() => getConfig(env({ TX_IDLE_TIMEOUT_MS: "60001" }))).toThrow(/TX_IDLE_TIMEOUT_MS must be an integer from 500 to 60000, got "60001"/);
  });

  it("defaults to 30 s idle and a 5 min deadline", () => {
    expect(getConfig(env({})).tx).toEqual({ idleTimeoutMs: 30_000, maxAgeMs: 300_000, maxOpen: 20 });
  });
});

describe("caller roles (DATABASE_ROLES)", () => {
  const key = (role: string) => JSON.stringify([{ name: "t", hash: "a".repeat(64), scopes: ["read"], role }]);
  it("accepts a key whose role is listed and has its own Hyperdrive binding", () => {
    const config = getConfig({ ...(env({ DATABASE_ROLES: "tenant_a", API_KEYS: key("tenant_a") }) as object), HYPERDRIVE_TENANT_A: { connectionString: "postgres://tenant_a@h/db" } } as unknown as Env);
    expect(config.databaseRoles).toEqual(["tenant_a"]);
    expect(config.auth.apiKeys[0]!.role).toBe("tenant_a");
  });
  it("refuses a key naming a role DATABASE_ROLES does not list", () => {
    expect(() => getConfig(env({ API_KEYS: key("tenant_a") }))).toThrow(/names database role "tenant_a", which DATABASE_ROLES does not list/);
  });
  it("refuses a listed role without its binding, naming the binding", () => {
    expect(() => getConfig(env({ DATABASE_ROLES: "tenant-a" }))).toThrow(/no Hyperdrive binding HYPERDRIVE_TENANT_A/);
  });
  it("refuses claims without a role", () => {
    expect(() => getConfig(env({ API_KEYS: JSON.stringify([{ name: "t", hash: "a".repeat(64), scopes: ["read"], claims: { x: 1 } }]) }))).toThrow(/claims need a role/);
  });
});

describe("where a query's rows travel (RESULT_ROWS)", () => {
  it("defaults to both parts, and accepts text or structured", () => {
    expect(getConfig(env({})).resultRows).toBe("both");
    expect(getConfig(env({ RESULT_ROWS: "text" })).resultRows).toBe("text");
    expect(getConfig(env({ RESULT_ROWS: "structured" })).resultRows).toBe("structured");
  });
  it("refuses anything else, naming the variable", () => {
    expect(() => getConfig(env({ RESULT_ROWS: "json" }))).toThrow(/RESULT_ROWS/);
  });
});
