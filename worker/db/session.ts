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
import { Client as NeonClient } from "@neondatabase/serverless";
import type { Config } from "../config";
import { Pipeline, toRowSet, type PipelineError } from "./pipeline";
import { learnTypeName, typeName } from "./values";
import { enforceCallerRole, enforcePosture, learnPosture, POSTURE_ROLES, UnsafeRoleError } from "./posture";
import { learnCallerRole, roleDatabaseUrlSecret, roleHyperdriveBinding, type DbIdentity } from "./identity";
import type { StatementWrap } from "./transaction";
export type { StatementWrap } from "./transaction";

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
  /** A replay of an idempotency key (db/idempotency.ts): when the first call ran (ISO 8601). Nothing ran now. */
  replayed?: string;
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
  on(event: "error" | "end", cb: (e?: Error) => void): unknown;
  on(event: "notice", cb: (notice: NoticeFields) => void): unknown;
}

/** The fields of a NoticeResponse both drivers pass to their `notice` event. */
interface NoticeFields {
  severity?: string;
  message?: string;
  code?: string;
  detail?: string;
  hint?: string;
  where?: string;
}

/**
 * A message PostgreSQL sent besides the result: RAISE NOTICE/INFO/WARNING in
 * a function or DO block, VACUUM VERBOSE's report, "table does not exist,
 * skipping", deprecation warnings. Only those at or above the session's
 * client_min_messages (NOTICE by default; INFO always) are sent.
 */
export interface DbNotice {
  /** NOTICE, WARNING, INFO, LOG or DEBUG (as the server names it). */
  severity: string;
  message: string;
  /** SQLSTATE (00000 for RAISE NOTICE, 01xxx for warnings). */
  code?: string;
  detail?: string;
  hint?: string;
  where?: string;
}

export interface DbSession {
  /** Internal, bounded queries (catalog lookups, control statements): all rows as objects. */
  query<R extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: R[]; rowCount: number | null; command: string }>;
  /**
   * A caller's statement: extended protocol (exactly one statement), rows capped
   * by count and bytes, with `wrap.before`/`wrap.after` statements sent in the
   * same round trip. If `before` is given and anything fails, it rolls back.
   */
  run(sql: string, params: unknown[], limits: RunLimits, wrap?: StatementWrap): Promise<RowSet>;
  /** Releases the connection. Safe to call twice. */
  close(): Promise<void>;
  /** Set once the connection has failed (the server went away, the socket closed). */
  readonly lostReason: string | undefined;
  /** Its application_name (db/tags.ts). */
  readonly name: string;
}

/** The database could not be reached: nothing ran. */
export class ConnectionError extends Error {
  override readonly name = "ConnectionError";
}

/**
 * What is known of a COMMIT when the connection failed under it: `not
 * committed` (none was sent, or the server reported the failure before
 * reaching it), `unknown` (it was sent and no answer came back), `committed`
 * (its acknowledgement arrived, the rest of the answer did not).
 */
export type CommitOutcome = "not committed" | "unknown" | "committed";

/** The connection failed while a call was using it (the server went away, the backend was terminated, the socket closed). */
export class ConnectionLostError extends Error {
  override readonly name = "ConnectionLostError";
  constructor(
    message: string,
    readonly commit: CommitOutcome,
  ) {
    super(message);
  }
}

/**
 * SQLSTATEs by which the server says it is ending this connection:
 * connection exceptions (class 08), admin_shutdown (a terminated backend, a
 * fast or immediate shutdown), crash_shutdown, cannot_connect_now.
 */
const FATAL_SQLSTATE = /^(08[0-9A-Z]{3}|57P0[123])$/;

/** True when `e` means the connection is gone, not that the statement failed. */
export function isConnectionLoss(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === "string" && "severity" in (e as object)) return FATAL_SQLSTATE.test(code);
  const message = e instanceof Error ? e.message : String(e);
  return /Connection terminated|connection (?:was )?(?:closed|reset|lost)|ECONNRESET|EPIPE|socket (?:hang up|closed)|Network connection lost|Stream was cancelled|not queryable/i.test(message);
}

/** How long closing a connection may take before the socket is dropped: a dead peer never answers Terminate. */
export const CLOSE_TIMEOUT_MS = 2_000;
/** How long opening a connection may take (TCP, TLS, authentication). */
export const CONNECT_TIMEOUT_MS = 10_000;

/** Resolves to `p`'s value, or to `fallback` when `ms` pass first (the promise is left to settle on its own). */
export async function bounded<T, F>(p: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<F>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A result whose single row (or single protocol message) is over the byte budget: refused, not returned. */
export class ResultTooLargeError extends Error {
  override readonly name = "ResultTooLargeError";
  readonly code = "result_too_large";
  readonly hint = "select fewer or shorter columns: left(col, 1000), length(col), or substring(col from n for m) to read a large value in parts";
}

/**
 * The largest protocol message we accept while a caller's statement runs,
 * for a row budget of `maxBytes`. Text on the wire is at most about twice its
 * size in our output (bytea in hex), plus headroom for row framing.
 */
export const maxMessageBytes = (maxBytes: number) => 2 * maxBytes + 65_536;

export interface SessionOptions {
  /** Shown in pg_stat_activity, so operators (and tests) can tell our sessions apart. */
  applicationName?: string;
  /** Log in as this caller's own database role (its binding), not as the server's role. */
  identity?: DbIdentity;
  /** Receives the server's notices while the session is open. @default they are dropped */
  onNotice?: (notice: DbNotice) => void;
}

/** The connection string for a caller role's login; its binding is checked at configuration time (config.ts). */
function roleConnectionString(config: Config, env: Env, role: string): string {
  if (!config.databaseRoles.includes(role)) throw new UnsafeRoleError(`database role "${role}" is not in DATABASE_ROLES`, "list it in DATABASE_ROLES with its own connection (README, Per-caller identity)");
  const bindings = env as unknown as Record<string, unknown>;
  const url = config.driver === "neon" ? bindings[roleDatabaseUrlSecret(role)] : (bindings[roleHyperdriveBinding(role)] as { connectionString?: unknown } | undefined)?.connectionString;
  if (typeof url !== "string") throw new UnsafeRoleError(`no connection for database role "${role}"`, `add the Hyperdrive binding ${roleHyperdriveBinding(role)} (or the secret ${roleDatabaseUrlSecret(role)} for the Neon driver)`);
  return url;
}

function createClient(config: Config, env: Env, opts: SessionOptions): PgLikeClient {
  const application_name = opts.applicationName ?? "pg-mcp";
  const role = opts.identity?.role;
  if (config.driver === "neon") {
    const client = new NeonClient({ connectionString: role ? roleConnectionString(config, env, role) : config.databaseUrl, application_name, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
    if (config.neonWsProxy) {
      // Local testing: plain ws to a ws-to-TCP proxy. Pipelining must be off, or SCRAM fails.
      client.neonConfig.wsProxy = config.neonWsProxy;
      client.neonConfig.useSecureWebSocket = false;
      client.neonConfig.pipelineTLS = false;
      client.neonConfig.pipelineConnect = false;
    }
    return client as unknown as PgLikeClient;
  }
  const client = new pg.Client({ connectionString: role ? roleConnectionString(config, env, role) : env.HYPERDRIVE.connectionString, application_name, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  coalesceWrites((client as unknown as { connection: { stream: WritableLike } }).connection.stream);
  return client as unknown as PgLikeClient;
}

/** The socket both drivers read from (pg's Connection.stream; the Neon driver keeps pg's shape). */
function streamOf(client: PgLikeClient): ReadableLike | undefined {
  const stream = (client as unknown as { connection?: { stream?: ReadableLike } }).connection?.stream;
  return stream && typeof stream.on === "function" ? stream : undefined;
}

interface WritableLike {
  write(data: Uint8Array | string, encoding?: unknown, cb?: (err?: Error) => void): boolean;
}

interface ReadableLike {
  on(event: "data", cb: (chunk: Uint8Array) => void): unknown;
  destroy?(err?: Error): unknown;
  end?(): unknown;
}

/**
 * Watches the server's messages while a caller's statement runs and cuts the
 * connection at the header of any message larger than the limit. pg buffers a
 * whole message before parsing it, so without this one row holding a huge
 * value (repeat('x', 300e6)) is read entirely into the isolate's memory: the
 * call hangs and the isolate dies for every client. Cutting the socket makes
 * PostgreSQL abandon the statement when its next write fails.
 *
 * It only frames messages between arm() and disarm(): a statement starts on a
 * message boundary (the previous one ended with ReadyForQuery), so the framing
 * cannot drift, whatever the start-up exchange (TLS, SSLRequest) looked like.
 */
class MessageSizeGuard {
  #limit = 0;
  #armed = false;
  #header = new Uint8Array(5);
  #headerLength = 0;
  #remaining = 0;
  /** Size of the message that tripped the guard. */
  tripped: number | undefined;

  constructor(readonly stream: ReadableLike) {
    stream.on("data", (chunk) => this.#onData(chunk));
  }

  arm(limit: number): void {
    this.#limit = limit;
    this.#armed = true;
    this.#headerLength = 0;
    this.#remaining = 0;
  }

  disarm(): void {
    this.#armed = false;
  }

  #onData(chunk: Uint8Array): void {
    if (!this.#armed || this.tripped !== undefined) return;
    let i = 0;
    while (i < chunk.length) {
      if (this.#remaining > 0) {
        const k = Math.min(this.#remaining, chunk.length - i);
        this.#remaining -= k;
        i += k;
        continue;
      }
      this.#header[this.#headerLength++] = chunk[i++]!;
      if (this.#headerLength < 5) continue;
      this.#headerLength = 0;
      const h = this.#header;
      const length = ((h[1]! << 24) >>> 0) + (h[2]! << 16) + (h[3]! << 8) + h[4]!; // includes its own 4 bytes
      this.#remaining = Math.max(0, length - 4);
      if (length > this.#limit) {
        this.tripped = length;
        const s = this.stream;
        if (typeof s.destroy === "function") s.destroy();
        else s.end?.();
        return;
      }
    }
  }
}

/**
 * pg writes each protocol message (Parse, Bind, Describe, Execute, Sync) as its
 * own socket write. Through workerd's sockets that cost ~40 ms a round: Nagle
 * holds the second small write until the server's delayed ACK. Writes made in
 * the same tick go out as one. (The Neon driver coalesces on its own.)
 */
function coalesceWrites(stream: WritableLike): void {
  const write = stream.write.bind(stream);
  let pending: Uint8Array[] = [];
  let callbacks: ((err?: Error) => void)[] = [];
  const flush = () => {
    const chunks = pending;
    const cbs = callbacks;
    pending = [];
    callbacks = [];
    write(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), "utf8", (err?: Error) => {
      for (const cb of cbs) cb(err);
    });
  };
  stream.write = (data, encoding, cb) => {
    const callback = typeof encoding === "function" ? (encoding as (err?: Error) => void) : cb;
    pending.push(typeof data === "string" ? Buffer.from(data) : data);
    if (callback) callbacks.push(callback);
    if (pending.length === 1) queueMicrotask(flush);
    return true;
  };
}

/** Opens a connection. Throws ConnectionError with the driver's reason when the database cannot be reached. */
export async function openSession(config: Config, env: Env, opts: SessionOptions = {}): Promise<DbSession> {
  const client = createClient(config, env, opts);
  const stream = streamOf(client);
  const guard = stream ? new MessageSizeGuard(stream) : undefined;
  let broken: Error | undefined;
  let closed = false;
  // An 'error' event with no listener would crash the isolate (e.g. the server closing the socket).
  client.on("error", (e) => {
    broken ??= e ?? new Error("connection error");
  });
  client.on("end", () => {
    if (!closed) broken ??= new Error("the server closed the connection");
  });
  const onNotice = opts.onNotice;
  if (onNotice) {
    client.on("notice", (n) => {
      if (n.message === undefined) return;
      onNotice({ severity: (n.severity ?? "NOTICE").toUpperCase(), message: n.message, ...(n.code ? { code: n.code } : {}), ...(n.detail ? { detail: n.detail } : {}), ...(n.hint ? { hint: n.hint } : {}), ...(n.where ? { where: n.where } : {}) });
    });
  }
  try {
    await client.connect();
  } catch (e) {
    closed = true;
    dropSocket(client);
    throw new ConnectionError(`cannot connect to the database (${config.driver}): ${(e as Error).message}`);
  }
  // Every path to the database (tool calls, held transactions, programs) comes through here.
  try {
    const query = async (sql: string, params: unknown[]) => (await client.query(sql, params)).rows;
    if (opts.identity) enforceCallerRole(await learnCallerRole(opts.identity.role, query, POSTURE_ROLES));
    else enforcePosture(config, await learnPosture(config, query));
  } catch (e) {
    closed = true;
    if (broken || isConnectionLoss(e)) {
      dropSocket(client);
      throw new ConnectionError(`cannot connect to the database (${config.driver}): the connection was lost while opening it: ${(e as Error).message}`);
    }
    await bounded(client.end().catch(() => {}), CLOSE_TIMEOUT_MS, undefined);
    throw e;
  }
  const ensureOpen = () => {
    if (broken) throw new ConnectionLostError(`the database connection was lost: ${broken.message}`, "not committed");
  };
  /** A failure that means the connection is gone becomes a ConnectionLostError saying what is known of a COMMIT in flight. */
  const lost = (e: unknown, commit: CommitOutcome): unknown => {
    if (!broken && !isConnectionLoss(e)) return e;
    broken ??= e instanceof Error ? e : new Error(String(e));
    return new ConnectionLostError(`the database connection was lost: ${(e as Error).message ?? String(e)}`, commit);
  };
  return {
    async query(sql, params) {
      ensureOpen();
      try {
        const r = await client.query(sql, params);
        return { rows: r.rows, rowCount: r.rowCount, command: r.command };
      } catch (e) {
        // Only our own statements come here: a COMMIT among them may have happened.
        throw lost(e, /\bcommit\b/i.test(sql) ? "unknown" : "not committed");
      }
    },
    async run(sql, params, limits, wrap = {}) {
      ensureOpen();
      guard?.arm(maxMessageBytes(limits.maxBytes));
      try {
        return await runPipelined(client, sql, params, limits, wrap, () => broken === undefined);
      } catch (e) {
        if (guard?.tripped !== undefined) {
          broken ??= new Error("closed after an oversized result");
          throw new ResultTooLargeError(`a single row of the result is ${formatBytes(guard.tripped)} on the wire, over the ${formatBytes(limits.maxBytes)} result limit: the statement was stopped and nothing was returned`);
        }
        throw lost(e, commitOutcome(e, wrap));
      } finally {
        guard?.disarm();
      }
    },
    get lostReason() {
      return broken?.message;
    },
    name: opts.applicationName ?? "pg-mcp",
    async close() {
      if (closed) return;
      closed = true;
      // A dead connection never answers Terminate (pg's end() would wait for ever): drop the socket.
      if (broken) return dropSocket(client);
      // end() may reject with "Stream was cancelled." in workerd; the socket is gone either way.
      const ended = await bounded(client.end().then(() => true, () => true), CLOSE_TIMEOUT_MS, false);
      if (!ended) dropSocket(client);
    },
  };
}

/** Closes the socket without a goodbye; never throws, never waits. */
function dropSocket(client: PgLikeClient): void {
  try {
    const stream = streamOf(client);
    const closing = stream?.destroy?.() as unknown;
    if (closing instanceof Promise) closing.catch(() => {});
  } catch {}
}

/**
 * What the failure of a pipelined call says about its COMMIT (wrap.after). The
 * server answers in order: an error it reported at a step before the COMMIT
 * means the COMMIT never ran; a COMMIT acknowledged means it did; in between
 * (sent, no answer, or the connection ended at it) nobody can know here.
 */
function commitOutcome(e: unknown, wrap: StatementWrap): CommitOutcome {
  const at = wrap.after?.indexOf("COMMIT") ?? -1;
  if (at < 0) return "not committed";
  const commitStep = (wrap.before?.length ?? 0) + 1 + at;
  const step = (e as PipelineError | null)?.step ?? 0;
  if (step > commitStep) return "committed";
  const reportedByServer = typeof (e as { code?: unknown } | null)?.code === "string" && "severity" in (e as object);
  if (step < commitStep && reportedByServer) return "not committed";
  return "unknown";
}

async function runPipelined(client: PgLikeClient, sql: string, params: unknown[], limits: RunLimits, wrap: StatementWrap, alive: () => boolean): Promise<RowSet> {
  const pipeline = new Pipeline({ before: wrap.before ?? [], sql, params, limits, after: wrap.after ?? [] });
  // client.query(submittable) returns the submittable; its promise carries the outcome.
  client.query(pipeline as unknown as string);
  let outcome;
  try {
    outcome = await pipeline.promise;
  } catch (e) {
    // The server skipped to the Sync: a transaction we opened is left aborted.
    // Not on a connection that is gone: the server has rolled back, and a query there might never answer.
    const cleanup = wrap.onError !== undefined ? wrap.onError : wrap.before?.length ? "ROLLBACK" : null;
    if (cleanup && alive() && !isConnectionLoss(e)) await client.query(cleanup).catch(() => {});
    throw e;
  }
  if (outcome.oversizeRow !== undefined) {
    const done = outcome.command && outcome.command !== "SELECT" ? ` The statement itself completed (${outcome.command}${wrap.after?.[0] === "COMMIT" ? ", committed" : ""}).` : "";
    throw new ResultTooLargeError(`the first row of the result is ${formatBytes(outcome.oversizeRow)}, over the ${formatBytes(limits.maxBytes)} result limit: no row was returned.${done}`);
  }
  const columns = await describeColumns(client, outcome.fields);
  return toRowSet(outcome, columns, limits.offset ?? 0);
}

function formatBytes(n: number): string {
  return n >= 1_048_576 ? `${(n / 1_048_576).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} bytes`;
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
