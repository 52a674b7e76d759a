/** The schema tools through the Worker: what they report matches pg_catalog, and what they change, pg_catalog shows. */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import type pg from "pg";
import { call, connectClient, ok, text } from "../support/mcp";
import { observer, uniqueName } from "../support/db";

let client: Client;
let db: pg.Client;
const cleanup: string[] = [];
beforeAll(async () => {
  client = await connectClient(inject("mcpUrl"));
  db = await observer();
});
afterAll(async () => {
  for (const sql of cleanup.reverse()) await db?.query(sql).catch(() => {});
  await client?.close();
  await db?.end();
});

interface Ddl {
  statements: string[];
  executed: boolean;
  dependents?: { object: string; dependency: string }[];
}
interface Described {
  kind: string;
  name: string;
  detail: Record<string, unknown> & { columns?: { name: string; type: string; notNull: boolean; default: string | null; comment: string | null }[] };
}

const exists = async (name: string) => (await db.query("select to_regclass($1) is not null as ok", [name])).rows[0].ok as boolean;
const columnsOf = async (table: string) =>
  (await db.query("select attname from pg_attribute where attrelid = $1::regclass and attnum > 0 and not attisdropped order by attnum", [table])).rows.map((r) => r.attname);

describe("pg_schema_list", () => {
  it("lists the demo tables and view with row estimates, hiding system schemas", async () => {
    const r = await ok<{ rows: { schema: string; name: string; kind: string; rows: number | null }[] }>(client, "pg_schema_list", { schema: "public", limit: 1000 });
    const byName = new Map(r.rows.map((x) => [x.name, x]));
    expect(byName.get("customers")?.kind).toBe("table");
    expect(byName.get("order_totals")?.kind).toBe("view");
    expect(byName.get("customers_id_seq")?.kind).toBe("sequence");
    const all = await ok<{ rows: { schema: string }[] }>(client, "pg_schema_list", { limit: 1000 });
    expect(all.rows.some((x) => x.schema === "pg_catalog" || x.schema === "information_schema")).toBe(false);
  });

  it("filters by kind and name pattern and pages with limit/offset", async () => {
    const views = await ok<{ rows: { kind: string }[] }>(client, "pg_schema_list", { schema: "public", kind: "view" });
    expect(views.rows.length).toBeGreaterThan(0);
    expect(views.rows.every((x) => x.kind === "view")).toBe(true);
    const orders = await ok<{ rows: { name: string }[] }>(client, "pg_schema_list", { schema: "public", kind: "table", name: "order%" });
    expect(orders.rows.map((x) => x.name)).toEqual(expect.arrayContaining(["orders", "order_items"]));
    expect(orders.rows.every((x) => x.name.startsWith("order"))).toBe(true);

    const first = await ok<{ rows: { name: string }[]; nextOffset?: number }>(client, "pg_schema_list", { schema: "public", kind: "table", limit: 2 });
    expect(first.rows).toHaveLength(2);
    expect(first.nextOffset).toBe(2);
    const second = await ok<{ rows: { name: string }[] }>(client, "pg_schema_list", { schema: "public", kind: "table", limit: 2, offset: 2 });
    expect(second.rows[0]!.name).not.toBe(first.rows[0]!.name);
    const r = await call(client, "pg_schema_list", { schema: "public", kind: "table", limit: 2 });
    expect(text(r).split("\n")[0]).toBe("schema\tname\tkind\trows\tbytes\tcomment");
    expect(text(r)).toContain("[more rows: offset=2]");
  });
});

describe("pg_schema_describe", () => {
  it("describes orders: columns, both directions of foreign keys, indexes", async () => {
    const d = await ok<Described>(client, "pg_schema_describe", { name: "orders" });
    expect(d.kind).toBe("table");
    expect(d.name).toBe("public.orders");
    expect(d.detail.columns!.map((c) => c.name)).toEqual(["id", "customer_id", "status", "placed_at", "note"]);
    expect(d.detail.columns!.find((c) => c.name === "status")).toMatchObject({ type: "order_status", notNull: true, default: "'pending'::order_status" });
    const fks = d.detail.foreign_keys as { def: string; table: string }[];
    expect(fks.map((f) => f.def)).toEqual(["FOREIGN KEY (customer_id) REFERENCES customers(id)"]);
    const incoming = (d.detail.referenced_by as { table: string }[]).map((f) => f.table).sort();
    expect(incoming).toEqual(["invoices", "order_items"]);
    const indexes = (d.detail.indexes as { name: string; primary: boolean }[]).map((i) => i.name).sort();
    expect(indexes).toEqual(["orders_customer_id_idx", "orders_pkey", "orders_placed_at_idx"]);
    const t = text(await call(client, "pg_schema_describe", { name: "orders" }));
    expect(t).toMatch(/^table public\.orders/);
    expect(t).toContain("fk: orders_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers(id)");
    expect(t).toContain("referenced by: order_items.order_items_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders(id) ON DELETE CASCADE");
  });

  it("shows a view's definition, a function's signature and language, and a schema", async () => {
    const v = await ok<Described>(client, "pg_schema_describe", { name: "public.order_totals" });
    expect(v.kind).toBe("view");
    expect(String(v.detail.definition)).toMatch(/sum\(i\.quantity::numeric \* i\.unit_price\)|sum\(/);
    const fn = uniqueName("fn");
    await db.query(`create function ${fn}(a int, b text default 'x') returns int language sql immutable as 'select a'`);
    cleanup.push(`drop function if exists ${fn}`);
    const f = await ok<Described>(client, "pg_schema_describe", { name: fn });
    expect(f.kind).toBe("function");
    expect((f.detail.overloads as { args: string; language: string; result: string }[])[0]).toMatchObject({ args: "a integer, b text", language: "sql", result: "integer" });
    const s = await ok<Described>(client, "pg_schema_describe", { name: "public" });
    expect(s.kind).toBe("schema");
  });

  it("reports an unknown object as a tool error", async () => {
    const r = await call(client, "pg_schema_describe", { name: "no_such_thing_here" });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/^ERROR not_found/);
  });
});

describe("create, alter, drop", () => {
  it("creates a table, changes it, and pg_catalog agrees at every step", async () => {
    const t = uniqueName("sch");
    cleanup.push(`drop table if exists ${t} cascade`);
    const created = await ok<Ddl>(client, "pg_schema_create", {
      kind: "table",
      name: t,
      columns: [
        { name: "id", type: "bigserial" },
        { name: "email", type: "text", notNull: true, unique: true },
        { name: "price", type: "numeric(10,2)", default: "0", check: "price >= 0" },
        { name: "customer_id", type: "bigint", references: "customers(id)", onDelete: "cascade" },
        { name: "tags", type: "text[]", default: "'{}'" },
      ],
      primaryKey: ["id"],
      comment: "made by the schema test",
    });
    expect(created.executed).toBe(true);
    expect(await columnsOf(t)).toEqual(["id", "email", "price", "customer_id", "tags"]);
    const { rows: fk } = await db.query("select pg_get_constraintdef(oid) as def from pg_constraint where conrelid = $1::regclass and contype = 'f'", [t]);
    expect(fk[0].def).toBe("FOREIGN KEY (customer_id) REFERENCES customers(id) ON DELETE CASCADE");
    expect((await db.query("select obj_description($1::regclass, 'pg_class') as c", [t])).rows[0].c).toBe("made by the schema test");

    let d = await ok<Described>(client, "pg_schema_describe", { name: t });
    expect(d.detail.columns!.find((c) => c.name === "price")).toMatchObject({ type: "numeric(10,2)", default: "0" });
    expect((d.detail.constraints as { def: string }[]).map((c) => c.def)).toEqual(["CHECK (price >= 0::numeric)", "PRIMARY KEY (id)", "UNIQUE (email)"]);

    // add a column (create kind=column), drop one, rename one, change a type and a default, comment a column
    await ok(client, "pg_schema_create", { kind: "column", on: t, columns: [{ name: "note", type: "varchar(200)" }] });
    const altered = await ok<Ddl>(client, "pg_schema_alter", {
      name: t,
      dropColumns: ["tags"],
      renameColumns: { email: "contact" },
      alterColumns: [
        { name: "note", type: "text" },
        { name: "price", default: "1.5", comment: "in EUR" },
      ],
    });
    expect(altered.statements).toHaveLength(3);
    expect(await columnsOf(t)).toEqual(["id", "contact", "price", "customer_id", "note"]);
    const { rows: cols } = await db.query("select attname, format_type(atttypid, atttypmod) as type, col_description(attrelid, attnum) as comment, pg_get_expr(d.adbin, d.adrelid) as def from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum where attrelid = $1::regclass and attname in ('note', 'price') order by attname", [t]);
    expect(cols).toEqual([
      { attname: "note", type: "text", comment: null, def: null },
      { attname: "price", type: "numeric(10,2)", comment: "in EUR", def: "1.5" },
    ]);

    // an index, concurrently (outside a transaction block)
    await ok(client, "pg_schema_create", { kind: "index", name: `${t}_note_idx`, on: t, keys: ["note"], concurrently: true, where: "note is not null" });
    const { rows: idx } = await db.query("select indexdef from pg_indexes where indexname = $1", [`${t}_note_idx`]);
    expect(idx[0].indexdef).toContain(`USING btree (note) WHERE (note IS NOT NULL)`);
    await ok(client, "pg_schema_create", { kind: "constraint", on: t, name: `${t}_note_len`, check: "length(note) < 100" });
    d = await ok<Described>(client, "pg_schema_describe", { name: t });
    expect(d.detail.columns!.map((c) => c.name)).toEqual(["id", "contact", "price", "customer_id", "note"]);
    expect((d.detail.indexes as { name: string }[]).map((i) => i.name)).toContain(`${t}_note_idx`);
    expect((d.detail.constraints as { name: string }[]).map((c) => c.name)).toContain(`${t}_note_len`);

    // rename the table
    const renamed = `${t}_r`;
    cleanup.push(`drop table if exists ${renamed} cascade`);
    await ok(client, "pg_schema_alter", { name: t, renameTo: renamed });
    expect(await exists(t)).toBe(false);
    expect(await exists(renamed)).toBe(true);

    // drop with a dependent view: dry run lists it and changes nothing; without cascade the drop fails; with cascade both go
    const v = `${t}_v`;
    await ok(client, "pg_schema_create", { kind: "view", name: v, query: `select id, contact from ${renamed} where price > 1` });
    const dry = await ok<Ddl>(client, "pg_schema_drop", { kind: "table", name: renamed, cascade: true, dryRun: true });
    expect(dry.executed).toBe(false);
    expect(dry.dependents).toEqual(expect.arrayContaining([{ object: `view ${v}`, dependency: "normal", depth: 1 }]));
    expect(await exists(renamed)).toBe(true);
    const refused = await call(client, "pg_schema_drop", { kind: "table", name: renamed });
    expect(refused.isError).toBe(true);
    expect(text(refused)).toMatch(/ERROR 2BP01/);
    await ok(client, "pg_schema_drop", { kind: "table", name: renamed, cascade: true });
    expect(await exists(renamed)).toBe(false);
    expect(await exists(v)).toBe(false);
    // IF EXISTS makes a second drop a no-op
    await ok(client, "pg_schema_drop", { kind: "table", name: renamed, ifExists: true });
  });

  it("creates and drops a schema, and drops an index concurrently", async () => {
    const s = uniqueName("s");
    cleanup.push(`drop schema if exists ${s} cascade`);
    await ok(client, "pg_schema_create", { kind: "schema", name: s });
    await ok(client, "pg_schema_create", { kind: "table", name: `${s}.t`, columns: [{ name: "id", type: "int" }] });
    await ok(client, "pg_schema_create", { kind: "index", name: "t_id", on: `${s}.t`, keys: ["id"] });
    const dry = await ok<Ddl>(client, "pg_schema_drop", { kind: "schema", name: s, dryRun: true });
    expect(dry.dependents!.map((x) => x.object)).toEqual(expect.arrayContaining([`table ${s}.t`]));
    await ok(client, "pg_schema_drop", { kind: "index", name: `${s}.t_id`, concurrently: true });
    expect(await exists(`${s}.t_id`)).toBe(false);
    const r = await call(client, "pg_schema_drop", { kind: "index", name: `${s}.t` });
    expect(text(r)).toMatch(/^ERROR 42809: "t" is not an index\nHINT: Use DROP TABLE to remove a table\./);
    await ok(client, "pg_schema_drop", { kind: "schema", name: s, cascade: true });
    expect((await db.query("select count(*)::int as n from pg_namespace where nspname = $1", [s])).rows[0].n).toBe(0);
  });

  it("dry runs return the SQL and run nothing", async () => {
    const t = uniqueName("dry");
    const r = await ok<Ddl>(client, "pg_schema_create", { kind: "table", name: t, columns: [{ name: "id", type: "int" }], dryRun: true });
    expect(r).toEqual({ statements: [`CREATE TABLE "${t}" ("id" int)`], executed: false });
    expect(await exists(t)).toBe(false);
  });
});

describe("injection", () => {
  const evilNames = [`x"; drop table customers; --`, `customers" cascade; --`, `a'b`, `x" (id int); drop table customers; --`];

  for (const name of evilNames) {
    it(`quotes the name ${JSON.stringify(name)} as one identifier, customers survives`, async () => {
      const quoted = `"${name.replaceAll('"', '""')}"`;
      const r = await call(client, "pg_schema_create", { kind: "table", name: quoted, columns: [{ name: quoted, type: "int" }] });
      expect(r.isError, text(r)).toBeFalsy();
      {
        const { rows } = await db.query("select relname from pg_class where relname = $1", [name]);
        expect(rows).toHaveLength(1);
        const col = await db.query("select attname from pg_attribute where attrelid = (select oid from pg_class where relname = $1) and attnum > 0", [name]);
        expect(col.rows.map((x) => x.attname)).toEqual([name]);
        await ok(client, "pg_schema_drop", { kind: "table", name: quoted });
      }
      expect(await exists("customers")).toBe(true);
    });
  }

  it("refuses unquoted names that are not one clean identifier", async () => {
    for (const name of [`x"; drop table customers; --`, "a.b.c", ""]) {
      const r = await call(client, "pg_schema_create", { kind: "table", name, columns: [{ name: "id", type: "int" }] });
      expect(r.isError).toBe(true);
      expect(text(r)).toMatch(/^ERROR (invalid_arguments|invalid_name): /);
    }
    expect(await exists("customers")).toBe(true);
  });

  const evilTypes = ["int; drop table customers", "int) ; drop table customers; --", "text default 'x'", "int primary key", "int references customers", "text collate \"C\"", "int -- comment", "nosuchtype"];
  for (const type of evilTypes) {
    it(`refuses the type ${JSON.stringify(type)}`, async () => {
      const t = uniqueName("ty");
      const attempt = client.callTool({ name: "pg_schema_create", arguments: { kind: "table", name: t, columns: [{ name: "c", type }] } });
      const outcome = await attempt.then(
        (r) => r as { isError?: boolean },
        (e) => (e instanceof McpError ? { isError: true } : Promise.reject(e)),
      );
      expect(outcome.isError).toBe(true);
      expect(await exists(t)).toBe(false);
      expect(await exists("customers")).toBe(true);
    });
  }

  /** Each with the reason the expression check must give (not just any error: PostgreSQL's own would mean the check let it through). */
  const evilExpressions: [string, string][] = [
    ["0; drop table customers", "a semicolon is not allowed"],
    ["0) , evil int, check (true", "unbalanced parentheses"],
    ["0 -- ", "comments are not allowed"],
    ["0 /* x */", "comments are not allowed"],
    ["'x'::text); drop table customers; --", "unbalanced parentheses"],
    ["pg_terminate_backend(1)", "pg_terminate_backend() is not allowed in a read-only query: it cancels or ends another session"],
    ["set_config('search_path', 'x', false)", "set_config() is not allowed in a read-only query: it changes settings"],
    ["(select 1", "unbalanced parentheses"],
    ["$1", "$n parameters are not allowed in DDL"],
  ];
  for (const [expr, reason] of evilExpressions) {
    it(`refuses the default ${JSON.stringify(expr)}`, async () => {
      const t = uniqueName("ex");
      const r = await call(client, "pg_schema_create", { kind: "table", name: t, columns: [{ name: "c", type: "text", default: expr }] });
      expect(r.isError).toBe(true);
      expect(text(r).startsWith(`ERROR invalid_expression: default of c: ${reason}`), text(r)).toBe(true);
      expect(await exists(t)).toBe(false);
      expect(await exists("customers")).toBe(true);
    });
  }

  it("refuses a view query that writes or is two statements", async () => {
    for (const query of ["select 1; drop table customers", "delete from customers returning *", "with x as (delete from customers returning 1) select * from x"]) {
      const r = await call(client, "pg_schema_create", { kind: "view", name: uniqueName("v"), query });
      expect(r.isError, query).toBe(true);
    }
    expect((await db.query("select count(*)::int as n from customers")).rows[0].n).toBeGreaterThan(0);
  });

  it("keeps a legitimate expression with quotes, parentheses and casts intact", async () => {
    const t = uniqueName("ok");
    cleanup.push(`drop table if exists ${t}`);
    await ok(client, "pg_schema_create", {
      kind: "table",
      name: t,
      columns: [
        { name: "a", type: "text", default: "'it''s; -- not a comment'" },
        { name: "b", type: "timestamptz", default: "now()" },
        { name: "c", type: "int", check: "(c > 0) and (c < 10)" },
      ],
    });
    await db.query(`insert into ${t} (c) values (5)`);
    expect((await db.query(`select a from ${t}`)).rows[0].a).toBe("it's; -- not a comment");
  });
});
