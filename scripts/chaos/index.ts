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
import { createHash, randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import pg from "pg";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { startEmbeddedPostgres, type RunningPostgres } from "../lib/postgres";
import { applyRoles, migrate, SERVER_ROLE } from "../lib/migrate";
import { startWorker, type RunningWorker } from "../lib/worker";
import { callTool, connect, type Outcome } from "./calls";
import { ALL_FAULTS, commandRestart, inject, waitForDatabase, type FaultName, type FaultRecord, type FaultTarget } from "./faults";
import { runWorkload, TABLES_SQL, type Ledger } from "./workload";
import { countSessions, settle, tallyWrites, writeChecks, type Check } from "./verify";

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

// The server's bounds for the run: short, so the faults bite and the leases end within the run.
const LOCK_TIMEOUT_MS = 1_000;
const STATEMENT_TIMEOUT_MS = 5_000;
const TX_IDLE_TIMEOUT_MS = 5_000;
/** durable-objects/tx-session.ts BACKSTOP_MARGIN_MS: PostgreSQL's own idle_in_transaction timeout is the lease plus this. */
const BACKSTOP_MARGIN_MS = 5_000;
const MAX_OPS_PER_CLIENT = 100_000;

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
  const target: Omit<FaultTarget, "adminUrl"> = { serverRole: SERVER_ROLE, lockTimeoutMs: LOCK_TIMEOUT_MS };
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
  const faultTarget: FaultTarget = { ...target, adminUrl };
  const serverUrl = await applyRoles(adminUrl, { grantFutureTablesOf: decodeURIComponent(new URL(adminUrl).username) });
  await migrate(serverUrl);
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(TABLES_SQL);
  await admin.end();

  const token = `pgm_chaos_${randomBytes(16).toString("hex")}`;
  const apiKeys = JSON.stringify([{ name: "chaos", hash: createHash("sha256").update(token).digest("hex"), scopes: ["read", "write"] }]);
  const worker: RunningWorker = await startWorker({
    databaseUrl: serverUrl,
    verbose: flags.verbose,
    vars: {
      API_KEYS: apiKeys,
      CODE_MODE_SCOPE: "write",
      PYTHON: "false",
      RATE_LIMIT_PER_MINUTE: "0",
      RATE_LIMIT_EXPENSIVE_PER_MINUTE: "0",
      RATE_LIMIT_CODE_PER_MINUTE: "0",
      MAX_CONCURRENT_REQUESTS: "0",
      MAX_OPEN_TRANSACTIONS: String(CLIENTS * 2),
      LOCK_TIMEOUT_MS: String(LOCK_TIMEOUT_MS),
      STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
      TX_IDLE_TIMEOUT_MS: String(TX_IDLE_TIMEOUT_MS),
    },
  });
  stop.push(() => worker.stop());
  log(`worker ${worker.url}, database ${postgres ? "embedded" : "DATABASE_URL"}; ${CLIENTS} clients for ${DURATION_MS / 1000} s, deadline ${DEADLINE_MS} ms per call`);

  const probe = await connect(worker.mcpUrl, token, DEADLINE_MS);
  stop.push(() => probe.close().catch(() => {}));
  const warm = await callTool(probe, "pg_query_read", { sql: "select 1" }, DEADLINE_MS);
  if (warm.kind !== "ok") throw new Error(`the server does not answer before any fault: ${warm.text}`);
  const baseline = await withAdmin(adminUrl, async (db) => (await countSessions(db, SERVER_ROLE)).total);

  const clients: Client[] = await Promise.all(Array.from({ length: CLIENTS }, () => connect(worker.mcpUrl, token, DEADLINE_MS)));
  stop.push(async () => void (await Promise.allSettled(clients.map((c) => c.close()))));

  const ledger: Ledger = { writes: [], calls: [], unseen: [] };
  const t0 = Date.now();
  const until = t0 + DURATION_MS;
  const workload = runWorkload({ clients, deadlineMs: DEADLINE_MS, until, t0, runId: randomBytes(4).toString("hex"), maxOpsPerClient: MAX_OPS_PER_CLIENT, mix: MIX }, ledger);

  // Faults spread over the first three quarters; the last quarter shows the service under load after them.
  const faults: FaultRecord[] = [];
  let recovery: { ms?: number; detail: string } = { detail: "no fault injected" };
  const schedule = (async () => {
    for (const [i, name] of FAULTS.entries()) {
      const at = t0 + Math.round(DURATION_MS * (0.12 + (0.6 * i) / Math.max(1, FAULTS.length - 1 || 1)));
      await new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));
      log(`fault: ${name}`);
      try {
        const f = await inject(name, faultTarget, t0);
        faults.push(f);
        log(`fault ${name}: ${f.skipped ?? f.effect}`);
      } catch (e) {
        faults.push({ name, start: at - t0, end: Date.now() - t0, effect: `the fault itself failed: ${(e as Error).message}` });
      }
    }
    if (faults.some((f) => !f.skipped)) recovery = await measureRecovery(adminUrl!, probe);
  })();
  await Promise.all([workload, schedule]);
  log(`workload done: ${ledger.calls.length} calls; verifying`);

  // After the run: the service answers, leases end, connections go back. Our own connection is opened now: the faults would have ended it.
  const observer = new pg.Client({ connectionString: adminUrl });
  observer.on("error", () => {});
  await observer.connect();
  stop.push(() => observer.end().catch(() => {}));
  const after = await callTool(probe, "pg_query_write", { sql: "insert into chaos_single (id, client) values ($1, -1)", params: [`after-${t0}`] }, DEADLINE_MS);
  const leaseBound = TX_IDLE_TIMEOUT_MS + BACKSTOP_MARGIN_MS + 10_000;
  const idle = await settle(() => countSessions(observer, SERVER_ROLE), (s) => s.idleInTx === 0, leaseBound);
  const conns = await settle(() => countSessions(observer, SERVER_ROLE), (s) => s.total <= baseline, 30_000);
  const tallies = await tallyWrites(observer, ledger);

  const calls = ledger.calls;
  const hung = calls.filter((c) => c.outcome.kind === "hang");
  const improper = calls.filter((c) => c.outcome.kind === "improper");
  const internal = calls.filter((c) => c.outcome.kind === "error" && c.outcome.code === "internal_error");
  const describe = (c: (typeof calls)[number]) => `${c.tool} at ${(c.at / 1000).toFixed(1)} s after ${c.outcome.ms} ms: ${c.outcome.text.replace(/\s+/g, " ").slice(0, 200)}`;
  const checks: Check[] = [
    ...writeChecks(tallies, ledger.unseen),
    { name: "no call hung past its deadline", ok: hung.length === 0, detail: `${hung.length} of ${calls.length} calls`, examples: hung.slice(0, 5).map(describe) },
    { name: "failures are MCP tool errors with a code", ok: improper.length === 0, detail: `${improper.length} protocol/HTTP failures`, examples: improper.slice(0, 5).map(describe) },
    { name: "no internal_error", ok: internal.length === 0, detail: `${internal.length} calls`, examples: internal.slice(0, 5).map(describe) },
    {
      name: "no idle-in-transaction session past its lease",
      ok: idle.settled,
      detail: idle.settled ? `none, ${idle.ms} ms after the run` : `${idle.value.idleInTx} still idle in transaction ${leaseBound} ms after the run`,
    },
    { name: "server connections back to baseline", ok: conns.settled, detail: `baseline ${baseline}, now ${conns.value.total}${conns.settled ? ` (after ${conns.ms} ms)` : " after 30 s"}` },
    { name: `answers within ${RECOVERY_BOUND_MS} ms of the last fault`, ok: recovery.ms === undefined ? !faults.some((f) => !f.skipped) : recovery.ms <= RECOVERY_BOUND_MS, detail: recovery.detail },
    { name: "answers a write after the run", ok: after.kind === "ok", detail: after.kind === "ok" ? `ok in ${after.ms} ms` : after.text.slice(0, 200) },
  ];
  print(faults, calls, tallies, checks);
  return checks.every((c) => c.ok) ? 0 : 1;
}

async function withAdmin<T>(url: string, fn: (db: pg.Client) => Promise<T>): Promise<T> {
  const db = new pg.Client({ connectionString: url });
  db.on("error", () => {});
  await db.connect();
  try {
    return await fn(db);
  } finally {
    await db.end().catch(() => {});
  }
}

/** Time from the database accepting connections again to the first successful call through the server. */
async function measureRecovery(adminUrl: string, probe: Client): Promise<{ ms?: number; detail: string }> {
  const dbWait = await waitForDatabase(adminUrl, 60_000);
  if (dbWait === undefined) return { detail: "the database itself did not come back within 60 s" };
  const started = Date.now();
  let last: Outcome | undefined;
  while (Date.now() - started < RECOVERY_BOUND_MS * 4) {
    last = await callTool(probe, "pg_query_read", { sql: "select 1" }, DEADLINE_MS);
    if (last.kind === "ok") return { ms: Date.now() - started, detail: `first good answer ${Date.now() - started} ms after the database was back` };
    await new Promise((r) => setTimeout(r, 200));
  }
  return { detail: `no good answer within ${RECOVERY_BOUND_MS * 4} ms; last: ${last?.text.slice(0, 200)}` };
}

function print(faults: FaultRecord[], calls: Ledger["calls"], tallies: Awaited<ReturnType<typeof tallyWrites>>, checks: Check[]) {
  const out: string[] = [];
  out.push(`\nchaos: ${DURATION_MS / 1000} s, ${CLIENTS} clients, call deadline ${DEADLINE_MS} ms, lock_timeout ${LOCK_TIMEOUT_MS} ms, tx idle lease ${TX_IDLE_TIMEOUT_MS} ms`);
  out.push("\nFaults");
  out.push(
    table([
      ["fault", "at s", "took ms", "effect", "errors in window"],
      ...faults.map((f) => {
        const window = calls.filter((c) => c.at >= f.start && c.at <= f.end + 3_000 && c.outcome.kind !== "ok");
        return [f.name, (f.start / 1000).toFixed(1), String(f.end - f.start), f.skipped ?? f.effect, histogram(window)];
      }),
    ]),
  );
  out.push("\nCalls");
  const tools = [...new Set(calls.map((c) => c.tool))].sort();
  out.push(
    table([
      ["tool", "calls", "ok", "tool errors", "hung", "improper", "p50 ms", "p99 ms", "max ms"],
      ...tools.map((tool) => {
        const cs = calls.filter((c) => c.tool === tool);
        const by = (k: Outcome["kind"]) => String(cs.filter((c) => c.outcome.kind === k).length);
        const ms = cs.map((c) => c.outcome.ms).sort((a, b) => a - b);
        const pct = (p: number) => String(ms[Math.min(ms.length - 1, Math.floor(p * ms.length))] ?? 0);
        return [tool, String(cs.length), by("ok"), by("error"), by("hang"), by("improper"), pct(0.5), pct(0.99), String(ms.at(-1) ?? 0)];
      }),
    ]),
  );
  out.push(`error codes: ${histogram(calls.filter((c) => c.outcome.kind !== "ok")) || "none"}`);
  out.push("\nWrites (what the server said vs what the database holds)");
  out.push(
    table([
      ["kind", "acked", "failed", "unknown", "acked missing", "half applied", "failed but present", "unknown+present", "unknown+absent"],
      ...tallies.map((t) => [t.kind, t.acked, t.failed, t.unknown, t.missing.length, t.half.length, t.contradicted.length, t.ambiguousPresent.length, t.unknownAbsent.length].map(String)),
    ]),
  );
  out.push("\nInvariants");
  out.push(table([["check", "result", "detail"], ...checks.map((c) => [c.name, c.info ? "info" : c.ok ? "PASS" : "FAIL", c.detail])]));
  for (const c of checks) if ((!c.ok || c.info) && c.examples?.length) out.push(`\n${c.name}:\n${c.examples.map((e) => `  - ${e}`).join("\n")}`);
  const failed = checks.filter((c) => !c.ok);
  out.push(failed.length ? `\nFAIL: ${failed.length} violated: ${failed.map((c) => c.name).join("; ")}` : "\nPASS: every invariant held");
  process.stdout.write(`${out.join("\n")}\n`);
}

function histogram(calls: Ledger["calls"]): string {
  const counts = new Map<string, number>();
  for (const c of calls) {
    const k = c.outcome.kind === "error" ? c.outcome.code : c.outcome.kind;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(", ");
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n");
}

process.exitCode = await main().catch((e) => {
  log(`the run itself failed: ${e instanceof Error ? e.stack : String(e)}`);
  return 2;
});
process.exit(process.exitCode);
