/**
 * The read-only guard for pg_query_read. It is the first of three layers:
 * (1) this lexical check refuses anything that is not a single read statement
 * or that calls a function with side effects outside the transaction;
 * (2) the statement runs with the extended protocol (one statement only) inside
 * a READ ONLY transaction that is always rolled back;
 * (3) the database role's privileges, which the README tells operators to set.
 * Layer 1 exists because PostgreSQL allows some effects inside a READ ONLY
 * transaction (COPY TO PROGRAM, lo_export, pg_terminate_backend, dblink, ...).
 */
import { splitStatements, type SqlStatement, type Token } from "./lexer";

export type ReadOnlyVerdict = { ok: true; statement: SqlStatement } | { ok: false; reason: string };

const READ_STARTS = new Set(["select", "with", "values", "table", "show", "explain"]);

/**
 * Functions with effects that a READ ONLY transaction does not stop, or that
 * run SQL given as text (which would escape this lexical check).
 */
const FORBIDDEN_FUNCTIONS = new Set([
  "set_config",
  "pg_terminate_backend",
  "pg_cancel_backend",
  "pg_reload_conf",
  "pg_rotate_logfile",
  "pg_promote",
  "pg_switch_wal",
  "pg_create_restore_point",
  "pg_backup_start",
  "pg_backup_stop",
  "pg_log_backend_memory_contexts",
  "pg_notify",
  "pg_logical_emit_message",
  "pg_drop_replication_slot",
  "pg_create_physical_replication_slot",
  "pg_create_logical_replication_slot",
  "pg_replication_origin_create",
  "pg_replication_origin_drop",
  "pg_stat_reset",
  "pg_stat_reset_shared",
  "pg_stat_reset_single_table_counters",
  "pg_stat_statements_reset",
  "lo_import",
  "lo_export",
  "lo_unlink",
  "lo_create",
  "lo_creat",
  "lo_from_bytea",
  "lo_put",
  "lo_open",
  "lowrite",
  "pg_file_write",
  "pg_file_rename",
  "pg_file_unlink",
  "pg_read_file",
  "pg_read_binary_file",
  "pg_ls_dir",
  "pg_stat_file",
  "dblink",
  "dblink_exec",
  "dblink_connect",
  "dblink_connect_u",
  "dblink_send_query",
  "dblink_open",
  "query_to_xml",
  "query_to_xmlschema",
  "query_to_xml_and_xmlschema",
  "cursor_to_xml",
  "cursor_to_xmlschema",
  "pg_advisory_lock",
  "pg_advisory_lock_shared",
  "pg_try_advisory_lock",
  "pg_try_advisory_lock_shared",
  "pg_advisory_unlock_all",
]);

/** Verbs that make a CTE or EXPLAIN ANALYZE write: `INSERT INTO`, `UPDATE x SET`, `DELETE FROM`, `MERGE INTO`. */
function findWriteVerb(tokens: Token[]): string | undefined {
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]!;
    if (t.kind !== "word") continue;
    const next = tokens[k + 1];
    if ((t.value === "insert" || t.value === "merge") && next?.kind === "word" && next.value === "into") return t.value.toUpperCase();
    if (t.value === "delete" && next?.kind === "word" && next.value === "from") return "DELETE";
    if (t.value === "update" && (next?.kind === "word" || next?.kind === "ident")) {
      // UPDATE <name> [AS alias] SET, or the locking clause FOR UPDATE (refused by the transaction anyway).
      if (tokens[k - 1]?.value === "for" || tokens[k - 1]?.value === "key") continue;
      return "UPDATE";
    }
  }
  return undefined;
}

function findForbiddenCall(tokens: Token[]): string | undefined {
  for (let k = 0; k < tokens.length - 1; k++) {
    const t = tokens[k]!;
    if ((t.kind === "word" || t.kind === "ident") && tokens[k + 1]!.kind === "lparen" && FORBIDDEN_FUNCTIONS.has(t.value.toLowerCase())) return t.value;
  }
  return undefined;
}

/** Decides whether `sql` is one statement that only reads. Never throws. */
export function checkReadOnly(sql: string): ReadOnlyVerdict {
  let statements: SqlStatement[];
  try {
    statements = splitStatements(sql);
  } catch (e) {
    return { ok: false, reason: `could not parse the statement: ${(e as Error).message}` };
  }
  if (statements.length === 0) return { ok: false, reason: "the statement is empty" };
  if (statements.length > 1) return { ok: false, reason: `expected one statement, got ${statements.length}; send them one by one` };
  const statement = statements[0]!;
  const tokens = statement.tokens;
  // A read can start with parentheses: (SELECT ...) UNION (SELECT ...).
  let first = 0;
  while (tokens[first]?.kind === "lparen") first++;
  const head = tokens[first];
  if (!head || head.kind !== "word" || !READ_STARTS.has(head.value)) {
    const verb = head ? head.text.toUpperCase() : "nothing";
    return { ok: false, reason: `${verb} is not a read-only statement; only SELECT, WITH, VALUES, TABLE, SHOW and EXPLAIN run here` };
  }
  const verb = findWriteVerb(tokens);
  if (verb) return { ok: false, reason: `the statement contains ${verb}, which writes` };
  const call = findForbiddenCall(tokens);
  if (call) return { ok: false, reason: `${call}() has effects outside the transaction and is not allowed in a read-only query` };
  return { ok: true, statement };
}
