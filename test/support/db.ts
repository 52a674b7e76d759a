/** A plain pg connection to the test database: the observer that checks what the tools really did. */
import pg from "pg";
import { inject } from "vitest";

export async function observer(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: inject("databaseUrl") });
  await c.connect();
  return c;
}

/** A table name no other test uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 7)}`;
}
