/**
 * Function calls in SQL, found by the lexer, and the classes of functions
 * whose effect reaches beyond the caller's own data. Two checks read these
 * classes: the read-only guard (readonly.ts) refuses every class in a read,
 * and the effect classifier (effects.ts) asks for the admin scope for the
 * classes that act on the server itself, whatever tool carries the call.
 */
import type { Token } from "./lexer";

export interface FunctionClass {
  name: string;
  /** Why a read refuses it: what a READ ONLY transaction does not stop. */
  why: string;
  /**
   * Set when the effect is on the server rather than on data (configuration,
   * other sessions, server-wide statistics): such a call needs the admin
   * scope in any tool, and this says what it does, for the error.
   */
  serverEffect?: string;
  matches: (fn: string) => boolean;
}

/**
 * Classes of functions with effects outside the transaction. A class must say
 * why, not list every spelling: names are matched after U& escapes are
 * decoded, schema prefixes ignored.
 */
export const FUNCTION_CLASSES: readonly FunctionClass[] = [
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
    serverEffect: "it erases server-wide statistics",
    matches: (f) => /^pg_stat_.*reset/.test(f) || f === "pg_stat_statements_reset",
  },
  {
    name: "configuration and server control",
    why: "it changes settings or the server's state (reload, log rotation, promotion)",
    serverEffect: "it changes settings or the server's state (reload, log rotation, promotion)",
    matches: (f) => f === "set_config" || /^pg_(reload_conf|rotate_logfile|promote|log_backend_memory_contexts|log_standby_snapshot)$/.test(f),
  },
  {
    name: "signals to other backends",
    why: "it cancels or ends another session",
    serverEffect: "it cancels or ends another session (another caller's query or transaction)",
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

/** The class a function name falls in, if any. */
export function functionClass(fn: string): FunctionClass | undefined {
  const name = fn.toLowerCase();
  return FUNCTION_CLASSES.find((c) => c.matches(name));
}

/** A call in a token list: a name (word or quoted identifier) followed by `(`, and the index of the name. */
export interface FunctionCall {
  fn: string;
  index: number;
}

/** Every `name(` in `tokens`, in order. Schema prefixes need no handling: the name is the token before the parenthesis. */
export function* functionCalls(tokens: readonly Token[]): Generator<FunctionCall> {
  for (let k = 0; k < tokens.length - 1; k++) {
    const t = tokens[k]!;
    if ((t.kind === "word" || t.kind === "ident") && tokens[k + 1]!.kind === "lparen") yield { fn: t.value, index: k };
  }
}
