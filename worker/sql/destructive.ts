/**
 * Destructive statements: what the server asks the user to confirm when
 * CONFIRM_DESTRUCTIVE is on (worker/mcp/confirm.ts). A lexical layer, like
 * effects.ts, built to over-approximate: when in doubt a statement asks.
 *
 * Destructive here means data or objects lost at once by this statement:
 *
 * - DROP of anything, and ALTER TABLE ... DROP [COLUMN] (a column's data);
 * - TRUNCATE;
 * - DELETE or UPDATE with no WHERE clause of its own, wherever it stands: a
 *   statement, a data-modifying CTE (`WITH d AS (DELETE FROM t) ...`), EXPLAIN
 *   ANALYZE (which runs it). A WHERE whose condition mentions no column or
 *   function (`WHERE true`, `WHERE 1 = 1`, `WHERE NOT false`, `WHERE $1`)
 *   counts as none.
 *   A condition that names a column is taken as a filter even when it happens
 *   to match every row (`WHERE id > 0`): the check is for the missing filter,
 *   not a proof that a filter narrows;
 * - DO blocks, which run at once: their code is read like a script (the
 *   statements above, at any depth, and the SQL in EXECUTE '...' strings),
 *   and a DO block that EXECUTEs SQL computed at run time asks, since what
 *   it will run cannot be read.
 *
 * Every statement of a script is classified. Not covered, by design: a
 * function or procedure that drops or deletes when called (SELECT f(),
 * CALL p()); defining it is not destructive and calling it cannot be read
 * here. Confirmation guards against a model's accident, not a determined
 * caller: the database's privileges are the boundary (README, Security).
 */
import { splitStatements, tokenize, type SqlStatement, type Token } from "./lexer";
import { literalBody } from "./effects";

export interface DestructiveStatement {
  /** What it does, in a few words: "DROP TABLE", "DELETE without WHERE". */
  what: string;
  /** The statement as written (whitespace collapsed, shortened). */
  statement: string;
}

const CODE_DEPTH = 4;
const SHOWN_CHARS = 300;

const isWord = (t: Token | undefined, ...values: string[]) => t?.kind === "word" && values.includes(t.value);

/** Words of a condition that does not depend on the row. */
const CONSTANT_WORDS = new Set(["true", "false", "null", "not", "and", "or", "is", "unknown", "isnull", "notnull"]);

/** ALTER TABLE ... DROP <these>: not a column. */
const DROP_NOT_COLUMN = new Set(["constraint", "default", "not", "expression", "identity"]);

/** Words after which a statement starts inside procedural code. */
const CODE_STATEMENT_AFTER = new Set(["begin", "then", "else", "loop", "declare"]);

function shown(text: string): string {
  const t = text.replace(/\s+/g, " ").trim();
  return t.length > SHOWN_CHARS ? `${t.slice(0, SHOWN_CHARS)}…` : t;
}

/** Paren depth before each token. */
function depths(tokens: readonly Token[]): number[] {
  const out: number[] = [];
  let d = 0;
  for (const t of tokens) {
    if (t.kind === "rparen") d = Math.max(0, d - 1);
    out.push(d);
    if (t.kind === "lparen") d++;
  }
  return out;
}

/**
 * Whether the DELETE/UPDATE at tokens[k] has a WHERE of its own that depends
 * on the row: a WHERE at its own paren depth before its statement (or its
 * parenthesized CTE) ends.
 */
function hasRowFilter(tokens: readonly Token[], depth: readonly number[], k: number): boolean {
  const d = depth[k]!;
  for (let j = k + 1; j < tokens.length; j++) {
    const t = tokens[j]!;
    if (depth[j]! < d || (t.kind === "semicolon" && depth[j] === d)) return false;
    if (depth[j] !== d || !isWord(t, "where")) continue;
    if (isWord(tokens[j + 1], "current") && isWord(tokens[j + 2], "of")) return true;
    // The condition: up to RETURNING, the end of the statement or of the enclosing parentheses.
    for (let c = j + 1; c < tokens.length; c++) {
      const x = tokens[c]!;
      if (depth[c]! < d || (depth[c] === d && (x.kind === "semicolon" || isWord(x, "returning")))) break;
      // A column (or a function of one) makes it a filter; literals and $n parameters do not.
      if (x.kind === "word" ? !CONSTANT_WORDS.has(x.value) : x.kind === "ident") return true;
    }
    return false;
  }
  return false;
}

/** A DELETE ... FROM or UPDATE ... SET starting at tokens[k] with no row filter. */
function unfilteredDml(tokens: readonly Token[], depth: readonly number[], k: number): string | undefined {
  const t = tokens[k]!;
  if (isWord(t, "delete")) {
    if (!isWord(tokens[k + 1], "from")) return undefined;
  } else if (isWord(t, "update")) {
    // UPDATE name [[AS] alias] SET: anything else (FOR UPDATE, DO UPDATE, ON UPDATE) is not this statement.
    let s = k + 1;
    while (s < tokens.length && s <= k + 6 && !isWord(tokens[s], "set")) s++;
    if (!isWord(tokens[s], "set") || depth[s] !== depth[k]) return undefined;
  } else return undefined;
  return hasRowFilter(tokens, depth, k) ? undefined : `${t.value.toUpperCase()} without WHERE`;
}

/** Where a DELETE/UPDATE may start besides a statement's first token: a CTE body, after a CTE list, after EXPLAIN's options, PREPARE ... AS. */
function dmlMayStartAfter(prev: Token, head: string | undefined): boolean {
  if (prev.kind === "lparen" || prev.kind === "rparen") return true;
  if (isWord(prev, "as")) return true;
  return head === "explain" && isWord(prev, "analyze", "analyse", "verbose");
}

/** What a statement (or, in code, the statement starting at tokens[k]) destroys, by its first words. */
function headDestructive(tokens: readonly Token[], depth: readonly number[], k: number): string | undefined {
  const t = tokens[k]!;
  const next = tokens[k + 1];
  if (isWord(t, "truncate")) return "TRUNCATE";
  if (isWord(t, "drop") && next) {
    const object = next.kind === "word" ? next.value.toUpperCase() : "";
    const more = isWord(next, "materialized", "foreign", "event", "access", "text", "user", "operator") && tokens[k + 2]?.kind === "word" ? ` ${tokens[k + 2]!.value.toUpperCase()}` : "";
    return `DROP ${object}${more}`.trim();
  }
  if (isWord(t, "alter") && (isWord(next, "table") || (isWord(next, "foreign") && isWord(tokens[k + 2], "table")))) {
    for (let j = k + 2; j < tokens.length && tokens[j]!.kind !== "semicolon"; j++) {
      if (depth[j] !== depth[k] || !isWord(tokens[j], "drop")) continue;
      const what = tokens[j + 1];
      if (what && !(what.kind === "word" && DROP_NOT_COLUMN.has(what.value))) return "ALTER TABLE ... DROP COLUMN";
    }
  }
  return undefined;
}

/** The destructive parts of a token list; `code` when it is procedural code (a DO body). */
function scan(tokens: readonly Token[], code: boolean, level: number): string[] {
  const found: string[] = [];
  const depth = depths(tokens);
  const head = tokens[0]?.value;
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]!;
    const prev = tokens[k - 1];
    const starts = k === 0 || (code && (prev!.kind === "semicolon" || (prev!.kind === "word" && CODE_STATEMENT_AFTER.has(prev!.value))));
    if (starts) {
      const h = headDestructive(tokens, depth, k);
      if (h) found.push(h);
    }
    if (t.kind === "word" && (starts || (prev && dmlMayStartAfter(prev, code ? undefined : head)))) {
      const dml = unfilteredDml(tokens, depth, k);
      if (dml) found.push(dml);
    }
    // DO blocks: their body is code, read now.
    if (!code && k === 0 && isWord(t, "do")) {
      for (const b of tokens.slice(1)) {
        const body = literalBody(b);
        if (body !== undefined && (b.kind === "dollar" || b.kind === "string")) found.push(...codeDestructive(body, level + 1).map((w) => `DO block with ${w}`));
      }
    }
    // EXECUTE in code: a literal is read as SQL; anything computed cannot be.
    if (code && isWord(t, "execute")) {
      const arg = tokens[k + 1];
      const after = tokens[k + 2];
      const literal = arg && (arg.kind === "string" || arg.kind === "dollar") && (!after || after.kind === "semicolon" || isWord(after, "using", "into"));
      if (literal) found.push(...codeDestructive(literalBody(arg!) ?? "", level + 1));
      else found.push("EXECUTE of SQL computed at run time");
    }
  }
  return found;
}

function codeDestructive(text: string, level: number): string[] {
  if (level > CODE_DEPTH) return ["code nested too deep to read"];
  let tokens: Token[];
  try {
    tokens = tokenize(text);
  } catch {
    // Not SQL the lexer understands: ask rather than guess.
    return ["code that could not be read"];
  }
  return scan(tokens, true, level);
}

/** The destructive parts of one statement (several when a DO block holds several). */
export function statementDestructive(statement: SqlStatement): DestructiveStatement[] {
  return [...new Set(scan(statement.tokens, false, 0))].map((what) => ({ what, statement: shown(statement.text) }));
}

/** The destructive statements of `sql` (one statement or a script). Unparseable SQL has none here: PostgreSQL refuses it. */
export function destructiveStatements(sql: string | readonly SqlStatement[]): DestructiveStatement[] {
  let statements: readonly SqlStatement[];
  if (typeof sql === "string") {
    try {
      statements = splitStatements(sql);
    } catch {
      return [];
    }
  } else statements = sql;
  return statements.flatMap(statementDestructive);
}
