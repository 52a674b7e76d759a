/**
 * One caller's limits, in a Durable Object named by the caller (created, and
 * so placed, near where that caller first called): its token buckets per cost
 * class (calls, expensive tools, code executions) and its requests in flight.
 * No call touches an object shared by the whole deployment while the caller
 * stays within the request slots it already holds. The confirmations the
 * server asks this caller for (worker/mcp/confirm.ts) are kept here too.
 *
 * The deployment's cap on requests in flight (MAX_CONCURRENT_REQUESTS) stays
 * exact without a global hop per call: the DeploymentLimits object grants
 * request slots to callers' objects, one at a time, and a caller's object
 * admits a request locally while it holds a free granted slot. A slot stays
 * granted after its request ends, so a caller calling again pays no hop; when
 * the deployment runs out, DeploymentLimits takes back the slots other callers
 * hold but are not using (reclaim) before it refuses. So a request is refused
 * only when MAX_CONCURRENT_REQUESTS requests really are in flight.
 *
 * Buckets live in SQLite storage so an eviction does not refill them, written
 * behind: a call's admission waits for no storage write. A Durable Object
 * holds every response back until the writes before it are durable (the
 * output gate), so a write per call would put one durable write on every
 * call's path; instead the buckets a second's calls spent are written
 * together, PERSIST_MS after the first of them (a response that happens to
 * leave while that write commits waits for it: at most one a second). An
 * object is evicted only after seconds of idleness, long after that write; a
 * restart (a deploy, a crash) can forget the spending of about the last
 * PERSIST_MS. Leases and granted slots live in memory: an evicted object has
 * nothing in flight, and its new incarnation (a new epoch) tells
 * DeploymentLimits that slots granted to the old one are free.
 */
import { DurableObject } from "cloudflare:workers";
import { deploymentLimits } from "./names";

export type CostClass = "call" | "expensive" | "code";

/** Things a deployment caps the number of at once: open transactions, running programs, Python interpreters. */
export type SlotKind = "tx" | "code" | "python";

export interface LimitPolicy {
  /** Per minute for each class; 0 = unlimited. */
  perMinute: Record<CostClass, number>;
  /** Requests in flight in the whole deployment; 0 = unlimited. */
  maxConcurrent: number;
}

export type AcquireResult =
  | { ok: true; lease: string; limit: number; remaining: number; resetMs: number; deploymentHops: number }
  | { ok: false; reason: "rate" | "concurrency"; limit: number; remaining: 0; retryAfterMs: number; deploymentHops: number };

/** What a caller's object hands back when DeploymentLimits reclaims its unused slots. */
export interface Reclaimed {
  epoch: string;
  released: number;
}

interface Bucket {
  tokens: number;
  updated: number;
}

export class Limits extends DurableObject<Env> {
  static readonly LEASE_TTL_MS = 120_000;
  static readonly BUCKETS_TABLE = "buckets";
  /** How long spent tokens wait, in memory, to be written together. */
  static readonly PERSIST_MS = 1_000;
  /** This incarnation: slots granted to an earlier one (before an eviction) are free. */
  readonly #epoch = crypto.randomUUID();
  #buckets = new Map<string, Bucket>();
  #inFlight = new Map<string, number>(); // lease -> started at
  /** Request slots DeploymentLimits has granted this object (in use or spare). */
  #granted = 0;
  /** Buckets spent since they were last written, and the write that will take them. */
  #dirty = new Set<string>();
  #persisting: ReturnType<typeof setTimeout> | undefined;
  #persistFailed = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS ${Limits.BUCKETS_TABLE} (key TEXT PRIMARY KEY, tokens REAL NOT NULL, updated INTEGER NOT NULL)`);
    for (const row of this.ctx.storage.sql.exec<{ key: string; tokens: number; updated: number }>(`SELECT key, tokens, updated FROM ${Limits.BUCKETS_TABLE}`)) {
      this.#buckets.set(row.key, { tokens: row.tokens, updated: row.updated });
    }
  }

  /**
   * Takes one token from each of the caller's buckets `cost` spends and a
   * request slot, or says why not (a refused call costs nothing). `holder` is
   * this object's name, so DeploymentLimits can reach it to reclaim slots.
   */
  async acquire(holder: string, principal: string, cost: CostClass, policy: LimitPolicy): Promise<AcquireResult> {
    let deploymentHops = 0;
    this.#expireLeases();
    const rate = this.#rateRefusal(principal, cost, policy);
    if (rate) return { ...rate, deploymentHops };
    if (policy.maxConcurrent > 0 && this.#inFlight.size >= this.#granted) {
      deploymentHops++;
      const grant = await this.#deployment().grantRequestSlot(holder, this.#epoch, policy.maxConcurrent);
      if (!grant.ok) return { ok: false, reason: "concurrency", limit: policy.maxConcurrent, remaining: 0, retryAfterMs: 1000, deploymentHops };
      this.#granted++;
      // Other acquires ran while we waited: the buckets may be empty now (the slot stays, spare).
      const late = this.#rateRefusal(principal, cost, policy);
      if (late) return { ...late, deploymentHops };
    }
    const taken = this.#take(principal, cost, policy);
    const lease = crypto.randomUUID();
    this.#inFlight.set(lease, Date.now());
    return { ok: true, lease, ...taken, deploymentHops };
  }

  /** Ends a request: its slot stays granted to this caller, spare, until DeploymentLimits reclaims it. */
  release(lease: string): void {
    this.#inFlight.delete(lease);
  }

  /** Gives back every granted slot not in use. Called by DeploymentLimits when the deployment runs out. */
  reclaim(): Reclaimed {
    this.#expireLeases();
    const released = Math.max(0, this.#granted - this.#inFlight.size);
    this.#granted -= released;
    return { epoch: this.#epoch, released };
  }

  #deployment() {
    return deploymentLimits(this.env);
  }

  #expireLeases(): void {
    const now = Date.now();
    // Leases whose release was lost (a crashed request) expire.
    for (const [lease, at] of this.#inFlight) if (now - at > Limits.LEASE_TTL_MS) this.#inFlight.delete(lease);
  }

  #classes(cost: CostClass, policy: LimitPolicy): CostClass[] {
    return (cost === "call" ? (["call"] as const) : (["call", cost] as const)).filter((cls) => policy.perMinute[cls] > 0);
  }

  #rateRefusal(principal: string, cost: CostClass, policy: LimitPolicy) {
    const now = Date.now();
    for (const cls of this.#classes(cost, policy)) {
      const perMinute = policy.perMinute[cls];
      const b = this.#refill(`${principal}|${cls}`, perMinute, now);
      if (b.tokens < 1) {
        const retryAfterMs = Math.ceil(((1 - b.tokens) * 60_000) / perMinute);
        return { ok: false as const, reason: "rate" as const, limit: perMinute, remaining: 0 as const, retryAfterMs };
      }
    }
    return undefined;
  }

  #take(principal: string, cost: CostClass, policy: LimitPolicy): { limit: number; remaining: number; resetMs: number } {
    let limit = 0;
    let remaining = Infinity;
    let resetMs = 0;
    for (const cls of this.#classes(cost, policy)) {
      const perMinute = policy.perMinute[cls];
      const key = `${principal}|${cls}`;
      const b = this.#buckets.get(key)!;
      b.tokens -= 1;
      this.#persistLater(key);
      if (b.tokens < remaining) {
        remaining = Math.floor(b.tokens);
        limit = perMinute;
        resetMs = Math.ceil(((perMinute - b.tokens) * 60_000) / perMinute);
      }
    }
    return { limit, remaining: remaining === Infinity ? -1 : remaining, resetMs };
  }

  #persistLater(key: string): void {
    this.#dirty.add(key);
    this.#persisting ??= setTimeout(() => this.#persist(), Limits.PERSIST_MS);
  }

  /** Writes the spent buckets, in one transaction (one durable write, whatever the number of calls). */
  #persist(): void {
    this.#persisting = undefined;
    const keys = [...this.#dirty];
    this.#dirty.clear();
    try {
      this.ctx.storage.transactionSync(() => {
        for (const key of keys) {
          const b = this.#buckets.get(key);
          if (b) this.ctx.storage.sql.exec(`INSERT OR REPLACE INTO ${Limits.BUCKETS_TABLE} (key, tokens, updated) VALUES (?, ?, ?)`, key, b.tokens, b.updated);
        }
      });
    } catch (e) {
      // Not written: tried again with the next second's (a runtime that cannot write resets the object anyway). Logged once.
      if (!this.#persistFailed) console.error("limits: buckets not written; retrying every PERSIST_MS", e);
      this.#persistFailed = true;
      for (const key of keys) this.#persistLater(key);
      return;
    }
    this.#persistFailed = false;
  }

  static readonly MAX_CONFIRMATIONS = 10_000;
  static readonly CONFIRMATIONS_TABLE = "confirmations";
  #confirmationsReady = false;

  #confirmations() {
    if (!this.#confirmationsReady) {
      this.ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS ${Limits.CONFIRMATIONS_TABLE} (token TEXT PRIMARY KEY, binding TEXT NOT NULL, expires INTEGER NOT NULL)`);
      this.#confirmationsReady = true;
    }
    return this.ctx.storage.sql;
  }

  /**
   * Records a confirmation the server asked for (worker/mcp/confirm.ts): the
   * token travels to the client as requestState, the binding (a hash of the
   * caller and the exact call) stays here, in the caller's own object. In storage, so an eviction while
   * the user thinks loses nothing; expired ones go on the next offer.
   */
  offerConfirmation(token: string, binding: string, expiresAtMs: number): void {
    const sql = this.#confirmations();
    sql.exec("DELETE FROM confirmations WHERE expires < ?", Date.now());
    // Bounded whatever the caller does: the oldest offers give way.
    sql.exec("DELETE FROM confirmations WHERE token IN (SELECT token FROM confirmations ORDER BY expires DESC LIMIT -1 OFFSET ?)", Limits.MAX_CONFIRMATIONS - 1);
    sql.exec("INSERT OR REPLACE INTO confirmations (token, binding, expires) VALUES (?, ?, ?)", token, binding, expiresAtMs);
  }

  /** Takes a confirmation token: once only. Its binding, or undefined when unknown, used or expired. */
  takeConfirmation(token: string): { binding: string } | undefined {
    const sql = this.#confirmations();
    const row = sql.exec<{ binding: string; expires: number }>("SELECT binding, expires FROM confirmations WHERE token = ?", token).toArray()[0];
    if (!row) return undefined;
    sql.exec("DELETE FROM confirmations WHERE token = ?", token);
    return row.expires < Date.now() ? undefined : { binding: row.binding };
  }

  #refill(key: string, perMinute: number, now: number): Bucket {
    let b = this.#buckets.get(key);
    if (!b) {
      b = { tokens: perMinute, updated: now };
      this.#buckets.set(key, b);
      return b;
    }
    b.tokens = Math.min(perMinute, b.tokens + ((now - b.updated) * perMinute) / 60_000);
    b.updated = now;
    return b;
  }
}
