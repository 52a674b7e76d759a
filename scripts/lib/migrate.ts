/**
 * Applies migrations/NNNN_name.sql in order, each once, each in its own
 * transaction, recording them in public.schema_migrations.
 */
import pg from "pg";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const MIGRATIONS_DIR = join(import.meta.dirname, "..", "..", "migrations");

export async function migrate(url: string, dir = MIGRATIONS_DIR): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const applied: string[] = [];
  try {
    await client.query("CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())");
    const done = new Set((await client.query<{ version: string }>("SELECT version FROM schema_migrations")).rows.map((r) => r.version));
    const files = readdirSync(dir).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
    for (const file of files) {
      if (done.has(file)) continue;
      const sql = readFileSync(join(dir, file), "utf8");
      await client.query("BEGIN");
      try {
        await client.query(sql);
        await client.query("INSERT INTO schema_migrations (version) VALUES ($1)", [file]);
        await client.query("COMMIT");
      } catch (e) {
        await client.query("ROLLBACK");
        throw new Error(`migration ${file} failed: ${(e as Error).message}`);
      }
      applied.push(file);
    }
  } finally {
    await client.end();
  }
  return applied;
}

export const SERVER_ROLE = "pgmcp";
export const SERVER_ROLE_PASSWORD = "pgmcp";
export const READ_ROLE = "pgmcp_read";

/**
 * Creates the least-privilege roles (migrations/roles.sql, the same file the
 * README tells operators to run) as the administrator `adminUrl` connects as,
 * and returns the connection string the server uses: the same database, as
 * the server's own role.
 */
export async function applyRoles(adminUrl: string, opts: { grantFutureTablesOf?: string } = {}): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(readFileSync(join(MIGRATIONS_DIR, "roles.sql"), "utf8"));
    if (opts.grantFutureTablesOf) await client.query(grantFutureTablesSql(opts.grantFutureTablesOf));
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.username = SERVER_ROLE;
  url.password = SERVER_ROLE_PASSWORD;
  return url.toString();
}

/** The role posture as the server will see it, for printing at start (the same SQL and verdicts as the Worker). */
export async function rolePosture(serverUrl: string, readRole: string | undefined, databaseRoles: string[] = []): Promise<string[]> {
  const { POSTURE_SQL, POSTURE_ROLES, judgePosture, describePosture } = await import("../../worker/db/posture");
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const { rows } = await client.query(POSTURE_SQL, [readRole ?? null, POSTURE_ROLES, databaseRoles]);
    return describePosture(judgePosture(rows[0], readRole));
  } finally {
    await client.end();
  }
}

/**
 * What an operator does for tables the server does not own: grant the server
 * the privileges it should have and the read role SELECT. The tests create
 * fixtures as the administrator, so they grant this for the administrator's
 * future tables; PGlite, which has no logins, does the same.
 */
export function grantFutureTablesSql(owner: string): string {
  const o = `"${owner.replaceAll('"', '""')}"`;
  return `ALTER DEFAULT PRIVILEGES FOR ROLE ${o} GRANT SELECT ON TABLES TO ${READ_ROLE};
ALTER DEFAULT PRIVILEGES FOR ROLE ${o} GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON TABLES TO ${SERVER_ROLE};
ALTER DEFAULT PRIVILEGES FOR ROLE ${o} GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO ${SERVER_ROLE};
ALTER DEFAULT PRIVILEGES FOR ROLE ${o} GRANT SELECT ON SEQUENCES TO ${READ_ROLE};
ALTER DEFAULT PRIVILEGES FOR ROLE ${o} GRANT USAGE ON SCHEMAS TO ${SERVER_ROLE}, ${READ_ROLE};`;
}

/** The caller roles of migrations/identity.example.sql (their passwords are their names: local only). */
export const EXAMPLE_CALLER_ROLES = ["pgmcp_tenant_a", "pgmcp_tenant_b"] as const;

/**
 * Applies the two-tenant example of per-caller identity (migrations/identity.example.sql)
 * as the administrator, and returns each caller role's own connection string
 * (what its Hyperdrive binding points at).
 */
export async function applyIdentityExample(adminUrl: string): Promise<Record<(typeof EXAMPLE_CALLER_ROLES)[number], string>> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(readFileSync(join(MIGRATIONS_DIR, "identity.example.sql"), "utf8"));
  } finally {
    await client.end();
  }
  const urls = {} as Record<(typeof EXAMPLE_CALLER_ROLES)[number], string>;
  for (const role of EXAMPLE_CALLER_ROLES) {
    const url = new URL(adminUrl);
    url.username = role;
    url.password = role;
    urls[role] = url.toString();
  }
  return urls;
}
