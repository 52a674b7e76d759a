/**
 * One chaos scenario against a PostgreSQL the caller provides: the Worker is
 * started on it, clients run the workload while the faults are injected, and
 * the invariants are checked afterwards from a superuser connection. Used by
 * `npm run chaos` (index.ts) and, short, by the test suite
 * (test/e2e/chaos.test.ts).
 */
import { createHash, randomBytes } from "node:crypto";
import pg from "pg";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { applyRoles, migrate, SERVER_ROLE } from "../lib/migrate";
import { startWorker, type RunningWorker, type StartWorkerOptions } from "../lib/worker";
import { callTool, connect, type Outcome } from "./calls";
import { inject, waitForDatabase, type FaultName, type FaultRecord, type FaultTarget } from "./faults";
import { runWorkload, TABLES_SQL, type Ledger } from "./workload";
import { countSessions, settle, tallyWrites, writeChecks, type Check, type WriteTally } from "./verify";

// The server's bounds for the run: short, so the faults bite and the leases end within the run.
export const LOCK_TIMEOUT_MS = 1_000;
const STATEMENT_TIMEOUT_MS = 5_000;
export const TX_IDLE_TIMEOUT_MS = 5_000;
/** durable-objects/tx-session.ts BACKSTOP_MARGIN_MS: PostgreSQL's own idle_in_transaction timeout is the lease plus this. */
const BACKSTOP_MARGIN_MS = 5_000;
const MAX_OPS_PER_CLIENT = 100_000;

export interface ScenarioOptions {
  /** A superuser connection string (the roles and the chaos tables are created through it). */
  adminUrl: string;
  /** Restarts PostgreSQL; without it restart faults are skipped, saying `restartUnavailable`. */
  restart?: FaultTarget["restart"];
  restartUnavailable?: string;
  clients: number;
  durationMs: number;
  /** Each call's own deadline: a call answered later (or never) is a violation. */
  deadlineMs: number;
  faults: FaultName[];
  /** Relative weights of single writes, transactions, reads and programs. */
  mix: [number, number, number, number];
  /** The first good answer after the last fault must come within this. */
  recoveryBoundMs: number;
  /** Passed to startWorker (verbose output, a prebuilt bundle). */
  worker?: Pick<StartWorkerOptions, "verbose" | "bundleDir">;
  log?: (line: string) => void;
}

export interface ScenarioReport {
  options: ScenarioOptions;
  faults: FaultRecord[];
  calls: Ledger["calls"];
  tallies: WriteTally[];
  checks: Check[];
  /** Every check held. */
  ok: boolean;
}

/**
 * Runs the scenario. What it starts (the Worker, clients, connections) is
 * pushed onto `stop`, for the caller to stop whatever happens.
 */
export async function runScenario(opts: ScenarioOptions, stop: (() => Promise<void>)[]): Promise<ScenarioReport> {
  const log = opts.log ?? (() => {});
  const { adminUrl, deadlineMs } = opts;
  const faultTarget: FaultTarget = { adminUrl, serverRole: SERVER_ROLE, lockTimeoutMs: LOCK_TIMEOUT_MS, restart: opts.restart, restartUnavailable: opts.restartUnavailable };
  const serverUrl = await applyRoles(adminUrl, { grantFutureTablesOf: decodeURIComponent(new URL(adminUrl).username) });
  await migrate(serverUrl);
  await withAdmin(adminUrl, (db) => db.query(TABLES_SQL));

  const token = `pgm_chaos_${randomBytes(16).toString("hex")}`;
  const apiKeys = JSON.stringify([{ name: "chaos", hash: createHash("sha256").update(token).digest("hex"), scopes: ["read", "write"] }]);
  const worker: RunningWorker = await startWorker({
    ...opts.worker,
    databaseUrl: serverUrl,
    vars: {
      API_KEYS: apiKeys,
      CODE_MODE_SCOPE: "write",
      PYTHON: "false",
      RATE_LIMIT_PER_MINUTE: "0",
      RATE_LIMIT_EXPENSIVE_PER_MINUTE: "0",
      RATE_LIMIT_CODE_PER_MINUTE: "0",
      MAX_CONCURRENT_REQUESTS: "0",
      MAX_OPEN_TRANSACTIONS: String(opts.clients * 2),
      LOCK_TIMEOUT_MS: String(LOCK_TIMEOUT_MS),
      STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
      TX_IDLE_TIMEOUT_MS: String(TX_IDLE_TIMEOUT_MS),
    },
  });
  stop.push(() => worker.stop());
  log(`worker ${worker.url}; ${opts.clients} clients for ${opts.durationMs / 1000} s, deadline ${deadlineMs} ms per call`);

  const probe = await connect(worker.mcpUrl, token, deadlineMs);
  stop.push(() => probe.close().catch(() => {}));
  const warm = await callTool(probe, "pg_query_read", { sql: "select 1" }, deadlineMs);
  if (warm.kind !== "ok") throw new Error(`the server does not answer before any fault: ${warm.text}`);
  const baseline = await withAdmin(adminUrl, async (db) => (await countSessions(db, SERVER_ROLE)).total);

  const clients: Client[] = await Promise.all(Array.from({ length: opts.clients }, () => connect(worker.mcpUrl, token, deadlineMs)));
  stop.push(async () => void (await Promise.allSettled(clients.map((c) => c.close()))));

  const ledger: Ledger = { writes: [], calls: [], unseen: [] };
  const t0 = Date.now();
  const workload = runWorkload({ clients, deadlineMs, until: t0 + opts.durationMs, t0, runId: randomBytes(4).toString("hex"), maxOpsPerClient: MAX_OPS_PER_CLIENT, mix: opts.mix }, ledger);

  // Faults spread over the first three quarters; the last quarter shows the service under load after them.
  const faults: FaultRecord[] = [];
  let recovery: { ms?: number; detail: string } = { detail: "no fault injected" };
  const schedule = (async () => {
    for (const [i, name] of opts.faults.entries()) {
      const at = t0 + Math.round(opts.durationMs * (0.12 + (0.6 * i) / Math.max(1, opts.faults.length - 1 || 1)));
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
    if (faults.some((f) => !f.skipped)) recovery = await measureRecovery(adminUrl, probe, opts.recoveryBoundMs, deadlineMs);
  })();
  await Promise.all([workload, schedule]);
  log(`workload done: ${ledger.calls.length} calls; verifying`);

  // After the run: the service answers, leases end, connections go back. Our own connection is opened now: the faults would have ended it.
  const observer = new pg.Client({ connectionString: adminUrl });
  observer.on("error", () => {});
  await observer.connect();
  stop.push(() => observer.end().catch(() => {}));
  const after = await callTool(probe, "pg_query_write", { sql: "insert into chaos_single (id, client) values ($1, -1)", params: [`after-${t0}`] }, deadlineMs);
  const leaseBound = TX_IDLE_TIMEOUT_MS + BACKSTOP_MARGIN_MS + 10_000;
  const idle = await settle(() => countSessions(observer, SERVER_ROLE), (s) => s.idleInTx === 0, leaseBound);
  const conns = await settle(() => countSessions(observer, SERVER_ROLE), (s) => s.total <= baseline, 30_000);
  const tallies = await tallyWrites(observer, ledger);

  const calls = ledger.calls;
  const hung = calls.filter((c) => c.outcome.kind === "hang");
  const improper = calls.filter((c) => c.outcome.kind === "improper");
  const internal = calls.filter((c) => c.outcome.kind === "error" && c.outcome.code === "internal_error");
  const describe = (c: (typeof calls)[number]) => `${c.tool} at ${(c.at / 1000).toFixed(1)} s after ${c.outcome.ms} ms: ${c.outcome.text.replace(/\s+/g, " ").slice(0, 200)}`;
  const injected = faults.filter((f) => !f.skipped);
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
    { name: `answers within ${opts.recoveryBoundMs} ms of the last fault`, ok: recovery.ms === undefined ? injected.length === 0 : recovery.ms <= opts.recoveryBoundMs, detail: recovery.detail },
    { name: "answers a write after the run", ok: after.kind === "ok", detail: after.kind === "ok" ? `ok in ${after.ms} ms` : after.text.slice(0, 200) },
  ];
  return { options: opts, faults, calls, tallies, checks, ok: checks.every((c) => c.ok) };
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
async function measureRecovery(adminUrl: string, probe: Client, boundMs: number, deadlineMs: number): Promise<{ ms?: number; detail: string }> {
  const dbWait = await waitForDatabase(adminUrl, 60_000);
  if (dbWait === undefined) return { detail: "the database itself did not come back within 60 s" };
  const started = Date.now();
  let last: Outcome | undefined;
  while (Date.now() - started < boundMs * 4) {
    last = await callTool(probe, "pg_query_read", { sql: "select 1" }, deadlineMs);
    if (last.kind === "ok") return { ms: Date.now() - started, detail: `first good answer ${Date.now() - started} ms after the database was back` };
    await new Promise((r) => setTimeout(r, 200));
  }
  return { detail: `no good answer within ${boundMs * 4} ms; last: ${last?.text.slice(0, 200)}` };
}

/** The report as tables: faults, calls by tool, writes, invariants, and examples of what failed. */
export function formatReport(r: ScenarioReport): string {
  const { options: o, faults, calls, tallies, checks } = r;
  const out: string[] = [];
  out.push(`\nchaos: ${o.durationMs / 1000} s, ${o.clients} clients, call deadline ${o.deadlineMs} ms, lock_timeout ${LOCK_TIMEOUT_MS} ms, tx idle lease ${TX_IDLE_TIMEOUT_MS} ms`);
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
  return `${out.join("\n")}\n`;
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
