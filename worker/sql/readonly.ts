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
import { FUNCTION_CLASSES, functionCalls, functionClass, type FunctionClass } from "./functions";

export type ReadOnlyVerdict =
  | { ok: true; statement: SqlStatement }
  /** `refusedFunction`: refused for a function call (not merely for being a write), so EXPLAIN refuses it too. */
  | { ok: false; reason: string; refusedFunction?: string };

const READ_STARTS = new Set(["select", "with", "values", "table", "show", "explain"]);

/**
 * Classes of functions a read refuses, each with the reason a READ ONLY
 * transaction does not stop it: every class of FUNCTION_CLASSES (functions.ts,
 * shared with the effect classifier). This is the first layer, for a clear
 * message; it is not the boundary. The boundary is the read role (SET LOCAL
 * ROLE: no superuser, no server-file, program or signal roles, SELECT only),
 * the READ ONLY transaction that is always rolled back, and the end-of-read
 * release of session-level locks.
 */
export const REFUSED_FUNCTION_CLASSES: readonly FunctionClass[] = FUNCTION_CLASSES;

/** The class a function name falls in, if it is refused in a read. */
export const refusedFunctionClass = functionClass;

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
  for (const call of functionCalls(tokens)) {
    const refused = functionClass(call.fn);
    if (refused) return { fn: call.fn, why: refused.why };
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
