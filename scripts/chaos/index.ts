/**
 * `npm run chaos`: many MCP clients write, hold transactions, read and run
 * programs against the real Worker while PostgreSQL is restarted (fast, then
 * crash), the server's sessions are killed, and a lock makes statements time
 * out. Afterwards it checks, from its own superuser connection, what the
 * product promises: no acknowledged write lost, no transaction half applied,
 * failures reported honestly and in time, nothing left holding a connection
 * or a transaction, and service back on its own. Prints a table; exits 1 on
 * any violation.
 *
 *   npm run chaos -- [--duration-s 60] [--clients 32] [--deadline-ms 20000]
 *                    [--faults lock,kill,restart-fast,restart-immediate] [--verbose]
 *                    [--mix 40,25,20,15]   (weights: single writes, transactions, reads, programs)
 *
 * The database: the embedded PostgreSQL (default), or DATABASE_URL (a
 * superuser connection string); restarts of an external database run
 * CHAOS_RESTART_CMD (see faults.ts), and are skipped without it.
 */
import { parseArgs } from "node:util";
import { startEmbeddedPostgres, type RunningPostgres } from "../lib/postgres";
import { ALL_FAULTS, commandRestart, type FaultName } from "./faults";
import { formatReport, runScenario, type ScenarioOptions } from "./scenario";

const { values: flags } = parseArgs({
  options: {
    "duration-s": { type: "string", default: "60" },
    clients: { type: "string", default: "32" },
    "deadline-ms": { type: "string", default: "20000" },
    faults: { type: "string", default: ALL_FAULTS.join(",") },
    "recovery-bound-ms": { type: "string", default: "15000" },
    mix: { type: "string", default: "40,25,20,15" },
    verbose: { type: "boolean", default: false },
  },
});

const DURATION_MS = Number(flags["duration-s"]) * 1000;
const CLIENTS = Number(flags.clients);
const DEADLINE_MS = Number(flags["deadline-ms"]);
const RECOVERY_BOUND_MS = Number(flags["recovery-bound-ms"]);
const FAULTS = flags.faults!.split(",").filter(Boolean) as FaultName[];
for (const f of FAULTS) if (!ALL_FAULTS.includes(f)) usage(`unknown fault ${f} (known: ${ALL_FAULTS.join(", ")})`);
if (!(DURATION_MS >= 5_000 && DURATION_MS <= 3_600_000)) usage("--duration-s is 5..3600");
if (!(CLIENTS >= 1 && CLIENTS <= 256)) usage("--clients is 1..256");
const MIX = flags.mix!.split(",").map(Number) as [number, number, number, number];
if (MIX.length !== 4 || MIX.some((n) => !(n >= 0)) || MIX.every((n) => n === 0)) usage("--mix is four weights: single writes, transactions, reads, programs (e.g. 40,25,20,15)");
if (!(DEADLINE_MS >= 1_000 && DEADLINE_MS <= 300_000)) usage("--deadline-ms is 1000..300000");

function usage(message: string): never {
  process.stderr.write(`chaos: ${message}\n`);
  process.exit(2);
}

const log = (s: string) => process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

async function main(): Promise<number> {
  const stop: (() => Promise<void>)[] = [];
  // Everything is bounded; this is the backstop if something we do not control hangs. Set-up (the build, the
  // Worker's start) is bounded on its own and can take minutes on a loaded machine, so it runs first.
  const watchdog = setTimeout(() => {
    log("watchdog: the run exceeded its time bound; stopping");
    void Promise.allSettled(stop.map((s) => s())).then(() => process.exit(3));
  }, SETUP_BOUND_MS + DURATION_MS + DEADLINE_MS * 3 + 180_000);
  watchdog.unref();
  try {
    return await run(stop);
  } finally {
    for (const s of stop.reverse()) await s().catch(() => {});
    clearTimeout(watchdog);
  }
}

/** Starting PostgreSQL, building and starting the Worker. */
const SETUP_BOUND_MS = 900_000;

async function run(stop: (() => Promise<void>)[]): Promise<number> {
  let postgres: RunningPostgres | undefined;
  let adminUrl = process.env.DATABASE_URL;
  const target: Pick<ScenarioOptions, "restart" | "restartUnavailable"> = {};
  if (!adminUrl) {
    postgres = await startEmbeddedPostgres();
    stop.push(() => postgres!.stop());
    adminUrl = postgres.url;
    target.restart = (mode) => postgres!.restart(mode);
  } else if (process.env.CHAOS_RESTART_CMD) {
    target.restart = commandRestart(process.env.CHAOS_RESTART_CMD, 120_000);
  } else {
    target.restartUnavailable = "skipped: DATABASE_URL given without CHAOS_RESTART_CMD";
    log("restart faults will be skipped: set CHAOS_RESTART_CMD to restart the database at DATABASE_URL");
  }
  log(`database ${postgres ? "embedded" : "DATABASE_URL"}`);
  const report = await runScenario(
    { adminUrl, ...target, clients: CLIENTS, durationMs: DURATION_MS, deadlineMs: DEADLINE_MS, faults: FAULTS, mix: MIX, recoveryBoundMs: RECOVERY_BOUND_MS, worker: { verbose: flags.verbose }, log },
    stop,
  );
  process.stdout.write(formatReport(report));
  return report.ok ? 0 : 1;
}

process.exitCode = await main().catch((e) => {
  log(`the run itself failed: ${e instanceof Error ? e.stack : String(e)}`);
  return 2;
});
process.exit(process.exitCode);
