/**
 * `npm run chaos`, short: a few clients write, hold transactions, read and run
 * programs while the server's sessions are killed and PostgreSQL is restarted
 * (fast). The scenario is scripts/chaos's own; it gets a PostgreSQL and a
 * Worker of its own, never the suite's shared ones (other test files run
 * against those meanwhile). Asserts the invariants, not timings: every
 * acknowledged write present, no transaction half applied, no write reported
 * failed present, every failure a tool error with a code within a generous
 * deadline, nothing left idle in a transaction, connections back to their
 * baseline, and the server answering normally after the last fault.
 */
import { afterAll, describe, expect, inject, it } from "vitest";
import { startEmbeddedPostgres, type RunningPostgres } from "../../scripts/lib/postgres";
import { formatReport, runScenario } from "../../scripts/chaos/scenario";

const stop: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const s of stop.reverse()) await s().catch(() => {});
});

describe("chaos, short", () => {
  it("a mass kill and a fast restart under 4 clients: every invariant holds", { timeout: 300_000 }, async () => {
    const postgres: RunningPostgres = await startEmbeddedPostgres();
    stop.push(() => postgres.stop());
    const report = await runScenario(
      {
        adminUrl: postgres.url,
        restart: (mode) => postgres.restart(mode),
        clients: 4,
        durationMs: 15_000,
        // Generous: a 2-core machine shared with the rest of the suite; a call past it is a hang, whatever the load.
        deadlineMs: 30_000,
        recoveryBoundMs: 30_000,
        faults: ["kill", "restart-fast"],
        mix: [40, 25, 20, 15],
        worker: { bundleDir: inject("workerBundleDir") },
      },
      stop,
    );
    const table = formatReport(report);
    expect(report.faults.map((f) => f.name), table).toEqual(["kill", "restart-fast"]);
    for (const f of report.faults) expect(f.skipped ?? f.effect, table).not.toMatch(/skipped|the fault itself failed/);
    expect(report.tallies.reduce((n, t) => n + t.acked, 0), table).toBeGreaterThan(0);
    expect(report.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`), table).toEqual([]);
  });
});
