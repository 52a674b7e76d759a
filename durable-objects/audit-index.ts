/**
 * The list of audit shards (one AuditLog object per caller that has ever been
 * audited). Written once per shard, on its first entry; read by a
 * deployment-wide listing (pg_audit_log without a principal), which then asks
 * every shard. Never on the path of an audited call after the caller's first.
 */
import { DurableObject } from "cloudflare:workers";

export class AuditIndex extends DurableObject<Env> {
  static readonly SHARDS_TABLE = "shards";

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS ${AuditIndex.SHARDS_TABLE} (name TEXT PRIMARY KEY, registered_at TEXT NOT NULL)`);
  }

  register(shard: string): void {
    this.ctx.storage.sql.exec(`INSERT OR IGNORE INTO ${AuditIndex.SHARDS_TABLE} (name, registered_at) VALUES (?, ?)`, shard, new Date().toISOString());
  }

  shards(): string[] {
    return [...this.ctx.storage.sql.exec<{ name: string }>(`SELECT name FROM ${AuditIndex.SHARDS_TABLE} ORDER BY name`)].map((r) => r.name);
  }
}
