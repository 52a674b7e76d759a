/**
 * What the chaos clients do, and what they were told. Every write has a unique
 * id; the ledger keeps what the server answered for it, so the verifier can
 * compare the answers with what is really in the database:
 *
 * - `single`: one INSERT through pg_query_write (its own transaction);
 * - `pair`: pg_tx_begin, two INSERTs that belong together, pg_tx_commit;
 * - `code`: a program that writes two rows inside `pg.transaction`;
 * - reads of the client's own acknowledged writes (they must be visible).
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { callTool, type CallLog, type Outcome } from "./calls";

export const TABLES_SQL = `
  create table if not exists chaos_single (id text primary key, client int not null, at timestamptz not null default now());
  create table if not exists chaos_pair (id text not null, part int not null, primary key (id, part));
  create table if not exists chaos_code (id text not null, part int not null, primary key (id, part));
  truncate chaos_single, chaos_pair, chaos_code;
`;

/** Each program's own timeout (pg_execute_code `timeout`), well under the chaos call deadline. */
export const PROGRAM_TIMEOUT_MS = 10_000;

export type WriteKind = "single" | "pair" | "code";

/**
 * What the server said about a write: `acked` (it committed), `failed` (it
 * did not), `unknown` (the server said it cannot know, or never answered).
 */
export type Told = "acked" | "failed" | "unknown";

export interface WriteRecord {
  kind: WriteKind;
  id: string;
  told: Told;
  /** The error code or outcome kind behind a failed/unknown answer. */
  why?: string;
  text?: string;
  at: number;
}

export interface Ledger {
  writes: WriteRecord[];
  calls: CallLog[];
  /** Acknowledged writes a later read of the same client did not see. */
  unseen: string[];
}

/** Tool error codes by which the server says it does not know whether a commit happened. */
export const UNKNOWN_OUTCOME_CODES = new Set(["commit_unknown"]);

export interface WorkloadOptions {
  clients: Client[];
  deadlineMs: number;
  until: number;
  t0: number;
  runId: string;
  /** At most this many operations per client, whatever the time. */
  maxOpsPerClient: number;
  /** Relative weights of single writes, transactions, reads and programs. */
  mix: [number, number, number, number];
}

export async function runWorkload(opts: WorkloadOptions, ledger: Ledger): Promise<void> {
  await Promise.all(opts.clients.map((c, n) => clientLoop(c, n, opts, ledger)));
}

async function clientLoop(client: Client, n: number, opts: WorkloadOptions, ledger: Ledger): Promise<void> {
  const acked: string[] = [];
  const call = async (tool: string, args: Record<string, unknown>): Promise<Outcome> => {
    const at = Date.now() - opts.t0;
    const outcome = await callTool(client, tool, args, opts.deadlineMs);
    ledger.calls.push({ tool, at, outcome });
    return outcome;
  };
  const record = (kind: WriteKind, id: string, told: Told, o?: Outcome, why?: string) =>
    ledger.writes.push({ kind, id, told, at: Date.now() - opts.t0, ...(why ? { why } : o && o.kind !== "ok" ? { why: o.kind === "error" ? o.code : o.kind, text: o.text.slice(0, 300) } : {}) });

  for (let seq = 0; seq < opts.maxOpsPerClient && Date.now() < opts.until; seq++) {
    const id = `${opts.runId}-${n}-${seq}`;
    const [w, p, r] = opts.mix;
    const dice = Math.random() * (opts.mix[0] + opts.mix[1] + opts.mix[2] + opts.mix[3]);
    if (dice < w) {
      const o = await call("pg_query_write", { sql: "insert into chaos_single (id, client) values ($1, $2)", params: [id, n] });
      record("single", id, told(o), o);
      if (o.kind === "ok") acked.push(id);
    } else if (dice < w + p) {
      await pair(call, record, id);
    } else if (dice < w + p + r) {
      if (acked.length === 0) continue;
      const seen = acked[Math.floor(Math.random() * acked.length)]!;
      const o = await call("pg_query_read", { sql: "select count(*)::int from chaos_single where id = $1", params: [seen] });
      if (o.kind === "ok" && JSON.stringify((o.structured as { rows?: unknown }).rows) !== "[[1]]") ledger.unseen.push(seen);
    } else {
      await program(call, record, id);
    }
    await new Promise((r) => setTimeout(r, Math.random() * 20));
  }
}

type Call = (tool: string, args: Record<string, unknown>) => Promise<Outcome>;
type Record_ = (kind: WriteKind, id: string, told: Told, o?: Outcome, why?: string) => void;

/** What a committing call's answer says about its write. */
function told(o: Outcome): Told {
  if (o.kind === "ok") return "acked";
  if (o.kind === "error") return UNKNOWN_OUTCOME_CODES.has(o.code) ? "unknown" : "failed";
  // No answer (or no proper one): the write may or may not have happened.
  return "unknown";
}

async function pair(call: Call, record: Record_, id: string): Promise<void> {
  const begun = await call("pg_tx_begin", {});
  if (begun.kind !== "ok") return record("pair", id, "failed", begun);
  const tx = begun.structured.tx as string;
  for (const part of [1, 2]) {
    const w = await call("pg_query_write", { tx, sql: "insert into chaos_pair (id, part) values ($1, $2)", params: [id, part] });
    if (w.kind !== "ok") {
      await call("pg_tx_rollback", { tx });
      // No COMMIT was asked for: whatever the answer, nothing may be kept.
      return record("pair", id, "failed", w);
    }
  }
  const c = await call("pg_tx_commit", { tx });
  if (c.kind === "ok" && c.structured.state !== "committed") return record("pair", id, "failed", c, `commit said: ${String(c.structured.state)}`);
  record("pair", id, told(c), c);
}

async function program(call: Call, record: Record_, id: string): Promise<void> {
  const code = `
    try {
      await pg.transaction(async (tx) => {
        await tx.query("insert into chaos_code (id, part) values ($1, 1)", [${JSON.stringify(id)}]);
        await tx.query("insert into chaos_code (id, part) values ($1, 2)", [${JSON.stringify(id)}]);
      });
      return { ok: true };
    } catch (e) {
      return { ok: false, code: e.code ?? e.name, message: String(e.message).slice(0, 300) };
    }`;
  // The product bounds the run (10 s here, under the call's deadline): an answer after that is a hang.
  const o = await call("pg_execute_code", { code, timeout: PROGRAM_TIMEOUT_MS });
  if (o.kind === "ok") {
    const r = o.structured.result as { ok: boolean; code?: string; message?: string } | null;
    if (r?.ok) return record("code", id, "acked");
    const code = r?.code ?? "no_result";
    return record("code", id, UNKNOWN_OUTCOME_CODES.has(code) ? "unknown" : "failed", undefined, code);
  }
  // A program that ran out of time, or was cancelled, may have committed before it was stopped.
  const stopped = o.kind === "error" && (o.code === "program_timeout" || /CancelledError/.test(o.text));
  record("code", id, o.kind === "error" && !stopped ? told(o) : "unknown", o);
}
