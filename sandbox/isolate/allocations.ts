/**
 * The allocation budget: built-ins that allocate in one native call, where no
 * operation tick can interrupt them, are wrapped so that what they will
 * allocate is charged (`__pg_take`) before they run. They are wrapped by
 * class, not one by one, because each class has one way to know the size:
 *
 * 1. Sized by a number (Array(n), typed arrays, ArrayBuffer and its resize,
 *    transfer and grow, repeat, padStart/padEnd, fill, WebAssembly.Memory):
 *    the number is the size; charge it.
 * 2. Consumers of an iterator (spreads, Array.from, Set/Map/WeakSet/WeakMap,
 *    typed arrays from iterables, Object.fromEntries, Promise.all & co,
 *    Iterator.prototype.toArray): the iterator is drained here, one element
 *    at a time, each charged (operation and allocation), so even an iterator
 *    over something never charged (an array whose length was set directly)
 *    stops at the budget; the native function then gets a plain array.
 * 3. Strings (and byte arrays) built from other strings (join, concat,
 *    replace/replaceAll, split, JSON.stringify, TextEncoder/TextDecoder,
 *    encodeURI*, btoa/atob, normalize, case mapping, Blob): the result's size
 *    is the sum of its inputs, and inputs can be one shared string repeated
 *    (`new Array(1e6).fill(big).join()`), so each part is charged as it is
 *    produced, before the native call copies it.
 * 4. Copies of the receiver (filter, flat, toSorted, toReversed, with,
 *    toSpliced, Object.keys/values/entries, ArrayBuffer slice, structuredClone):
 *    charged by the copy's size (flat and structuredClone by walking what
 *    they will copy, since sharing can make the copy exponentially larger).
 *    map/slice/splice need nothing extra: they create their result through
 *    Array[Symbol.species], which is the guarded Array and is charged there.
 *
 * Plain JavaScript, evaluated in the isolate's main module after __pg_tick
 * and __pg_take are defined. Every wrapper is non-writable and
 * non-configurable, and the originals stay in this closure.
 */
export const ALLOCATION_GUARDS = String.raw`
const __pg_drain = (() => {
  const take = __pg_take, tick = __pg_tick;
  // Captured now: the program may replace globals and Function.prototype.call later.
  const { apply, construct, defineProperty } = Reflect;
  const Str = String, Num = Number, isArray = Array.isArray, isView = ArrayBuffer.isView, ITER = Symbol.iterator, REPLACE = Symbol.replace, SPLIT = Symbol.split;
  const { min, max, trunc } = Math;
  const abLength = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "byteLength").get;
  const sabLength = typeof SharedArrayBuffer === "function" ? Object.getOwnPropertyDescriptor(SharedArrayBuffer.prototype, "byteLength").get : null;
  const isBuffer = (x) => {
    try { apply(abLength, x, []); return true; } catch {}
    try { if (sabLength) { apply(sabLength, x, []); return true; } } catch {}
    return false;
  };
  const define = (o, name, value) => Object.defineProperty(o, name, { value, writable: false, enumerable: false, configurable: false });
  const wrap = (o, name, make) => { if (o && typeof o[name] === "function") define(o, name, make(o[name])); };
  const num = (v) => { const n = Num(v); return n > 0 ? min(n, 2 ** 53) : 0; };
  const strLen = (v) => (typeof v === "string" ? v.length : 0);
  const byteLen = (v) => (v == null ? 0 : typeof v === "string" ? 3 * v.length : typeof v.byteLength === "number" ? v.byteLength : typeof v.size === "number" ? v.size : 0);
  const nativePush = Array.prototype.push;
  /** A guarded constructor: the proxy replaces the global and its prototype's constructor (so species and .constructor reach it too). */
  const guardConstructor = (name, charge, holder = globalThis) => {
    const C = holder[name];
    if (typeof C !== "function") return;
    const G = new Proxy(C, {
      construct(t, args, nt) { return construct(t, charge(args, true), nt === G ? t : nt); },
      apply(t, self, args) { return apply(t, self, charge(args, false)); },
    });
    define(holder, name, G);
    if (C.prototype) define(C.prototype, "constructor", G);
  };

  // Class 2: drain an iterator under the budget; arrays, strings and typed arrays are charged by length.
  const drain = (x) => {
    if (x == null || typeof x !== "object" && typeof x !== "string" && typeof x !== "function") return x;
    if (typeof x === "string" || isArray(x) || isView(x)) { take(x.length); return x; }
    if (typeof x[ITER] === "function") {
      const out = [];
      // An element the iterator made itself (entries() pairs) is an object of its own: charged as 8.
      for (const v of x) { tick(); take(v !== null && typeof v === "object" ? 8 : 1); out[out.length] = v; }
      return out;
    }
    take(num(x.length));
    return x;
  };

  // Class 1: Array(n) / new Array(n).
  guardConstructor("Array", (args) => { if (args.length === 1 && typeof args[0] === "number") take(args[0]); return args; });
  wrap(Array, "from", (from) => function (src, ...rest) { return apply(from, this, [drain(src), ...rest]); });
  wrap(Array, "of", (of) => function (...args) { take(args.length); return apply(of, this, args); });
  const AP = Array.prototype;
  wrap(AP, "push", (f) => function (...a) { take(a.length); return apply(f, this, a); });
  wrap(AP, "unshift", (f) => function (...a) { take(a.length); return apply(f, this, a); });
  wrap(AP, "fill", (f) => function (...a) {
    const len = num(this.length);
    const rel = (v, d) => { const n = v === undefined ? d : trunc(Num(v)) || 0; return n < 0 ? max(len + n, 0) : min(n, len); };
    take(max(0, rel(a[2], len) - rel(a[1], 0)));
    return apply(f, this, a);
  });
  // Class 3: concat and join copy their parts; a part can be one shared big string or array, repeated.
  wrap(AP, "concat", (f) => function (...a) {
    take(num(this.length));
    for (let i = 0; i < a.length; i++) take(isArray(a[i]) ? a[i].length : 1);
    return apply(f, this, a);
  });
  wrap(AP, "join", (f) => function (sep) {
    const s = sep === undefined ? "," : Str(sep);
    const n = num(this.length);
    take(n);
    const parts = [];
    for (let i = 0; i < n; i++) {
      const v = this[i];
      const p = v == null ? "" : Str(v);
      take(p.length + s.length);
      parts[i] = p;
    }
    return apply(f, parts, [s]);
  });
  // Class 4: copies of the receiver.
  for (const name of ["filter", "toSorted", "toReversed", "with", "toSpliced"]) wrap(AP, name, (f) => function (...a) { const r = apply(f, this, a); take(num(r.length)); return r; });
  const flatCount = (a, depth) => {
    let n = 0;
    for (let i = 0; i < a.length; i++) { tick(); const v = a[i]; n += isArray(v) && depth >= 1 ? flatCount(v, depth - 1) : 1; take(1); }
    return n;
  };
  wrap(AP, "flat", (f) => function (depth) { flatCount(this, depth === undefined ? 1 : Num(depth)); return apply(f, this, [depth]); });
  wrap(AP, "flatMap", (f) => function (cb, thisArg) {
    if (typeof cb !== "function") return apply(f, this, [cb, thisArg]);
    return apply(f, this, [function (...a) { const r = apply(cb, this, a); take(isArray(r) ? r.length : 1); return r; }, thisArg]);
  });
  for (const name of ["keys", "values", "entries", "getOwnPropertyNames", "getOwnPropertySymbols"]) wrap(Object, name, (f) => function (o) { const r = apply(f, this, [o]); take(r.length); return r; });
  wrap(Reflect, "ownKeys", (f) => function (o) { const r = apply(f, this, [o]); take(r.length); return r; });

  // Class 2: collections and other iterator consumers.
  for (const name of ["Set", "Map", "WeakSet", "WeakMap"]) guardConstructor(name, (args) => (args.length ? [drain(args[0]), args[1], args[2]] : args));
  wrap(Object, "fromEntries", (f) => function (it) { return apply(f, this, [drain(it)]); });
  for (const name of ["all", "allSettled", "any", "race"]) wrap(Promise, name, (f) => function (it) { return apply(f, this, [drain(it)]); });
  if (globalThis.Iterator && Iterator.prototype) wrap(Iterator.prototype, "toArray", () => function () {
    const out = [];
    for (;;) { const r = this.next(); if (r.done) return out; tick(); take(1); out[out.length] = r.value; }
  });

  // Class 1 and 2: typed arrays by length, or from an iterable / array-like (a buffer view allocates nothing).
  const TA = Object.getPrototypeOf(Int8Array);
  for (const name of ["Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array", "Float16Array", "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array"]) {
    guardConstructor(name, (args) => {
      const x = args[0];
      if (typeof x === "number") { take(x); return args; }
      if (isBuffer(x)) return args;
      return x == null || typeof x !== "object" ? args : [drain(x), args[1], args[2]];
    });
  }
  wrap(TA, "from", (f) => function (src, ...rest) { return apply(f, this, [drain(src), ...rest]); });
  wrap(TA, "of", (f) => function (...a) { take(a.length); return apply(f, this, a); });
  for (const name of ["toSorted", "toReversed", "with"]) wrap(TA.prototype, name, (f) => function (...a) { const r = apply(f, this, a); take(r.length); return r; });
  wrap(TA.prototype, "join", (f) => function (sep) { take(num(this.length) * (24 + (sep === undefined ? 1 : Str(sep).length))); return apply(f, this, [sep]); });
  wrap(Uint8Array.prototype, "toBase64", (f) => function (...a) { take(2 * this.length); return apply(f, this, a); });
  wrap(Uint8Array.prototype, "toHex", (f) => function (...a) { take(2 * this.length); return apply(f, this, a); });
  wrap(Uint8Array, "fromBase64", (f) => function (s, ...a) { take(strLen(s)); return apply(f, this, [s, ...a]); });
  wrap(Uint8Array, "fromHex", (f) => function (s, ...a) { take(strLen(s)); return apply(f, this, [s, ...a]); });

  // Class 1: buffers by byte length, including growth of resizable buffers and transfers.
  for (const name of ["ArrayBuffer", "SharedArrayBuffer"]) {
    const C = globalThis[name];
    if (typeof C !== "function") continue;
    guardConstructor(name, (args) => { take(num(args[0])); return args; });
    const P = C.prototype;
    const grow = (f) => function (n) { take(max(0, num(n) - this.byteLength)); return apply(f, this, [n]); };
    wrap(P, "resize", grow);
    wrap(P, "grow", grow);
    wrap(P, "transfer", grow);
    wrap(P, "transferToFixedLength", grow);
    wrap(P, "slice", (f) => function (...a) { const r = apply(f, this, a); take(r.byteLength); return r; });
  }
  if (globalThis.WebAssembly && WebAssembly.Memory) {
    guardConstructor("Memory", (args) => { take(num(args[0] && args[0].initial) * 65536); return args; }, WebAssembly);
    wrap(WebAssembly.Memory.prototype, "grow", (f) => function (pages) { take(num(pages) * 65536); return apply(f, this, [pages]); });
  }

  // Class 1 and 3: strings.
  const SP = String.prototype;
  const self = (s) => Str(s);
  wrap(SP, "repeat", (f) => function (count) { take(self(this).length * num(count)); return apply(f, this, [count]); });
  wrap(SP, "padStart", (f) => function (n, fill) { take(num(n)); return apply(f, this, [n, fill]); });
  wrap(SP, "padEnd", (f) => function (n, fill) { take(num(n)); return apply(f, this, [n, fill]); });
  wrap(SP, "concat", (f) => function (...a) {
    let n = self(this).length;
    const parts = [];
    for (let i = 0; i < a.length; i++) { parts[i] = Str(a[i]); n += parts[i].length; }
    take(n);
    return apply(f, this, parts);
  });
  for (const name of ["toUpperCase", "toLowerCase", "toLocaleUpperCase", "toLocaleLowerCase"]) wrap(SP, name, (f) => function (...a) { take(2 * self(this).length); return apply(f, this, a); });
  wrap(SP, "normalize", (f) => function (form) { take(3 * self(this).length); return apply(f, this, [form]); });
  // replace/replaceAll with a string pattern: every replacement is charged as it is made
  // ($\` and $' can make the result quadratic in the input). A pattern with Symbol.replace
  // (the sandbox's RegExp, which charges its own pieces) is left to its own method.
  const expand = (r, matched, pos, S) => {
    if (!r.includes("$")) return r;
    let out = "";
    for (let i = 0; i < r.length; i++) {
      const d = r[i + 1];
      if (r[i] !== "$" || d === undefined) out += r[i];
      else if (d === "$") { out += "$"; i++; }
      else if (d === "&") { out += matched; i++; }
      else if (d === "\u0060") { out += S.slice(0, pos); i++; }
      else if (d === "'") { out += S.slice(pos + matched.length); i++; }
      else out += "$";
    }
    return out;
  };
  const stringReplace = (f) => function (pattern, replacement) {
    if (pattern != null && pattern[REPLACE] != null) return apply(f, this, [pattern, replacement]);
    const S = self(this);
    take(S.length);
    const fn = typeof replacement === "function" ? replacement : null;
    const r = fn ? "" : Str(replacement);
    return apply(f, S, [pattern, function (matched, pos) {
      const piece = fn ? Str(apply(fn, undefined, arguments)) : expand(r, matched, pos, S);
      take(piece.length);
      return piece;
    }]);
  };
  wrap(SP, "replace", stringReplace);
  wrap(SP, "replaceAll", stringReplace);
  wrap(SP, "split", (f) => function (sep, limit) {
    if (sep != null && sep[SPLIT] != null) return apply(f, this, [sep, limit]);
    take(self(this).length + 1);
    return apply(f, this, [sep, limit]);
  });
  for (const name of ["encodeURIComponent", "encodeURI", "escape"]) wrap(globalThis, name, (f) => function (s) { take(9 * Str(s).length); return apply(f, this, [s]); });
  wrap(globalThis, "btoa", (f) => function (s) { take(2 * Str(s).length); return apply(f, this, [s]); });
  wrap(globalThis, "atob", (f) => function (s) { take(Str(s).length); return apply(f, this, [s]); });
  if (globalThis.TextEncoder) {
    wrap(TextEncoder.prototype, "encode", (f) => function (s) { take(3 * strLen(s)); return apply(f, this, [s]); });
    wrap(TextDecoder.prototype, "decode", (f) => function (b, o) { take(byteLen(b)); return apply(f, this, [b, o]); });
  }
  wrap(JSON, "parse", (f) => function (text, reviver) { take(Str(text).length); return apply(f, this, [text, reviver]); });
  // JSON.stringify: a replacer sees every value before it is written; charge each one there.
  wrap(JSON, "stringify", (f) => function (value, replacer, space) {
    const indent = typeof space === "number" ? min(10, max(0, space)) : typeof space === "string" ? min(10, space.length) : 0;
    let allow = null;
    if (isArray(replacer)) { allow = new Set(); for (const k of replacer) if (typeof k === "string" || typeof k === "number") allow.add(Str(k)); }
    const user = typeof replacer === "function" ? replacer : null;
    return apply(f, this, [value, function (key, v) {
      if (allow && key !== "" && !isArray(this) && !allow.has(key)) return undefined;
      if (user) v = apply(user, this, [key, v]);
      tick();
      take(key.length + 4 + (typeof v === "string" ? v.length : 8) + indent * 4);
      return v;
    }, space]);
  });
  if (typeof structuredClone === "function") wrap(globalThis, "structuredClone", (f) => function (value, options) {
    const seen = new Set();
    const walk = (v) => {
      tick();
      if (typeof v === "string") { take(v.length); return; }
      if (v === null || typeof v !== "object" || seen.has(v)) { take(1); return; }
      seen.add(v);
      if (isView(v) || isBuffer(v)) { take(v.byteLength); return; }
      if (v instanceof Map) { for (const [k, x] of v) { walk(k); walk(x); } return; }
      if (v instanceof Set) { for (const x of v) walk(x); return; }
      const keys = Object.keys(v);
      for (const k of keys) walk(v[k]);
    };
    walk(value);
    return apply(f, this, [value, options]);
  });
  if (typeof Blob === "function") guardConstructor("Blob", (args) => { const parts = drain(args[0]); if (parts) for (const p of parts) take(byteLen(p)); return parts === args[0] ? args : [parts, args[1], args[2]]; });
  // A decompression stream turns a few bytes into gigabytes without any charged call: not offered.
  define(globalThis, "DecompressionStream", undefined);
  // URLPattern compiles its regexp groups with V8's backtracking engine.
  define(globalThis, "URLPattern", undefined);
  return drain;
})();
`;
