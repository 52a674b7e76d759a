/**
 * Confirmation of destructive statements (CONFIRM_DESTRUCTIVE): MCP
 * 2026-07-28 clients are asked through an input-required result (raw HTTP,
 * as the protocol defines it); clients that cannot be asked get the
 * fallback. Every effect, or its absence, is checked from the observer.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type pg from "pg";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { call, connectClient, ok, text, type ToolResult } from "../support/mcp";
import { observer, uniqueName } from "../support/db";
import { raw } from "../support/http";

const ELICIT = { elicitation: { form: {} } };
type Caps = Record<string, unknown>;

interface ModernResult extends ToolResult {
  resultType?: string;
  inputRequests?: Record<string, { method: string; params: { mode?: string; message: string; requestedSchema: { properties: Record<string, unknown> } } }>;
  requestState?: string;
}

/** One 2026-07-28 tools/call over raw HTTP: no initialize, the envelope in _meta, the retry fields beside the arguments. */
async function modern(
  url: string,
  key: string | undefined,
  name: string,
  args: Record<string, unknown>,
  opts: { caps?: Caps; inputResponses?: Record<string, unknown>; requestState?: string } = {},
): Promise<ModernResult> {
  const params = {
    name,
    arguments: args,
    ...(opts.inputResponses ? { inputResponses: opts.inputResponses } : {}),
    ...(opts.requestState !== undefined ? { requestState: opts.requestState } : {}),
    _meta: {
      "io.modelcontextprotocol/protocolVersion": "2026-07-28",
      "io.modelcontextprotocol/clientCapabilities": opts.caps ?? ELICIT,
      "io.modelcontextprotocol/clientInfo": { name: "confirm-test", version: "1" },
    },
  };
  const res = await raw(url, {
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2026-07-28",
      "mcp-method": "tools/call",
      "mcp-name": name,
      ...(key ? { authorization: `Bearer ${key}` } : {}),
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params }),
    timeoutMs: 30_000,
  });
  if (res.status !== 200 || !res.json?.result) throw new Error(`tools/call ${name}: HTTP ${res.status} ${res.body.slice(0, 500)}`);
  return res.json.result as ModernResult;
}

const accept = { confirm: { action: "accept", content: { confirm: true } } };
const decline = { confirm: { action: "decline" } };

let db: pg.Client;
let url: string;
let keys: ReturnType<typeof inject<"apiKeys">>;
beforeAll(async () => {
  db = await observer();
  url = inject("confirmMcpUrl");
  keys = inject("apiKeys");
});
afterAll(async () => db?.end());

const exists = async (t: string) => (await db.query("select to_regclass($1) is not null as e", [t])).rows[0].e as boolean;
const count = async (t: string) => (await db.query(`select count(*)::int as n from ${t}`)).rows[0].n as number;

/** A table the server's role owns (so it may drop it), with three rows. */
async function table(prefix: string, u = url, key: string | undefined = keys.write): Promise<string> {
  const t = uniqueName(prefix);
  for (const sql of [`create table ${t} (id int primary key, v text)`, `insert into ${t} values (1, 'a'), (2, 'b'), (3, 'c')`]) {
    const r = await modern(u, key, "pg_query_write", { sql }, { caps: {} });
    expect(r.isError, text(r)).toBeFalsy();
  }
  expect(await count(t)).toBe(3);
  return t;
}

/** Asks, checks the question, and returns the state to answer with. */
async function asked(r: ModernResult, what: RegExp): Promise<string> {
  expect(r.resultType).toBe("input_required");
  const q = r.inputRequests!.confirm!;
  expect(q.method).toBe("elicitation/create");
  expect(q.params.message).toMatch(what);
  expect(q.params.requestedSchema.properties.confirm).toMatchObject({ type: "boolean" });
  expect(typeof r.requestState).toBe("string");
  return r.requestState!;
}

describe("MCP 2026-07-28 with elicitation: the user is asked", () => {
  it("DROP TABLE asks, runs nothing until confirmed, then drops", async () => {
    const t = await table("cf_drop");
    const args = { sql: `drop table ${t}` };
    const state = await asked(await modern(url, keys.write, "pg_query_write", args), new RegExp(`DROP TABLE: drop table ${t}`));
    expect(await exists(t)).toBe(true);
    const r = await modern(url, keys.write, "pg_query_write", args, { inputResponses: accept, requestState: state });
    expect(r.isError, text(r)).toBeFalsy();
    expect(r.resultType ?? "complete").toBe("complete");
    expect(await exists(t)).toBe(false);
  });

  it("a declined DELETE without WHERE deletes nothing", async () => {
    const t = await table("cf_decline");
    const args = { sql: `delete from ${t}` };
    const state = await asked(await modern(url, keys.write, "pg_query_write", args), /DELETE without WHERE/);
    const r = await modern(url, keys.write, "pg_query_write", args, { inputResponses: decline, requestState: state });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/^ERROR declined: the user declined: pg_query_write did not run DELETE without WHERE/);
    expect(await count(t)).toBe(3);
  });

  it("accepting with confirm: false is not a confirmation", async () => {
    const t = await table("cf_false");
    const args = { sql: `update ${t} set v = 'x'` };
    const state = await asked(await modern(url, keys.write, "pg_query_write", args), /UPDATE without WHERE/);
    const r = await modern(url, keys.write, "pg_query_write", args, { inputResponses: { confirm: { action: "accept", content: { confirm: false } } }, requestState: state });
    expect(text(r)).toMatch(/^ERROR declined: the user did not confirm/);
    expect((await db.query(`select count(*)::int as n from ${t} where v = 'x'`)).rows[0].n).toBe(0);
  });

  it("a confirmation is refused for another statement, another caller, a second use, or without its state", async () => {
    const a = await table("cf_forge_a");
    const b = await table("cf_forge_b");
    const askA = { sql: `truncate ${a}` };
    const askB = { sql: `truncate ${b}` };
    const invalid = (r: ModernResult) => {
      expect(r.isError).toBe(true);
      expect(text(r)).toMatch(/^ERROR confirmation_invalid: .*was not given for it/);
    };
    // Another statement: A's answer and state on B.
    invalid(await modern(url, keys.write, "pg_query_write", askB, { inputResponses: accept, requestState: await asked(await modern(url, keys.write, "pg_query_write", askA), /TRUNCATE/) }));
    // The same statement with other arguments (a parameter list) is another call.
    invalid(await modern(url, keys.write, "pg_query_write", { ...askA, params: [] }, { inputResponses: accept, requestState: await asked(await modern(url, keys.write, "pg_query_write", askA), /TRUNCATE/) }));
    // Another caller: the admin key replays the write key's confirmation.
    invalid(await modern(url, keys.admin, "pg_query_write", askA, { inputResponses: accept, requestState: await asked(await modern(url, keys.write, "pg_query_write", askA), /TRUNCATE/) }));
    // No state at all, and a made-up one.
    invalid(await modern(url, keys.write, "pg_query_write", askA, { inputResponses: accept }));
    invalid(await modern(url, keys.write, "pg_query_write", askA, { inputResponses: accept, requestState: `confirm.${crypto.randomUUID()}` }));
    expect(await count(a)).toBe(3);
    expect(await count(b)).toBe(3);
    // Used once, it is spent: a replay of an accepted confirmation is refused.
    const state = await asked(await modern(url, keys.write, "pg_query_write", askA), /TRUNCATE/);
    expect((await modern(url, keys.write, "pg_query_write", askA, { inputResponses: accept, requestState: state })).isError).toBeFalsy();
    expect(await count(a)).toBe(0);
    await db.query(`insert into ${a} values (9, 'z')`);
    invalid(await modern(url, keys.write, "pg_query_write", askA, { inputResponses: accept, requestState: state }));
    expect(await count(a)).toBe(1);
    expect(await count(b)).toBe(3);
  });

  it("statements that destroy nothing never ask", async () => {
    const t = await table("cf_quiet");
    for (const sql of [`insert into ${t} values (4, 'd')`, `update ${t} set v = 'y' where id = 4`, `delete from ${t} where id = 4`, `create index on ${t} (v)`]) {
      const r = await modern(url, keys.write, "pg_query_write", { sql });
      expect(r.resultType ?? "complete", sql).toBe("complete");
      expect(r.isError, text(r)).toBeFalsy();
    }
    const read = await modern(url, keys.write, "pg_query_read", { sql: `select count(*)::int as n from ${t}` });
    expect(read.structuredContent!.rows).toEqual([[3]]);
  });

  it("a script asks once, naming its destructive statements, and runs whole when confirmed", async () => {
    const t = await table("cf_script");
    const args = { sql: `insert into ${t} values (4, 'd');\ndelete from ${t} where id = 1;\ntruncate ${t};\ninsert into ${t} values (5, 'e')`, transaction: true };
    const state = await asked(await modern(url, keys.write, "pg_code_run_sql_script", args), new RegExp(`TRUNCATE: truncate ${t}`));
    expect(await count(t)).toBe(3);
    const r = await modern(url, keys.write, "pg_code_run_sql_script", args, { inputResponses: accept, requestState: state });
    expect(r.isError, text(r)).toBeFalsy();
    expect((await db.query(`select id from ${t}`)).rows).toEqual([{ id: 5 }]);
  });

  it("a statement in a held transaction asks; confirmed, it runs in that transaction", async () => {
    const t = await table("cf_tx");
    const begin = await modern(url, keys.write, "pg_tx_begin", {});
    const tx = (begin.structuredContent as { tx: string }).tx;
    const args = { tx, sql: `delete from ${t}` };
    const state = await asked(await modern(url, keys.write, "pg_query_write", args), /DELETE without WHERE/);
    expect((await modern(url, keys.write, "pg_query_write", args, { inputResponses: accept, requestState: state })).isError).toBeFalsy();
    expect(await count(t)).toBe(3); // not committed yet
    expect((await modern(url, keys.write, "pg_tx_commit", { tx })).isError).toBeFalsy();
    expect(await count(t)).toBe(0);
  });

  it("pg_schema_drop and pg_schema_alter's dropColumns ask too", async () => {
    const t = await table("cf_schema");
    const alter = { name: t, dropColumns: ["v"] };
    const s1 = await asked(await modern(url, keys.write, "pg_schema_alter", alter), /ALTER TABLE \.\.\. DROP COLUMN/);
    expect((await modern(url, keys.write, "pg_schema_alter", alter, { inputResponses: decline, requestState: s1 })).isError).toBe(true);
    expect((await db.query("select count(*)::int as n from information_schema.columns where table_name = $1 and column_name = 'v'", [t])).rows[0].n).toBe(1);
    const drop = { kind: "table", name: t };
    const s2 = await asked(await modern(url, keys.write, "pg_schema_drop", drop), /DROP TABLE/);
    expect(await exists(t)).toBe(true);
    expect((await modern(url, keys.write, "pg_schema_drop", drop, { inputResponses: accept, requestState: s2 })).isError).toBeFalsy();
    expect(await exists(t)).toBe(false);
  });

  it("a program cannot answer: its destructive statement is refused, pointing to the direct tool", async () => {
    const t = await table("cf_program");
    const r = await modern(url, keys.admin, "pg_execute_code", { code: `try { await pg.query("drop table ${t}"); return "ran"; } catch (e) { return "refused: " + e.message; }` });
    expect(r.resultType ?? "complete").toBe("complete");
    expect(JSON.stringify(r.structuredContent)).toMatch(/refused: .*a program cannot answer the confirmation/);
    expect(await exists(t)).toBe(true);
  });
});

describe("a client that cannot be asked: CONFIRM_FALLBACK=refuse (the default)", () => {
  it("MCP 2026-07-28 without the elicitation capability is refused, saying what to do", async () => {
    const t = await table("cf_nocap");
    const r = await modern(url, keys.write, "pg_query_write", { sql: `drop table ${t}` }, { caps: {} });
    expect(r.resultType ?? "complete").toBe("complete");
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/^ERROR confirmation_required: pg_query_write did not run DROP TABLE .*did not declare the elicitation capability/);
    expect(text(r)).toMatch(/HINT: .*2026-07-28 with elicitation.*CONFIRM_FALLBACK=proceed/);
    expect(await exists(t)).toBe(true);
  });

  describe("a 2025-era client (the SDK client, stateless server)", () => {
    let client: Client;
    beforeAll(async () => {
      client = await connectClient(url, { headers: { authorization: `Bearer ${keys.admin}` } });
    });
    afterAll(async () => client?.close());

    it("is refused, and the table stays; the server still serves", async () => {
      const t = await table("cf_legacy");
      const r = await call(client, "pg_query_write", { sql: `delete from ${t} where 1 = 1` });
      expect(r.isError).toBe(true);
      expect(text(r)).toMatch(/^ERROR confirmation_required: .*DELETE without WHERE.*a stateless server cannot receive an elicitation answer/);
      expect(await count(t)).toBe(3);
      // A program started by this client follows the same fallback.
      const p = await ok<{ result: string }>(client, "pg_execute_code", { code: `try { await pg.query("truncate ${t}"); return "ran"; } catch (e) { return "refused: " + e.message; }` });
      expect(p.result).toMatch(/^refused: .*confirmation_required|^refused: .*did not run TRUNCATE/);
      expect(await count(t)).toBe(3);
      expect((await ok<{ rows: unknown[][] }>(client, "pg_query_read", { sql: `select count(*)::int from ${t}` })).rows).toEqual([[3]]);
    });
  });
});

describe("a client that cannot be asked: CONFIRM_FALLBACK=proceed", () => {
  let client: Client;
  let proceedUrl: string;
  beforeAll(async () => {
    proceedUrl = inject("confirmProceedMcpUrl");
    client = await connectClient(proceedUrl);
  });
  afterAll(async () => client?.close());

  it("a 2025-era client's destructive statement runs", async () => {
    const t = await table("cf_proceed", proceedUrl, undefined);
    await ok(client, "pg_query_write", { sql: `delete from ${t}` });
    expect(await count(t)).toBe(0);
    await ok(client, "pg_execute_code", { code: `await pg.query("drop table ${t}"); return 1` });
    expect(await exists(t)).toBe(false);
  });

  it("MCP 2026-07-28 without elicitation runs it; with elicitation it is still asked", async () => {
    const t = await table("cf_proceed26", proceedUrl, undefined);
    const asking = await modern(proceedUrl, undefined, "pg_query_write", { sql: `truncate ${t}` });
    await asked(asking, /TRUNCATE/);
    expect(await count(t)).toBe(3);
    const r = await modern(proceedUrl, undefined, "pg_query_write", { sql: `truncate ${t}` }, { caps: {} });
    expect(r.isError, text(r)).toBeFalsy();
    expect(await count(t)).toBe(0);
  });
});
