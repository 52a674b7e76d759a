/**
 * The audit log: every write, DDL, admin action and code execution, who did
 * it, when, what and how it ended. It lives in Durable Objects' own SQLite
 * storage, out of reach of anything a tool can run against PostgreSQL.
 *
 * One object per caller (a shard, created near where the caller first wrote),
 * so an audited call never waits on an object shared by the whole deployment.
 * A shard's first write registers it in the AuditIndex before the entry is
 * stored, so a reader that lists the index and asks every shard sees every
 * entry whose call has returned.
 */
import { DurableObject } from "cloudflare:workers";
import { auditIndex } from "./names";

export interface AuditEntry {
  at: string;
  principal: string;
  tool: string;
  /** What was run: the SQL or code text (truncated), or a summary of the arguments. */
  action: string;
  /** SHA-256 of the full action text, so truncated entries can still be matched. */
  actionHash: string;
  outcome: "ok" | "error";
  /** The error code and message when outcome is error. */
  error?: string;
  durationMs: number;
  /** Rows affected or returned, database calls, result bytes: whatever the tool reports. */
  detail?: Record<string, unknown>;
}

export interface AuditQuery {
  limit?: number;
  principal?: string;
  tool?: string;
  /** ISO timestamp: only entries at or after it. */
  since?: string;
}

const MAX_ACTION_CHARS = 10_000;

export class AuditLog extends DurableObject<Env> {
  /** Storage key: set once this shard is in the AuditIndex. */
  static readonly REGISTERED_KEY = "registered";
  #ready = false;
  #registered = false;

  #init() {
    if (this.#ready) return;
    this.#registered = this.ctx.storage.kv.get<boolean>(AuditLog.REGISTERED_KEY) === true;
    this.ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS audit (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      at TEXT NOT NULL, principal TEXT NOT NULL, tool TEXT NOT NULL,
      action TEXT NOT NULL, action_hash TEXT NOT NULL, outcome TEXT NOT NULL,
      error TEXT, duration_ms REAL NOT NULL, detail TEXT)`);
    this.ctx.storage.sql.exec("CREATE INDEX IF NOT EXISTS audit_at ON audit (at)");
    this.#ready = true;
  }

  /** Stores one entry in this shard (`shard` is this object's name, for the index). */
  async record(shard: string, entry: AuditEntry): Promise<void> {
    this.#init();
    if (!this.#registered) {
      // Registered before the first entry is stored: a listing never misses a shard that holds entries.
      await auditIndex(this.env).register(shard);
      this.ctx.storage.kv.put(AuditLog.REGISTERED_KEY, true);
      this.#registered = true;
    }
    this.ctx.storage.sql.exec(
      "INSERT INTO audit (at, principal, tool, action, action_hash, outcome, error, duration_ms, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      entry.at,
      entry.principal,
      entry.tool,
      entry.action.slice(0, MAX_ACTION_CHARS),
      entry.actionHash,
      entry.outcome,
      entry.error ?? null,
      entry.durationMs,
      entry.detail ? JSON.stringify(entry.detail) : null,
    );
  }

  list(q: AuditQuery = {}): AuditEntry[] {
    // Asked without ever having stored anything (the legacy object of a deployment that never had one): nothing, and no storage created.
    if (!this.#ready && ![...this.ctx.storage.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit'")].length) return [];
    this.#init();
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.principal) (where.push("principal = ?"), args.push(q.principal));
    if (q.tool) (where.push("tool = ?"), args.push(q.tool));
    if (q.since) (where.push("at >= ?"), args.push(q.since));
    const limit = Math.min(Math.max(q.limit ?? 100, 1), 1000);
    const rows = this.ctx.storage.sql.exec<Record<string, string | number | null>>(
      `SELECT at, principal, tool, action, action_hash, outcome, error, duration_ms, detail FROM audit ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id DESC LIMIT ${limit}`,
      ...args,
    );
    return [...rows].map((r) => ({
      at: r.at as string,
      principal: r.principal as string,
      tool: r.tool as string,
      action: r.action as string,
      actionHash: r.action_hash as string,
      outcome: r.outcome as "ok" | "error",
      ...(r.error ? { error: r.error as string } : {}),
      durationMs: r.duration_ms as number,
      ...(r.detail ? { detail: JSON.parse(r.detail as string) } : {}),
    }));
  }
}
