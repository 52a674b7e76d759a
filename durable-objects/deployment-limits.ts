/**
 * What the whole deployment caps, in one Durable Object: how many requests
 * may be in flight (MAX_CONCURRENT_REQUESTS), open transactions and running
 * programs. None of it is on the path of an ordinary call:
 *
 * - Request slots are granted to callers' Limits objects, which keep them
 *   after their requests end and admit later requests locally. A caller asks
 *   here only when it has more requests in flight than slots. When no slot
 *   is free, this object reclaims the unused slots every other caller holds
 *   (one RPC to each holder, in parallel) before it refuses, so a refusal
 *   means the cap really is reached.
 * - Transaction and program slots (pg_tx_begin, code runs) are taken and
 *   freed here directly: those calls are rare and already slow.
 *
 * Granted request slots and open slots are kept in SQLite storage, so an eviction does not
 * hand out the same slots twice; each grant is recorded under its holder's
 * epoch (one per incarnation of the holder), and a holder seen with a new
 * epoch frees what its earlier incarnation held.
 */
import { DurableObject } from "cloudflare:workers";
import type { Reclaimed, SlotKind } from "./limits";

interface Grant {
  epoch: string;
  count: number;
}

export class DeploymentLimits extends DurableObject<Env> {
  static readonly GRANTS_TABLE = "request_grants";
  static readonly SLOTS_TABLE = "slots";
  /** How long a reclaim waits for one holder before counting its slots as still in use. */
  static readonly RECLAIM_TIMEOUT_MS = 2_000;
  #grants = new Map<string, Grant>(); // holder -> its slots
  #slots = { tx: new Map<string, number>(), code: new Map<string, number>(), python: new Map<string, number>() }; // id -> expires at (ms)
  #reclaiming: Promise<void> | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS ${DeploymentLimits.GRANTS_TABLE} (holder TEXT PRIMARY KEY, epoch TEXT NOT NULL, count INTEGER NOT NULL)`);
    for (const row of this.ctx.storage.sql.exec<{ holder: string; epoch: string; count: number }>(`SELECT holder, epoch, count FROM ${DeploymentLimits.GRANTS_TABLE}`)) {
      this.#grants.set(row.holder, { epoch: row.epoch, count: row.count });
    }
    // Slots live in SQLite too: an object that restarts (evicted while a long program or transaction
    // holds its slot, or reloaded) must not forget them and let a second one past the cap.
    this.ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS ${DeploymentLimits.SLOTS_TABLE} (kind TEXT NOT NULL, id TEXT NOT NULL, expires INTEGER NOT NULL, PRIMARY KEY (kind, id))`);
    for (const row of this.ctx.storage.sql.exec<{ kind: SlotKind; id: string; expires: number }>(`SELECT kind, id, expires FROM ${DeploymentLimits.SLOTS_TABLE}`)) {
      this.#slots[row.kind]?.set(row.id, row.expires);
    }
  }

  /** One request slot for `holder` (a caller's Limits object), if the deployment has one free. */
  async grantRequestSlot(holder: string, epoch: string, max: number): Promise<{ ok: boolean; granted: number }> {
    if (this.#free(max) <= 0) await this.#reclaimOthers(holder);
    if (this.#free(max) <= 0) return { ok: false, granted: this.#total() };
    const g = this.#grants.get(holder);
    // A new epoch: the holder was evicted and restarted, and what its earlier incarnation held is gone with it.
    this.#set(holder, { epoch, count: g && g.epoch === epoch ? g.count + 1 : 1 });
    return { ok: true, granted: this.#total() };
  }

  /** Reserves a slot: an open transaction (each holds a database connection) or a running program. */
  openSlot(kind: SlotKind, id: string, expiresAtMs: number, max: number): { ok: boolean; open: number } {
    const slots = this.#slots[kind];
    const now = Date.now();
    // A slot whose release was lost frees itself when its deadline passes.
    for (const [k, exp] of slots) if (exp < now) this.closeSlot(kind, k);
    if (slots.size >= max) return { ok: false, open: slots.size };
    slots.set(id, expiresAtMs);
    this.ctx.storage.sql.exec(`INSERT OR REPLACE INTO ${DeploymentLimits.SLOTS_TABLE} (kind, id, expires) VALUES (?, ?, ?)`, kind, id, expiresAtMs);
    return { ok: true, open: slots.size };
  }

  closeSlot(kind: SlotKind, id: string): void {
    this.#slots[kind].delete(id);
    this.ctx.storage.sql.exec(`DELETE FROM ${DeploymentLimits.SLOTS_TABLE} WHERE kind = ? AND id = ?`, kind, id);
  }

  #total(): number {
    let n = 0;
    for (const g of this.#grants.values()) n += g.count;
    return n;
  }

  #free(max: number): number {
    return max - this.#total();
  }

  #set(holder: string, g: Grant): void {
    if (g.count <= 0) {
      this.#grants.delete(holder);
      this.ctx.storage.sql.exec(`DELETE FROM ${DeploymentLimits.GRANTS_TABLE} WHERE holder = ?`, holder);
    } else {
      this.#grants.set(holder, g);
      this.ctx.storage.sql.exec(`INSERT OR REPLACE INTO ${DeploymentLimits.GRANTS_TABLE} (holder, epoch, count) VALUES (?, ?, ?)`, holder, g.epoch, g.count);
    }
  }

  /** Takes back the slots other holders are not using. Concurrent callers share one round of reclaiming. */
  #reclaimOthers(except: string): Promise<void> {
    this.#reclaiming ??= this.#reclaimRound(except).finally(() => (this.#reclaiming = undefined));
    return this.#reclaiming;
  }

  async #reclaimRound(except: string): Promise<void> {
    const holders = [...this.#grants.keys()].filter((h) => h !== except);
    await Promise.all(
      holders.map(async (holder) => {
        let r: Reclaimed;
        try {
          const stub = this.env.LIMITS.get(this.env.LIMITS.idFromName(holder));
          r = await Promise.race([
            stub.reclaim() as Promise<Reclaimed>,
            new Promise<never>((_, reject) => setTimeout(() => reject(new Error("reclaim timed out")), DeploymentLimits.RECLAIM_TIMEOUT_MS)),
          ]);
        } catch (e) {
          // Unreachable now: its slots count as in use until the next round.
          console.error("reclaim failed", holder, e);
          return;
        }
        const g = this.#grants.get(holder);
        if (!g) return;
        // A holder on a new epoch has nothing of the old one's: all of those slots are free.
        if (g.epoch !== r.epoch) this.#set(holder, { epoch: r.epoch, count: 0 });
        else this.#set(holder, { epoch: g.epoch, count: g.count - r.released });
      }),
    );
  }
}
