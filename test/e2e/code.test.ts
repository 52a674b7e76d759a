/**
 * pg_code_run_sql_script on the real Worker and PostgreSQL: scripts with
 * dollar-quoted bodies and comments, atomic and statement-by-statement runs as
 * an observer connection sees them, and error positions mapped to the script.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type pg from "pg";
import { call, connectClient, ok, text } from "../support/mcp";
import { observer, uniqueName, useClientAndObserver } from "../support/db";

const fixture = useClientAndObserver();
let client: Client;
let db: pg.Client;
beforeAll(() => ({ client, db } = fixture));

const exists = async (table: string) => (await db.query("select to_regclass($1) is not null as ok", [table])).rows[0].ok as boolean;

interface ScriptResult {
  statements: { line: number; command: string; rowCount: number | null; columns?: { name: string }[]; rows?: unknown[][]; truncated?: boolean }[];
  transaction: boolean;
}

describe("pg_code_run_sql_script", () => {
  it("runs a script with a $$ function body, comments and several statements, returning each statement's result", async () => {
    const t = uniqueName("script");
    const fn = uniqueName("script_fn");
    const sql = `-- a table; the semicolons in comments do not split ;
create table ${t} (id int primary key, name text);
/* a function whose body has semicolons; and a nested /* comment */ */
create function ${fn}(n int) returns int language plpgsql as $$
begin
  insert into ${t} values (n, 'from fn; not a split');
  return n * 2;
end;
$$;
insert into ${t} values (1, 'a'), (2, 'b;c');
select ${fn}(10) as doubled;
select id, name from ${t} order by id;`;
    const r = await call(client, "pg_code_run_sql_script", { sql });
    expect(r.isError, text(r)).toBeFalsy();
    const s = r.structuredContent as unknown as ScriptResult;
    expect(s.statements.map((x) => x.command)).toEqual(["CREATE", "CREATE", "INSERT", "SELECT", "SELECT"]);
    expect(s.statements.map((x) => x.line)).toEqual([2, 4, 10, 11, 12]);
    expect(s.statements[2]!.rowCount).toBe(2);
    expect(s.statements[3]!.rows).toEqual([[20]]);
    expect(s.statements[4]!.rows).toEqual([
      [1, "a"],
      [2, "b;c"],
      [10, "from fn; not a split"],
    ]);
    expect(text(r)).toContain("[3] INSERT 2\n[4] SELECT 1\ndoubled:int4\n20\n[5] SELECT 3\nid:int4\tname:text\n1\ta\n2\tb;c");
    expect((await db.query(`select count(*)::int as n from ${t}`)).rows[0].n).toBe(3);
    await db.query(`drop table ${t}; drop function ${fn}(int)`);
  });

  it("caps the rows shown per statement", async () => {
    const r = await ok<ScriptResult>(client, "pg_code_run_sql_script", { sql: "select g from generate_series(1, 50) g; select 1", maxRows: 3 });
    expect(r.statements[0]!.rows).toEqual([[1], [2], [3]]);
    expect(r.statements[0]!.truncated).toBe(true);
    expect(r.statements[1]!.rows).toEqual([[1]]);
  });

  it("with transaction: true, an error rolls everything back and the observer sees nothing", async () => {
    const t = uniqueName("atomic");
    const r = await call(client, "pg_code_run_sql_script", {
      sql: `create table ${t} (id int primary key);\ninsert into ${t} values (1);\ninsert into ${t} values (1);\ninsert into ${t} values (2);`,
      transaction: true,
    });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/^ERROR 23505: statement 3 of 4 failed at line 3, column 1: duplicate key/);
    expect(text(r)).toContain("DETAIL: Key (id)=(1) already exists. The transaction was rolled back: nothing was kept.");
    expect(await exists(t)).toBe(false);
  });

  it("without a transaction, statements before the error stay committed and later ones never run", async () => {
    const t = uniqueName("stepwise");
    const r = await call(client, "pg_code_run_sql_script", {
      sql: `create table ${t} (id int primary key);\ninsert into ${t} values (1);\ninsert into ${t} values (1);\ninsert into ${t} values (2);`,
    });
    expect(r.isError).toBe(true);
    expect(text(r)).toContain("Statements 1-2 were committed (CREATE, INSERT).");
    expect((await db.query(`select array_agg(id order by id) as ids from ${t}`)).rows[0].ids).toEqual([1]);
    await db.query(`drop table ${t}`);
  });

  it("maps PostgreSQL's error position to the line and column of the script", async () => {
    const t = uniqueName("pos");
    // The error is in the third statement, on the script's 6th line, at the second comma.
    const sql = `create table ${t} (id int);\n\n-- comment line; with a semicolon\ninsert into ${t} values (1);\nselect id from ${t}\n  where id in (1,,2);`;
    const r = await call(client, "pg_code_run_sql_script", { sql, transaction: true });
    expect(r.isError).toBe(true);
    const offset = sql.indexOf(",,") + 1;
    expect(text(r)).toMatch(/^ERROR 42601: statement 3 of 3 failed at line 6, column 18: syntax error at or near ","/);
    expect(text(r)).toContain(`POSITION: ${offset + 1} (near ",2);")`);
    expect(await exists(t)).toBe(false);
  });

  it("gives the statement's own line when PostgreSQL reports no position", async () => {
    const r = await call(client, "pg_code_run_sql_script", { sql: "select 1;\n\n  select 1/0;" });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/^ERROR 22012: statement 2 of 2 failed at line 3, column 3: division by zero/);
  });

  it("refuses transaction control with a pointer to the transaction flag, before running anything", async () => {
    const t = uniqueName("txc");
    for (const stmt of ["begin", "COMMIT", "rollback", "savepoint s1", "start transaction", "end"]) {
      const r = await call(client, "pg_code_run_sql_script", { sql: `create table ${t} (id int);\n${stmt};` });
      expect(r.isError, stmt).toBe(true);
      expect(text(r), stmt).toMatch(/^ERROR transaction_control: statement 2 of 2 \(line 2, column 1\): .* is not allowed in a script/);
      expect(text(r), stmt).toContain("transaction: true");
    }
    expect(await exists(t)).toBe(false);
  });

  it("refuses COPY and psql meta-commands", async () => {
    const copy = await call(client, "pg_code_run_sql_script", { sql: "select 1; copy (select 1) to program 'true'" });
    expect(text(copy)).toMatch(/^ERROR copy_not_supported: statement 2 of 2/);
    const meta = await call(client, "pg_code_run_sql_script", { sql: "\\copy t from 'x.csv'" });
    expect(text(meta)).toMatch(/^ERROR psql_meta_command: statement 1 of 1 .*psql meta-command/);
  });

  it("readOnly: refuses writes before running, and runs reads in a READ ONLY transaction", async () => {
    const t = uniqueName("ro");
    const refused = await call(client, "pg_code_run_sql_script", { sql: `select 1; create table ${t} (id int)`, readOnly: true });
    expect(text(refused)).toMatch(/^ERROR read_only: statement 2 of 2/);
    expect(await exists(t)).toBe(false);
    // A write the lexical guard cannot see (inside a function call) is stopped by the database: the read role may not nextval.
    const sneaky = await call(client, "pg_code_run_sql_script", { sql: `select 1; select * from (values (1)) v; select nextval('orders_id_seq')`, readOnly: true, transaction: true });
    expect(text(sneaky)).toMatch(/^ERROR 42501: statement 3 of 3 failed/);
    const r = await ok<ScriptResult>(client, "pg_code_run_sql_script", { sql: "select 1 as a; select count(*) >= 0 as b from orders", readOnly: true });
    expect(r.statements.map((s) => s.rows)).toEqual([[[1]], [[true]]]);
  });

  it("refuses statements that cannot run in a transaction block when transaction: true", async () => {
    const r = await call(client, "pg_code_run_sql_script", { sql: "select 1; vacuum orders", transaction: true });
    expect(text(r)).toMatch(/^ERROR cannot_run_in_transaction: statement 2 of 2 .*VACUUM/);
  });

  it("reports an unterminated literal with its line and column", async () => {
    const r = await call(client, "pg_code_run_sql_script", { sql: "select 1;\nselect 'open" });
    expect(text(r)).toMatch(/^ERROR 42601: unterminated quoted string at line 2, column 8/);
  });
});
