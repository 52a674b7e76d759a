/**
 * The promise check (`npm run test:promises`): for each deliberate breakage in
 * test/promises.ts, a scratch copy of the repository with that one breakage,
 * and its owning test file run there. Prints a table (caught or NOT CAUGHT,
 * and how long each took); exits non-zero when any breakage goes unnoticed or
 * any edit no longer applies.
 *
 *   npm run test:promises                  # every breakage, one at a time
 *   npm run test:promises -- --only audit  # breakages whose text mentions "audit"
 *   npm run test:promises -- --jobs 2      # two scratch copies at once
 *
 * Slow (each run starts the test stack): run it before every release, not in
 * `npm test`. One PostgreSQL serves every run (TEST_DATABASE_URL).
 */
import { spawn, execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { BREAKAGES, type Breakage } from "../test/promises";
import { PROJECT_ROOT } from "./lib/worker";
import { startEmbeddedPostgres } from "./lib/postgres";
import { migrate } from "./lib/migrate";

const RUN_TIMEOUT_MS = 15 * 60_000;

interface Outcome {
  b: Breakage;
  verdict: "caught" | "NOT CAUGHT" | "ERROR";
  ms: number;
  note: string;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Applies the edits to files under `root`; throws naming the edit when its text is not there exactly once. */
function applyEdits(root: string, b: Breakage, write: boolean): void {
  for (const e of b.edits) {
    const path = join(root, e.file);
    const text = readFileSync(path, "utf8");
    const count = text.split(e.find).length - 1;
    if (count !== 1) throw new Error(`"${b.breakage}": ${e.file} contains the text to find ${count} times, not once:\n  ${JSON.stringify(e.find)}\n  update test/promises.ts to follow the code`);
    if (write) writeFileSync(path, text.replace(e.find, () => e.replace));
  }
}

/** A copy of the tracked files (as they are in the working tree), sharing node_modules. */
function scratchCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), "pg-mcp-promise-"));
  const files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: PROJECT_ROOT }).toString().split("\0").filter(Boolean);
  for (const f of files) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    try {
      cpSync(join(PROJECT_ROOT, f), join(dir, f));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e; // deleted in the working tree
    }
  }
  symlinkSync(join(PROJECT_ROOT, "node_modules"), join(dir, "node_modules"), "dir");
  return dir;
}

/** Runs one test file in `dir`; resolves with its exit code and output. Killed (its process group) after RUN_TIMEOUT_MS. */
function runTest(dir: string, test: string, databaseUrl: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(join(dir, "node_modules", ".bin", "vitest"), ["run", test], {
      cwd: dir,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, TEST_DATABASE_URL: databaseUrl, NO_COLOR: "1", FORCE_COLOR: "0" },
    });
    let output = "";
    const collect = (c: Buffer) => (output = (output + c.toString()).slice(-200_000));
    child.stdout!.on("data", collect);
    child.stderr!.on("data", collect);
    const timer = setTimeout(() => {
      output += `\n[killed after ${RUN_TIMEOUT_MS / 1000} s]`;
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {}
    }, RUN_TIMEOUT_MS);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

async function check(b: Breakage, databaseUrl: string): Promise<Outcome> {
  const started = Date.now();
  const dir = scratchCopy();
  try {
    applyEdits(dir, b, true);
    const { code, output } = await runTest(dir, b.test, databaseUrl);
    const failed = /Tests\s+(\d+) failed/.exec(output);
    const ms = Date.now() - started;
    if (code === 0) return { b, verdict: "NOT CAUGHT", ms, note: "" };
    // Caught means a test failed; a start-up error or a crash is not evidence that the tests notice.
    // Name the failing tests, so a reader can see the failure is about the promise (not a flake).
    const names = [...new Set([...output.matchAll(/^\s*FAIL\s+(?:\S+\s+)?\S+\.test\.ts\s+>\s+(.+)$/gm)].map((m) => m[1]!.trim()))];
    if (failed) return { b, verdict: "caught", ms, note: `${failed[1]} failed: ${names.slice(0, 2).join("; ").slice(0, 200)}` };
    return { b, verdict: "ERROR", ms, note: output.split("\n").filter((l) => /Error|error/.test(l)).slice(0, 3).join(" | ").slice(0, 300) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const only = arg("--only");
  const jobs = Math.max(1, Number(arg("--jobs") ?? 1));
  const chosen = BREAKAGES.filter((b) => !only || `${b.promise} ${b.breakage} ${b.test}`.toLowerCase().includes(only.toLowerCase()));
  if (chosen.length === 0) throw new Error(`no breakage matches --only ${only}`);
  // Every edit must still apply before anything runs: the list must not rot silently.
  for (const b of BREAKAGES) applyEdits(PROJECT_ROOT, b, false);

  const total = Date.now();
  let databaseUrl = process.env.TEST_DATABASE_URL;
  let stopPg: (() => Promise<void>) | undefined;
  if (!databaseUrl) {
    const pg = await startEmbeddedPostgres();
    stopPg = () => pg.stop();
    databaseUrl = pg.url;
  }
  await migrate(databaseUrl);
  const outcomes: Outcome[] = [];
  try {
    let next = 0;
    await Promise.all(
      Array.from({ length: jobs }, async () => {
        while (next < chosen.length) {
          const b = chosen[next++]!;
          const o = await check(b, databaseUrl!);
          outcomes.push(o);
          console.log(`${o.verdict.padEnd(10)} ${(o.ms / 1000).toFixed(0).padStart(4)} s  ${b.breakage}  (${b.test})${o.note ? `  ${o.note}` : ""}`);
        }
      }),
    );
  } finally {
    await stopPg?.();
  }

  outcomes.sort((a, b) => chosen.indexOf(a.b) - chosen.indexOf(b.b));
  console.log("\n| promise | breakage | owning test | result | time |\n| --- | --- | --- | --- | --- |");
  for (const o of outcomes) console.log(`| ${o.b.promise} | ${o.b.breakage} | \`${o.b.test}\` | ${o.verdict === "caught" ? "caught" : `**${o.verdict}**`} | ${(o.ms / 1000).toFixed(0)} s |`);
  const missed = outcomes.filter((o) => o.verdict !== "caught");
  console.log(`\n${outcomes.length - missed.length}/${outcomes.length} caught in ${((Date.now() - total) / 60_000).toFixed(1)} min (jobs=${jobs})`);
  if (missed.length) {
    console.error(`NOT CAUGHT or ERROR: ${missed.map((o) => o.b.breakage).join("; ")}`);
    process.exitCode = 1;
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
