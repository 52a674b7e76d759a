/**
 * The one interface every tool uses to reach PostgreSQL, with two drivers
 * behind it: `pg` over Hyperdrive (default) and the Neon serverless driver.
 *
 * A session is one connection for one request. In the stateless Worker a
 * connection is never shared across requests (a shared pg.Client hangs the
 * next request), so `openSession` is called per tool call; Hyperdrive pools
 * the real connections behind it.
 */
import pg from "pg";
import Cursor from "pg-cursor";
import { Client as NeonClient } from "@neondatabase/serverless";
import type { Config } from "../config";
import { learnTypeName, typeName, tsvRow, wireTypes } from "./values";

export interface Column {
  name: string;
  type: string;
}

/** Rows of a user statement, capped. */
export interface RowSet {
  command: string;
  columns: Column[];
  rows: unknown[][];
  /** Rows affected (INSERT/UPDATE/DELETE/...) or returned; null when the cap stopped reading before PostgreSQL said. */
  rowCount: number | null;
  truncated: boolean;
  /** Offset to pass to read the next page when truncated. */
  nextOffset?: number;
}

export interface RunLimits {
  maxRows: number;
  maxBytes: number;
  /** Rows to skip first (pagination). */
  offset?: number;
}

interface PgLikeClient {
  connect(): Promise<unknown>;
  query(text: string | object, values?: unknown[]): Promise<pg.QueryResult>;
  end(): Promise<void>;
  on(event: "error", cb: (e: Error) => void): unknown;
}

export interface DbSession {
  /** Internal, bounded queries (catalog lookups, control statements): all rows as objects. */
  query<R extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: R[]; rowCount: number | null; command: string }>;
  /** A caller's statement: extended protocol (exactly one statement), rows capped by count and bytes. */
  run(sql: string, params: unknown[], limits: RunLimits): Promise<RowSet>;
  /** Releases the connection. Safe to call twice. */
  close(): Promise<void>;
}

export class ConnectionError extends Error {
  override readonly name = "ConnectionError";
}

function createClient(config: Config, env: Env): PgLikeClient {
  if (config.driver === "neon") {
    const client = new NeonClient({ connectionString: config.databaseUrl });
    if (config.neonWsProxy) {
      // Local testing: plain ws to a ws-to-TCP proxy. Pipelining must be off, or SCRAM fails.
      client.neonConfig.wsProxy = config.neonWsProxy;
      client.neonConfig.useSecureWebSocket = false;
      client.neonConfig.pipelineTLS = false;
      client.neonConfig.pipelineConnect = false;
    }
    return client as unknown as PgLikeClient;
  }
  return new pg.Client({ connectionString: env.HYPERDRIVE.connectionString }) as unknown as PgLikeClient;
}

/** Opens a connection. Throws ConnectionError with the driver's reason when the database cannot be reached. */
export async function openSession(config: Config, env: Env): Promise<DbSession> {
  const client = createClient(config, env);
  let broken: Error | undefined;
  // An 'error' event with no listener would crash the isolate (e.g. the server closing the socket).
  client.on("error", (e) => {
    broken = e;
  });
  try {
    await client.connect();
  } catch (e) {
    throw new ConnectionError(`cannot connect to the database (${config.driver}): ${(e as Error).message}`);
  }
  let closed = false;
  const ensureOpen = () => {
    if (broken) throw new ConnectionError(`the database connection was lost: ${broken.message}`);
  };
  return {
    async query(sql, params) {
      ensureOpen();
      const r = await client.query(sql, params);
      return { rows: r.rows, rowCount: r.rowCount, command: r.command };
    },
    async run(sql, params, limits) {
      ensureOpen();
      return runCapped(client, sql, params, limits);
    },
    async close() {
      if (closed) return;
      closed = true;
      // end() may reject with "Stream was cancelled." in workerd; the socket is gone either way.
      await client.end().catch(() => {});
    },
  };
}

type CursorResult = { fields: { name: string; dataTypeID: number }[]; command: string | null; rowCount: number | null };

function readCursor(cursor: Cursor, n: number): Promise<{ rows: unknown[][]; result: CursorResult }> {
  return new Promise((resolve, reject) => {
    cursor.read(n, (err, rows, result) => (err ? reject(err) : resolve({ rows: rows as unknown as unknown[][], result: result as unknown as CursorResult })));
  });
}

async function runCapped(client: PgLikeClient, sql: string, params: unknown[], limits: RunLimits): Promise<RowSet> {
  const cursor = client.query(new Cursor(sql, params, { rowMode: "array", types: wireTypes }) as unknown as string) as unknown as Cursor;
  const rows: unknown[][] = [];
  let bytes = 0;
  let done = false;
  let truncated = false;
  let result: CursorResult | undefined;
  try {
    // Skip the offset in batches, keeping nothing.
    let toSkip = limits.offset ?? 0;
    while (toSkip > 0) {
      const n = Math.min(toSkip, 1000);
      const batch = await readCursor(cursor, n);
      result = batch.result;
      toSkip -= batch.rows.length;
      if (batch.rows.length < n) {
        done = true;
        break;
      }
    }
    // Read in batches sized by what is left of the byte budget, so one huge row cannot drag in a million.
    let batchSize = Math.min(limits.maxRows + 1, 100);
    while (!done) {
      const batch = await readCursor(cursor, batchSize);
      result = batch.result;
      if (batch.rows.length < batchSize) done = true;
      for (const row of batch.rows) {
        if (rows.length >= limits.maxRows) {
          truncated = true;
          break;
        }
        const size = tsvRow(row).length + 1;
        if (bytes + size > limits.maxBytes && rows.length > 0) {
          truncated = true;
          break;
        }
        bytes += size;
        rows.push(row);
      }
      if (truncated) break;
      const avg = bytes / Math.max(1, rows.length);
      const left = Math.min(limits.maxRows - rows.length, Math.floor((limits.maxBytes - bytes) / Math.max(1, avg)));
      batchSize = Math.max(10, Math.min(left + 1, 5000));
    }
  } finally {
    await new Promise<void>((resolve) => cursor.close(() => resolve()));
  }
  const fields = result?.fields ?? [];
  const columns = await describeColumns(client, fields);
  const offset = limits.offset ?? 0;
  return {
    command: result?.command ?? (fields.length ? "SELECT" : ""),
    columns,
    rows,
    rowCount: truncated ? null : (result?.rowCount ?? rows.length),
    truncated,
    ...(truncated ? { nextOffset: offset + rows.length } : {}),
  };
}

/** Column names and type names; unknown type OIDs are looked up once per isolate. */
async function describeColumns(client: PgLikeClient, fields: { name: string; dataTypeID: number }[]): Promise<Column[]> {
  const unknown = [...new Set(fields.map((f) => f.dataTypeID).filter((oid) => typeName(oid) === undefined))];
  if (unknown.length > 0) {
    const r = await client.query("select oid::int as oid, format_type(oid, null) as name from pg_type where oid = any($1::oid[])", [unknown]);
    for (const row of r.rows as { oid: number; name: string }[]) learnTypeName(row.oid, row.name);
  }
  return fields.map((f) => ({ name: f.name, type: typeName(f.dataTypeID) ?? String(f.dataTypeID) }));
}
