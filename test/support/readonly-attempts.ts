/**
 * The read-only refusal table: every class of attack we know of that makes a
 * read do more than read. Each row names its class, the SQL (given the
 * fixture), and how it must be refused:
 *
 * - `lexer`: the first layer's message (worker/sql/readonly.ts), so the caller
 *   learns why;
 * - `database`: the SQLSTATEs PostgreSQL answers with when the statement gets
 *   through to it (42501 permission denied as the read role, 25006 read-only
 *   transaction, 25001 mode change after the first query).
 *
 * Rows with `underneath` also run in the database-layer table
 * (test/e2e/read-boundary.test.ts): straight to PostgreSQL inside the wrap the
 * server uses, with no lexer, to prove the boundary holds without the list.
 * `refused` there means PostgreSQL refuses it (those SQLSTATEs); `undone`
 * means PostgreSQL allows it and the wrap's end (ROLLBACK, release of
 * session-level locks) leaves nothing behind.
 *
 * Every row, every way it runs, is followed by checks from outside: the victim
 * row unchanged, no marker file, the secret file's content not in the
 * answer, the bystander session alive, no advisory lock held, the configuration
 * not reloaded, the statistics not reset, and the server still serving.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import pg from "pg";
import { existsSync, mkdtempSync, writeFileSync, chmodSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { call, connectClient, ok, rawText, rows } from "./mcp";
import { observer, uniqueName } from "./db";

export interface Fixture {
  /** A table holding one row (1, 'original'), with a sequence `<victim>_seq` and a function `<victim>_evil()` that writes. */
  victim: string;
  /** A path that must never come to exist. */
  marker: string;
  /** A file on the database host with `secret` in it, readable by the server process. */
  secretFile: string;
  secret: string;
  /** A live backend of the server's own role that must survive. */
  bystanderPid: number;
  /** Advisory lock keys only this fixture uses (lockKey and lockKey + 1), so files running at once do not see each other's. */
  lockKey: number;
}

export type Refusal = { lexer: RegExp } | { database: readonly string[] };

export interface Attempt {
  class: string;
  name: string;
  sql: (f: Fixture) => string;
  refused: Refusal;
  /** What PostgreSQL does with it when nothing lexical stands in the way (see the header). */
  underneath?: "refused" | "undone";
}

/**
 * PostgreSQL's own refusals of a read: permission (the read role), read-only
 * transaction, mode change too late, and a write inside SQL run from text
 * ("DELETE is not allowed in a non-volatile function").
 */
export const DATABASE_REFUSALS = ["42501", "25006", "25001", "0A000"] as const;
const db = { database: DATABASE_REFUSALS };
const lexer = (re: RegExp) => ({ lexer: re });
/** The message the lexer gives for a refused function call. */
const fn = (name: string) => lexer(new RegExp(`${name}\\(\\) is not allowed in a read-only query`));
const LONG_TAG = `t${"x".repeat(80)}`;

export function readOnlyAttempts(): Attempt[] {
  return [
    // One statement per call: the extended protocol takes one per Parse; the lexer says so first.
    { class: "statement smuggling", name: "COMMIT then DROP", sql: (f) => `commit; drop table ${f.victim}`, refused: lexer(/one statement/) },
    { class: "statement smuggling", name: "END then CREATE", sql: (f) => `end; create table ${f.victim}_new (i int)`, refused: lexer(/one statement/) },
    { class: "statement smuggling", name: "ROLLBACK then DELETE", sql: (f) => `rollback; delete from ${f.victim}`, refused: lexer(/one statement/) },
    { class: "statement smuggling", name: "second statement after a comment", sql: (f) => `select 1 /* ; */; delete from ${f.victim}`, refused: lexer(/one statement/) },

    // The transaction's mode.
    { class: "transaction mode", name: "SET TRANSACTION READ WRITE", sql: () => "set transaction read write", refused: lexer(/SET is not a read-only statement/) },
    { class: "transaction mode", name: "set_config of default_transaction_read_only", sql: () => "select set_config('default_transaction_read_only', 'off', false)", refused: fn("set_config"), underneath: "undone" },
    { class: "transaction mode", name: "set_config of transaction_read_only", sql: () => "select set_config('transaction_read_only', 'off', true)", refused: fn("set_config"), underneath: "refused" },
    { class: "transaction mode", name: "set_config of role back to the server's role, then a file read", sql: (f) => `select set_config('role', current_setting('session_authorization'), true), pg_read_file('${f.secretFile}')`, refused: fn("set_config"), underneath: "refused" },

    // Writes spelled as reads.
    { class: "writes", name: "writable CTE with DELETE", sql: (f) => `with d as (delete from ${f.victim} returning *) select * from d`, refused: lexer(/contains DELETE, which writes/), underneath: "refused" },
    { class: "writes", name: "writable CTE with UPDATE", sql: (f) => `with u as (update ${f.victim} set v = 'x' returning *) select * from u`, refused: lexer(/contains UPDATE, which writes/), underneath: "refused" },
    { class: "writes", name: "writable CTE with INSERT", sql: (f) => `with i as (insert into ${f.victim} values (2, 'x') returning *) select * from i`, refused: lexer(/contains INSERT, which writes/), underneath: "refused" },
    { class: "writes", name: "plain DELETE", sql: (f) => `delete from ${f.victim}`, refused: lexer(/DELETE is not a read-only statement/), underneath: "refused" },
    { class: "writes", name: "TRUNCATE", sql: (f) => `truncate ${f.victim}`, refused: lexer(/TRUNCATE is not a read-only statement/), underneath: "refused" },
    { class: "writes", name: "EXPLAIN ANALYZE DELETE", sql: (f) => `explain analyze delete from ${f.victim}`, refused: lexer(/contains DELETE, which writes/), underneath: "refused" },
    { class: "writes", name: "SELECT INTO a new table", sql: (f) => `select * into ${f.victim}_new from ${f.victim}`, refused: db },
    { class: "writes", name: "SELECT FOR UPDATE", sql: (f) => `select * from ${f.victim} for update`, refused: db },
    { class: "writes", name: "nextval", sql: (f) => `select nextval('${f.victim}_seq')`, refused: db },
    { class: "writes", name: "a function that writes", sql: (f) => `select ${f.victim}_evil()`, refused: db },

    // Statements that are not reads at all.
    { class: "not a read", name: "DO block", sql: (f) => `do $$ begin delete from ${f.victim}; end $$`, refused: lexer(/DO is not a read-only statement/) },
    { class: "not a read", name: "COPY TO PROGRAM", sql: (f) => `copy (select 1) to program 'touch ${f.marker}'`, refused: lexer(/COPY is not a read-only statement/), underneath: "refused" },
    { class: "not a read", name: "COPY TO file", sql: (f) => `copy (select 1) to '${f.marker}'`, refused: lexer(/COPY is not a read-only statement/), underneath: "refused" },
    { class: "not a read", name: "PREPARE a DELETE", sql: (f) => `prepare p as delete from ${f.victim}`, refused: lexer(/PREPARE is not a read-only statement/) },
    { class: "not a read", name: "CALL", sql: () => "call some_proc()", refused: lexer(/CALL is not a read-only statement/) },
    { class: "not a read", name: "LOCK", sql: (f) => `lock table ${f.victim}`, refused: lexer(/LOCK is not a read-only statement/), underneath: "refused" },
    { class: "not a read", name: "ALTER SYSTEM", sql: () => "alter system set work_mem = '1GB'", refused: lexer(/ALTER is not a read-only statement/) },

    // Names spelled so that a naive comparison misses them.
    { class: "disguised names", name: "quoted function name", sql: () => `select "set_config"('a.b', 'c', false)`, refused: fn("set_config"), underneath: "undone" },
    { class: "disguised names", name: "schema-qualified function", sql: () => `select pg_catalog.set_config('a.b', 'c', false)`, refused: fn("set_config"), underneath: "undone" },
    { class: "disguised names", name: "U& identifier with \\XXXX escapes", sql: (f) => `select U&"\\0070g_read_file"('${f.secretFile}')`, refused: fn("pg_read_file"), underneath: "refused" },
    { class: "disguised names", name: "U& identifier with \\+XXXXXX escapes", sql: (f) => `select U&"pg\\+00005Fread_file"('${f.secretFile}')`, refused: fn("pg_read_file"), underneath: "refused" },
    { class: "disguised names", name: "U& identifier with UESCAPE", sql: () => `select U&"!0070g_ls_dir" UESCAPE '!'('.')`, refused: fn("pg_ls_dir"), underneath: "refused" },
    { class: "disguised names", name: "U& identifier with UESCAPE after a comment", sql: (f) => `select U&"pg#005Fterminate#005Fbackend" /* x */ UESCAPE '#'(${f.bystanderPid})`, refused: fn("pg_terminate_backend"), underneath: "refused" },
    { class: "disguised names", name: "dollar-quote tag longer than any look-ahead", sql: (f) => `select $${LONG_TAG}$ $$ $${LONG_TAG}$, pg_read_file('${f.secretFile}'), $${LONG_TAG}$ $$ $${LONG_TAG}$`, refused: fn("pg_read_file"), underneath: "refused" },

    // Functions that run SQL passed as text: everything inside is invisible to a lexer.
    { class: "SQL from text", name: "query_to_xml running a DELETE", sql: (f) => `select query_to_xml('delete from ${f.victim} returning 1', true, true, '')`, refused: fn("query_to_xml"), underneath: "refused" },
    { class: "SQL from text", name: "query_to_xml reading a server file", sql: (f) => `select query_to_xml('select pg_read_file(''${f.secretFile}'')', true, true, '')`, refused: fn("query_to_xml"), underneath: "refused" },
    { class: "SQL from text", name: "ts_stat reading a server file", sql: (f) => `select * from ts_stat('select to_tsvector(pg_read_file(''${f.secretFile}''))')`, refused: fn("ts_stat"), underneath: "refused" },
    { class: "SQL from text", name: "ts_rewrite taking a session lock", sql: (f) => `select ts_rewrite('a'::tsquery, 'select ''a''::tsquery, ''b''::tsquery from (select pg_advisory_lock(${f.lockKey})) l')`, refused: fn("ts_rewrite"), underneath: "undone" },
    { class: "SQL from text", name: "cursor_to_xml", sql: () => `select cursor_to_xml('c', 1, true, true, '')`, refused: fn("cursor_to_xml") },
    { class: "SQL from text", name: "database_to_xml", sql: () => `select database_to_xml(true, true, '')`, refused: fn("database_to_xml") },
    { class: "SQL from text", name: "dblink_exec (refused whether or not dblink is installed)", sql: (f) => `select dblink_exec('dbname=postgres', 'drop table ${f.victim}')`, refused: fn("dblink_exec") },

    // Server files, directories, logs and WAL.
    { class: "server files", name: "pg_read_file", sql: (f) => `select pg_read_file('${f.secretFile}')`, refused: fn("pg_read_file"), underneath: "refused" },
    { class: "server files", name: "pg_read_binary_file", sql: (f) => `select pg_read_binary_file('${f.secretFile}')`, refused: fn("pg_read_binary_file"), underneath: "refused" },
    { class: "server files", name: "pg_stat_file", sql: () => `select pg_stat_file('postgresql.conf')`, refused: fn("pg_stat_file"), underneath: "refused" },
    { class: "server files", name: "pg_ls_dir", sql: () => `select pg_ls_dir('.')`, refused: fn("pg_ls_dir"), underneath: "refused" },
    { class: "server files", name: "pg_ls_logdir", sql: () => `select * from pg_ls_logdir()`, refused: fn("pg_ls_logdir"), underneath: "refused" },
    { class: "server files", name: "pg_ls_waldir", sql: () => `select * from pg_ls_waldir()`, refused: fn("pg_ls_waldir"), underneath: "refused" },
    { class: "server files", name: "pg_current_logfile", sql: () => `select pg_current_logfile()`, refused: fn("pg_current_logfile"), underneath: "refused" },
    { class: "server files", name: "lo_import", sql: (f) => `select lo_import('${f.secretFile}')`, refused: fn("lo_import"), underneath: "refused" },
    { class: "server files", name: "lo_export", sql: (f) => `select lo_export(1, '${f.marker}')`, refused: fn("lo_export"), underneath: "refused" },

    // Server-wide state that no rollback restores.
    { class: "statistics resets", name: "pg_stat_reset", sql: () => "select pg_stat_reset()", refused: fn("pg_stat_reset"), underneath: "refused" },
    { class: "statistics resets", name: "pg_stat_reset_single_table_counters", sql: (f) => `select pg_stat_reset_single_table_counters('${f.victim}'::regclass)`, refused: fn("pg_stat_reset_single_table_counters"), underneath: "refused" },
    { class: "statistics resets", name: "pg_stat_reset_shared", sql: () => "select pg_stat_reset_shared('bgwriter')", refused: fn("pg_stat_reset_shared"), underneath: "refused" },
    { class: "server control", name: "pg_reload_conf", sql: () => "select pg_reload_conf()", refused: fn("pg_reload_conf"), underneath: "refused" },
    { class: "server control", name: "pg_rotate_logfile", sql: () => "select pg_rotate_logfile()", refused: fn("pg_rotate_logfile"), underneath: "refused" },

    // Other sessions.
    { class: "backend signals", name: "pg_terminate_backend of a bystander", sql: (f) => `select pg_terminate_backend(${f.bystanderPid})`, refused: fn("pg_terminate_backend"), underneath: "refused" },
    { class: "backend signals", name: "pg_cancel_backend of a bystander", sql: (f) => `select pg_cancel_backend(${f.bystanderPid})`, refused: fn("pg_cancel_backend"), underneath: "refused" },
    { class: "session-level effects", name: "advisory lock held past the call", sql: (f) => `select pg_advisory_lock(${f.lockKey})`, refused: fn("pg_advisory_lock"), underneath: "undone" },
    { class: "session-level effects", name: "shared advisory lock, try variant", sql: (f) => `select pg_try_advisory_lock_shared(${f.lockKey + 1})`, refused: fn("pg_try_advisory_lock_shared"), underneath: "undone" },
    { class: "session-level effects", name: "pg_notify", sql: () => "select pg_notify('pgmcp_attack', 'x')", refused: fn("pg_notify"), underneath: "undone" },
  ];
}

/** Sets up the fixture (as the administrator) and checks afterwards, from outside, that nothing happened. */
export function useFixture(serverUrl: () => string) {
  const state = {} as { f: Fixture; db: pg.Client; bystander: pg.Client; dir: string; confLoaded: string; notifications: string[] };
  beforeAll(async () => {
    state.db = await observer();
    const victim = uniqueName("victim");
    state.dir = mkdtempSync(join(tmpdir(), "pgmcp-secret-"));
    chmodSync(state.dir, 0o755);
    const secret = `secret-${uniqueName("s")}`;
    const secretFile = join(state.dir, "secret.txt");
    writeFileSync(secretFile, secret);
    chmodSync(secretFile, 0o644);
    await state.db.query(`create table ${victim} (id int primary key, v text)`);
    await state.db.query(`insert into ${victim} values (1, 'original')`);
    await state.db.query(`create sequence ${victim}_seq`);
    // A function that writes: a read that calls it must still fail.
    await state.db.query(`create function ${victim}_evil() returns int language sql volatile as $$ update ${victim} set v = 'pwned'; select 1 $$`);
    // Statistics to lose: a sequential scan, flushed to the shared counters.
    await state.db.query(`select count(*) from ${victim}`);
    await state.db.query("select pg_stat_force_next_flush()");
    await state.db.query(`select count(*) from ${victim}`);
    // A session of the server's own role: what a same-role signal could end.
    state.bystander = new pg.Client({ connectionString: serverUrl() });
    state.bystander.on("error", () => {});
    await state.bystander.connect();
    const bystanderPid = (await state.bystander.query("select pg_backend_pid() as pid")).rows[0].pid as number;
    state.confLoaded = (await state.db.query("select pg_conf_load_time()::text as t")).rows[0].t;
    // A notification sent by an attempt would reach this listener.
    state.notifications = [];
    state.db.on("notification", (n) => state.notifications.push(`${n.channel}:${n.payload}`));
    await state.db.query("listen pgmcp_attack");
    state.f = { victim, marker: join(tmpdir(), uniqueName("pg_mcp_marker")), secretFile, secret, bystanderPid, lockKey: 100_000 + Math.floor(Math.random() * 1_000_000_000) };
  });
  afterAll(async () => {
    const v = state.f?.victim;
    if (v) await state.db.query(`drop function if exists ${v}_evil(); drop table if exists ${v}; drop table if exists ${v}_new; drop sequence if exists ${v}_seq`);
    await state.bystander?.end().catch(() => {});
    await state.db?.end();
    if (state.dir) rmSync(state.dir, { recursive: true, force: true });
  });

  /** Everything a refused or undone attempt must leave as it was. `answer` is the text the caller got back. */
  async function expectNoEffect(answer: string): Promise<void> {
    const { f, db } = state;
    expect(answer).not.toContain(f.secret);
    expect((await db.query(`select v from ${f.victim} order by id`)).rows).toEqual([{ v: "original" }]);
    expect(existsSync(f.marker)).toBe(false);
    expect((await db.query("select to_regclass($1) as r", [`${f.victim}_new`])).rows[0].r).toBeNull();
    expect((await db.query(`select last_value::int, is_called from ${f.victim}_seq`)).rows[0]).toEqual({ last_value: 1, is_called: false });
    expect((await db.query("select count(*)::int as n from pg_stat_activity where pid = $1", [f.bystanderPid])).rows[0].n).toBe(1);
    expect((await state.bystander.query("select 1 as one")).rows[0].one).toBe(1);
    expect((await db.query("select count(*)::int as n from pg_locks where locktype = 'advisory' and objid in ($1, $2)", [f.lockKey, f.lockKey + 1])).rows[0].n).toBe(0);
    expect((await db.query("select pg_conf_load_time()::text as t")).rows[0].t).toBe(state.confLoaded);
    expect((await db.query("select seq_scan::int as n from pg_stat_user_tables where relname = $1", [f.victim])).rows[0].n).toBeGreaterThan(0);
    expect(state.notifications).toEqual([]);
  }

  return { state, expectNoEffect };
}

/** Whether a tool's error text is the refusal the row asks for. */
export function expectRefusal(answer: string, refused: Refusal): void {
  if ("lexer" in refused) {
    expect(answer).toMatch(/^ERROR read_only: /);
    expect(answer).toMatch(refused.lexer);
  } else {
    const code = /^ERROR (\w{5}):/.exec(answer)?.[1];
    expect(refused.database, `expected a database refusal, got: ${answer.slice(0, 200)}`).toContain(code);
  }
}

export interface RefusalOptions {
  /** Run each row inside a transaction held across calls (a new one per row: a refusal by PostgreSQL aborts it). */
  inTransaction?: boolean;
  /** @default "pg_query_read" */
  tool?: string;
}

/**
 * Runs the whole table against one Worker: each row must be refused the way
 * it says, leave nothing behind (seen from outside), and leave the server serving.
 */
export function describeRefusals(title: string, connect: () => Promise<Client>, serverUrl: () => string, opts: RefusalOptions = {}): void {
  describe(title, () => {
    let client: Client;
    const { state, expectNoEffect } = useFixture(serverUrl);
    beforeAll(async () => {
      client = await connect();
    });
    afterAll(async () => {
      await client?.close();
    });

    for (const attempt of readOnlyAttempts()) {
      it(`refuses (${attempt.class}): ${attempt.name}`, async () => {
        const tx = opts.inTransaction ? (await ok<{ tx: string }>(client, "pg_tx_begin", { readOnly: true })).tx : undefined;
        try {
          const r = await call(client, opts.tool ?? "pg_query_read", { sql: attempt.sql(state.f), ...(tx ? { tx } : {}) });
          expect(r.isError).toBe(true);
          expectRefusal(rawText(r), attempt.refused);
          await expectNoEffect(rawText(r));
        } finally {
          if (tx) await call(client, "pg_tx_rollback", { tx });
        }
        expect(await rows(client, "select 1")).toEqual([[1]]);
      });
    }
  });
}

export { connectClient };
