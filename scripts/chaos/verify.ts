/**
 * After the storm: compares what the server told the clients with what the
 * database holds, and checks that nothing was left behind (sessions idle in a
 * transaction past their lease, connections above the baseline).
 */
import pg from "pg";
import type { Ledger, WriteKind, WriteRecord } from "./workload";

export interface Check {
  name: string;
  ok: boolean;
  /** Informational rows never fail the run. */
  info?: boolean;
  detail: string;
  examples?: string[];
}

export interface WriteTally {
  kind: WriteKind;
  acked: number;
  failed: number;
  unknown: number;
  missing: WriteRecord[];
  half: WriteRecord[];
  contradicted: WriteRecord[];
  ambiguousPresent: WriteRecord[];
  unknownAbsent: WriteRecord[];
}

const TABLE: Record<WriteKind, string> = { single: "chaos_single", pair: "chaos_pair", code: "chaos_code" };
const PARTS: Record<WriteKind, number> = { single: 1, pair: 2, code: 2 };

/** Rows per id, for every write id the run used. */
export async function tallyWrites(db: pg.Client, ledger: Ledger): Promise<WriteTally[]> {
  const out: WriteTally[] = [];
  for (const kind of ["single", "pair", "code"] as WriteKind[]) {
    const r = await db.query<{ id: string; n: number }>(`select id, count(*)::int as n from ${TABLE[kind]} group by id`);
    const present = new Map(r.rows.map((row) => [row.id, row.n]));
    const t: WriteTally = { kind, acked: 0, failed: 0, unknown: 0, missing: [], half: [], contradicted: [], ambiguousPresent: [], unknownAbsent: [] };
    for (const w of ledger.writes.filter((w) => w.kind === kind)) {
      const n = present.get(w.id) ?? 0;
      t[w.told]++;
      if (n !== 0 && n !== PARTS[kind]) t.half.push(w);
      else if (w.told === "acked" && n === 0) t.missing.push(w);
      else if (w.told === "failed" && n > 0) t.contradicted.push(w);
      else if (w.told === "unknown" && n > 0) t.ambiguousPresent.push(w);
      else if (w.told === "unknown") t.unknownAbsent.push(w);
    }
    out.push(t);
  }
  return out;
}

export async function countSessions(db: pg.Client, role: string): Promise<{ total: number; idleInTx: number }> {
  const r = await db.query<{ total: number; idle_in_tx: number }>(
    "select count(*)::int as total, count(*) filter (where state like 'idle in transaction%')::int as idle_in_tx from pg_stat_activity where usename = $1",
    [role],
  );
  return { total: r.rows[0]!.total, idleInTx: r.rows[0]!.idle_in_tx };
}

/** Polls until `ok` holds or `timeoutMs` passes; returns the last value and how long it took. */
export async function settle<T>(probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number): Promise<{ value: T; ms: number; settled: boolean }> {
  const started = Date.now();
  for (;;) {
    const value = await probe();
    if (ok(value)) return { value, ms: Date.now() - started, settled: true };
    if (Date.now() - started > timeoutMs) return { value, ms: Date.now() - started, settled: false };
    await new Promise((r) => setTimeout(r, 250));
  }
}

export function describeWrite(w: WriteRecord): string {
  return `${w.kind} ${w.id} at ${(w.at / 1000).toFixed(1)} s: told ${w.told}${w.why ? ` (${w.why})` : ""}${w.text ? `: ${w.text.replace(/\s+/g, " ").slice(0, 160)}` : ""}`;
}

export function writeChecks(tallies: WriteTally[], unseen: string[]): Check[] {
  const all = <K extends keyof WriteTally>(k: K) => tallies.flatMap((t) => t[k] as WriteRecord[]);
  const acked = tallies.reduce((s, t) => s + t.acked, 0);
  const missing = all("missing");
  const half = all("half");
  const contradicted = all("contradicted");
  const ambiguous = all("ambiguousPresent");
  const unknownAbsent = all("unknownAbsent");
  return [
    { name: "every acknowledged write is present", ok: missing.length === 0, detail: `${acked - missing.length}/${acked} present`, examples: missing.slice(0, 5).map(describeWrite) },
    { name: "no transaction half applied", ok: half.length === 0, detail: `${half.length} ids with one of two rows`, examples: half.slice(0, 5).map(describeWrite) },
    {
      name: "no write reported failed is present",
      ok: contradicted.length === 0,
      detail: `${contradicted.length} writes the server said failed were committed`,
      examples: contradicted.slice(0, 5).map(describeWrite),
    },
    {
      name: "ambiguous commits (outcome unknown)",
      ok: true,
      info: true,
      detail: `${ambiguous.length} unknown and present, ${unknownAbsent.length} unknown and absent`,
      examples: [...ambiguous.slice(0, 5), ...unknownAbsent.slice(0, 5)].map(describeWrite),
    },
    { name: "reads see acknowledged writes", ok: unseen.length === 0, detail: `${unseen.length} acknowledged writes unseen by a later read`, examples: unseen.slice(0, 5) },
  ];
}
