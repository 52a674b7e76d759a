/**
 * A customer's caller roles as SQL (README, Per-caller identity): each role
 * LOGIN and nothing more, its schema and table grants (column grants when a
 * table lists columns: PostgreSQL masks the rest), and its row filter as an
 * RLS policy. Every statement is idempotent, so applying twice changes
 * nothing. Privileges removed from the file are not revoked (say so, do not
 * guess); passwords are never in the file.
 *
 * The dry run applies the SQL in a transaction, compares a snapshot of what
 * it touches (roles, schema and table ACLs, column ACLs, RLS flags, policies)
 * before and after, prints the difference and rolls back.
 */
import pg from "pg";
import type { CallerRole, Customer } from "./schema";

const q = (name: string) => `"${name.replaceAll('"', '""')}"`;
const qt = (table: string) => table.split(".").map(q).join(".");
export const policyName = (role: string) => `pgmcp_${role}`;

export function roleStatements(role: CallerRole): string[] {
  const r = q(role.name);
  const lit = role.name.replaceAll("'", "''");
  const out = [
    `DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${lit}') THEN CREATE ROLE ${r} LOGIN; END IF; END $$`,
    // Whatever it was before: a caller role logs in and may do nothing else on its own.
    `ALTER ROLE ${r} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS`,
  ];
  for (const s of role.schemas) out.push(`GRANT USAGE ON SCHEMA ${q(s)} TO ${r}`);
  for (const t of role.tables) {
    if (t.columns) {
      const tablePrivileges = t.privileges.filter((p) => p === "DELETE");
      const columnPrivileges = t.privileges.filter((p) => p !== "DELETE");
      if (columnPrivileges.length) out.push(`GRANT ${columnPrivileges.map((p) => `${p} (${t.columns!.map(q).join(", ")})`).join(", ")} ON ${qt(t.table)} TO ${r}`);
      if (tablePrivileges.length) out.push(`GRANT ${tablePrivileges.join(", ")} ON ${qt(t.table)} TO ${r}`);
    } else out.push(`GRANT ${t.privileges.join(", ")} ON ${qt(t.table)} TO ${r}`);
    if (t.rowFilter) {
      out.push(`ALTER TABLE ${qt(t.table)} ENABLE ROW LEVEL SECURITY`);
      out.push(`DROP POLICY IF EXISTS ${q(policyName(role.name))} ON ${qt(t.table)}`);
      out.push(`CREATE POLICY ${q(policyName(role.name))} ON ${qt(t.table)} TO ${r} USING (${t.rowFilter}) WITH CHECK (${t.rowFilter})`);
    }
  }
  return out;
}

export function rolesSql(c: Customer): string[] {
  return c.roles.flatMap(roleStatements);
}

/** One line per fact the SQL can change, for the roles and tables of this customer. */
const SNAPSHOT_SQL = `
SELECT 'role ' || rolname || ':' || concat_ws(' ', CASE WHEN rolcanlogin THEN 'LOGIN' END, CASE WHEN rolsuper THEN 'SUPERUSER' END,
  CASE WHEN rolcreatedb THEN 'CREATEDB' END, CASE WHEN rolcreaterole THEN 'CREATEROLE' END, CASE WHEN rolreplication THEN 'REPLICATION' END,
  CASE WHEN rolbypassrls THEN 'BYPASSRLS' END) AS line FROM pg_roles WHERE rolname = ANY($1)
UNION ALL SELECT 'schema ' || nspname || ' grants ' || coalesce(nspacl::text, '(default)') FROM pg_namespace WHERE nspname = ANY($2)
UNION ALL SELECT 'table ' || c.oid::regclass::text || ' grants ' || coalesce(c.relacl::text, '(default)') || CASE WHEN c.relrowsecurity THEN ', row level security on' ELSE '' END
  FROM pg_class c WHERE c.oid = ANY(SELECT to_regclass(x) FROM unnest($3::text[]) x)
UNION ALL SELECT 'column ' || a.attrelid::regclass::text || '.' || a.attname || ' grants ' || a.attacl::text
  FROM pg_attribute a WHERE a.attrelid = ANY(SELECT to_regclass(x) FROM unnest($3::text[]) x) AND a.attacl IS NOT NULL
UNION ALL SELECT 'policy ' || p.polname || ' on ' || p.polrelid::regclass::text || ' using (' || coalesce(pg_get_expr(p.polqual, p.polrelid), '') || ') with check (' || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '') || ')'
  FROM pg_policy p WHERE p.polrelid = ANY(SELECT to_regclass(x) FROM unnest($3::text[]) x) AND p.polname = ANY($4)
ORDER BY 1`;

async function snapshot(client: pg.Client, c: Customer): Promise<string[]> {
  const roles = c.roles.map((r) => r.name);
  const schemas = [...new Set(c.roles.flatMap((r) => r.schemas))];
  const tables = [...new Set(c.roles.flatMap((r) => r.tables.map((t) => t.table)))];
  const { rows } = await client.query<{ line: string }>(SNAPSHOT_SQL, [roles, schemas, tables, roles.map(policyName)]);
  return rows.map((r) => r.line);
}

export interface RolesOutcome {
  /** "+ line" for what appeared, "- line" for what went. */
  changes: string[];
  applied: boolean;
}

/** Applies the customer's role SQL as the administrator `url` connects as (or, with dryRun, reports what it would change and rolls back). */
export async function applyCustomerRoles(url: string, c: Customer, opts: { dryRun: boolean }): Promise<RolesOutcome> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("BEGIN");
    const before = await snapshot(client, c);
    for (const statement of rolesSql(c)) {
      try {
        await client.query(statement);
      } catch (e) {
        throw new Error(`${(e as Error).message}\n  in: ${statement}`);
      }
    }
    const after = await snapshot(client, c);
    await client.query(opts.dryRun ? "ROLLBACK" : "COMMIT");
    const was = new Set(before);
    const now = new Set(after);
    const changes = [...before.filter((l) => !now.has(l)).map((l) => `- ${l}`), ...after.filter((l) => !was.has(l)).map((l) => `+ ${l}`)];
    return { changes, applied: !opts.dryRun };
  } catch (e) {
    await client.query("ROLLBACK").catch(() => {});
    throw e;
  } finally {
    await client.end();
  }
}
