/**
 * PostgreSQL with pgvector for the vector tests, the vector benchmark and
 * `npm run dev -- --vector`: PGlite (PostgreSQL compiled to WebAssembly) with
 * the pgvector extension, served over the wire protocol on a loopback port by
 * pglite-socket. The embedded PostgreSQL has no pgvector, and there is no
 * Debian package for it on these machines.
 *
 * Limits: one backend behind a multiplexer. pglite-socket queues protocol
 * messages from all connections onto that backend; while a transaction is open
 * it serves only the connection that opened it, so other clients wait. There is
 * no authentication (any user/password is accepted: the server answers the
 * startup message with AuthenticationOk), no pg_stat_statements and no
 * parallel anything. Fine for tests and trying the tools; not a server.
 */
import { PGlite } from "@electric-sql/pglite";
import { vector } from "@electric-sql/pglite-pgvector";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { MIGRATIONS_DIR, grantFutureTablesSql } from "./migrate";
import { freePort } from "./ports";

export interface RunningPglite {
  /** postgres://postgres:postgres@127.0.0.1:PORT/postgres?sslmode=disable */
  url: string;
  port: number;
  stop(): Promise<void>;
}

export interface StartPgliteOptions {
  /** Keep the database in this directory between runs (dev). @default in memory */
  dataDir?: string;
  /** @default a free port */
  port?: number;
  /** Connections served at once (all share the one backend). @default 100 */
  maxConnections?: number;
}

export async function startPgliteVector(opts: StartPgliteOptions = {}): Promise<RunningPglite> {
  if (opts.dataDir) mkdirSync(opts.dataDir, { recursive: true });
  const db = await PGlite.create({ ...(opts.dataDir ? { dataDir: opts.dataDir } : {}), extensions: { vector }, relaxedDurability: true });
  await db.exec("CREATE EXTENSION IF NOT EXISTS vector");
  // PGlite has no logins (every connection is its one superuser session), but it has roles: reads
  // switch to the read role as on a real server, and the posture check reports the superuser.
  await db.exec(readFileSync(join(MIGRATIONS_DIR, "roles.sql"), "utf8"));
  await db.exec(grantFutureTablesSql("postgres"));
  const port = opts.port ?? (await freePort());
  const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port, maxConnections: opts.maxConnections ?? 100 });
  try {
    await server.start();
  } catch (e) {
    await db.close().catch(() => {});
    throw e;
  }
  let stopped = false;
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres?sslmode=disable`,
    port,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop().catch(() => {});
      await db.close().catch(() => {});
    },
  };
}
