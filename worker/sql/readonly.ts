/**
 * The read-only guard for pg_query_read. It is the first of three layers and
 * the only one that is a list:
 * (1) this lexical check refuses anything that is not a single read statement
 * or that calls a function with effects outside the transaction, so the
 * caller gets a clear message;
 * (2) the statement runs with the extended protocol (one statement only) inside
 * a READ ONLY transaction that is always rolled back, as the read role
 * (SET LOCAL ROLE), followed by a release of session-level locks;
 * (3) the database's privileges: the read role has SELECT and nothing else, the
 * server's role no superuser or server-file roles (checked at start, see
 * db/posture.ts). Layers 2 and 3 hold for whatever layer 1 misses.
 */
import { splitStatements, type SqlStatement, type Token } from "./lexer";

export type ReadOnlyVerdict =
  | { ok: true; statement: SqlStatement }
  /** `refusedFunction`: refused for a function call (not merely for being a write), so EXPLAIN refuses it too. */
  | { ok: false; reason: string; refusedFunction?: string };

const READ_STARTS = new Set(["select", "with", "values", "table", "show", "explain"]);

/**
 * Classes of functions a read refuses, each with the reason a READ ONLY
 * transaction does not stop it. This is the first layer, for a clear message;
 * it is not the boundary. The boundary is the read role (SET LOCAL ROLE: no
 * superuser, no server-file, program or signal roles, SELECT only), the READ
 * ONLY transaction that is always rolled back, and the end-of-read release of
 * session-level locks. A class here must say why, not list every spelling:
 * names are matched after U& escapes are decoded, schema prefixes ignored.
 */
export const REFUSED_FUNCTION_CLASSES: readonly { name: string; why: string; matches: (fn: string) => boolean }[] = [
  {
    name: "executes SQL given as text",
    why: "it runs a query from a string, hiding every call inside it from this check",
    matches: (f) => /^(query|cursor|table|schema|database)_to_xml/.test(f) || /^dblink/.test(f) || f === "ts_stat" || f === "ts_rewrite" || /^crosstab\d*$/.test(f) || f === "connectby",
  },
  {
    name: "server files, directories, logs and WAL",
    why: "it reads or lists files on the database server",
    matches: (f) => /^pg_(read_file|read_binary_file|stat_file|ls_|file_|logdir_ls|current_logfile|walfile_name|split_walfile_name|wal_replay_|switch_wal|create_restore_point|backup_)/.test(f),
  },
  {
    name: "large objects",
    why: "large objects are files in the database with their own import/export to the server's file system",
    matches: (f) => /^lo_/.test(f) || f === "loread" || f === "lowrite",
  },
  {
    name: "statistics resets",
    why: "it erases server-wide statistics, which no rollback restores",
    matches: (f) => /^pg_stat_.*reset/.test(f) || f === "pg_stat_statements_reset",
  },
  {
    name: "configuration and server control",
    why: "it changes settings or the server's state (reload, log rotation, promotion)",
    matches: (f) => f === "set_config" || /^pg_(reload_conf|rotate_logfile|promote|log_backend_memory_contexts|log_standby_snapshot)$/.test(f),
  },
  {
    name: "signals to other backends",
    why: "it cancels or ends another session",
    matches: (f) => /^pg_(terminate|cancel|signal)_backend$/.test(f),
  },
  {
    name: "locks that outlive the statement",
    why: "session-level advisory locks survive ROLLBACK and block other sessions",
    matches: (f) => /^pg_(try_)?advisory_/.test(f),
  },
  {
    name: "replication and notifications",
    why: "it sends to other sessions or changes replication state, outside the transaction",
    matches: (f) => f === "pg_notify" || /^pg_logical_/.test(f) || /replication_(slot|origin)/.test(f) || f === "pg_sync_replication_slots",
  },
];

/** The class a function name falls in, if it is refused in a read. */
export function refusedFunctionClass(fn: string): (typeof REFUSED_FUNCTION_CLASSES)[number] | undefined {
  const name = fn.toLowerCase();
  return REFUSED_FUNCTION_CLASSES.find((c) => c.matches(name));
}

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

function findForbiddenCall(tokens: Token[]): { fn: string; why: string } | undefined {
  for (let k = 0; k < tokens.length - 1; k++) {
    const t = tokens[k]!;
    if ((t.kind === "word" || t.kind === "ident") && tokens[k + 1]!.kind === "lparen") {
      const refused = refusedFunctionClass(t.value);
      if (refused) return { fn: t.value, why: refused.why };
    }
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
  if (call) return { ok: false, reason: `${call.fn}() is not allowed in a read-only query: ${call.why}`, refusedFunction: call.fn };
  return { ok: true, statement };
}
