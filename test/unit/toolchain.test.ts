/** The project carries its own Node (the `node` dev dependency); every npm script and test runs on it. */
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

describe("toolchain", () => {
  it("runs on the project's own Node, not the machine's", () => {
    expect(process.versions.node, "npm scripts should find node_modules/.bin/node first on PATH").toBe(pkg.devDependencies.node);
  });

  it("installs without hiding peer conflicts", () => {
    const npmrc = existsSync(join(root, ".npmrc")) ? readFileSync(join(root, ".npmrc"), "utf8") : "";
    expect(npmrc).not.toMatch(/legacy-peer-deps|force|loglevel/);
  });

  it("runs wrangler and miniflare of one release: one workerd", () => {
    const version = (name: string) => JSON.parse(readFileSync(join(root, "node_modules", name, "package.json"), "utf8"));
    expect(version("wrangler").dependencies.miniflare).toBe(version("miniflare").version);
    expect(pkg.devDependencies.miniflare).toBe(version("miniflare").version);
  });
});
