/**
 * One transaction held open across MCP calls. The stateless Worker cannot keep
 * a connection between requests, so each transaction gets its own Durable
 * Object (keyed by the transaction id) holding its connection.
 *
 * A transaction is a lease: it ends, rolled back, when idle longer than its
 * idle timeout or older than its deadline (an alarm), and PostgreSQL's
 * idle_in_transaction_session_timeout is the backstop. Only the principal that
 * began it may use it. When the connection is gone for any reason (the lease
 * ran out, the server dropped it, this object was evicted or reloaded), the
 * next call gets "transaction X was rolled back: <reason>", never a new
 * transaction.
 *
 * A COMMIT whose answer is lost (the connection died under it, or this object
 * restarted mid-commit) is never reported as committed or rolled back on a
 * guess, and never sent again: the transaction's PostgreSQL id, read just
 * before the COMMIT and stored with the state "committing", is looked up with
 * txid_status() on a fresh connection. If that cannot tell, the answer is
 * `commit_unknown` with the id, for the caller to check.
 */
import { DurableObject } from "cloudflare:workers";
import { freeSlot } from "./names";
import { getConfig } from "../worker/config";
import { bounded, CLOSE_TIMEOUT_MS, ConnectionLostError, openSession, type DbNotice, type DbSession, type RowSet, type RunLimits } from "../worker/db/session";
import { runningName, sessionName } from "../worker/db/tags";
import { inTransactionExecutor } from "../worker/db/tx-executor";
import { identitySettings, type DbIdentity } from "../worker/db/identity";
import type { ReadOptions, ScriptOptions, ScriptOutcome, SqlExecutor } from "../worker/db/executor";
import { toErrorInfo, type ToolErrorInfo } from "../worker/tools/errors";
import { CLAIM_WITH_OUTCOME_SQL, claimError, encodeOutcome, reusedError, type IdempotencyClaim } from "../worker/db/idempotency";

/** The savepoint a keyed COMMIT claims its key in (a name no caller is told, so none can release it first). */
const CLAIM_SAVEPOINT = "pgmcp_idempotency_claim";

export type Isolation = "read committed" | "repeatable read" | "serializable";

export interface BeginRequest {
  txId: string;
  owner: string;
  isolation: Isolation;
  readOnly: boolean;
  deferrable: boolean;
  idleTimeoutMs: number;
  maxAgeMs: number;
  /** The caller acts as its own database role: the connection logs in as it, and its claims are set for the transaction. */
  identity?: DbIdentity;
}

export interface Lease {
  tx: string;
  isolation: Isolation;
  readOnly: boolean;
  idleTimeoutMs: number;
  /** ISO time after which the transaction is rolled back however busy. */
  expiresAt: string;
}

export interface TxStatus extends Lease {
  state: "open" | "aborted";
  statements: number;
  savepoints: string[];
  idleMs: number;
}

/**
 * What crosses the RPC boundary: a value, or the error info (pg errors lose
 * their fields when thrown across RPC); with the notices PostgreSQL sent
 * during the statement, which the calling Worker passes on to its client.
 */
export type TxResult<T> = ({ ok: true; value: T } | { ok: false; error: ToolErrorInfo }) & { notices?: DbNotice[] };

export type TxOp = (
  | { kind: "read"; sql: string; params?: unknown[]; limits?: Partial<RunLimits>; opts?: ReadOptions }
  | { kind: "write"; sql: string; params?: unknown[]; rollback?: boolean; limits?: Partial<RunLimits> }
  | { kind: "rows"; sql: string; params?: unknown[] }
  | { kind: "script"; statements: string[]; opts: ScriptOptions }
) & {
  /** The tools/call's name (db/tags.ts callName), so that a cancel finds its statement (db/cancel.ts). */
  callName?: string;
};

export type TxControl = { kind: "commit"; idempotency?: IdempotencyClaim } | { kind: "rollback" } | { kind: "savepoint"; name: string } | { kind: "release"; name: string } | { kind: "rollback_to"; name: string };

/** What a COMMIT answers. */
export interface CommitAnswer {
  state: string;
  /** A retry of a keyed COMMIT that committed: when the first call committed it (ISO 8601). */
  replayed?: string;
  /**
   * A keyed COMMIT whose outcome is unknown here: the key's row in the
   * database tells (worker/tools/tx.tools.ts settles it on the caller's
   * connection, keyed by its login).
   */
  settle?: { xid?: string };
}

type Outcome = "committed" | "rolled back" | "unknown";

interface Persisted {
  txId: string;
  owner: string;
  /** `committing`: COMMIT was sent and its answer not yet read. */
  state: "open" | "committing" | "closed";
  reason?: string;
  outcome?: Outcome;
  /** The transaction's id in PostgreSQL (txid), read before COMMIT when it had written anything. */
  xid?: string;
  /** The idempotency key's token recorded in the transaction before COMMIT, and when. */
  key?: { token: string; at: string };
}

/** How long learning a lost COMMIT's fate may take (a fresh connection, then txid_status until it is not "in progress"). */
const LOOKUP_TIMEOUT_MS = 10_000;

const STATE_KEY = "tx";

export class TxSession extends DurableObject {
  static readonly BACKSTOP_MARGIN_MS = 5_000;

  #session?: DbSession;
  #exec?: SqlExecutor;
  #config?: ReturnType<typeof getConfig>;
  /** The caller acts as its own database role in this transaction (its connection logs in as it). */
  #identity?: DbIdentity;
  #lease?: Lease;
  #owner?: string;
  #startedAt = 0;
  #lastActivity = 0;
  #busy = 0;
  /**
   * Set, synchronously, the moment the transaction starts to end (COMMIT,
   * ROLLBACK, expiry, a lost connection): from then on no call may put a
   * statement on its connection. A statement queued behind the COMMIT or
   * ROLLBACK would run after it, outside any transaction, and be autocommitted.
   */
  #ending: string | undefined;
  #aborted = false;
  #statements = 0;
  #savepoints: string[] = [];
  /** Notices of the statement running now (exec), handed back with its result. */
  #notices: DbNotice[] | undefined;

  async begin(req: BeginRequest): Promise<TxResult<Lease>> {
    const persisted = await this.ctx.storage.get<Persisted>(STATE_KEY);
    if (persisted || this.#session) return { ok: false, error: { code: "tx_exists", message: `transaction ${req.txId} already exists` } };
    const config = getConfig(this.env as Env);
    let session: DbSession;
    try {
      // Never the transaction id: application_name is readable by every role (see worker/db/tags.ts).
      session = await openSession(config, this.env as Env, { applicationName: await sessionName({ tx: req.txId }, req.owner), onNotice: (n) => this.#notices?.push(n), identity: req.identity });
    } catch (e) {
      return { ok: false, error: toErrorInfo(e) };
    }
    const backstop = req.idleTimeoutMs + TxSession.BACKSTOP_MARGIN_MS;
    const mode = `ISOLATION LEVEL ${req.isolation.toUpperCase()} ${req.readOnly ? "READ ONLY" : "READ WRITE"}${req.deferrable ? " DEFERRABLE" : ""}`;
    try {
      await session.query(
        `SET idle_in_transaction_session_timeout = ${backstop}; BEGIN ${mode}; SET LOCAL statement_timeout = ${config.statementTimeoutMs}; SET LOCAL lock_timeout = ${config.lockTimeoutMs}; SET LOCAL datestyle = 'ISO, MDY'${req.identity ? `; ${identitySettings(req.identity).join("; ")}` : ""}`,
      );
    } catch (e) {
      await session.close();
      return { ok: false, error: toErrorInfo(e) };
    }
    const now = Date.now();
    this.#session = session;
    this.#exec = inTransactionExecutor(config, session, undefined, req.identity);
    this.#identity = req.identity;
    this.#config = config;
    this.#owner = req.owner;
    this.#startedAt = now;
    this.#lastActivity = now;
    this.#lease = { tx: req.txId, isolation: req.isolation, readOnly: req.readOnly, idleTimeoutMs: req.idleTimeoutMs, expiresAt: new Date(now + req.maxAgeMs).toISOString() };
    await this.ctx.storage.put<Persisted>(STATE_KEY, { txId: req.txId, owner: req.owner, state: "open" });
    await this.#scheduleAlarm();
    return { ok: true, value: this.#lease };
  }

  async exec(owner: string, op: TxOp): Promise<TxResult<RowSet | Record<string, unknown>[] | ScriptOutcome>> {
    const notices: DbNotice[] = [];
    this.#notices = notices;
    try {
      const r = await this.#execute(owner, op);
      return notices.length ? { ...r, notices } : r;
    } finally {
      if (this.#notices === notices) this.#notices = undefined;
    }
  }

  async #execute(owner: string, op: TxOp): Promise<TxResult<RowSet | Record<string, unknown>[] | ScriptOutcome>> {
    const refused = (await this.#check(owner)) ?? this.#endingNow();
    if (refused) return refused;
    this.#busy++;
    this.#lastActivity = Date.now();
    try {
      const exec = op.callName ? inTransactionExecutor(this.#config!, this.#session!, runningName(this.#session!.name, op.callName), this.#identity) : this.#exec!;
      let value: RowSet | Record<string, unknown>[] | ScriptOutcome;
      switch (op.kind) {
        case "read":
          value = await exec.read(op.sql, op.params, op.limits, op.opts);
          break;
        case "write":
          value = await exec.write(op.sql, op.params, { rollback: op.rollback, limits: op.limits });
          break;
        case "rows":
          value = await exec.rows(op.sql, op.params);
          break;
        case "script": {
          const outcome = await exec.script(op.statements, op.opts);
          if (outcome.failure) {
            this.#aborted = true;
            // Errors do not survive RPC as objects; send their info.
            value = { results: outcome.results, failure: { index: outcome.failure.index, error: this.#describe(outcome.failure.error) } } as ScriptOutcome;
          } else value = outcome;
          break;
        }
      }
      this.#statements++;
      return { ok: true, value };
    } catch (e) {
      return { ok: false, error: await this.#failed(e) };
    } finally {
      this.#busy--;
      this.#lastActivity = Date.now();
      await this.#scheduleAlarm();
    }
  }

  async control(owner: string, c: TxControl): Promise<TxResult<CommitAnswer>> {
    if (c.kind === "commit" && c.idempotency) return this.#keyedAnswer(c.idempotency, await this.#control(owner, c));
    return this.#control(owner, c);
  }

  async #control(owner: string, c: TxControl): Promise<TxResult<CommitAnswer>> {
    const refused = (await this.#check(owner)) ?? this.#endingNow();
    if (refused) return refused;
    this.#lastActivity = Date.now();
    const session = this.#session!;
    if (c.kind === "commit" || c.kind === "rollback") this.#ending = c.kind === "commit" ? "committing" : "rolling back";
    try {
      switch (c.kind) {
        case "commit":
          return await this.#commit(session, c.idempotency);
        case "rollback":
          // Lost or not, a transaction that is not committed is rolled back: the server ends it with the connection.
          await session.query("ROLLBACK").catch((e) => {
            if (!(e instanceof ConnectionLostError)) throw e;
          });
          await this.#close("rolled back", "rolled back");
          return { ok: true, value: { state: "rolled back" } };
        case "savepoint":
          await session.query(`SAVEPOINT ${quote(c.name)}`);
          this.#savepoints.push(c.name);
          break;
        case "release":
          await session.query(`RELEASE SAVEPOINT ${quote(c.name)}`);
          this.#savepoints = this.#savepoints.slice(0, Math.max(0, this.#savepoints.lastIndexOf(c.name)));
          break;
        case "rollback_to":
          await session.query(`ROLLBACK TO SAVEPOINT ${quote(c.name)}`);
          this.#savepoints = this.#savepoints.slice(0, this.#savepoints.lastIndexOf(c.name) + 1);
          this.#aborted = false;
          break;
      }
      return { ok: true, value: { state: this.#aborted ? "aborted" : "open" } };
    } catch (e) {
      const error = await this.#failed(e);
      if (this.#session && (c.kind === "commit" || c.kind === "rollback")) this.#ending = undefined;
      return { ok: false, error };
    } finally {
      if (this.#session) await this.#scheduleAlarm();
    }
  }

  /**
   * A keyed COMMIT that did not succeed now: if this transaction's COMMIT
   * recorded the same key, answer from that (a retry after a lost answer):
   * committed is a replay, unknown is settled by the key's row. Otherwise
   * (rolled back, another key, no key) the answer stands.
   */
  async #keyedAnswer(claim: IdempotencyClaim, r: TxResult<CommitAnswer>): Promise<TxResult<CommitAnswer>> {
    if (r.ok) return r;
    const p = await this.ctx.storage.get<Persisted>(STATE_KEY);
    if (p?.state !== "closed" || p.key?.token !== claim.token) return r;
    if (p.outcome === "committed") return { ok: true, value: { state: "committed", replayed: p.key.at } };
    if (p.outcome === "unknown") return { ok: true, value: { state: "commit_unknown", settle: p.xid ? { xid: p.xid } : {} } };
    return r;
  }

  async #commit(session: DbSession, claim?: IdempotencyClaim): Promise<TxResult<CommitAnswer>> {
    const txId = this.#lease!.tx;
    if (claim && this.#lease!.readOnly) {
      this.#ending = undefined;
      return { ok: false, error: { code: "idempotency_not_applicable", message: `idempotency_key does not apply here: transaction ${txId} is read only, so its COMMIT keeps nothing a retry could repeat`, hint: "call pg_tx_commit again without idempotency_key" } };
    }
    if (this.#aborted) {
      // COMMIT of an aborted transaction is a rollback in PostgreSQL (and a lost connection rolls it back too): say so rather than "committed".
      await session.query("COMMIT").catch(() => {});
      const state = "rolled back (the transaction was aborted, so COMMIT rolled it back)";
      await this.#close(state, "rolled back");
      return { ok: true, value: { state } };
    }
    let xid: string | undefined;
    let key: Persisted["key"];
    try {
      if (claim) {
        // The key's row, written in the transaction: after COMMIT it is there if and only if the transaction committed.
        // In a savepoint: a key this transaction may not have (used by another COMMIT, or held by one still running)
        // leaves it open and untouched, its row locks and all, instead of aborting it.
        const at = new Date().toISOString();
        await session.query(`SAVEPOINT ${CLAIM_SAVEPOINT}`);
        let refused: ToolErrorInfo | undefined;
        try {
          const status = (await session.query<{ status: string }>(CLAIM_WITH_OUTCOME_SQL, [claim.token, claim.tool, claim.argsHash, encodeOutcome({ state: "committed" })])).rows[0]?.status;
          if (status !== "claimed") refused = toErrorInfo(reusedError("pg_tx_commit"));
        } catch (e) {
          const known = claimError("pg_tx_commit", e);
          if (!known || e instanceof ConnectionLostError || session.lostReason) throw e;
          refused = toErrorInfo(known);
        }
        if (refused) {
          await session.query(`ROLLBACK TO SAVEPOINT ${CLAIM_SAVEPOINT}; RELEASE SAVEPOINT ${CLAIM_SAVEPOINT}`);
          this.#ending = undefined;
          return { ok: false, error: refused };
        }
        await session.query(`RELEASE SAVEPOINT ${CLAIM_SAVEPOINT}`);
        key = { token: claim.token, at };
      }
      // Null when the transaction wrote nothing: then a lost COMMIT loses nothing.
      xid = (await session.query<{ xid: string | null }>("select txid_current_if_assigned()::text as xid")).rows[0]?.xid ?? undefined;
    } catch (e) {
      const error = await this.#failed(e);
      // Still open (the read failed, the connection did not): the transaction is not ending after all.
      if (this.#session) this.#ending = undefined;
      return { ok: false, error };
    }
    const persisted = (await this.ctx.storage.get<Persisted>(STATE_KEY))!;
    await this.ctx.storage.put<Persisted>(STATE_KEY, { ...persisted, state: "committing", ...(xid ? { xid } : {}), ...(key ? { key } : {}) });
    try {
      await session.query("COMMIT");
    } catch (e) {
      if (e instanceof ConnectionLostError || session.lostReason) return this.#lostAtCommit(xid);
      // The server refused the COMMIT (a deferred constraint, a serialization failure): the transaction is over, rolled back.
      const info = toErrorInfo(e);
      await this.#close(`COMMIT failed: ${info.message}`, "rolled back");
      return { ok: false, error: { ...info, message: `transaction ${txId} was rolled back: COMMIT failed: ${info.message}` } };
    }
    await this.#close("committed", "committed");
    return { ok: true, value: { state: "committed" } };
  }

  /** The connection died under COMMIT: learn what happened from PostgreSQL itself, never guess, never commit again. */
  async #lostAtCommit(xid: string | undefined): Promise<TxResult<{ state: string }>> {
    const txId = this.#lease!.tx;
    const found = await this.#settleCommitting(xid);
    await this.#close(found.reason, found.outcome, xid);
    if (found.outcome === "committed") return { ok: true, value: { state: found.reason } };
    return { ok: false, error: closedError({ txId, owner: "", state: "closed", reason: found.reason, outcome: found.outcome, ...(xid ? { xid } : {}) }) };
  }

  /** What became of a COMMIT whose answer was lost, looked up on a fresh connection (bounded). */
  async #settleCommitting(xid: string | undefined): Promise<{ outcome: Outcome; reason: string }> {
    if (xid === undefined) return { outcome: "rolled back", reason: "the connection was lost at COMMIT; the transaction had written nothing, so nothing was lost" };
    const status = await bounded(this.#lookup(xid), LOOKUP_TIMEOUT_MS + CLOSE_TIMEOUT_MS, undefined);
    if (status === "committed") return { outcome: "committed", reason: "committed (its connection was lost at COMMIT; PostgreSQL confirms the commit)" };
    if (status === "aborted") return { outcome: "rolled back", reason: "the connection was lost at COMMIT and PostgreSQL rolled it back" };
    return { outcome: "unknown", reason: `the connection was lost at COMMIT and its outcome could not be learned (PostgreSQL transaction id ${xid})` };
  }

  /**
   * txid_status(xid) on a fresh connection, retried until it says something
   * other than "in progress" (the old backend has not yet noticed its
   * connection is gone) or the database is back from a restart.
   */
  async #lookup(xid: string): Promise<string | undefined> {
    const deadline = Date.now() + LOOKUP_TIMEOUT_MS;
    const config = getConfig(this.env as Env);
    const applicationName = await sessionName({ tx: this.#lease?.tx ?? "lookup" }, this.#owner ?? "");
    while (Date.now() < deadline) {
      let db: DbSession | undefined;
      try {
        db = await openSession(config, this.env as Env, { applicationName });
        const status = (await db.query<{ s: string | null }>("select txid_status($1::bigint) as s", [xid])).rows[0]?.s ?? undefined;
        if (status !== "in progress") return status;
      } catch {
        // The database is not back yet: try again until the deadline.
      } finally {
        await db?.close();
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    return undefined;
  }

  async status(owner: string): Promise<TxResult<TxStatus>> {
    const refused = await this.#check(owner);
    if (refused) return refused;
    return {
      ok: true,
      value: { ...this.#lease!, state: this.#aborted ? "aborted" : "open", statements: this.#statements, savepoints: [...this.#savepoints], idleMs: Date.now() - this.#lastActivity },
    };
  }

  override async alarm(): Promise<void> {
    // Already ending (a COMMIT in flight, a close under way): that path finishes it and clears the alarm.
    if (this.#ending) return;
    if (!this.#session || !this.#lease) {
      // Evicted or reloaded since the alarm was set: the connection (and the transaction) is gone.
      const persisted = await this.ctx.storage.get<Persisted>(STATE_KEY);
      if (persisted?.state === "open") await this.ctx.storage.put<Persisted>(STATE_KEY, { ...persisted, state: "closed", reason: "its connection was lost (the transaction holder restarted)" });
      return;
    }
    const now = Date.now();
    if (now >= Date.parse(this.#lease.expiresAt)) {
      await this.#expire(`it reached its deadline (${Math.round((now - this.#startedAt) / 1000)} s old)`);
    } else if (this.#busy === 0 && now - this.#lastActivity >= this.#lease.idleTimeoutMs) {
      await this.#expire(`it was idle for more than ${this.#lease.idleTimeoutMs / 1000} s`);
    } else await this.#scheduleAlarm();
  }

  /** Refuses a call that cannot run: unknown, foreign, closed or lost. */
  async #check(owner: string): Promise<TxResult<never> | undefined> {
    const persisted = await this.ctx.storage.get<Persisted>(STATE_KEY);
    if (!persisted) return { ok: false, error: { code: "tx_not_found", message: "no such transaction" } };
    // Same answer for "not yours" and "does not exist" would hide existence, but the id is unguessable; be clear instead.
    if (persisted.owner !== owner) return { ok: false, error: { code: "tx_forbidden", message: `transaction ${persisted.txId} belongs to another caller` } };
    if (persisted.state === "closed") return { ok: false, error: closedError(persisted) };
    if (persisted.state === "committing") {
      if (this.#session) return { ok: false, error: { code: "tx_busy", message: `transaction ${persisted.txId} is committing`, hint: "call pg_tx_status again shortly" } };
      // This object restarted while a COMMIT was in flight: it may have happened.
      const found = await this.#settleCommitting(persisted.xid);
      const closed: Persisted = { ...persisted, state: "closed", reason: found.reason, outcome: found.outcome };
      await this.ctx.storage.put<Persisted>(STATE_KEY, closed);
      return { ok: false, error: closedError(closed) };
    }
    const ending = this.#endingNow();
    if (ending) return ending;
    if (!this.#session) {
      const reason = "its connection was lost (the transaction holder restarted or was evicted)";
      await this.ctx.storage.put<Persisted>(STATE_KEY, { ...persisted, state: "closed", reason, outcome: "rolled back" });
      return { ok: false, error: { code: "tx_closed", message: `transaction ${persisted.txId} was rolled back: ${reason}` } };
    }
    if (this.#session.lostReason) {
      const reason = `the database connection was lost (${this.#session.lostReason})`;
      await this.#close(reason);
      return { ok: false, error: closedError({ ...persisted, reason, outcome: "rolled back" }) };
    }
    return undefined;
  }

  #describe(e: unknown): ToolErrorInfo {
    const info = toErrorInfo(e);
    return { ...info, hint: [info.hint, "the transaction is now aborted: call pg_tx_rollback, or pg_tx_rollback_to a savepoint"].filter(Boolean).join("; ") };
  }

  async #failed(e: unknown): Promise<ToolErrorInfo> {
    if (this.#session?.lostReason) {
      const reason = `the database connection was lost (${this.#session.lostReason})`;
      await this.#close(reason);
      return closedError({ txId: this.#lease?.tx ?? "", owner: "", state: "closed", reason, outcome: "rolled back" });
    }
    this.#aborted = true;
    return this.#describe(e);
  }

  async #expire(reason: string): Promise<void> {
    this.#ending = reason;
    // Bounded: the connection may be dead without our knowing; closing it rolls back all the same.
    if (this.#session) await bounded(this.#session.query("ROLLBACK").catch(() => {}), CLOSE_TIMEOUT_MS, undefined);
    await this.#close(reason);
  }

  /** A call arriving while the transaction ends is refused, not run on its connection. */
  #endingNow(): TxResult<never> | undefined {
    if (!this.#ending) return undefined;
    return { ok: false, error: { code: "tx_busy", message: `transaction ${this.#lease?.tx} is ending (${this.#ending})`, hint: "call pg_tx_status shortly: it reports how it ended" } };
  }

  async #close(reason: string, outcome: Outcome = "rolled back", xid?: string): Promise<void> {
    this.#ending ??= reason;
    const session = this.#session;
    const txId = this.#lease?.tx;
    this.#session = undefined;
    this.#exec = undefined;
    this.#config = undefined;
    await session?.close();
    const persisted = await this.ctx.storage.get<Persisted>(STATE_KEY);
    if (persisted) await this.ctx.storage.put<Persisted>(STATE_KEY, { ...persisted, state: "closed", reason, outcome, ...(xid ? { xid } : {}) });
    await this.ctx.storage.deleteAlarm();
    // Free the deployment's open-transaction slot.
    if (txId) await freeSlot(this.env as Env, "tx", txId);
  }

  async #scheduleAlarm(): Promise<void> {
    if (!this.#lease) return;
    const idleAt = this.#lastActivity + this.#lease.idleTimeoutMs;
    const at = Math.min(idleAt, Date.parse(this.#lease.expiresAt));
    await this.ctx.storage.setAlarm(Math.max(at, Date.now() + 50));
  }
}

/** The answer to any call on a transaction that has ended, the same every time it is asked. */
function closedError(p: Persisted): ToolErrorInfo {
  if (p.outcome === "unknown") {
    return {
      code: "commit_unknown",
      message: `transaction ${p.txId}: ${p.reason}`,
      hint: `do not commit again: check with select pg_xact_status('${p.xid}'::xid8) (committed, aborted or in progress), or read the rows it wrote`,
    };
  }
  const said = p.reason?.startsWith("committed") || p.reason?.startsWith("rolled back") ? p.reason : `rolled back: ${p.reason}`;
  // A transaction lost with its connection was rolled back: the caller may begin again.
  return { code: "tx_closed", message: `transaction ${p.txId} was ${said}`, ...(p.outcome === "rolled back" && /connection (?:was )?lost/.test(p.reason ?? "") ? { hint: "nothing was committed: begin a new transaction and retry" } : {}) };
}

function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
