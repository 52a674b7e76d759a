/** `npm run dev` names a bad configuration value at start, through the Worker's own parser, before anything starts. */
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { devConfigProblem } from "../../scripts/lib/dev-config";

const root = join(import.meta.dirname, "..", "..");
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A copy of wrangler.toml with the given .dev.vars beside it. */
function project(devVars: string): string {
  const dir = mkdtempSync(join(tmpdir(), "pg-mcp-devvars-"));
  dirs.push(dir);
  copyFileSync(join(root, "wrangler.toml"), join(dir, "wrangler.toml"));
  writeFileSync(join(dir, ".dev.vars"), devVars);
  return join(dir, "wrangler.toml");
}

const devVars = { AUTH_MODE: "none", READ_ROLE: "pgmcp_read" };

describe("npm run dev configuration check", () => {
  it("names a bad value in .dev.vars", () => {
    expect(devConfigProblem(devVars, project("MAX_ROWS=lots\n"))).toMatch(/MAX_ROWS must be an integer from 1 to 100000, got "lots"/);
    expect(devConfigProblem(devVars, project("TOOL_GROUPS=query,nope\n"))).toMatch(/TOOL_GROUPS has unknown group\(s\) nope/);
    expect(devConfigProblem(devVars, project('API_KEYS=[{"name":"x"}]\n'))).toMatch(/API_KEYS is invalid/);
  });

  it("lets npm run dev's own settings win over .dev.vars, as wrangler dev does", () => {
    expect(devConfigProblem(devVars, project("AUTH_MODE=sometimes\n"))).toBeUndefined();
    expect(devConfigProblem({}, project("AUTH_MODE=sometimes\n"))).toMatch(/AUTH_MODE/);
  });

  it("accepts every setting in .dev.vars.example, uncommented", () => {
    const example = readFileSync(join(root, ".dev.vars.example"), "utf8");
    const settings = example.split("\n").filter((l) => /^# [A-Z_]+=/.test(l)).map((l) => l.slice(2));
    expect(settings.length).toBeGreaterThan(3);
    expect(devConfigProblem(devVars, project(settings.join("\n")))).toBeUndefined();
  });

  it("npm run dev stops in one line, non-zero, before starting anything", { timeout: 240_000 }, async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(join(root, "node_modules", ".bin", "tsx"), ["scripts/dev.ts"], { cwd: root, env: { ...process.env, PORT: "eighty" }, timeout: 200_000 }, (_e, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }));
    });
    expect(code).toBe(1);
    expect(stderr.trim()).toBe('npm run dev: PORT must be a port number from 1 to 65535, got "eighty"');
    expect(stdout).not.toMatch(/Starting/);
  });
});
