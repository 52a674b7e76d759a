/**
 * Tool calls in flight: progress while they run, and cancellation that
 * reaches PostgreSQL.
 *
 * Progress: a call whose request carries a progressToken gets
 * notifications/progress on its response stream: a heartbeat with the elapsed
 * time every HEARTBEAT_MS, and each step the work reports (a script's
 * statements, a program's database calls). `progress` is the elapsed time in
 * seconds, so it always increases; `message` says what is going on.
 *
 * Cancellation: the server is stateless, so notifications/cancelled arrives
 * on another HTTP request than the call it names, possibly in another
 * isolate. Calls are registered in this isolate by caller and JSON-RPC id;
 * and every statement a call runs carries a running name derived from the
 * same two (db/tags.ts), so that wherever the cancel lands it can find the
 * statement in pg_stat_activity and cancel it (db/cancel.ts):
 *
 * - same isolate: the call stops (its program or Python run ends, no further
 *   statement starts) and its running statement is cancelled;
 * - another isolate: its running statement is cancelled;
 *
 * either way the call then answers with what happened (the 57014 error, or
 * its result if it had finished), and the client that cancelled ignores it.
 * A notification names the caller, its client and a JSON-RPC id. Two clients
 * of one caller (one API key in two agents) count their ids the same way, so
 * each gets an Mcp-Session-Id at initialize (the server keeps nothing for it:
 * it only tells the clients apart) and sends it with every request, its
 * cancels included; a cancel reaches only the calls of the client that sent
 * it. A client that sends no session id (a 2026-07-28 client, which cancels by
 * closing its stream, or one that dropped it) is told apart by nothing more
 * than the caller; the call its cancel reaches must still get its answer.
 *
 * A client that goes away closes the exchange, which the SDK reports through
 * the request's signal: the call is cancelled the same way, and its response
 * closes without a result (no one is there to read it). Before the response has
 * started, workerd aborts request.signal (compatibility flag
 * enable_request_signal); once a response streams, a disconnect shows only as
 * a failed write, which cancels the response stream, so streaming responses
 * carry an SSE comment every DISCONNECT_PROBE_MS.
 */
import type { CallControl, RequestContext } from "../context";
import { callName, callNonce, runningPattern } from "../db/tags";
import { cancelRunning } from "../db/cancel";

/** Between SSE keep-alive comments on a streaming response: how soon a client that went away is noticed. */
export const DISCONNECT_PROBE_MS = 1_000;
/** Between heartbeats on a long call. */
export const HEARTBEAT_MS = 1_500;
/** After a cancel, how often (and how many times) to look again for a statement that had not started yet. */
const CANCEL_RETRY_MS = 250;
const CANCEL_ATTEMPTS = 20;

type RequestId = string | number;

/** What a call's McpServer request handler gives us. */
export interface McpRequestHandle {
  id: RequestId;
  progressToken?: string | number;
  /** Aborted by the SDK when the exchange closes (the client went away). */
  signal: AbortSignal;
  notify(notification: { method: "notifications/progress"; params: { progressToken: string | number; progress: number; message?: string } }): Promise<void>;
}

interface Running {
  cancel(reason: string): void;
}

/** Calls in flight in this isolate, by caller and request id. */
const running = new Map<string, Set<Running>>();
const keyOf = (rc: RequestContext, id: RequestId) => `${rc.principal.id}\u0000${rc.client ?? ""}\u0000${JSON.stringify(id)}`;

export class CallCancelled extends Error {
  override readonly name = "CallCancelled";
}

/**
 * Serves one tools/call: `work` runs with the call's control in its context.
 * Resolves with the work's result (cut short by a cancel), or with `cancelled`
 * when the client went away; then the work goes on (under waitUntil) only
 * until its cancelled statement returns, and cleans up after itself as usual.
 */
export async function serveCall<T>(rc: RequestContext, req: McpRequestHandle, label: string, work: (rc: RequestContext) => Promise<T>): Promise<{ cancelled: false; value: T } | { cancelled: true; reason: string }> {
  const started = Date.now();
  const controller = new AbortController();
  const nonce = callNonce();
  const name = await callName(rc.principal.id, req.id, rc.client, nonce);
  // This call's own statements only: another call of this caller may have the same request id (db/tags.ts).
  const pattern = await runningPattern(rc.principal.id, req.id, rc.client, nonce);
  let status = `${label} running`;
  let last = 0;
  const send = (message: string) => {
    if (req.progressToken === undefined || controller.signal.aborted) return;
    last = Math.max(last + 0.001, Math.round((Date.now() - started) / 100) / 10);
    req.notify({ method: "notifications/progress", params: { progressToken: req.progressToken, progress: last, message } }).catch(() => {});
  };
  const control: CallControl = {
    signal: controller.signal,
    callName: name,
    progress(message) {
      status = message;
      send(message);
    },
  };
  const heartbeat = req.progressToken === undefined ? undefined : setInterval(() => send(`${status}, ${((Date.now() - started) / 1000).toFixed(1)} s`), HEARTBEAT_MS);

  // A cancel may come from another request: its continuation runs here, in this call's request.
  let stopped = false;
  const stop = (reason: string) => {
    if (stopped) return;
    stopped = true;
    controller.abort(new CallCancelled(`the call was cancelled: ${reason}`));
    // A call its limits refused never ran a statement (nothing runs before admission): there is nothing to look
    // for, and a caller hammering past its limits must not make the server open a connection per refusal.
    rc.waitUntil(Promise.resolve(rc.admitted).then(() => cancelUntilSettled(rc, pattern, run), () => {}));
  };
  let gone!: (reason: string) => void;
  const closed = new Promise<string>((resolve) => (gone = resolve));
  const entry: Running = { cancel: stop };
  const key = keyOf(rc, req.id);
  let set = running.get(key);
  if (!set) running.set(key, (set = new Set()));
  set.add(entry);
  const onGone = () => {
    gone("the client went away");
    stop("the client went away");
  };
  req.signal.addEventListener("abort", onGone, { once: true });

  const run = work({ ...rc, call: control });
  // The work outlives a response that was closed early: let it finish its cleanup (rollback, close, audit).
  rc.waitUntil(run.catch(() => {}));
  try {
    // A cancel by notification stops the work and the call still answers with what happened (the cancelled
    // statement's error, or the result if it had finished): on a stateless server the notification names only the
    // caller and a request id, which another client of the same caller may be using for a call of its own, and that
    // client must not be left waiting for an answer that never comes. The client that cancelled ignores it.
    // Only a client that went away gets no answer: there is no one to send it to.
    const outcome = await Promise.race([run.then((value) => ({ cancelled: false as const, value })), closed.then((reason) => ({ cancelled: true as const, reason }))]);
    return outcome;
  } finally {
    clearInterval(heartbeat);
    req.signal.removeEventListener("abort", onGone);
    set.delete(entry);
    if (set.size === 0) running.delete(key);
  }
}

/** Cancels the call's statement, and again while the call has not ended (its statement may not have started yet). */
async function cancelUntilSettled(rc: RequestContext, pattern: string, run: Promise<unknown>): Promise<void> {
  let settled = false;
  void run.finally(() => (settled = true)).catch(() => {});
  for (let attempt = 0; attempt < CANCEL_ATTEMPTS && !settled; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, CANCEL_RETRY_MS));
    if (settled) break;
    await cancelRunning(rc.config, rc.env, pattern).catch(() => {});
  }
}

/**
 * notifications/cancelled for `requestId` from this caller: stops the call if
 * it runs in this isolate; otherwise cancels its statement wherever it runs.
 */
export async function cancelCall(rc: RequestContext, requestId: RequestId, reason = "cancelled by the client"): Promise<void> {
  const local = running.get(keyOf(rc, requestId));
  if (local?.size) {
    for (const entry of local) entry.cancel(reason);
    return;
  }
  const pattern = await runningPattern(rc.principal.id, requestId, rc.client);
  // Once more a moment later, for a statement that was about to start when the cancel arrived.
  if ((await cancelRunning(rc.config, rc.env, pattern).catch(() => [])).length === 0) {
    await new Promise((r) => setTimeout(r, CANCEL_RETRY_MS));
    await cancelRunning(rc.config, rc.env, pattern).catch(() => {});
  }
}
