/**
 * Permission errors (SQLSTATE 42501) the caller can act on. PostgreSQL says
 * what was refused ("permission denied for table x") but not as whom: a read
 * acts as the read role, a write as the server's role, and the fix differs
 * (a GRANT to that role, or a key with the scope whose tools act as the other
 * role). The executor that ran the statement knows the role; it attaches a
 * hint to the error here, and tools/errors.ts shows it.
 *
 * The hint says only what the caller already knows or could ask: the names
 * PostgreSQL put in the message and the deployment's role names (which
 * `select current_user` and the postgres://posture resource show). It never
 * looks anything up, so it cannot reveal who owns an object or who may read it.
 */
import { knownPosture } from "./posture";

const HINT = Symbol.for("pg-mcp.permissionHint");

interface RoleConfig {
  readRole?: string;
  allowPrivilegedRole: boolean;
  auth: { mode: string };
}

/** How the refused statement ran. */
export interface Acting {
  /** The role it acted as; undefined when the server's role name is not known yet. */
  role: string | undefined;
  /** The configured read role (SET LOCAL ROLE), rather than the server's own role. */
  readRole: boolean;
  /** The statement, for the privilege a write needs. */
  sql?: string;
}

/** The hint attached to a 42501 error by the executor that ran it, if any. */
export function permissionHintOf(e: unknown): string | undefined {
  return typeof e === "object" && e !== null ? ((e as Record<symbol, unknown>)[HINT] as string | undefined) : undefined;
}

function isPermissionError(e: unknown): e is Record<string | symbol, unknown> & { message: string } {
  return typeof e === "object" && e !== null && (e as { code?: unknown }).code === "42501" && typeof (e as { message?: unknown }).message === "string";
}

/**
 * Runs one statement and, if PostgreSQL refuses it for lack of a privilege,
 * attaches the hint for the role it acted as: `readRole` when the executor
 * set it, the server's role otherwise.
 */
export async function actingAs<T>(config: RoleConfig, readRole: string | undefined, sql: string | undefined, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (isPermissionError(e) && e[HINT] === undefined) {
      const role = readRole ?? (await knownPosture(config)?.catch(() => undefined))?.server.name;
      e[HINT] = permissionHint(e.message, { role, readRole: readRole !== undefined, sql });
    }
    throw e;
  }
}

/** A name as SQL: bare when PostgreSQL would read it back unchanged, quoted otherwise. */
function ident(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/** The object kinds PostgreSQL names in "permission denied for <kind> <name>" and "must be owner of <kind> <name>". */
const KINDS = "table|view|materialized view|foreign table|sequence|schema|function|procedure|routine|aggregate|type|domain|large object|database|language|tablespace|foreign-data wrapper|foreign server|index|extension|collation|conversion|operator|statistics object|text search configuration|text search dictionary|event trigger|publication|subscription";
const DENIED = new RegExp(`^permission denied for (${KINDS}) (.+)$`);
const DENIED_COLUMN = /^permission denied for column "?(.+?)"? of relation "?(.+?)"?$/;
const NOT_OWNER = new RegExp(`^must be owner of (${KINDS}) (.+)$`);
const RELATIONS = new Set(["table", "view", "materialized view", "foreign table"]);
const ROUTINES = new Set(["function", "procedure", "routine", "aggregate"]);

/** The privilege a write needs on the table it names, from the statement's first word. */
function writePrivilege(sql: string | undefined): string {
  const first = /^\s*(?:\(\s*)*([a-z]+)/i.exec(sql ?? "")?.[1]?.toLowerCase();
  switch (first) {
    case "insert":
      return "INSERT";
    case "update":
      return "UPDATE (and SELECT, if it reads the table in WHERE or RETURNING)";
    case "delete":
      return "DELETE (and SELECT, if it reads the table in WHERE or RETURNING)";
    case "truncate":
      return "TRUNCATE";
    case "merge":
      return "INSERT, UPDATE, DELETE and SELECT, as the MERGE needs";
    case "select":
    case "with":
    case "table":
    case "values":
    case "explain":
      return "SELECT";
    default:
      return "the privilege this statement needs";
  }
}

/** The hint for a 42501 `message` raised by a statement acting as `acting`. */
export function permissionHint(message: string, acting: Acting): string {
  const role = acting.role ? ident(acting.role) : undefined;
  const grantee = role ?? "<the server's role>";
  const who = acting.readRole ? `Reads act as the role ${role}` : `${acting.sql && /^\s*(select|with|table|values|explain)\b/i.test(acting.sql) ? "This statement acts" : "Writes and administration act"} as the server's role${role ? ` ${role}` : ""}`;
  const grant = (statement: string) => `${who}, which lacks this privilege. If it should be allowed, the database owner can run: ${statement}`;

  const column = DENIED_COLUMN.exec(message);
  if (column) {
    const [, col, rel] = column;
    return grant(`GRANT ${acting.readRole ? "SELECT" : writePrivilege(acting.sql).split(" ")[0]} (${ident(col!)}) ON ${ident(rel!)} TO ${grantee}`);
  }
  const denied = DENIED.exec(message);
  if (denied) {
    const kind = denied[1]!;
    const name = kind === "large object" ? denied[2]! : ident(denied[2]!);
    if (RELATIONS.has(kind)) return grant(`GRANT ${acting.readRole ? "SELECT" : writePrivilege(acting.sql)} ON ${name} TO ${grantee}`);
    if (kind === "sequence") {
      return acting.readRole
        ? `${grant(`GRANT SELECT ON SEQUENCE ${name} TO ${grantee}`)}. nextval() and setval() change the sequence: they are writes (pg_query_write, which needs a key with the write scope).`
        : grant(`GRANT USAGE, SELECT, UPDATE ON SEQUENCE ${name} TO ${grantee}`);
    }
    if (kind === "schema") return grant(`GRANT ${!acting.readRole && /^\s*create\b/i.test(acting.sql ?? "") ? "CREATE" : "USAGE"} ON SCHEMA ${name} TO ${grantee}`);
    if (ROUTINES.has(kind)) return grant(`GRANT EXECUTE ON ${kind === "aggregate" ? "FUNCTION" : kind.toUpperCase()} ${name} TO ${grantee}`);
    if (kind === "type" || kind === "domain") return grant(`GRANT USAGE ON ${kind.toUpperCase()} ${name} TO ${grantee}`);
    if (kind === "large object") return grant(`GRANT SELECT${acting.readRole ? "" : ", UPDATE"} ON LARGE OBJECT ${name} TO ${grantee}`);
  }
  const owner = NOT_OWNER.exec(message);
  if (owner) {
    const [, kind, name] = owner;
    return `Only the owner of ${kind} ${ident(name!)} (or a member of the role that owns it) may do this, and ${acting.readRole ? `the read role ${role}` : `the server's role${role ? ` ${role}` : ""}`} is neither. If the server should manage it, the owner can run: ALTER ${kind!.toUpperCase()} ${ident(name!)} OWNER TO ${grantee}, or grant the owning role to ${grantee}.`;
  }
  if (acting.readRole) {
    return `Reads act as the role ${role}, which may only read: this statement needs a privilege beyond that. Statements that change data go through pg_query_write (a key with the write scope); server administration through the admin tools (the admin scope).`;
  }
  return `${who}, which is deliberately not a superuser and lacks the privilege this statement needs (the postgres://posture resource lists what it may do). An administrator can grant it to ${grantee} if the server should be allowed to.`;
}
