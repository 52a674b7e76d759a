/**
 * Role changes, refused in every tool while a caller acts as its own database
 * role: SET ROLE, RESET ROLE, SET/RESET SESSION AUTHORIZATION, RESET ALL,
 * DISCARD ALL, set_config('role' | 'session_authorization', ...) in any
 * spelling (and set_config with a name computed at run time), UPDATE
 * pg_settings, a function's SET role clause, ALTER ROLE ... SET role, and
 * changes to the caller's own identity settings (pgmcp.claims, pgmcp.caller).
 *
 * This is the lexical layer, for a clear refusal; it looks inside DO blocks,
 * function bodies and EXECUTE strings like the effect classifier does. It is
 * not the boundary: the caller's connection logs in as the caller's role, so
 * a role change assembled at run time from pieces reaches nothing but roles
 * that role is a member of, which the posture check keeps empty (README,
 * "Per-caller identity").
 */
import { firstInScript, tokenize, type SqlStatement, type Token } from "./lexer";
import { functionCalls } from "./functions";
import { literalBody } from "./effects";

const CODE_DEPTH = 4;

/** Settings that name who the session acts as. */
const ROLE_SETTINGS = new Set(["role", "session_authorization"]);

/** The caller's identity settings: set by the server for each transaction, never by the caller. */
const IDENTITY_PREFIX = "pgmcp.";

const nameOf = (t: Token | undefined) => (t && (t.kind === "word" || t.kind === "ident") ? t.value.toLowerCase() : undefined);

/** The setting a SET/RESET names from tokens[k] on (after SESSION/LOCAL), with a dotted custom name joined. */
function settingAt(tokens: readonly Token[], k: number): string | undefined {
  let name = nameOf(tokens[k]);
  if (name === undefined) return undefined;
  if (name === "session" && nameOf(tokens[k + 1]) === "authorization") return "session_authorization";
  for (let j = k + 1; tokens[j]?.kind === "op" && tokens[j]!.text === "." && nameOf(tokens[j + 1]) !== undefined; j += 2) name += `.${nameOf(tokens[j + 1])}`;
  return name;
}

/** Whether a setting name (any case) is one a caller role may not change: who it acts as, or its identity settings. */
export const refusedSetting = (name: string | undefined) => name !== undefined && (ROLE_SETTINGS.has(name.trim().toLowerCase()) || name.trim().toLowerCase().startsWith(IDENTITY_PREFIX));

/** A role change starting at tokens[k] (a statement start). */
function statementAt(tokens: readonly Token[], k: number): string | undefined {
  const head = nameOf(tokens[k]);
  if (tokens[k]?.kind !== "word") return undefined;
  const rest = () => {
    const out: Token[] = [];
    for (let j = k; j < tokens.length && tokens[j]!.kind !== "semicolon"; j++) out.push(tokens[j]!);
    return out;
  };
  switch (head) {
    case "set": {
      let j = k + 1;
      if (nameOf(tokens[j]) === "session" && nameOf(tokens[j + 1]) !== "authorization") j++;
      else if (nameOf(tokens[j]) === "local") j++;
      const name = settingAt(tokens, j);
      return refusedSetting(name) ? `SET ${name}` : undefined;
    }
    case "reset": {
      const name = settingAt(tokens, k + 1);
      return name === "all" || refusedSetting(name) ? `RESET ${name}` : undefined;
    }
    case "discard":
      return nameOf(tokens[k + 1]) === "all" ? "DISCARD ALL" : undefined;
    case "alter": {
      const r = rest();
      if (!["role", "user"].includes(nameOf(r[1]) ?? "")) return undefined;
      for (let j = 2; j < r.length; j++) if ((nameOf(r[j]) === "set" || nameOf(r[j]) === "reset") && (refusedSetting(settingAt(r, j + 1)) || nameOf(r[j + 1]) === "all")) return `ALTER ROLE ... ${r[j]!.value.toUpperCase()} ${settingAt(r, j + 1)}`;
      return undefined;
    }
    case "create": {
      // A function's or procedure's SET clause runs every time it is called.
      const r = rest();
      if (!r.some((t) => nameOf(t) === "function" || nameOf(t) === "procedure")) return undefined;
      for (let j = 1; j < r.length; j++) if (nameOf(r[j]) === "set" && refusedSetting(settingAt(r, j + 1))) return `a function's SET ${settingAt(r, j + 1)} clause`;
      return undefined;
    }
    default:
      return undefined;
  }
}

/** set_config of a role or identity setting, or of a name not written as a literal. UPDATE pg_settings. */
function callAt(tokens: readonly Token[]): string | undefined {
  for (const call of functionCalls(tokens)) {
    if (call.fn.toLowerCase() !== "set_config") continue;
    const arg = tokens[call.index + 2];
    // An escape string's backslashes (E'r\x6fle') are read by PostgreSQL, not here: treat it as computed.
    const name = arg && !(arg.kind === "string" && /^e/i.test(arg.text) && arg.text.includes("\\")) ? literalBody(arg) : undefined;
    const alone = tokens[call.index + 3]?.kind === "op" && tokens[call.index + 3]!.text === ",";
    if (name === undefined || !alone) return "set_config() with a setting name computed at run time";
    if (refusedSetting(name.trim().toLowerCase())) return `set_config('${name}')`;
  }
  if (tokens.some((t) => nameOf(t) === "update") && tokens.some((t) => nameOf(t) === "pg_settings")) return "UPDATE pg_settings";
  return undefined;
}

/** Where a statement may start inside procedural code: after these words or a semicolon. */
const CODE_STATEMENT_AFTER = new Set(["begin", "then", "else", "loop", "do", "execute", "immediate"]);

function inTokens(tokens: readonly Token[], stringIsCode: boolean, depth: number): string | undefined {
  for (let k = 0; k < tokens.length; k++) {
    const prev = tokens[k - 1];
    if (k === 0 || prev!.kind === "semicolon" || (depth > 0 && prev!.kind === "word" && CODE_STATEMENT_AFTER.has(prev!.value))) {
      const found = statementAt(tokens, k);
      if (found) return found;
    }
  }
  const call = callAt(tokens);
  if (call) return call;
  if (depth >= CODE_DEPTH) return undefined;
  for (const t of tokens) {
    if (t.kind !== "dollar" && !(t.kind === "string" && stringIsCode)) continue;
    const body = literalBody(t);
    if (!body) continue;
    let inner: Token[];
    try {
      inner = tokenize(body);
    } catch {
      // A fragment the lexer cannot read: the words alone.
      if (/\b(set|reset)\s+(local\s+|session\s+)?("?role"?|"?session_authorization"?|session\s+authorization|all)\b|\bset_config\s*\(|\bdiscard\s+all\b/i.test(body)) return "a role change inside procedural code";
      continue;
    }
    const found = inTokens(inner, true, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** The first role change in one statement, as written, or undefined. */
export function statementRoleChange(statement: SqlStatement): string | undefined {
  const tokens = statement.tokens;
  const head = nameOf(tokens[0]);
  const carriesCode = head === "do" || (head === "create" && tokens.some((t) => nameOf(t) === "function" || nameOf(t) === "procedure"));
  return inTokens(tokens, carriesCode, 0);
}

/** The first role change in `sql` (a statement or a script). Unparseable SQL has none here: PostgreSQL refuses it. */
export function roleChange(sql: string | SqlStatement): string | undefined {
  if (typeof sql !== "string") return statementRoleChange(sql);
  return firstInScript(sql, (st) => statementRoleChange(st) || undefined);
}
