/**
 * Scope by effect: what a statement does decides the scope it needs, whatever
 * tool carries it (pg_query_write, a script, EXPLAIN ANALYZE, a program's
 * pg.query, a held transaction). Statements and calls whose effect is on the
 * server rather than on data are the admin scope's business:
 *
 * - configuration: ALTER SYSTEM (also governed by ALLOW_ALTER_SYSTEM, for
 *   everyone), ALTER DATABASE ... SET, LOAD, set_config of a server setting
 *   (a custom `app.x` setting is data), pg_reload_conf and server control;
 * - other sessions: pg_terminate_backend, pg_cancel_backend, pg_signal_backend
 *   (PostgreSQL lets any backend signal another of the same role, and every
 *   caller's work runs as the server's role: this check is what stops one
 *   caller ending another's transaction);
 * - roles and privileges: CREATE/ALTER/DROP ROLE (USER, GROUP), GRANT/REVOKE
 *   of a role, ALTER DEFAULT PRIVILEGES, REASSIGN OWNED;
 * - extensions: CREATE/ALTER/DROP EXTENSION;
 * - server-wide statistics resets.
 *
 * Like the read-only guard this is a lexical layer (the lexer and the function
 * classes of functions.ts), so it also looks inside the code a statement
 * carries: DO blocks, function bodies, dollar-quoted text and the strings
 * inside them (EXECUTE 'ALTER SYSTEM ...'). SQL assembled at run time from
 * pieces (EXECUTE 'pg_termi' || 'nate_backend(...)') is beyond it; the
 * database's privileges are the layer under it (README, Security).
 */
import { firstInScript, tokenize, type SqlStatement, type Token } from "./lexer";
import { functionCalls, functionClass } from "./functions";

export type EffectClass = "alter_system" | "configuration" | "sessions" | "roles" | "extensions" | "statistics";

export interface ServerEffect {
  class: EffectClass;
  /** What was found, as written: "ALTER SYSTEM", "pg_terminate_backend()". */
  what: string;
  /** What it does, for the error. */
  why: string;
}

const WHY: Record<EffectClass, string> = {
  alter_system: "it changes the server's configuration file (postgresql.auto.conf)",
  configuration: "it changes the server's or the database's configuration",
  sessions: "it cancels or ends another session (another caller's query or transaction)",
  roles: "it changes roles, role membership or default privileges",
  extensions: "it installs, changes or removes an extension (code that runs in the server)",
  statistics: "it erases server-wide statistics",
};

const CODE_DEPTH = 4;

const isWord = (t: Token | undefined, ...values: string[]) => t?.kind === "word" && values.includes(t.value);

/** The text inside a string or dollar-quoted literal, for looking into code it carries. */
export function literalBody(t: Token): string | undefined {
  if (t.kind === "dollar") {
    const tag = /^\$[^$]*\$/.exec(t.text)?.[0] ?? "$$";
    return t.text.slice(tag.length, t.text.length - tag.length);
  }
  if (t.kind !== "string") return undefined;
  if (/^u&/i.test(t.text)) return t.value;
  if (/^[bx]/i.test(t.text)) return undefined;
  const escaped = /^e/i.test(t.text);
  const body = t.text.slice(escaped ? 2 : 1, -1).replace(/''/g, "'");
  return escaped ? body.replace(/\\(.)/g, "$1") : body;
}

/** A server-level statement starting at tokens[k]. */
function statementAt(tokens: readonly Token[], k: number): ServerEffect | undefined {
  const t = tokens[k]!;
  if (t.kind !== "word") return undefined;
  const next = tokens[k + 1];
  const upto = (from: number) => {
    const rest: Token[] = [];
    for (let j = from; j < tokens.length && tokens[j]!.kind !== "semicolon"; j++) rest.push(tokens[j]!);
    return rest;
  };
  const found = (cls: EffectClass, what: string): ServerEffect => ({ class: cls, what, why: WHY[cls] });
  switch (t.value) {
    case "alter":
      if (isWord(next, "system")) return found("alter_system", "ALTER SYSTEM");
      if (isWord(next, "default") && isWord(tokens[k + 2], "privileges")) return found("roles", "ALTER DEFAULT PRIVILEGES");
      if (isWord(next, "database") && upto(k + 2).some((x) => isWord(x, "set", "reset"))) return found("configuration", "ALTER DATABASE ... SET");
    // fall through: ALTER ROLE, ALTER EXTENSION
    case "create":
    case "drop":
      if (isWord(next, "role", "user", "group") && !isWord(tokens[k + 2], "mapping")) return found("roles", `${t.value.toUpperCase()} ${next!.value.toUpperCase()}`);
      if (isWord(next, "extension")) return found("extensions", `${t.value.toUpperCase()} EXTENSION`);
      return undefined;
    case "grant":
    case "revoke": {
      // GRANT ... ON object TO: privileges on data. GRANT role TO role: membership, which is the admin's.
      const rest = upto(k + 1);
      const on = rest.findIndex((x) => isWord(x, "on"));
      const to = rest.findIndex((x) => isWord(x, "to", "from"));
      if (to !== -1 && (on === -1 || on > to)) return found("roles", `${t.value.toUpperCase()} of a role`);
      return undefined;
    }
    case "reassign":
      return isWord(next, "owned") ? found("roles", "REASSIGN OWNED") : undefined;
    case "load":
      return k === 0 ? found("configuration", "LOAD") : undefined;
    default:
      return undefined;
  }
}

/** Where a statement may start inside procedural code: after these words or a semicolon. */
const CODE_STATEMENT_AFTER = new Set(["begin", "then", "else", "loop", "do", "execute", "immediate"]);

function callEffect(tokens: readonly Token[]): ServerEffect | undefined {
  for (const call of functionCalls(tokens)) {
    const cls = functionClass(call.fn);
    if (!cls?.serverEffect) continue;
    const fn = call.fn.toLowerCase();
    if (fn === "set_config") {
      // A custom setting (app.user_id, for row-level security) is the caller's own data; a server setting is not.
      const arg = tokens[call.index + 2];
      const name = arg ? literalBody(arg) : undefined;
      if (name !== undefined && name.includes(".") && tokens[call.index + 3]?.kind === "op") continue;
      return { class: "configuration", what: "set_config()", why: "it changes a server setting for the connection, which outlives the call in a pooled connection" };
    }
    const cls2: EffectClass = /backend$/.test(fn) ? "sessions" : /reset/.test(fn) ? "statistics" : "configuration";
    return { class: cls2, what: `${call.fn}()`, why: cls.serverEffect };
  }
  return undefined;
}

/** Looks through procedural code (a DO block, a function body, an EXECUTE string) for server effects. */
function codeEffect(text: string, depth: number): ServerEffect | undefined {
  let tokens: Token[];
  try {
    tokens = tokenize(text);
  } catch {
    // Not SQL the lexer understands (a fragment): fall back to the names alone.
    const m = /\b(pg_(?:terminate|cancel|signal)_backend|pg_reload_conf|set_config)\s*\(|\balter\s+system\b/i.exec(text);
    if (!m) return undefined;
    const cls: EffectClass = !m[1] ? "alter_system" : /backend/i.test(m[1]) ? "sessions" : "configuration";
    return { class: cls, what: m[0], why: WHY[cls] };
  }
  for (let k = 0; k < tokens.length; k++) {
    const prev = tokens[k - 1];
    if (k === 0 || prev!.kind === "semicolon" || (prev!.kind === "word" && CODE_STATEMENT_AFTER.has(prev!.value))) {
      const e = statementAt(tokens, k);
      if (e) return e;
    }
  }
  return callEffect(tokens) ?? nestedEffect(tokens, () => true, depth);
}

/** Code carried in literals: dollar-quoted text always, strings when `stringIsCode`. */
function nestedEffect(tokens: readonly Token[], stringIsCode: (t: Token) => boolean, depth: number): ServerEffect | undefined {
  if (depth >= CODE_DEPTH) return undefined;
  for (const t of tokens) {
    if (t.kind !== "dollar" && !(t.kind === "string" && stringIsCode(t))) continue;
    const body = literalBody(t);
    const e = body ? codeEffect(body, depth + 1) : undefined;
    if (e) return e;
  }
  return undefined;
}

/** The first server-level effect of one statement, if any. */
export function statementEffect(statement: SqlStatement): ServerEffect | undefined {
  const tokens = statement.tokens;
  const head = tokens[0]?.value;
  // Strings are code in DO blocks and CREATE FUNCTION/PROCEDURE bodies (AS '...'); elsewhere they are data.
  const carriesCode = head === "do" || (head === "create" && tokens.some((t) => isWord(t, "function", "procedure")));
  return statementAt(tokens, 0) ?? callEffect(tokens) ?? nestedEffect(tokens, () => carriesCode, 0);
}

/** The first server-level effect in `sql` (one statement or a script). Unparseable SQL has none here: PostgreSQL refuses it. */
export function serverEffect(sql: string): ServerEffect | undefined {
  return firstInScript(sql, (st) => statementEffect(st) || undefined);
}

export type EffectVerdict = { ok: true } | { ok: false; code: "insufficient_scope" | "alter_system_disabled"; message: string; hint: string };

/**
 * Whether a caller may run `sql` for its effects: server-level effects need
 * the admin scope, and ALTER SYSTEM also needs ALLOW_ALTER_SYSTEM=true.
 */
export function checkEffects(sql: string | SqlStatement, caller: { admin: boolean; allowAlterSystem: boolean; tool: string }): EffectVerdict {
  const effect = typeof sql === "string" ? serverEffect(sql) : statementEffect(sql);
  if (!effect) return { ok: true };
  if (effect.class === "alter_system" && !caller.allowAlterSystem) {
    return { ok: false, code: "alter_system_disabled", message: `${caller.tool} refused ${effect.what}: ALTER SYSTEM is disabled in this deployment`, hint: "the operator can set ALLOW_ALTER_SYSTEM=true in the Worker's vars; then an admin key may use pg_admin_set" };
  }
  if (caller.admin) return { ok: true };
  return {
    ok: false,
    code: "insufficient_scope",
    message: `${caller.tool} refused ${effect.what}: ${effect.why}, which needs the admin scope`,
    hint: "ask for a key with the admin scope, or leave server configuration, other sessions, roles and extensions to the operator",
  };
}
