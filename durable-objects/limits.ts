/**
 * Rate limits and the concurrency cap, exact, in one Durable Object per
 * deployment: a token bucket per caller and cost class (calls, expensive
 * tools, code executions) and a count of requests in flight. One object keeps
 * it simple and exact; it serves thousands of small RPCs a second.
 *
 * Buckets live in SQLite storage so an eviction does not refill them.
 */
import { DurableObject } from "cloudflare:workers";

export type CostClass = "call" | "expensive" | "code";

/** Things a deployment caps the number of at once: open transactions, running programs, Python interpreters. */
export type SlotKind = "tx" | "code" | "python";

export interface LimitPolicy {
  /** Per minute for each class; 0 = unlimited. */
  perMinute: Record<CostClass, number>;
  /** 0 = unlimited */
  maxConcurrent: number;
}

export type AcquireResult =
  | { ok: true; lease: string; limit: number; remaining: number; resetMs: number }
  | { ok: false; reason: "rate" | "concurrency"; limit: number; remaining: 0; retryAfterMs: number };

interface Bucket {
  tokens: number;
  updated: number;
}

export class Limits extends DurableObject {
  static readonly LEASE_TTL_MS = 120_000;
  #buckets = new Map<string, Bucket>();
  #inFlight = new Map<string, number>(); // lease -> started at
  #loaded = false;

  #load() {
    if (this.#loaded) return;
    this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS buckets (key TEXT PRIMARY KEY, tokens REAL NOT NULL, updated INTEGER NOT NULL)");
    for (const row of this.ctx.storage.sql.exec<{ key: string; tokens: number; updated: number }>("SELECT key, tokens, updated FROM buckets")) {
      this.#buckets.set(row.key, { tokens: row.tokens, updated: row.updated });
    }
    this.#loaded = true;
  }

  /** Takes one token from the caller's bucket for `cost` and a concurrency slot. */
  acquire(principal: string, cost: CostClass, policy: LimitPolicy): AcquireResult {
    this.#load();
    const now = Date.now();
    // Leases whose release was lost (a crashed request) expire.
    for (const [lease, at] of this.#inFlight) if (now - at > Limits.LEASE_TTL_MS) this.#inFlight.delete(lease);
    if (policy.maxConcurrent > 0 && this.#inFlight.size >= policy.maxConcurrent) {
      return { ok: false, reason: "concurrency", limit: policy.maxConcurrent, remaining: 0, retryAfterMs: 1000 };
    }
    const classes: CostClass[] = cost === "call" ? ["call"] : ["call", cost];
    let limit = 0;
    let remaining = Infinity;
    let resetMs = 0;
    // Check every bucket first, then take from all: a refused call costs nothing.
    for (const cls of classes) {
      const perMinute = policy.perMinute[cls];
      if (perMinute <= 0) continue;
      const b = this.#refill(`${principal}|${cls}`, perMinute, now);
      if (b.tokens < 1) {
        const retryAfterMs = Math.ceil(((1 - b.tokens) * 60_000) / perMinute);
        return { ok: false, reason: "rate", limit: perMinute, remaining: 0, retryAfterMs };
      }
    }
    for (const cls of classes) {
      const perMinute = policy.perMinute[cls];
      if (perMinute <= 0) continue;
      const key = `${principal}|${cls}`;
      const b = this.#buckets.get(key)!;
      b.tokens -= 1;
      this.ctx.storage.sql.exec("INSERT OR REPLACE INTO buckets (key, tokens, updated) VALUES (?, ?, ?)", key, b.tokens, b.updated);
      if (b.tokens < remaining) {
        remaining = Math.floor(b.tokens);
        limit = perMinute;
        resetMs = Math.ceil(((perMinute - b.tokens) * 60_000) / perMinute);
      }
    }
    const lease = crypto.randomUUID();
    this.#inFlight.set(lease, now);
    return { ok: true, lease, limit, remaining: remaining === Infinity ? -1 : remaining, resetMs };
  }

  release(lease: string): void {
    this.#inFlight.delete(lease);
  }

  #slots = { tx: new Map<string, number>(), code: new Map<string, number>(), python: new Map<string, number>() }; // id -> expires at (ms)
  #slotsLoaded = false;

  /**
   * Slots live in SQLite too: an object that restarts (evicted while a long
   * program or transaction holds its slot, or reloaded) must not forget them
   * and let a second one past the cap.
   */
  #loadSlots() {
    if (this.#slotsLoaded) return;
    this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS slots (kind TEXT NOT NULL, id TEXT NOT NULL, expires INTEGER NOT NULL, PRIMARY KEY (kind, id))");
    for (const row of this.ctx.storage.sql.exec<{ kind: SlotKind; id: string; expires: number }>("SELECT kind, id, expires FROM slots")) {
      this.#slots[row.kind]?.set(row.id, row.expires);
    }
    this.#slotsLoaded = true;
  }

  /** Reserves a slot: an open transaction (each holds a database connection) or a running program. */
  openSlot(kind: SlotKind, id: string, expiresAtMs: number, max: number): { ok: boolean; open: number } {
    this.#loadSlots();
    const slots = this.#slots[kind];
    const now = Date.now();
    // A slot whose release was lost frees itself when its deadline passes.
    for (const [k, exp] of slots) if (exp < now) this.closeSlot(kind, k);
    if (slots.size >= max) return { ok: false, open: slots.size };
    slots.set(id, expiresAtMs);
    this.ctx.storage.sql.exec("INSERT OR REPLACE INTO slots (kind, id, expires) VALUES (?, ?, ?)", kind, id, expiresAtMs);
    return { ok: true, open: slots.size };
  }

  closeSlot(kind: SlotKind, id: string): void {
    this.#loadSlots();
    this.#slots[kind].delete(id);
    this.ctx.storage.sql.exec("DELETE FROM slots WHERE kind = ? AND id = ?", kind, id);
  }

  static readonly MAX_CONFIRMATIONS = 10_000;
  #confirmationsReady = false;

  #confirmations() {
    if (!this.#confirmationsReady) {
      this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS confirmations (token TEXT PRIMARY KEY, binding TEXT NOT NULL, expires INTEGER NOT NULL)");
      this.#confirmationsReady = true;
    }
    return this.ctx.storage.sql;
  }

  /**
   * Records a confirmation the server asked for (worker/mcp/confirm.ts): the
   * token travels to the client as requestState, the binding (a hash of the
   * caller and the exact call) stays here. In storage, so an eviction while
   * the user thinks loses nothing; expired ones go on the next offer.
   */
  offerConfirmation(token: string, binding: string, expiresAtMs: number): void {
    const sql = this.#confirmations();
    sql.exec("DELETE FROM confirmations WHERE expires < ?", Date.now());
    // Bounded whatever callers do: the oldest offers give way.
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
