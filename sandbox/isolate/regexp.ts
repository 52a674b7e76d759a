/**
 * Regular expressions in the sandbox run on RE2 (re2js, a pure JavaScript
 * port), never on V8's backtracking engine. Backtracking happens inside one
 * native call, beyond any budget check, and needs no nested quantifier
 * (`^(a|a)*$`, `(\w|\d)+$`), so refusing "dangerous" patterns cannot work;
 * a linear-time engine for every pattern does.
 *
 * The module below (evaluated inside the isolate as `regexp.js`) builds a
 * RegExp class on RE2 that implements the RegExp protocol (exec, test,
 * lastIndex, flags dgimsuy, Symbol.match/matchAll/replace/search/split) and
 * installs it:
 * - as the global `RegExp` (so `new RegExp`, `RegExp()`, `/x/.constructor`,
 *   `Object.getPrototypeOf(/x/)`, `Reflect.construct(RegExp, ...)` all reach it);
 * - for regex literals, which the compiler turns into `__pg_regex(source, flags)`;
 * - behind String.prototype.match/matchAll/search, which would otherwise build
 *   a native RegExp from a string through the engine's own intrinsic.
 * With all three, no native RegExp object is ever created for the program, so
 * the native constructor and prototype are unreachable from program code.
 *
 * RE2 is linear in the input, but linear can still be long (a global replace
 * of `a.*z|a` rescans the rest of the input at every match). Every character
 * an RE2 engine reads is therefore charged to the operation budget (weighted
 * by the compiled program's size), by wrapping re2js's input reader.
 *
 * What RE2 cannot do is refused with a clear SyntaxError: backreferences and
 * lookahead. Lookbehind works (re2js evaluates captureless lookbehind in
 * linear time). JavaScript's `.`, `\s` and `\S` are translated to their exact
 * JavaScript meaning; `^`/`$` with the m flag treat only `\n` as a line end.
 */

/** Longest pattern source accepted; RE2's program can be ~1000 instructions per few characters. */
export const MAX_REGEX_SOURCE_CHARS = 10_000;

// Plain JavaScript (no backticks or dollar-brace in it): the source of the isolate's `regexp.js`.
export const REGEXP_MODULE = String.raw`
import { RE2JS, __MachineInput as MachineInput } from "./re2js.js";

const MAX_SOURCE = ${MAX_REGEX_SOURCE_CHARS};
// JavaScript's \s (WhiteSpace and LineTerminator) and its complement, as RE2 class contents.
const SPACE = "\\t\\n\\x0b\\f\\r \\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}\\x{feff}";
const NOT_SPACE = "\\x00-\\x08\\x0e-\\x1f\\x21-\\x9f\\x{a1}-\\x{167f}\\x{1681}-\\x{1fff}\\x{200b}-\\x{2027}\\x{202a}-\\x{202e}\\x{2030}-\\x{205e}\\x{2060}-\\x{2fff}\\x{3001}-\\x{fefe}\\x{ff00}-\\x{10ffff}";
// JavaScript's . without the s flag: anything but a line terminator.
const DOT = "[^\\n\\r\\x{2028}\\x{2029}]";
const ANY = "\\x00-\\x{10ffff}";
const FLAGS = "dgimsuy";

function syntax(source, why) {
  return new SyntaxError("Invalid regular expression: /" + source + "/: " + why);
}
function unsupported(source, what) {
  return new SyntaxError(what + " are not supported in the sandbox (regular expressions run on the linear-time RE2 engine): /" + source + "/");
}
const isHex = (c) => c !== undefined && ((c >= "0" && c <= "9") || (c >= "a" && c <= "f") || (c >= "A" && c <= "F"));
const isLetter = (c) => c !== undefined && ((c >= "a" && c <= "z") || (c >= "A" && c <= "Z"));
// Escapes that mean the same in JavaScript and RE2 (the rest of the letters are identity escapes in JavaScript).
const SAME_ESCAPES = "dDwWbBtnrfvx";

/** JavaScript pattern syntax to RE2 syntax, refusing what RE2 cannot do. */
function translate(source, flags) {
  const dotAll = flags.includes("s"), unicode = flags.includes("u");
  let out = "", inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === "\\") {
      const d = source[i + 1];
      if (d === undefined) throw syntax(source, "\\ at end of pattern");
      i++;
      if (d >= "1" && d <= "9" && !inClass) throw unsupported(source, "backreferences (\\" + d + ")");
      if (d === "k" && source[i + 1] === "<") throw unsupported(source, "backreferences (\\k<name>)");
      if (d === "s") out += inClass ? SPACE : "[" + SPACE + "]";
      else if (d === "S") out += inClass ? NOT_SPACE : "[" + NOT_SPACE + "]";
      else if (d === "b" && inClass) out += "\\x08";
      else if (d === "0" && !(source[i + 1] >= "0" && source[i + 1] <= "9")) out += "\\x00";
      else if (d === "c" && isLetter(source[i + 1])) { out += "\\x{" + (source.charCodeAt(i + 1) % 32).toString(16) + "}"; i++; }
      else if (d === "u" && source[i + 1] === "{" && unicode) {
        const close = source.indexOf("}", i);
        if (close < 0) throw syntax(source, "invalid Unicode escape");
        out += "\\x{" + source.slice(i + 2, close) + "}";
        i = close;
      } else if (d === "u" && isHex(source[i + 1]) && isHex(source[i + 2]) && isHex(source[i + 3]) && isHex(source[i + 4])) {
        out += "\\x{" + source.slice(i + 1, i + 5) + "}";
        i += 4;
      } else if ((d === "p" || d === "P") && unicode) out += "\\" + d;
      else if (SAME_ESCAPES.includes(d)) out += "\\" + d;
      else if (isLetter(d) || (d >= "0" && d <= "9")) out += d; // identity escape: \a, \z, \A, \Q mean other things to RE2
      else if (d.charCodeAt(0) < 128) out += "\\" + d;
      else out += d;
      continue;
    }
    if (inClass) {
      if (c === "]") inClass = false;
      out += c === "[" ? "\\[" : c;
      continue;
    }
    if (c === "[") {
      if (source.startsWith("[^]", i)) { out += "[" + ANY + "]"; i += 2; continue; }
      if (source.startsWith("[]", i)) { out += "[^" + ANY + "]"; i += 1; continue; }
      inClass = true;
      out += c;
      if (source[i + 1] === "^") { out += "^"; i++; }
      continue;
    }
    if (c === "(" && source[i + 1] === "?") {
      const e = source[i + 2];
      if (e === "=" || e === "!") throw unsupported(source, "lookahead assertions ((?" + e + ")");
      if (e === "<" && source[i + 3] !== "=" && source[i + 3] !== "!") { out += "(?P<"; i += 2; continue; }
    }
    if (c === "." && !dotAll) { out += DOT; continue; }
    out += c;
  }
  return out;
}

/**
 * Installs the RE2-backed RegExp. budget.tick(n) charges the operation budget,
 * budget.take(n) the allocation budget; both throw when it is spent.
 * budget.engine(f) runs f (a call into re2js) without charging the engine's own
 * allocations (bounded by the characters it reads, which are charged).
 * Returns regex(source, flags), what regex literals compile to.
 */
export function installRegExp(budget) {
  const { tick, take, engine } = budget;
  const apply = Reflect.apply;
  const define = (o, name, value) => Object.defineProperty(o, name, { value, writable: false, enumerable: false, configurable: false });

  // Every character an RE2 engine reads goes through MachineUTF16Input.step: charge it there.
  const inputProto = Object.getPrototypeOf(MachineInput.fromUTF16(""));
  const step = inputProto.step;
  if (typeof step !== "function") throw new Error("the sandbox's regular expression engine changed: re2js MachineUTF16Input.step is missing");
  let weight = 1;
  define(inputProto, "step", function (pos) { tick(weight); return apply(step, this, [pos]); });

  const cache = new Map();
  function compile(source, flags) {
    const key = flags + "/" + source;
    const hit = cache.get(key);
    if (hit) return hit;
    if (source.length > MAX_SOURCE) throw syntax(source.slice(0, 40) + "...", "longer than " + MAX_SOURCE + " characters (the sandbox's limit)");
    tick(source.length + 1);
    take(source.length);
    const translated = translate(source, flags);
    let f = RE2JS.LOOKBEHINDS;
    if (flags.includes("i")) f |= RE2JS.CASE_INSENSITIVE;
    if (flags.includes("m")) f |= RE2JS.MULTILINE;
    if (flags.includes("s")) f |= RE2JS.DOTALL;
    let entry;
    try {
      entry = engine(() => {
        const re = RE2JS.compile(translated, f);
        const names = [];
        for (const [name, g] of Object.entries(re.namedGroups())) names.push([name, g]);
        return { re, size: re.programSize(), groups: re.groupCount(), names };
      });
    } catch (e) {
      throw syntax(source, String(e && e.message || e) + " (the sandbox runs regular expressions on the linear-time RE2 engine)");
    }
    // Compiling costs about this much; charged after, since only RE2 knows the size (the source cap bounds it).
    tick(entry.size * 8);
    take(entry.size);
    entry.weight = 1 + Math.floor(entry.size / 32);
    if (cache.size >= 256) cache.delete(cache.keys().next().value);
    cache.set(key, entry);
    return entry;
  }

  const states = new WeakMap();
  const state = (rx, what) => {
    const s = states.get(rx);
    if (!s) throw new TypeError("RegExp.prototype." + what + " called on an object that is not a RegExp");
    return s;
  };
  const toLength = (v) => { const n = Math.trunc(Number(v)); return n > 0 ? Math.min(n, Number.MAX_SAFE_INTEGER) : 0; };
  const advance = (S, i, unicode) => {
    if (!unicode || i + 1 >= S.length) return i + 1;
    const c = S.charCodeAt(i);
    return c >= 0xd800 && c <= 0xdbff && S.charCodeAt(i + 1) >= 0xdc00 && S.charCodeAt(i + 1) <= 0xdfff ? i + 2 : i + 1;
  };

  /**
   * One match at or after from (exactly at from when sticky): its spans
   * [start, end, start1, end1, ...] (-1 for a group that did not take part), or null.
   */
  function find(s, S, from, sticky, withGroups) {
    tick();
    if (from > S.length) return null;
    return engine(() => {
      weight = s.c.weight;
      const m = s.c.re.matcher(S);
      if (!m.find(from)) return null;
      const spans = [m.start(), m.end()];
      if (sticky && spans[0] !== from) return null;
      if (withGroups) for (let g = 1; g <= s.c.groups; g++) spans.push(m.start(g), m.end(g));
      return spans;
    });
  }
  const group = (spans, S, g) => (spans[2 * g] < 0 ? undefined : S.slice(spans[2 * g], spans[2 * g + 1]));
  function result(s, m, S) {
    const n = s.c.groups;
    take(n + 1);
    const a = new Array(n + 1);
    for (let g = 0; g <= n; g++) a[g] = group(m, S, g);
    a.index = m[0];
    a.input = S;
    let groups;
    if (s.c.names.length) {
      groups = Object.create(null);
      for (const [name, g] of s.c.names) groups[name] = a[g];
    }
    a.groups = groups;
    if (s.hasIndices) {
      const ind = new Array(n + 1);
      for (let g = 0; g <= n; g++) ind[g] = m[2 * g] < 0 ? undefined : [m[2 * g], m[2 * g + 1]];
      if (groups) { ind.groups = Object.create(null); for (const [name, g] of s.c.names) ind.groups[name] = ind[g]; } else ind.groups = undefined;
      a.indices = ind;
    }
    return a;
  }
  /** RegExpBuiltinExec: honours and updates lastIndex for g and y. */
  function exec(rx, s, S) {
    const useLast = s.global || s.sticky;
    const from = useLast ? toLength(rx.lastIndex) : 0;
    const m = find(s, S, from, s.sticky, true);
    if (!m) { if (useLast) rx.lastIndex = 0; return null; }
    if (useLast) rx.lastIndex = m[1];
    return result(s, m, S);
  }
  /** $&, $1, $<name>, $$, $\` and $' in a replacement string. */
  function substitute(replacement, matched, position, S, captures, groups) {
    if (!replacement.includes("$")) return replacement;
    let out = "";
    for (let i = 0; i < replacement.length; i++) {
      const c = replacement[i];
      const d = replacement[i + 1];
      if (c !== "$" || d === undefined) { out += c; continue; }
      if (d === "$") { out += "$"; i++; }
      else if (d === "&") { out += matched; i++; }
      else if (d === "\u0060") { out += S.slice(0, position); i++; }
      else if (d === "'") { out += S.slice(Math.min(S.length, position + matched.length)); i++; }
      else if (d >= "0" && d <= "9") {
        const two = Number(d + (replacement[i + 2] || "x"));
        if (two >= 1 && two <= captures.length && replacement[i + 2] >= "0" && replacement[i + 2] <= "9") { out += captures[two - 1] ?? ""; i += 2; }
        else if (Number(d) >= 1 && Number(d) <= captures.length) { out += captures[Number(d) - 1] ?? ""; i++; }
        else out += c;
      } else if (d === "<" && groups !== undefined) {
        const close = replacement.indexOf(">", i);
        if (close < 0) { out += c; continue; }
        const v = groups[replacement.slice(i + 2, close)];
        out += v === undefined ? "" : String(v);
        i = close;
      } else out += c;
    }
    return out;
  }

  function RegExp(pattern, flags) {
    const isRx = pattern !== null && typeof pattern === "object" && states.has(pattern);
    if (new.target === undefined) {
      if (isRx && flags === undefined) return pattern;
      return new RegExp(pattern, flags);
    }
    let source, f;
    if (isRx) { const s = states.get(pattern); source = s.source; f = flags === undefined ? s.flags : String(flags); }
    else { source = pattern === undefined ? "" : String(pattern); f = flags === undefined ? "" : String(flags); }
    for (let i = 0; i < f.length; i++) {
      if (f[i] === "v") throw syntax(source, "the v flag is not supported in the sandbox");
      if (!FLAGS.includes(f[i]) || f.indexOf(f[i]) !== i) throw syntax(source, "invalid flags '" + f + "'");
    }
    const sorted = FLAGS.split("").filter((x) => f.includes(x)).join("");
    const c = compile(source, sorted);
    states.set(this, {
      c, source: source === "" ? "(?:)" : source, flags: sorted,
      global: sorted.includes("g"), sticky: sorted.includes("y"), unicode: sorted.includes("u"), hasIndices: sorted.includes("d"),
    });
    Object.defineProperty(this, "lastIndex", { value: 0, writable: true, enumerable: false, configurable: false });
  }
  const P = RegExp.prototype;
  const getter = (name, f) => Object.defineProperty(P, name, { get() { return f(state(this, name)); }, enumerable: false, configurable: false });
  getter("source", (s) => s.source);
  getter("flags", (s) => s.flags);
  getter("global", (s) => s.global);
  getter("ignoreCase", (s) => s.flags.includes("i"));
  getter("multiline", (s) => s.flags.includes("m"));
  getter("dotAll", (s) => s.flags.includes("s"));
  getter("unicode", (s) => s.unicode);
  getter("unicodeSets", () => false);
  getter("sticky", (s) => s.sticky);
  getter("hasIndices", (s) => s.hasIndices);
  define(P, "exec", function exec_(string) { return exec(this, state(this, "exec"), String(string)); });
  define(P, "test", function test(string) {
    const s = state(this, "test");
    const S = String(string);
    if (s.global || s.sticky) return exec(this, s, S) !== null;
    tick();
    return engine(() => { weight = s.c.weight; return s.c.re.test(S); });
  });
  define(P, "toString", function toString() { const s = state(this, "toString"); return "/" + s.source + "/" + s.flags; });
  define(P, "compile", function compile() { throw new TypeError("RegExp.prototype.compile is not supported in the sandbox"); });
  define(P, Symbol.match, function (string) {
    const s = state(this, "[Symbol.match]");
    const S = String(string);
    if (!s.global) return exec(this, s, S);
    this.lastIndex = 0;
    const out = [];
    for (;;) {
      const m = find(s, S, toLength(this.lastIndex), s.sticky, false);
      if (!m) { this.lastIndex = 0; return out.length ? out : null; }
      take(1 + m[1] - m[0]);
      out[out.length] = S.slice(m[0], m[1]);
      this.lastIndex = m[1] === m[0] ? advance(S, m[1], s.unicode) : m[1];
    }
  });
  define(P, Symbol.matchAll, function* (string) {
    const s = state(this, "[Symbol.matchAll]");
    const S = String(string);
    const rx = new RegExp(this);
    rx.lastIndex = toLength(this.lastIndex);
    for (;;) {
      const m = exec(rx, s, S);
      if (m === null) return;
      if (!s.global) { yield m; return; }
      if (m[0] === "") rx.lastIndex = advance(S, toLength(rx.lastIndex), s.unicode);
      yield m;
    }
  });
  define(P, Symbol.search, function (string) {
    const s = state(this, "[Symbol.search]");
    const m = find(s, String(string), 0, s.sticky, false);
    return m ? m[0] : -1;
  });
  define(P, Symbol.replace, function (string, replaceValue) {
    const s = state(this, "[Symbol.replace]");
    const S = String(string);
    const functional = typeof replaceValue === "function";
    const replacement = functional ? "" : String(replaceValue);
    let out = "", next = 0;
    let from = s.global ? 0 : (s.sticky ? toLength(this.lastIndex) : 0);
    for (;;) {
      const m = find(s, S, from, s.sticky, true);
      if (!m) { if (s.global || s.sticky) this.lastIndex = 0; break; }
      const start = m[0], end = m[1];
      const matched = S.slice(start, end);
      const captures = [];
      for (let g = 1; g <= s.c.groups; g++) captures[g - 1] = group(m, S, g);
      let groups;
      if (s.c.names.length) { groups = Object.create(null); for (const [name, g] of s.c.names) groups[name] = captures[g - 1]; }
      let piece;
      if (functional) piece = String(groups === undefined ? replaceValue(matched, ...captures, start, S) : replaceValue(matched, ...captures, start, S, groups));
      else piece = substitute(replacement, matched, start, S, captures, groups);
      // The result is built piece by piece: charge each piece before it is appended.
      take(start - next + piece.length);
      out += S.slice(next, start) + piece;
      next = end;
      if (!s.global) { if (s.sticky) this.lastIndex = end; break; }
      from = end === start ? advance(S, end, s.unicode) : end;
    }
    take(S.length - next);
    return out + S.slice(next);
  });
  define(P, Symbol.split, function (string, limit) {
    const s = state(this, "[Symbol.split]");
    const S = String(string);
    const lim = limit === undefined ? 4294967295 : limit >>> 0;
    const out = [];
    if (lim === 0) return out;
    if (S.length === 0) return find(s, S, 0, true, false) ? out : [S];
    let p = 0, q = 0;
    while (q < S.length) {
      const m = find(s, S, q, false, true);
      if (!m || m[0] >= S.length) break;
      const start = m[0], e = Math.min(m[1], S.length);
      if (e === p) { q = advance(S, start, s.unicode); continue; }
      take(1 + s.c.groups + start - p);
      out[out.length] = S.slice(p, start);
      if (out.length === lim) return out;
      for (let g = 1; g <= s.c.groups; g++) {
        out[out.length] = group(m, S, g);
        if (out.length === lim) return out;
      }
      p = e;
      q = p;
    }
    take(1 + S.length - p);
    out[out.length] = S.slice(p);
    return out;
  });
  define(P, Symbol.toStringTag, "RegExp");
  define(P, "constructor", RegExp);
  Object.defineProperty(RegExp, Symbol.species, { get() { return this; }, configurable: false });
  define(RegExp, "escape", (str) => engine(() => RE2JS.quote(String(str))));
  Object.freeze(P);
  Object.freeze(RegExp);
  define(globalThis, "RegExp", RegExp);

  // String methods that would build a native RegExp from a string argument through
  // the engine's own intrinsic (not the global): route them through this class.
  const SP = String.prototype;
  const coerce = (self, name) => {
    if (self === null || self === undefined) throw new TypeError("String.prototype." + name + " called on null or undefined");
    return String(self);
  };
  const method = (v, sym) => (v === null || v === undefined ? undefined : v[sym]);
  const isRegExp = (v) => v !== null && (typeof v === "object" || typeof v === "function") && (v[Symbol.match] !== undefined ? !!v[Symbol.match] : states.has(v));
  define(SP, "match", function match(regexp) {
    const m = method(regexp, Symbol.match);
    if (m !== undefined && m !== null) return m.call(regexp, this);
    const S = coerce(this, "match");
    return new RegExp(regexp)[Symbol.match](S);
  });
  define(SP, "search", function search(regexp) {
    const m = method(regexp, Symbol.search);
    if (m !== undefined && m !== null) return m.call(regexp, this);
    const S = coerce(this, "search");
    return new RegExp(regexp)[Symbol.search](S);
  });
  define(SP, "matchAll", function matchAll(regexp) {
    if (regexp !== null && regexp !== undefined) {
      if (isRegExp(regexp) && !String(regexp.flags).includes("g")) throw new TypeError("String.prototype.matchAll called with a non-global RegExp argument");
      const m = regexp[Symbol.matchAll];
      if (m !== undefined && m !== null) return m.call(regexp, this);
    }
    const S = coerce(this, "matchAll");
    return new RegExp(regexp, "g")[Symbol.matchAll](S);
  });

  return (source, flags) => new RegExp(source, flags);
}
`;
