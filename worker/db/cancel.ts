/**
 * Cancels a tools/call's running statement from another connection.
 *
 * A call's statements add its name (db/tags.ts callName) to their session's
 * application_name, with SET LOCAL inside their own transaction, so the name
 * is on the backend exactly while that transaction lasts and is gone before
 * the backend can go back to a pool. The canceller finds the backend by the
 * caller's and the call's tags (runningPattern) and signals it in one
 * statement:
 *
 * - Only a backend in state `active` under that name is signalled: one that
 *   is running this call's statement at the moment pg_stat_activity is read.
 * - Behind a transaction pooler (Hyperdrive, PgBouncer) the backend serves
 *   other clients between transactions. For a late signal to reach another
 *   caller's statement, in the microseconds between the read and the signal
 *   the backend would have to finish our statement, commit, tell the pooler,
 *   and start a statement the pooler forwarded from another client: several
 *   network hops against one function call. A signal that arrives while the
 *   backend waits for its next command is discarded by PostgreSQL, not kept
 *   for the next statement.
 * - pg_cancel_backend, not the protocol's CancelRequest: the cancel may be
 *   asked for in another isolate, which has no BackendKeyData, and a pooler
 *   hands out its own keys (Hyperdrive documents nothing about forwarding
 *   them). Our sessions all log in as the server's role, which PostgreSQL
 *   lets signal its own backends without pg_signal_backend.
 */
import type { Config } from "../config";
import { bounded, openSession } from "./session";

const CANCEL = `select pid, pg_cancel_backend(pid) as cancelled from pg_stat_activity
where application_name like $1 and state = 'active' and usename = session_user and pid <> pg_backend_pid()`;

/**
 * Cancel look-ups in flight in this isolate at most. Each opens a connection,
 * and a notification costs its sender nothing: a client sending many (one
 * that cancels every request it gives up on, or that sends a stale cancel for
 * each request it made) had the server open one connection each, two when
 * the statement was not found, and filled the database's connection slots.
 * Past the bound a cancel finds nothing: the statement it names runs on to its
 * end or its statement_timeout, as it would have without a cancel.
 */
export const MAX_CANCEL_LOOKUPS = 4;
let inFlight = 0;

/** Signals the backends running a statement of the call `pattern` names (db/tags.ts runningPattern); returns their pids. */
export async function cancelRunning(config: Config, env: Env, pattern: string): Promise<number[]> {
  if (inFlight >= MAX_CANCEL_LOOKUPS) return [];
  inFlight++;
  try {
    // Bounded, so that a look-up stuck on a dead connection does not hold its place for ever.
    return await bounded(lookup(config, env, pattern), LOOKUP_TIMEOUT_MS, []);
  } finally {
    inFlight--;
  }
}

/** Connecting (bounded on its own), one statement, closing. */
const LOOKUP_TIMEOUT_MS = 15_000;

async function lookup(config: Config, env: Env, pattern: string): Promise<number[]> {
  const db = await openSession(config, env, { applicationName: "pg-mcp cancel" });
  try {
    const r = await db.query<{ pid: number; cancelled: boolean }>(CANCEL, [pattern]);
    return r.rows.filter((row) => row.cancelled).map((row) => row.pid);
  } finally {
    await db.close();
  }
}
