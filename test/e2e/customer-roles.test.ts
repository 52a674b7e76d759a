/**
 * Caller roles from customer configuration (`npm run customer -- <name>
 * --apply-roles`): the dry run reports what would change and changes nothing,
 * applying creates the role with its grants and row filter, applying again
 * changes nothing, and the role then sees only its rows. Judged from the
 * superuser observer against the real PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import pg from "pg";
import { observer, uniqueName } from "../support/db";
import { CustomerSchema, type Customer } from "../../scripts/customers/schema";
import { applyCustomerRoles } from "../../scripts/customers/roles-sql";

let db: pg.Client;
const table = uniqueName("cust_notes");
const role = uniqueName("cust_role");
let customer: Customer;

beforeAll(async () => {
  db = await observer();
  await db.query(`create table public.${table} (id int primary key, tenant text not null, body text, secret text)`);
  await db.query(`insert into public.${table} values (1, '${role}', 'mine', 's1'), (2, 'someone_else', 'theirs', 's2')`);
  customer = CustomerSchema.parse({
    name: "test",
    database: { driver: "neon" },
    roles: [{ name: role, schemas: ["public"], tables: [{ table: `public.${table}`, privileges: ["SELECT"], columns: ["id", "tenant", "body"], rowFilter: "tenant = current_user" }] }],
  });
});
afterAll(async () => {
  await db.query(`drop table if exists public.${table}`).catch(() => {});
  await db.query(`drop owned by ${role}`).catch(() => {});
  await db.query(`drop role if exists ${role}`).catch(() => {});
  await db.end();
});

const roleExists = async () => (await db.query("select count(*)::int as n from pg_roles where rolname = $1", [role])).rows[0].n === 1;

describe("caller roles from customer configuration", () => {
  it("the dry run lists what would change and changes nothing", async () => {
    const out = await applyCustomerRoles(inject("databaseUrl"), customer, { dryRun: true });
    expect(out.applied).toBe(false);
    expect(out.changes.some((l) => l.startsWith(`+ role ${role}:LOGIN`))).toBe(true);
    expect(out.changes.some((l) => l.startsWith(`+ policy pgmcp_${role} on ${table}`))).toBe(true);
    expect(await roleExists()).toBe(false);
    expect((await db.query("select count(*)::int as n from pg_policy where polname = $1", [`pgmcp_${role}`])).rows[0].n).toBe(0);
  });

  it("applies the role, its column grants and its row filter; applying again changes nothing", async () => {
    const first = await applyCustomerRoles(inject("databaseUrl"), customer, { dryRun: false });
    expect(first.changes.length).toBeGreaterThan(0);
    expect(await roleExists()).toBe(true);
    const again = await applyCustomerRoles(inject("databaseUrl"), customer, { dryRun: false });
    expect(again.changes).toEqual([]);
    const dry = await applyCustomerRoles(inject("databaseUrl"), customer, { dryRun: true });
    expect(dry.changes).toEqual([]);
  });

  it("the role logs in and sees only its rows and granted columns", async () => {
    await db.query(`alter role ${role} password 'pw'`);
    const url = new URL(inject("databaseUrl"));
    url.username = role;
    url.password = "pw";
    const c = new pg.Client({ connectionString: url.toString() });
    await c.connect();
    try {
      expect((await c.query(`select id, body from public.${table} order by id`)).rows).toEqual([{ id: 1, body: "mine" }]);
      await expect(c.query(`select secret from public.${table}`)).rejects.toThrow(/permission denied/);
      await expect(c.query(`insert into public.${table} values (3, '${role}', 'x', 'y')`)).rejects.toThrow(/permission denied/);
    } finally {
      await c.end();
    }
  });
});
