/**
 * Fuzzing /mcp with generated malformed JSON-RPC and malformed tool arguments.
 * Every case must get a proper answer (a 4xx, a JSON-RPC error, or a tool
 * result), never a 5xx or a hang, and the server must keep serving.
 * Bounded: a fixed number of cases from a fixed seed, and a time budget.
 */
import { beforeAll, describe, expect, inject, it } from "vitest";
import { connectClient, rows } from "../support/mcp";
import { MCP_HEADERS, raw } from "../support/http";
import { rng } from "../../scripts/lib/rng";

const CASES_PER_KIND = 1000;
const TIME_BUDGET_MS = 90_000;
const CONCURRENCY = 8;


type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

function randomValue(r: Rand, depth = 0): unknown {
  const kinds = depth > 3 ? ["s", "n", "b", "null"] : ["s", "n", "b", "null", "a", "o", "big", "weird"];
  switch (pick(r, kinds)) {
    case "s":
      return pick(r, ["", "x", "select 1", "'; drop table customers; --", "\u0000", "\ud800", "🐘".repeat(50), "$1", "a".repeat(5000)]);
    case "n":
      return pick(r, [0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 1, Number.MIN_VALUE]);
    case "b":
      return r() < 0.5;
    case "null":
      return null;
    case "a":
      return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
    case "o":
      return Object.fromEntries(Array.from({ length: Math.floor(r() * 4) }, (_, i) => [pick(r, ["sql", "params", "__proto__", "constructor", `k${i}`]), randomValue(r, depth + 1)]));
    case "big":
      return "y".repeat(Math.floor(r() * 100_000));
    default:
      return pick<unknown>(r, [{ toString: "x" }, [[[[[]]]]], { "": "" }]);
  }
}

/** Bodies that are not valid JSON-RPC requests in many different ways. */
function malformedBody(r: Rand, i: number): string {
  const valid = { jsonrpc: "2.0", id: i, method: "tools/call", params: { name: "pg_query_read", arguments: { sql: "select 1" } } };
  const text = JSON.stringify(valid);
  switch (Math.floor(r() * 14)) {
    case 0:
      return text.slice(0, Math.floor(r() * text.length)); // truncated
    case 1:
      return Array.from({ length: 1 + Math.floor(r() * 200) }, () => String.fromCharCode(Math.floor(r() * 65536))).join(""); // noise
    case 2:
      return "[".repeat(2000 + Math.floor(r() * 8000)) + "]".repeat(100); // deep and unbalanced
    case 3:
      return JSON.stringify({ ...valid, jsonrpc: pick(r, ["1.0", 2, null, ""]) });
    case 4:
      return JSON.stringify({ ...valid, method: randomValue(r) });
    case 5:
      return JSON.stringify({ ...valid, id: pick(r, [{}, [], true, 1.5, null]) });
    case 6:
      return JSON.stringify({ ...valid, params: randomValue(r) });
    case 7:
      return JSON.stringify({ ...valid, method: pick(r, ["tools/nope", "resources/read", "prompts/get", "completion/complete", "logging/setLevel", "", "initialize"]) });
    case 8:
      return JSON.stringify([valid, valid]); // batch
    case 9:
      return JSON.stringify(randomValue(r));
    case 10:
      return JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized", params: randomValue(r) });
    case 11:
      return "";
    case 12:
      return JSON.stringify({ ...valid, params: { name: randomValue(r), arguments: {} } });
    default:
      return text.replace(/"/g, pick(r, ["'", "", '\\"']));
  }
}

interface ToolInfo {
  name: string;
  inputSchema: { properties?: Record<string, unknown>; required?: string[] };
}

/** Arguments for a real tool, broken in one or several fields. */
function malformedArgs(r: Rand, tool: ToolInfo): unknown {
  const props = Object.keys(tool.inputSchema.properties ?? {});
  const args: Record<string, unknown> = {};
  for (const p of props) if (r() < 0.7) args[p] = randomValue(r);
  if (r() < 0.2) args[`extra_${Math.floor(r() * 10)}`] = randomValue(r);
  return r() < 0.05 ? randomValue(r) : args;
}

async function runBounded<T>(items: T[], fn: (item: T) => Promise<void>, deadline: number): Promise<number> {
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < items.length && Date.now() < deadline) {
        const item = items[next++]!;
        await fn(item);
        done++;
      }
    }),
  );
  return done;
}

const ALLOWED_STATUS = new Set([200, 202, 400, 404, 405, 406, 413, 415]);

describe("fuzzing /mcp", () => {
  let url: string;
  let tools: ToolInfo[];
  beforeAll(async () => {
    url = inject("fuzzMcpUrl");
    const client = await connectClient(url);
    tools = (await client.listTools()).tools as ToolInfo[];
    await client.close();
  });

  it(`answers ${CASES_PER_KIND} malformed JSON-RPC messages properly and keeps serving`, { timeout: TIME_BUDGET_MS + 30_000 }, async () => {
    const r = rng(20261121);
    const bodies = Array.from({ length: CASES_PER_KIND }, (_, i) => malformedBody(r, i));
    const failures: string[] = [];
    const done = await runBounded(
      bodies,
      async (body) => {
        const res = await raw(url, { headers: MCP_HEADERS, body, timeoutMs: 20_000 }).catch((e) => ({ status: -1, body: String(e), json: undefined, headers: {} }));
        if (!ALLOWED_STATUS.has(res.status)) failures.push(`${res.status} for ${body.slice(0, 120)} -> ${res.body.slice(0, 200)}`);
        else if (res.status === 200 && res.json && !("result" in res.json) && typeof res.json.error?.code !== "number") failures.push(`bad JSON-RPC answer for ${body.slice(0, 120)}: ${res.body.slice(0, 200)}`);
      },
      Date.now() + TIME_BUDGET_MS,
    );
    expect(failures.slice(0, 5)).toEqual([]);
    expect(done).toBeGreaterThan(CASES_PER_KIND / 2);
    const client = await connectClient(url);
    expect(await rows(client, "select 1")).toEqual([[1]]);
    await client.close();
  });

  it(`answers ${CASES_PER_KIND} malformed tool calls with an invalid-params error or a tool result`, { timeout: TIME_BUDGET_MS + 30_000 }, async () => {
    const r = rng(42);
    const calls = Array.from({ length: CASES_PER_KIND }, (_, i) => {
      const tool = pick(r, tools);
      return JSON.stringify({ jsonrpc: "2.0", id: i, method: "tools/call", params: { name: tool.name, arguments: malformedArgs(r, tool) } });
    });
    const failures: string[] = [];
    let invalidParams = 0;
    const done = await runBounded(
      calls,
      async (body) => {
        const res = await raw(url, { headers: MCP_HEADERS, body, timeoutMs: 40_000 }).catch((e) => ({ status: -1, body: String(e), json: undefined, headers: {} }));
        if (res.status !== 200 && res.status !== 413) {
          failures.push(`${res.status} for ${body.slice(0, 160)} -> ${res.body.slice(0, 200)}`);
          return;
        }
        if (res.status === 413) return;
        const m = res.json;
        if (m?.error?.code === -32602 || (m?.result?.isError && /^ERROR invalid_arguments: /.test(m.result.content?.[0]?.text ?? ""))) invalidParams++;
        else if (!m?.result || !Array.isArray(m.result.content)) failures.push(`unexpected answer for ${body.slice(0, 160)}: ${res.body.slice(0, 200)}`);
        else if (m.result.isError && /internal error/.test(m.result.content[0]?.text ?? "")) failures.push(`internal error for ${body.slice(0, 160)}: ${m.result.content[0].text.slice(0, 200)}`);
      },
      Date.now() + TIME_BUDGET_MS,
    );
    expect(failures.slice(0, 5)).toEqual([]);
    expect(done).toBeGreaterThan(CASES_PER_KIND / 2);
    expect(invalidParams).toBeGreaterThan(done / 4);
    const client = await connectClient(url);
    expect(await rows(client, "select 2")).toEqual([[2]]);
    await client.close();
  });
});
