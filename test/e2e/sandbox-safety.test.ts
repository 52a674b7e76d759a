/**
 * The JavaScript sandbox against attacks on its budgets, by class: regular
 * expressions (every way a program can build one runs on RE2, linear in the
 * input and charged per character read) and built-ins that allocate in one
 * native call (charged by class before they allocate). Every row checks the
 * specific refusal, that a second client's `select 1` finished promptly while
 * the hostile run was in flight (the server did not stall), and that a normal
 * program and a normal tool call from another client succeed afterwards.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { call, connectClient, rows, text } from "../support/mcp";
import { startWorker, type RunningWorker } from "../../scripts/lib/worker";

// A Worker of its own, with the default budgets: locally every isolate shares one workerd process
// and thread (no per-isolate CPU or memory limit), so these attacks must not overlap with other
// files' hostile programs on the shared Worker. The bystander below is this Worker's own client.
let worker: RunningWorker;
let attacker: Client;
let bystander: Client;
beforeAll(async () => {
  worker = await startWorker({ databaseUrl: inject("serverDatabaseUrl"), vars: { AUTH_MODE: "none", RATE_LIMIT_PER_MINUTE: "0", RATE_LIMIT_CODE_PER_MINUTE: "0", RATE_LIMIT_EXPENSIVE_PER_MINUTE: "0", PYTHON: "false" } });
  attacker = await connectClient(worker.mcpUrl);
  bystander = await connectClient(worker.mcpUrl);
}, 120_000);
afterAll(async () => {
  await attacker?.close();
  await bystander?.close();
  await worker?.stop();
});

/**
 * Generous: other suites share these 2 cores, and locally a run holds the one thread until its budget
 * stops it (seconds); a stalled server, the failure this guards against, takes minutes.
 */
const PROMPT_MS = 20_000;
const TOOLS = ["pg_execute_code", "pg_code_run_javascript"] as const;

/** Runs `code` as the attacker while the bystander runs `select 1`; returns the attacker's result and the bystander's latency. */
async function hostileRun(tool: string, code: string) {
  const attack = call(attacker, tool, { code });
  await new Promise((r) => setTimeout(r, 50));
  const started = Date.now();
  const select = await rows(bystander, "select 1");
  const bystanderMs = Date.now() - started;
  const r = await attack;
  return { r, select, bystanderMs };
}

async function expectStillServing() {
  const normal = await call(attacker, "pg_execute_code", { code: `const r = await pg.query("select 41 + 1 as n"); return { n: r.rows[0].n, m: "a-b".replace(/-/g, "+") };` });
  expect(normal.isError, text(normal)).toBeFalsy();
  expect((normal.structuredContent as { result: unknown }).result).toEqual({ n: 42, m: "a+b" });
  expect(await rows(bystander, "select 2")).toEqual([[2]]);
}

/** [class of attack, variants (each a program), what the refusal must say]. One row per class; add variants freely. */
const attacks: [string, string[], RegExp][] = [
  [
    "backtracking regexes without nested quantifiers run on RE2 (linear), so they just answer",
    [
      `const r = /^(a|a)*$/.test("a".repeat(5000) + "b"); throw new Error("answered " + r);`,
      `const r = /(a|ab)*c/.test("ab".repeat(5000)); throw new Error("answered " + r);`,
      `const r = /(\\w|\\d)+$/.test("1".repeat(5000) + "!"); throw new Error("answered " + r);`,
      `const r = /^(a+)+$/.test("a".repeat(5000) + "b"); throw new Error("answered " + r);`,
    ],
    /answered false/,
  ],
  [
    "patterns built at run time reach the same engine",
    [
      `throw new Error("answered " + new RegExp("^(a|a)*$").test("a".repeat(5000) + "b"));`,
      `throw new Error("answered " + RegExp("^(a|a)*$").test("a".repeat(5000) + "b"));`,
      `const R = /x/.constructor; throw new Error("answered " + new R("^(a|a)*$").test("a".repeat(5000) + "b"));`,
      `const R = Object.getPrototypeOf(/x/).constructor; throw new Error("answered " + R("^(a|a)*$").test("a".repeat(5000) + "b"));`,
      `const re = Reflect.construct(RegExp, ["^(a|a)*$"]); throw new Error("answered " + re.test("a".repeat(5000) + "b"));`,
      `class R extends RegExp {}; throw new Error("answered " + new R("^(a|a)*$").test("a".repeat(5000) + "b"));`,
      `const s = "a".repeat(5000) + "b"; throw new Error("answered " + (s.match("^(a|a)*$") === null) + (s.search("^(a|a)*$") === -1) + [...s.matchAll("(a|a)*$")].length);`,
      `const s = "a".repeat(5000) + "b"; throw new Error("answered " + s.replace(/^(a|a)*$/, "x").length + s.split(/(a|a)*c/).length + s.replaceAll(/(a|a)*c/g, "").length);`,
      `const p = Object.getPrototypeOf(/x/); const s = "a".repeat(5000) + "b"; throw new Error("answered " + p[Symbol.replace].call(/^(a|a)*$/, s, "x").length + p[Symbol.split].call(/(a|a)*c/, s).length + (p.exec.call(/^(a|a)*$/, s) === null));`,
      `const s = "a".repeat(5000) + "b"; throw new Error("answered " + (s.match({ toString: () => "^(a|a)*$" }) === null));`,
    ],
    /answered /,
  ],
  [
    "linear but long regex work (global replace rescanning the input) is charged per character read",
    [
      `return "a".repeat(200000).replace(/a.*z|a/g, "b").length`,
      `return "a".repeat(200000).split(/a.*z|a/).length`,
      `return [..."a".repeat(200000).matchAll(/a.*z|a/g)].length`,
      `let n = 0; const s = "ab".repeat(500000); for (let i = 0; i < 100; i++) if (/[ab]+[^ab]/.test(s)) n++; return n;`,
    ],
    /operation budget/,
  ],
  [
    "what RE2 cannot do is refused by name, not silently changed",
    [`return /(a)\\1/.test("aa")`, `return new RegExp("(?<x>a)\\\\k<x>").test("aa")`, `return /a(?=b)/.test("ab")`, `return "ab".match("a(?!b)")`],
    /(backreferences|lookahead assertions) .*are not supported in the sandbox/,
  ],
  [
    "the native RegExp is unreachable",
    [
      `const P = Object.getPrototypeOf(/x/); if (RegExp.prototype !== P || /x/.constructor !== RegExp || new RegExp("x").constructor !== RegExp) return "leak"; RegExp.prototype.exec = () => null; return 1`,
      `globalThis.RegExp = function () {}; return 1`,
      `String.prototype.match = function () { return "hijacked"; }; return "a".match("a")`,
      `Object.defineProperty(String.prototype, "search", { value: () => 0 }); return 1`,
    ],
    /read only|Cannot assign|Cannot redefine|not extensible|object is not extensible/,
  ],
  [
    "sized by a number: arrays, typed arrays, buffers, repeat, pad",
    [
      `return new Array(1e9).length`,
      `return Array(1e8).fill(0).length`,
      `return Array.from({ length: 1e8 }).length`,
      `return new Uint8Array(1e9).length`,
      `return new ArrayBuffer(1e9).byteLength`,
      `const b = new ArrayBuffer(1, { maxByteLength: 2 ** 31 }); b.resize(2 ** 31 - 1); return b.byteLength`,
      `const b = new ArrayBuffer(8); return b.transfer(1e9).byteLength`,
      `return "ab".repeat(1e8).length`,
      `return "x".padStart(1e8).length + "x".padEnd(1e8).length`,
      `return new WebAssembly.Memory({ initial: 30000 }).buffer.byteLength`,
    ],
    /allocation budget/,
  ],
  [
    "consumers of an iterator: spreads, Array.from, collections, typed arrays",
    [
      `const a = []; a.length = 1e8; return [...a.keys()].length`,
      `const a = []; a.length = 1e8; return Array.from(a.keys()).length`,
      `const a = []; a.length = 1e8; return new Set(a.keys()).size`,
      `const a = []; a.length = 1e8; return new Map(a.entries()).size`,
      `const a = []; a.length = 1e8; return new Float64Array(a.keys()).length`,
      `const a = []; a.length = 1e8; return Object.fromEntries(a.entries()).length`,
      `let a = [1]; for (let i = 0; i < 40; i++) a = [...a, ...a]; return a.length`,
    ],
    /allocation budget|operation budget/,
  ],
  [
    "strings built from others: join, concat, replace, split, JSON, encoders",
    [
      `const big = "x".repeat(100000); return new Array(1000).fill(big).join("").length`,
      `const big = "x".repeat(100000); let s = ""; return s.concat(...new Array(1000).fill(big)).length`,
      `const big = "x".repeat(100000); return "y".repeat(1000).replaceAll("y", big).length`,
      `const big = "x".repeat(100000); return "y".repeat(1000).replace(/y/g, big).length`,
      `return "y".repeat(20000).replaceAll("y", "$\`").length`,
      `const big = "x".repeat(100000); return JSON.stringify(new Array(1000).fill(big)).length`,
      `let a = ["x".repeat(1000)]; for (let i = 0; i < 30; i++) a = [a, a]; return JSON.stringify(a).length`,
      `const big = "x".repeat(3000000); return new TextEncoder().encode(big + big).length`,
      `const s = "x".repeat(4000000); return s.split("").length`,
      `return String.fromCharCode(...new Array(1e7).fill(65)).length`,
      `const big = "é".repeat(1000000); return encodeURIComponent(big).length`,
    ],
    /allocation budget|operation budget/,
  ],
  [
    "copies of the receiver: flat, filter, toSorted, structuredClone, Object.keys",
    [
      `let a = [1]; for (let i = 0; i < 40; i++) a = [a, a]; return a.flat(Infinity).length`,
      `const a = new Array(1000000).fill(1); const keep = []; for (let i = 0; i < 100; i++) keep.push(a.filter(() => true)); return keep.length`,
      `const a = new Array(1000000).fill(1); const keep = []; for (let i = 0; i < 100; i++) keep.push(a.toSorted()); return keep.length`,
      `const a = new Array(1000000).fill(1); const keep = []; for (let i = 0; i < 100; i++) keep.push(structuredClone(a)); return keep.length`,
      `const a = new Array(1000000).fill(1); const keep = []; for (let i = 0; i < 100; i++) keep.push(Object.keys(a)); return keep.length`,
    ],
    /allocation budget|operation budget/,
  ],
];

describe("the sandbox's budgets hold by class of attack, and the server keeps serving", () => {
  attacks.forEach(([klass, variants, failure], row) => {
    it(`refuses: ${klass}`, async () => {
      for (const [i, code] of variants.entries()) {
        const tool = TOOLS[(row + i) % TOOLS.length]!;
        const { r, select, bystanderMs } = await hostileRun(tool, code);
        expect(r.isError, `${tool}: ${code}\n${text(r)}`).toBe(true);
        expect(text(r), `${tool}: ${code}`).toMatch(failure);
        expect(select).toEqual([[1]]);
        expect(bystanderMs, `${tool}: ${code}: the other client waited`).toBeLessThan(PROMPT_MS);
        await expectStillServing();
      }
    }, 240_000);
  });
});

describe("regular expressions on RE2 behave like JavaScript's", () => {
  const js = async (code: string) => {
    const r = await call(attacker, "pg_code_run_javascript", { code });
    if (r.isError) throw new Error(text(r));
    return (r.structuredContent as { result: unknown }).result;
  };

  it("exec, groups, named groups, indices, lastIndex with g and y", async () => {
    expect(
      await js(`
      const m = /(?<y>\\d{4})-(\\d{2})(x)?/d.exec("on 2024-05!");
      const g = /o/g; const seen = []; let x; while ((x = g.exec("foo boo")) !== null) seen.push(x.index, g.lastIndex);
      const y = /a/y; y.lastIndex = 1;
      return { m: [...m], index: m.index, year: m.groups.y, ind: m.indices[1], seen, sticky: [y.test("ba"), y.lastIndex, y.test("ba")], flags: /a/gimsuyd.flags, src: /a\\/b/.source, str: String(/x/gi) };`),
    ).toEqual({ m: ["2024-05", "2024", "05", null], index: 3, year: "2024", ind: [3, 7], seen: [1, 2, 2, 3, 5, 6, 6, 7], sticky: [true, 2, false], flags: "dgimsuy", src: "a\\/b", str: "/x/gi" });
  });

  it("String methods: match, matchAll, replace with $ patterns and functions, split with captures and limits, search", async () => {
    expect(
      await js(`
      const s = "a1b22c333";
      return {
        match: s.match(/\\d+/g), first: s.match(/(\\d)(\\d)/).slice(0, 3),
        all: [...s.matchAll(/(\\d)+/g)].map((m) => [m[0], m[1], m.index]),
        rep: s.replace(/(\\d)+/g, "<$1|$&>"), named: "2024-05".replace(/(?<y>\\d+)-(?<m>\\d+)/, "$<m>/$<y>"),
        fn: s.replace(/\\d/g, (d, i) => String(Number(d) + i)), dollars: "x".replace(/x/, "$$ $\` $'"),
        split: "a, b,c".split(/\\s*(,)\\s*/), limited: "a,b,c".split(/,/, 2), empty: "abc".split(/(?:)/),
        search: "hello".search(/l+/), strSearch: "a.b".search("."),
        sticky: "aaa".replace(/a/y, "b"), unicode: "😀x".match(/./u)[0], dot: /./.test("\\n"), dotAll: /./s.test("\\n"),
        space: /^\\s+$/.test("\\u00a0\\u2003\\ufeff"), notSpace: /[\\S]/.test("\\u00a0"), lookbehind: "$5 €7".match(/(?<=\\$)\\d/)[0],
        caseless: /ÉCOLE/i.test("école"), anyChar: /[^]/.test("\\n"), escape: /\\u0041\\x42\\cJ/.test("AB\\n"),
      };`),
    ).toEqual({
      match: ["1", "22", "333"],
      first: ["22", "2", "2"],
      all: [["1", "1", 1], ["22", "2", 3], ["333", "3", 6]],
      rep: "a<1|1>b<2|22>c<3|333>",
      named: "05/2024",
      fn: "a2b56c91011",
      dollars: "$  ",
      split: ["a", ",", "b", ",", "c"],
      limited: ["a", "b"],
      empty: ["a", "b", "c"],
      search: 2,
      strSearch: 0,
      sticky: "baa",
      unicode: "😀",
      dot: false,
      dotAll: true,
      space: true,
      notSpace: false,
      lookbehind: "5",
      caseless: true,
      anyChar: true,
      escape: true,
    });
  });
});
