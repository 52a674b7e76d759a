import { describe, expect, it } from "vitest";
import { destructiveStatements } from "../../worker/sql/destructive";

const whats = (sql: string) => destructiveStatements(sql).map((d) => d.what);

describe("destructiveStatements asks for what loses data at once", () => {
  const asks: [string, string][] = [
    ["drop table orders", "DROP TABLE"],
    ["DROP TABLE IF EXISTS a, b CASCADE", "DROP TABLE"],
    ["drop materialized view mv", "DROP MATERIALIZED VIEW"],
    ["drop schema s cascade", "DROP SCHEMA"],
    ["drop index concurrently i", "DROP INDEX"],
    ["truncate orders", "TRUNCATE"],
    ["TRUNCATE TABLE a, b RESTART IDENTITY", "TRUNCATE"],
    ["delete from orders", "DELETE without WHERE"],
    ["delete from orders returning *", "DELETE without WHERE"],
    ["delete from orders where true", "DELETE without WHERE"],
    ["delete from orders where 1 = 1", "DELETE without WHERE"],
    ["delete from orders where not false or null is null", "DELETE without WHERE"],
    ["delete from orders where $1", "DELETE without WHERE"],
    ["delete from orders using customers c", "DELETE without WHERE"],
    ["delete from orders o using (select id from customers where id = 1) c", "DELETE without WHERE"],
    ["update orders set status = 'x'", "UPDATE without WHERE"],
    ["update orders as o set status = (select s from t where t.id = 1)", "UPDATE without WHERE"],
    ["update only orders set status = 'x' from customers", "UPDATE without WHERE"],
    ["with d as (delete from orders returning *) select count(*) from d", "DELETE without WHERE"],
    ["with d as materialized (update orders set n = 0 returning id) select 1", "UPDATE without WHERE"],
    ["with x as (select 1) delete from orders", "DELETE without WHERE"],
    ["explain analyze delete from orders", "DELETE without WHERE"],
    ["explain (analyze, buffers) update orders set n = 1", "UPDATE without WHERE"],
    ["alter table orders drop column note", "ALTER TABLE ... DROP COLUMN"],
    ["alter table orders drop note", "ALTER TABLE ... DROP COLUMN"],
    ["alter table orders add column x int, drop if exists y", "ALTER TABLE ... DROP COLUMN"],
    ["do $$ begin drop table orders; end $$", "DO block with DROP TABLE"],
    ["do $$ begin if true then delete from orders; end if; end $$", "DO block with DELETE without WHERE"],
    ["do $$ begin execute 'truncate orders'; end $$", "DO block with TRUNCATE"],
    ["do $$ begin execute 'drop table ' || 'orders'; end $$", "DO block with EXECUTE of SQL computed at run time"],
    ["do $$ declare t text := 'orders'; begin execute format('drop table %I', t); end $$", "DO block with EXECUTE of SQL computed at run time"],
    ["do language plpgsql 'begin delete from orders; end'", "DO block with DELETE without WHERE"],
  ];
  for (const [sql, what] of asks) it(sql, () => expect(whats(sql)).toContain(what));

  it("a script: every statement is classified, and each destructive one is named", () => {
    const found = destructiveStatements("select 1; delete from a where id = 1;\ndrop table b; truncate c");
    expect(found.map((d) => d.what)).toEqual(["DROP TABLE", "TRUNCATE"]);
    expect(found[0]!.statement).toBe("drop table b");
  });
});

describe("destructiveStatements leaves alone what does not", () => {
  const quiet = [
    "select * from orders",
    "delete from orders where id = 1",
    "delete from orders where id = $1",
    'delete from orders where "id" > 0',
    "delete from orders where current of c",
    "delete from orders where status = 'x' returning *",
    "update orders set n = 1 where id = 1",
    "update orders o set n = c.n from customers c where c.id = o.customer_id",
    "insert into orders values (1) on conflict (id) do update set n = excluded.n",
    "select * from orders for update",
    "select * from orders for no key update",
    "create table t (id int references u (id) on delete cascade on update cascade)",
    "create trigger tr before update or delete on orders for each row execute function f()",
    "grant select, update, delete on orders to someone",
    "create policy p on orders for delete using (true)",
    "alter table orders drop constraint orders_pkey",
    "alter table orders alter column n drop default",
    "alter table orders alter column n drop not null",
    "alter table orders alter column n drop identity if exists",
    "create function f() returns void language sql as 'delete from orders'",
    "select 'drop table orders'",
    "-- drop table orders\nselect 1",
    "with d as (delete from orders where id = 1 returning *) select * from d",
    "merge into orders o using src s on o.id = s.id when matched then delete",
    "do $$ begin delete from orders where id = 1; end $$",
    "do $$ begin execute 'select 1'; end $$",
    "explain delete from orders where id = 1",
  ];
  for (const sql of quiet) it(sql, () => expect(whats(sql)).toEqual([]));

  it("unparseable SQL has nothing to confirm (PostgreSQL refuses it)", () => {
    expect(whats("drop table 'unterminated")).toEqual([]);
  });
});
