/** `npm run keys`: the README's first-key command works, and mistakes are one clear line, never a stack trace. */
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..", "..");
const keys = (...args: string[]) => spawnSync(join(ROOT, "node_modules", ".bin", "tsx"), [join(ROOT, "scripts", "keys.ts"), ...args], { encoding: "utf8", cwd: ROOT });

describe("npm run keys", () => {
  it('creates the first key with --keys "" (the README command before API_KEYS exists)', () => {
    const r = keys("create", "--name", "ci", "--scopes", "read,write", "--keys", "");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/API key for ci .*\n\n {2}pgm_\w+/);
    const value = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    expect(value).toMatchObject([{ name: "ci", scopes: ["read", "write"] }]);
  });

  it("creates a key that acts as a database role, with claims", () => {
    const r = keys("create", "--name", "tenant-a", "--scopes", "read,write", "--role", "tenant_a", "--claims", '{"tenant":"a"}', "--keys", "");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Database role: tenant_a .*HYPERDRIVE_TENANT_A/);
    const value = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    expect(value).toMatchObject([{ name: "tenant-a", role: "tenant_a", claims: { tenant: "a" } }]);
  });

  const mistakes: [string, string[], RegExp][] = [
    ["claims without a role", ["create", "--name", "x", "--claims", "{}"], /^error: --claims needs --role/],
    ["claims that are not an object", ["create", "--name", "x", "--role", "r", "--claims", "[1]"], /^error: --claims must be a JSON object/],
    ["an unknown scope", ["create", "--name", "x", "--scopes", "read,root"], /^error: unknown scope root; use read, write, admin\n$/],
    ["no name", ["create"], /^error: --name is required\n$/],
    ["--keys that is not JSON", ["create", "--name", "x", "--keys", "{oops"], /^error: --keys is not JSON/],
    ["--keys that is not API_KEYS", ["create", "--name", "x", "--keys", '[{"name":1}]'], /^error: --keys is not a valid API_KEYS value/],
    ["a duplicate name", ["create", "--name", "x", "--keys", '[{"name":"x","hash":"' + "a".repeat(64) + '","scopes":["read"]}]'], /^error: a key named x exists/],
    ["revoking a key that does not exist", ["revoke", "--name", "nope", "--keys", "[]"], /^error: no key named nope\n$/],
    ["an unknown flag", ["create", "--nmae", "x"], /^error: Unknown option '--nmae'/],
    ["no command", [], /^error: usage: npm run keys/],
  ];
  for (const [name, args, message] of mistakes) {
    it(`says what is wrong in one line, exit 2: ${name}`, () => {
      const r = keys(...args);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  }
});
