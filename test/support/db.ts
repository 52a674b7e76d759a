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
 * A database of its own in the suite's cluster, for a test that changes what
 * the other files share (the idempotency store's schema, say). The server's
 * role may connect and create in it. `url(base)` is `base` (the superuser's
 * or the server's URL) pointed at it; `drop()` removes it, sessions and all.
 */
export async function scratchDatabase(prefix: string): Promise<{ name: string; serverRole: string; url(base: string): string; drop(): Promise<void> }> {
  const name = uniqueName(prefix);
  const serverRole = decodeURIComponent(new URL(inject("serverDatabaseUrl")).username);
  const admin = await observer();
  try {
    await admin.query(`create database ${name}`);
    await admin.query(`grant connect, create on database ${name} to ${serverRole}`);
  } finally {
    await admin.end();
  }
  return {
    name,
    serverRole,
    url(base) {
      const u = new URL(base);
      u.pathname = `/${name}`;
      return u.toString();
    },
    async drop() {
      const a = await observer();
      try {
        await a.query(`drop database if exists ${name} with (force)`);
      } finally {
        await a.end();
      }
    },
  };
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
