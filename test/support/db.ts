/** A plain pg connection to the test database: the observer that checks what the tools really did. */
import pg from "pg";
import { afterAll, beforeAll, inject } from "vitest";

export async function observer(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: inject("databaseUrl") });
  await c.connect();
  return c;
}

/** A table name no other test uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 7)}`;
}

/**
 * The usual end-to-end fixture: an MCP client on one of the test Workers and an
 * observer connection, opened before the file's tests and closed after.
 */
export function useClientAndObserver(url: () => string = () => inject("mcpUrl")) {
  const fixture = {} as { client: import("@modelcontextprotocol/sdk/client/index.js").Client; db: pg.Client };
  beforeAll(async () => {
    const { connectClient } = await import("./mcp");
    fixture.client = await connectClient(url());
    fixture.db = await observer();
  });
  afterAll(async () => {
    await fixture.client?.close();
    await fixture.db?.end();
  });
  return fixture;
}
