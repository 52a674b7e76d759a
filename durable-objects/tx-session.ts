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
 */
import { DurableObject } from "cloudflare:workers";
import { getConfig } from "../worker/config";
import { openSession, type DbSession, type RowSet, type RunLimits } from "../worker/db/session";
import { sessionName } from "../worker/db/tags";
import { inTransactionExecutor } from "../worker/db/tx-executor";
import { identitySettings, type DbIdentity } from "../worker/db/identity";
import type { ReadOptions, ScriptOptions, ScriptOutcome, SqlExecutor } from "../worker/db/executor";
import { toErrorInfo, type ToolErrorInfo } from "../worker/tools/errors";

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

/** What crosses the RPC boundary: a value, or the error info (pg errors lose their fields when thrown across RPC). */
export type TxResult<T> = { ok: true; value: T } | { ok: false; error: ToolErrorInfo };

export type TxOp =
  | { kind: "read"; sql: string; params?: unknown[]; limits?: Partial<RunLimits>; opts?: ReadOptions }
  | { kind: "write"; sql: string; params?: unknown[]; rollback?: boolean; limits?: Partial<RunLimits> }
  | { kind: "rows"; sql: string; params?: unknown[] }
  | { kind: "script"; statements: string[]; opts: ScriptOptions };

export type TxControl = { kind: "commit" } | { kind: "rollback" } | { kind: "savepoint"; name: string } | { kind: "release"; name: string } | { kind: "rollback_to"; name: string };

interface Persisted {
  txId: string;
  owner: string;
  state: "open" | "closed";
  reason?: string;
}

const STATE_KEY = "tx";

export class TxSession extends DurableObject {
  static readonly BACKSTOP_MARGIN_MS = 5_000;

  #session?: DbSession;
  #exec?: SqlExecutor;
  #lease?: Lease;
  #owner?: string;
  #startedAt = 0;
  #lastActivity = 0;
  #busy = 0;
  #aborted = false;
  #statements = 0;
  #savepoints: string[] = [];

  async begin(req: BeginRequest): Promise<TxResult<Lease>> {
    const persisted = await this.ctx.storage.get<Persisted>(STATE_KEY);
    if (persisted || this.#session) return { ok: false, error: { code: "tx_exists", message: `transaction ${req.txId} already exists` } };
    const config = getConfig(this.env as Env);
    let session: DbSession;
    try {
      // Never the transaction id: application_name is readable by every role (see worker/db/tags.ts).
      session = await openSession(config, this.env as Env, { applicationName: await sessionName({ tx: req.txId }, req.owner), identity: req.identity });
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
    this.#exec = inTransactionExecutor(config, session, req.identity);
    this.#owner = req.owner;
    this.#startedAt = now;
    this.#lastActivity = now;
    this.#lease = { tx: req.txId, isolation: req.isolation, readOnly: req.readOnly, idleTimeoutMs: req.idleTimeoutMs, expiresAt: new Date(now + req.maxAgeMs).toISOString() };
    await this.ctx.storage.put<Persisted>(STATE_KEY, { txId: req.txId, owner: req.owner, state: "open" });
    await this.#scheduleAlarm();
    return { ok: true, value: this.#lease };
  }

  async exec(owner: string, op: TxOp): Promise<TxResult<RowSet | Record<string, unknown>[] | ScriptOutcome>> {
    const refused = await this.#check(owner);
    if (refused) return refused;
    this.#busy++;
    this.#lastActivity = Date.now();
    try {
      const exec = this.#exec!;
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

  async control(owner: string, c: TxControl): Promise<TxResult<{ state: string }>> {
    const refused = await this.#check(owner);
    if (refused) return refused;
    this.#lastActivity = Date.now();
    const session = this.#session!;
    try {
      switch (c.kind) {
        case "commit": {
          await session.query("COMMIT");
          // COMMIT of an aborted transaction is a rollback in PostgreSQL: say so rather than "committed".
          const outcome = this.#aborted ? "rolled back (the transaction was aborted, so COMMIT rolled it back)" : "committed";
          await this.#close(outcome);
          return { ok: true, value: { state: outcome } };
        }
        case "rollback":
          await session.query("ROLLBACK");
          await this.#close("rolled back");
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
      return { ok: false, error: await this.#failed(e) };
    } finally {
      if (this.#session) await this.#scheduleAlarm();
    }
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
    if (persisted.state === "closed") return { ok: false, error: { code: "tx_closed", message: `transaction ${persisted.txId} was ${persisted.reason?.startsWith("committed") ? persisted.reason : `rolled back: ${persisted.reason}`}` } };
    if (!this.#session) {
      const reason = "its connection was lost (the transaction holder restarted or was evicted)";
      await this.ctx.storage.put<Persisted>(STATE_KEY, { ...persisted, state: "closed", reason });
      return { ok: false, error: { code: "tx_closed", message: `transaction ${persisted.txId} was rolled back: ${reason}` } };
    }
    if (this.#session.lostReason) {
      const reason = `the database connection was lost (${this.#session.lostReason})`;
      await this.#close(reason);
      return { ok: false, error: { code: "tx_closed", message: `transaction ${persisted.txId} was rolled back: ${reason}` } };
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
      return { code: "tx_closed", message: `transaction ${this.#lease?.tx} was rolled back: ${reason}` };
    }
    this.#aborted = true;
    return this.#describe(e);
  }

  async #expire(reason: string): Promise<void> {
    await this.#session?.query("ROLLBACK").catch(() => {});
    await this.#close(reason);
  }

  async #close(reason: string): Promise<void> {
    const session = this.#session;
    const txId = this.#lease?.tx;
    this.#session = undefined;
    this.#exec = undefined;
    await session?.close();
    const persisted = await this.ctx.storage.get<Persisted>(STATE_KEY);
    if (persisted) await this.ctx.storage.put<Persisted>(STATE_KEY, { ...persisted, state: "closed", reason });
    await this.ctx.storage.deleteAlarm();
    // Free the deployment's open-transaction slot.
    if (txId) {
      const limits = (this.env as Env).LIMITS;
      await limits.get(limits.idFromName("deployment")).closeSlot("tx", txId).catch(() => {});
    }
  }

  async #scheduleAlarm(): Promise<void> {
    if (!this.#lease) return;
    const idleAt = this.#lastActivity + this.#lease.idleTimeoutMs;
    const at = Math.min(idleAt, Date.parse(this.#lease.expiresAt));
    await this.ctx.storage.setAlarm(Math.max(at, Date.now() + 50));
  }
}

function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
