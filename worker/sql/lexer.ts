/**
 * A PostgreSQL lexer: just enough of the grammar to know where strings,
 * quoted identifiers, dollar-quoted bodies and comments begin and end, so that
 * the read-only guard and the script splitter never mistake text inside a
 * literal for a keyword or a statement boundary.
 */

export type TokenKind =
  | "word" // unquoted identifier or keyword
  | "ident" // "quoted identifier" (value holds the unquoted name)
  | "string" // '...', E'...', U&'...', B'...', X'...'
  | "dollar" // $tag$ ... $tag$
  | "number"
  | "param" // $1
  | "semicolon"
  | "lparen"
  | "rparen"
  | "op"; // any other punctuation or operator

export interface Token {
  kind: TokenKind;
  /** Raw text as written. */
  text: string;
  /** For words: lower-cased; for quoted identifiers: the name unquoted. */
  value: string;
  /** Offset of the first character in the source. */
  start: number;
  /** Offset one past the last character. */
  end: number;
}

export class SqlSyntaxError extends Error {
  override readonly name = "SqlSyntaxError";
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
  }
}

const isIdentStart = (c: string) => /[A-Za-z_\u0080-\uffff]/.test(c);
const isIdentPart = (c: string) => /[A-Za-z0-9_$\u0080-\uffff]/.test(c);
const isDigit = (c: string) => c >= "0" && c <= "9";
const OPERATOR_CHARS = "+-*/<>=~!@#%^&|`?:.,[]";
const DOLLAR_TAG = /\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/y;

/** Skips white space and comments from `i`; returns the next significant offset. */
function skipTrivia(sql: string, i: number): number {
  for (;;) {
    while (i < sql.length && /\s/.test(sql[i]!)) i++;
    if (sql.startsWith("--", i)) {
      const nl = sql.indexOf("\n", i);
      i = nl === -1 ? sql.length : nl + 1;
    } else if (sql.startsWith("/*", i)) {
      let depth = 0;
      while (i < sql.length) {
        if (sql.startsWith("/*", i)) (depth++, (i += 2));
        else if (sql.startsWith("*/", i)) {
          depth--;
          i += 2;
          if (depth === 0) break;
        } else i++;
      }
    } else return i;
  }
}

/** `UESCAPE 'c'` after a U& literal or identifier: the escape character and where the clause ends. */
function readUescape(sql: string, from: number): { char: string; end: number } | undefined {
  const i = skipTrivia(sql, from);
  if (sql.slice(i, i + 7).toLowerCase() !== "uescape" || isIdentPart(sql[i + 7] ?? " ")) return undefined;
  const q = skipTrivia(sql, i + 7);
  const m = /^'([^'])'/.exec(sql.slice(q, q + 3));
  if (!m) throw new SqlSyntaxError("UESCAPE must be followed by a simple string literal of one character", q + 1);
  const char = m[1]!;
  if (/[0-9a-fA-F+'"\s]/.test(char)) throw new SqlSyntaxError(`invalid Unicode escape character ${char}`, q + 1);
  return { char, end: q + 3 };
}

/**
 * Decodes PostgreSQL's Unicode escapes: `\XXXX`, `\+XXXXXX`, and a doubled
 * escape character for itself (the character can be changed with UESCAPE).
 */
export function decodeUnicodeEscapes(body: string, escape: string, position: number): string {
  let out = "";
  for (let k = 0; k < body.length; k++) {
    const ch = body[k]!;
    if (ch !== escape) {
      out += ch;
      continue;
    }
    if (body[k + 1] === escape) {
      out += escape;
      k++;
      continue;
    }
    const long = body[k + 1] === "+";
    const digits = long ? body.slice(k + 2, k + 8) : body.slice(k + 1, k + 5);
    if (!/^[0-9a-fA-F]+$/.test(digits) || digits.length !== (long ? 6 : 4)) throw new SqlSyntaxError("invalid Unicode escape: must be \\XXXX or \\+XXXXXX", position + 1);
    const code = parseInt(digits, 16);
    if (code > 0x10ffff || code === 0) throw new SqlSyntaxError("invalid Unicode escape value", position + 1);
    out += String.fromCodePoint(code);
    k += long ? 7 : 4;
  }
  return out;
}

/** Tokenizes SQL, skipping white space and comments. Throws SqlSyntaxError on an unterminated literal or comment. */
export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  const n = sql.length;
  let i = 0;
  const push = (kind: TokenKind, start: number, end: number, value?: string) => {
    const text = sql.slice(start, end);
    tokens.push({ kind, text, value: value ?? text, start, end });
  };

  while (i < n) {
    const c = sql[i]!;
    const next = sql[i + 1];

    if (c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f" || c === "\v") {
      i++;
      continue;
    }
    if (c === "-" && next === "-") {
      const nl = sql.indexOf("\n", i);
      i = nl === -1 ? n : nl + 1;
      continue;
    }
    if (c === "/" && next === "*") {
      // Block comments nest in PostgreSQL.
      const start = i;
      let depth = 0;
      while (i < n) {
        if (sql[i] === "/" && sql[i + 1] === "*") {
          depth++;
          i += 2;
        } else if (sql[i] === "*" && sql[i + 1] === "/") {
          depth--;
          i += 2;
          if (depth === 0) break;
        } else i++;
      }
      if (depth !== 0) throw new SqlSyntaxError("unterminated /* comment", start + 1);
      continue;
    }

    // String constants, with their prefixes.
    const lower = c.toLowerCase();
    if (c === "'" || ((lower === "e" || lower === "b" || lower === "x" || lower === "n") && next === "'") || (lower === "u" && next === "&" && sql[i + 2] === "'")) {
      const start = i;
      const backslashEscapes = lower === "e";
      const unicode = lower === "u";
      i = c === "'" ? i : unicode ? i + 2 : i + 1;
      i++; // opening quote
      let body = "";
      for (;;) {
        if (i >= n) throw new SqlSyntaxError("unterminated quoted string", start + 1);
        const ch = sql[i]!;
        if (backslashEscapes && ch === "\\") {
          body += sql.slice(i, i + 2);
          i += 2;
          continue;
        }
        if (ch === "'") {
          if (sql[i + 1] === "'") {
            body += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        body += ch;
        i++;
      }
      if (unicode) {
        const escape = readUescape(sql, i);
        const value = decodeUnicodeEscapes(body, escape?.char ?? "\\", start);
        i = escape?.end ?? i;
        push("string", start, i, value);
      } else push("string", start, i);
      continue;
    }

    if (c === '"' || (lower === "u" && next === "&" && sql[i + 2] === '"')) {
      const start = i;
      const unicode = c !== '"';
      i = c === '"' ? i + 1 : i + 3;
      let name = "";
      for (;;) {
        if (i >= n) throw new SqlSyntaxError("unterminated quoted identifier", start + 1);
        const ch = sql[i]!;
        if (ch === '"') {
          if (sql[i + 1] === '"') {
            name += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        name += ch;
        i++;
      }
      if (unicode) {
        // U&"d\0061t\+000061" spells "data": compare what PostgreSQL will see, not what was written.
        const escape = readUescape(sql, i);
        name = decodeUnicodeEscapes(name, escape?.char ?? "\\", start);
        i = escape?.end ?? i;
      }
      push("ident", start, i, name);
      continue;
    }

    if (c === "$") {
      if (next !== undefined && isDigit(next)) {
        const start = i;
        i++;
        while (i < n && isDigit(sql[i]!)) i++;
        push("param", start, i);
        continue;
      }
      // $tag$ or $$: a dollar-quoted string.
      // Tags have no length limit: match at i in the whole text, not in a window.
      DOLLAR_TAG.lastIndex = i;
      const m = DOLLAR_TAG.exec(sql);
      if (m) {
        const start = i;
        const delimiter = m[0];
        const close = sql.indexOf(delimiter, i + delimiter.length);
        if (close === -1) throw new SqlSyntaxError(`unterminated dollar-quoted string ${delimiter}`, start + 1);
        i = close + delimiter.length;
        push("dollar", start, i);
        continue;
      }
    }

    if (isIdentStart(c)) {
      const start = i;
      i++;
      while (i < n && isIdentPart(sql[i]!)) i++;
      const text = sql.slice(start, i);
      push("word", start, i, text.toLowerCase());
      continue;
    }

    if (isDigit(c) || (c === "." && next !== undefined && isDigit(next))) {
      const start = i;
      i++;
      while (i < n && /[0-9a-zA-Z_.]/.test(sql[i]!)) {
        // exponent sign: 1e-5
        if ((sql[i] === "e" || sql[i] === "E") && (sql[i + 1] === "-" || sql[i + 1] === "+")) i++;
        i++;
      }
      push("number", start, i);
      continue;
    }

    if (c === ";") {
      push("semicolon", i, ++i);
      continue;
    }
    if (c === "(") {
      push("lparen", i, ++i);
      continue;
    }
    if (c === ")") {
      push("rparen", i, ++i);
      continue;
    }
    if (OPERATOR_CHARS.includes(c)) {
      const start = i;
      i++;
      // "::" and multi-character operators stay one token; comments end them.
      while (i < n && OPERATOR_CHARS.includes(sql[i]!) && !"[],.".includes(sql[i]!) && !(sql[i] === "-" && sql[i + 1] === "-") && !(sql[i] === "/" && sql[i + 1] === "*")) i++;
      push("op", start, i);
      continue;
    }
    // Anything else (a stray backslash, say) is an operator token of one character;
    // PostgreSQL will report it properly.
    push("op", i, ++i);
  }
  return tokens;
}

export interface SqlStatement {
  /** The statement's text, without the terminating semicolon. */
  text: string;
  /** Offset of the statement's first token in the script (0-based). */
  start: number;
  tokens: Token[];
}

/**
 * The first statement of `sql` (one statement or a script) for which `find`
 * answers something, and that answer. SQL the splitter cannot parse answers
 * nothing here: PostgreSQL refuses it anyway.
 */
export function firstInScript<T>(sql: string, find: (st: SqlStatement) => T | undefined): T | undefined {
  let statements: SqlStatement[];
  try {
    statements = splitStatements(sql);
  } catch {
    return undefined;
  }
  for (const st of statements) {
    const found = find(st);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Splits a script into statements at top-level semicolons. Semicolons inside
 * literals, comments, dollar-quoted bodies, parentheses and SQL-standard
 * `BEGIN ATOMIC ... END` function bodies do not split.
 */
export function splitStatements(sql: string): SqlStatement[] {
  const tokens = tokenize(sql);
  const statements: SqlStatement[] = [];
  let current: Token[] = [];
  let depth = 0;
  let atomicDepth = 0;

  const flush = () => {
    if (current.length > 0) {
      const start = current[0]!.start;
      const end = current[current.length - 1]!.end;
      statements.push({ text: sql.slice(start, end), start, tokens: current });
    }
    current = [];
  };

  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]!;
    if (t.kind === "lparen") depth++;
    else if (t.kind === "rparen") depth = Math.max(0, depth - 1);
    else if (t.kind === "word") {
      if (t.value === "atomic" && tokens[k - 1]?.value === "begin") atomicDepth++;
      else if (atomicDepth > 0 && t.value === "case") atomicDepth++;
      else if (atomicDepth > 0 && t.value === "end") atomicDepth--;
    }
    if (t.kind === "semicolon" && depth === 0 && atomicDepth === 0) {
      flush();
      continue;
    }
    current.push(t);
  }
  flush();
  return statements;
}
